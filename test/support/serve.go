package support

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Server is what Serve runs: a *socketio.Server or *engineio.Server (a
// herald service through servicetest.Serve).
type Server interface {
	http.Handler
	Shutdown(ctx context.Context) error
}

// Serve runs srv on a test HTTP server and returns its base URL; at the
// end of the test the server shuts down (3 s at most) and closes.
func Serve(t testing.TB, srv Server) string {
	t.Helper()
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		hs.Close()
	})
	return hs.URL
}
