// Command herald runs the Herald real-time server: Socket.IO-compatible
// chat, presence and notifications with JWT authentication.
//
//	herald [-config FILE] [flags]        run the server (see -h for flags and HERALD_* variables)
//	herald token [flags]                 mint a development token
//	herald config check FILE [flags]     check a config file, print the effective config
//	herald version                       print the version, commit and build date
//	herald healthcheck [-url URL]        exit 0 if the local server is ready (for container health checks)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/heraldio/herald/internal/gctune"
	"github.com/heraldio/herald/service"
	"github.com/heraldio/herald/service/auth"
)

func main() {
	gctune.Apply()
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "token":
			os.Exit(token(os.Args[2:]))
		case "config":
			os.Exit(config(os.Args[2:], os.Stdout, os.Stderr, os.Getenv))
		case "version":
			os.Exit(versionCmd())
		case "healthcheck":
			os.Exit(healthcheck(os.Args[2:], os.Getenv))
		}
	}
	os.Exit(serve(os.Args[1:]))
}

func logger(cfg service.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

func serve(args []string) int {
	cfg, err := service.Load(args, os.Getenv)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "herald:", err)
		return 2
	}
	log := logger(cfg)
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	svc, err := service.New(ctx, cfg, service.WithLogger(log))
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	addr, err := svc.Listen()
	if err != nil {
		log.Error("cannot listen", "addr", cfg.Addr, "err", err)
		_ = svc.Shutdown(context.Background())
		return 1
	}
	url := "http://" + hostPort(addr)
	v, _, _ := buildInfo()
	log.Info("Herald is running", "url", url, "version", v, "database", service.RedactURL(cfg.DatabaseURL))
	log.Info("public room", "id", service.PublicRoom)
	if cfg.Dev {
		if cfg.DevAllowRemote {
			log.Warn("DEV MODE ON A NETWORK ADDRESS: anyone who reaches this server can mint a token for any user, admin included; " +
				"set HERALD_JWT_SECRET (or keys) and leave HERALD_DEV off in production")
		} else {
			log.Warn("dev mode: anyone can mint tokens, so the server listens on loopback only; " +
				"turn dev mode off (HERALD_JWT_SECRET or keys, no HERALD_DEV) to serve a network")
		}
		log.Info("dev mode: get a token", "command", "go run ./cmd/herald token --name Alice",
			"http", "curl -X POST "+url+"/api/dev/token -d '{\"name\":\"Alice\"}'")
		log.Info("dev mode: server API key", "key", cfg.APIKey, "document", url+"/api/openapi.json",
			"try", "curl -H 'Authorization: Bearer "+cfg.APIKey+"' -d '{\"all\":true,\"event\":\"hello\",\"data\":\"from the API\"}' "+url+"/api/v1/emit")
		log.Info("open " + url + " in two browser windows and chat")
		log.Info("settings: flags, HERALD_* variables or a YAML file (-config FILE)", "list", "go run ./cmd/herald -h",
			"check", "go run ./cmd/herald config check herald.yaml")
	}
	if cfg.DebugAddr != "" {
		go debugServer(cfg.DebugAddr, log)
	}
	go func() {
		<-ctx.Done()
		log.Info("shutting down: telling clients, draining")
	}()
	if err := svc.Run(ctx); err != nil {
		log.Error("server stopped", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// debugServer serves Go's profiler on its own listener, apart from the
// public one: profiles expose internals and cost CPU while taken.
func debugServer(addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	log.Info("profiler listening", "url", "http://"+addr+"/debug/pprof/")
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		log.Error("profiler stopped", "err", err)
	}
}

func hostPort(a net.Addr) string {
	host, port, _ := net.SplitHostPort(a.String())
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// token mints a development token with the server's secret.
func token(args []string) int {
	fs := flag.NewFlagSet("herald token", flag.ContinueOnError)
	user := fs.String("user", "", "user id (default: derived from the name)")
	name := fs.String("name", "", "display name (required)")
	roles := fs.String("roles", "user", "comma-separated roles")
	ttl := fs.Duration("ttl", 24*time.Hour, "validity")
	full, err := service.LoadFlags(fs, args, os.Getenv)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "herald token:", err)
		}
		return 2
	}
	if *name == "" {
		fmt.Fprintln(os.Stderr, "herald token: -name is required")
		return 2
	}
	if full.JWTSecret == "" {
		fmt.Fprintln(os.Stderr, "herald token: no HS256 secret configured (tokens for RS256/ES256 come from your identity provider)")
		return 1
	}
	id := *user
	if id == "" {
		id = service.UserID(*name)
	}
	u := auth.User{ID: id, Name: *name}
	for _, r := range strings.Split(*roles, ",") {
		if r = strings.TrimSpace(r); r != "" {
			u.Roles = append(u.Roles, r)
		}
	}
	tok, err := auth.Mint([]byte(full.JWTSecret), u, *ttl)
	if err != nil {
		fmt.Fprintln(os.Stderr, "herald token:", err)
		return 1
	}
	fmt.Println(tok)
	return 0
}

// config runs "herald config check FILE [flags]": the file is read and
// checked with the flags and environment over it, as the server would,
// and the effective configuration printed with its secrets masked.
func config(args []string, stdout, stderr io.Writer, env func(string) string) int {
	if len(args) < 2 || args[0] != "check" || strings.HasPrefix(args[1], "-") {
		fmt.Fprintln(stderr, "usage: herald config check FILE [flags]")
		return 2
	}
	cfg, err := service.Check(append([]string{"-config", args[1]}, args[2:]...), env)
	if err != nil {
		fmt.Fprintln(stderr, "herald config check:", err)
		return 1
	}
	if err := cfg.WriteYAML(stdout); err != nil {
		fmt.Fprintln(stderr, "herald config check:", err)
		return 1
	}
	return 0
}
