package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldio/herald/service/webhook"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The call is bounded whatever the backend does: a body trickled past
// the timeout, one past the size bound, a redirect (not followed), a
// status, garbage; a signed call verifies.
func TestCallBounds(t *testing.T) {
	secret := []byte("0123456789abcdef")
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/trickle":
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, `{"result":`)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		case "/huge":
			_, _ = io.WriteString(w, `{"result":"`+strings.Repeat("x", 2000)+`"}`)
		case "/redirect":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/status":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/garbage":
			_, _ = io.WriteString(w, "\x00\x01 not json")
		case "/signed":
			if err := webhook.Verify(secret, r.Header.Get(webhook.HeaderSignature), body, time.Now(), 0); err != nil {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			_, _ = io.WriteString(w, `{"result":1}`)
		}
	}))
	defer hs.Close()
	for _, tc := range []struct {
		path string
		want error
	}{
		{"/trickle", ErrTimeout},
		{"/huge", ErrBadAnswer},
		{"/redirect", ErrUnavailable},
		{"/status", ErrUnavailable},
		{"/garbage", ErrBadAnswer},
		{"/signed", nil},
	} {
		t.Run(tc.path, func(t *testing.T) {
			b := newBackend(hs.URL+tc.path, nil, 200*time.Millisecond, 1000, secret)
			var out Answer
			if err := b.call(context.Background(), map[string]any{"x": 1}, &out); !errors.Is(err, tc.want) {
				t.Fatalf("call: %v, want %v", err, tc.want)
			}
		})
	}
	hs.CloseClientConnections()
}

func TestPatterns(t *testing.T) {
	ps, err := ParsePatterns(" rpc:* , /chat=order:place,/=*")
	if err != nil {
		t.Fatal(err)
	}
	r := &RPC{o: RPCOptions{Events: ps}}
	for _, tc := range []struct {
		nsp, event string
		want       bool
	}{
		{"/chat", "rpc:add", true},
		{"/", "rpc:", true},
		{"/chat", "rpc", false},
		{"/chat", "order:place", true},
		{"/chat", "order:placed", false},
		{"/", "anything", true},
		{"/admin", "anything", false},
	} {
		if got := r.Match(tc.nsp, tc.event); got != tc.want {
			t.Errorf("Match(%s, %s) = %v", tc.nsp, tc.event, got)
		}
	}
	for _, bad := range []string{"a*b", "/chat", "/chat=", "**"} {
		if _, err := ParsePatterns(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
