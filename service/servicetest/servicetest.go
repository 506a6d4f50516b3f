// Package servicetest runs Herald services in tests: an environment of
// settings over a fresh data directory, and a test HTTP server that
// shuts the service down when the test ends.
//
//	cfg, err := service.Load(nil, servicetest.Env(t, map[string]string{"HERALD_JWT_SECRET": secret}))
//	...
//	svc, err := service.New(ctx, cfg)
//	...
//	url := servicetest.Serve(t, svc)
package servicetest

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/heraldio/herald/test/support"
)

// Env returns a lookup of HERALD_* settings for service.Load: env, with
// HERALD_DATA_DIR a directory of the test's unless env gives one.
func Env(t testing.TB, env map[string]string) func(string) string {
	t.Helper()
	dir := t.TempDir()
	return func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		if k == "HERALD_DATA_DIR" {
			return dir
		}
		return ""
	}
}

// Service is what Serve needs of a service (*service.Service is one).
type Service interface {
	Handler() http.Handler
	Shutdown(ctx context.Context) error
}

// Serve serves svc on a test HTTP server and returns its URL; when the
// test ends, svc is shut down and the server closed (support.Serve).
func Serve(t testing.TB, svc Service) string {
	t.Helper()
	return support.Serve(t, handler{svc})
}

// handler serves a Service's handler.
type handler struct{ Service }

func (h handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.Handler().ServeHTTP(w, r) }

// Listener is a Service that listens on its own address, as the binary
// does (*service.Service is one).
type Listener interface {
	Service
	Listen() (net.Addr, error)
	Serve() error
}

// Listen binds svc's configured address and serves it, and returns its
// URL; when the test ends, svc is shut down and Serve waited for.
func Listen(t testing.TB, svc Listener) string {
	t.Helper()
	addr, err := svc.Listen()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = svc.Shutdown(ctx)
		<-done
	})
	return "http://" + addr.String()
}
