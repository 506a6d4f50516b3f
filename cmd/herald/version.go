package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"time"
)

// Set by the release build (scripts/release.sh) with -ldflags -X; a plain
// go build or go run reads what the Go toolchain recorded instead.
var (
	version string
	commit  string
	date    string
)

// buildInfo returns the version, commit and build date of this binary.
func buildInfo() (v, c, d string) {
	v, c, d = version, commit, date
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = bi.Main.Version
		}
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if c == "" {
					c = s.Value
				}
			case "vcs.time":
				if d == "" {
					d = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && commit == "" && c != "" {
			c += " (modified)"
		}
	}
	if v == "" || v == "(devel)" {
		v = "dev"
	}
	if c == "" {
		c = "unknown"
	}
	if d == "" {
		d = "unknown"
	}
	return v, c, d
}

// versionCmd prints what buildInfo knows.
func versionCmd() int {
	v, c, d := buildInfo()
	fmt.Printf("herald %s\ncommit %s\nbuilt %s\n%s %s/%s\n", v, c, d, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return 0
}

// healthcheck asks the local server's /readyz, for container health checks:
// a minimal image has no shell or curl to do it.
func healthcheck(args []string, getenv func(string) string) int {
	fs := flag.NewFlagSet("herald healthcheck", flag.ContinueOnError)
	url := fs.String("url", "", "URL to check (default: /readyz on HERALD_ADDR's port, on loopback)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *url == "" {
		u, err := readyURL(getenv("HERALD_ADDR"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "herald healthcheck:", err)
			return 2
		}
		*url = u
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "herald healthcheck:", err)
		return 2
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "herald healthcheck:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "herald healthcheck:", *url, "answered", resp.Status)
		return 1
	}
	return 0
}

// readyURL is /readyz on the port of a listen address, reached on loopback
// whatever interface the server listens on.
func readyURL(addr string) (string, error) {
	if addr == "" {
		addr = defaultAddr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("HERALD_ADDR %q: %w", addr, err)
	}
	if host == "" || host == "0.0.0.0" {
		host = "127.0.0.1"
	} else if host == "::" {
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}

// defaultAddr is the service's default listen address (service.Config.Addr).
const defaultAddr = ":8080"
