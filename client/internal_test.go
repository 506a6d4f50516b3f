package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldio/herald/engineio/packet"
	"github.com/heraldio/herald/socketio"
)

func TestBackoff(t *testing.T) {
	o := (&Options{}).withDefaults()
	if o.ReconnectionDelay != time.Second || o.ReconnectionDelayMax != 5*time.Second || o.RandomizationFactor != 0.5 || o.ReconnectionAttempts != 0 {
		t.Fatalf("defaults %+v", o)
	}
	tests := []struct {
		name string
		n    int
		rnd  float64
		want time.Duration
	}{
		{"first, low draw shortens", 0, 0.0, time.Second},               // floor(0*10)=0 even: 1000-0
		{"first, even decile shortens", 0, 0.2, 900 * time.Millisecond}, // dev=floor(.2*.5*1000)=100, decile 2
		{"first, odd decile lengthens", 0, 0.1, 1050 * time.Millisecond},
		{"second doubles", 1, 0.0, 2 * time.Second},
		{"third", 2, 0.0, 4 * time.Second},
		{"capped", 3, 0.0, 5 * time.Second},
		{"capped far out", 200, 0.99, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := o.backoff(tt.n, func() float64 { return tt.rnd }); got != tt.want {
				t.Fatalf("backoff(%d, %v) = %v, want %v", tt.n, tt.rnd, got, tt.want)
			}
		})
	}
	noJitter := (&Options{RandomizationFactor: -1, ReconnectionDelay: 100 * time.Millisecond}).withDefaults()
	for n, want := range []time.Duration{100, 200, 400, 800, 1600, 3200, 5000} {
		if got := noJitter.backoff(n, defaultRand); got != want*time.Millisecond && !(want == 5000 && got == 5*time.Second) {
			t.Fatalf("no jitter: backoff(%d) = %v", n, got)
		}
	}
	// With jitter every delay stays within ±50% and under the cap.
	for n := range 10 {
		for range 100 {
			d := o.backoff(n, defaultRand)
			base := time.Second << n
			if d > 5*time.Second || d < base/2 && d < 5*time.Second/2 {
				t.Fatalf("backoff(%d) = %v", n, d)
			}
		}
	}
}

func TestTakePayloadRespectsMaxPayload(t *testing.T) {
	e := &engineConn{maxPayload: 10}
	e.queue = []*packet.Packet{
		&packet.Packet{Type: packet.Message, Data: []byte("abcd")},       // 5 bytes
		&packet.Packet{Type: packet.Message, Data: []byte("efg")},        // +1 separator +4 = 10
		&packet.Packet{Type: packet.Message, Data: []byte("h")},          // would be 13
		&packet.Packet{Type: packet.Message, Data: []byte("0123456789")}, // alone, over the limit
	}
	if got := e.takePayload(); len(got) != 2 {
		t.Fatalf("first batch has %d packets, want 2", len(got))
	}
	e.queue = e.queue[2:]
	if got := e.takePayload(); len(got) != 1 {
		t.Fatalf("second batch has %d packets, want 1", len(got))
	}
	e.queue = e.queue[1:]
	if got := e.takePayload(); len(got) != 1 {
		t.Fatal("a packet over the limit must still go, alone")
	}
	b := &packet.Packet{Type: packet.Message, Data: []byte{1, 2, 3}, Binary: true} // "b" + 4 base64 chars
	e.queue, e.maxPayload = []*packet.Packet{b, b}, 11
	if got := e.takePayload(); len(got) != 2 {
		t.Fatalf("binary batch %d", len(got))
	}
}

func TestConnectPayload(t *testing.T) {
	m := &Manager{opts: (&Options{}).withDefaults()}
	tests := []struct {
		name        string
		auth        any
		pid, offset string
		want        string
	}{
		{"none", nil, "", "", ""},
		{"map", map[string]any{"token": "x"}, "", "", `{"token":"x"}`},
		{"raw", json.RawMessage(` {"a":1} `), "", "", `{"a":1}`},
		{"recovery without auth", nil, "p1", "o1", `{"pid":"p1","offset":"o1"}`},
		{"recovery without offset", nil, "p1", "", `{"pid":"p1"}`},
		{"recovery with auth", map[string]any{"token": "x"}, "p1", "o\"1", `{"pid":"p1","offset":"o\"1","token":"x"}`},
		{"recovery with empty auth", map[string]any{}, "p1", "o1", `{"pid":"p1","offset":"o1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSocket(m, "/", SocketOptions{Auth: tt.auth})
			got, err := s.connectPayload(context.Background(), tt.pid, tt.offset)
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %s %v, want %s", got, err, tt.want)
			}
			if len(got) > 0 && !json.Valid(got) {
				t.Fatalf("invalid JSON %s", got)
			}
		})
	}
	s := newSocket(m, "/", SocketOptions{Auth: []any{1}})
	if _, err := s.connectPayload(context.Background(), "", ""); err == nil {
		t.Fatal("an array auth must be refused")
	}
}

func TestAckPacket(t *testing.T) {
	for _, tt := range []struct {
		args []any
		want string
	}{
		{nil, `37[]`},
		{[]any{1, "a"}, `37[1,"a"]`},
		{[]any{[]byte{1}}, `61-7[{"_placeholder":true,"num":0}]`},
	} {
		p, err := ackPacket("/", 7, tt.args)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(p.AppendText(nil)); got != tt.want {
			t.Fatalf("got %s, want %s", got, tt.want)
		}
		if _, _, err := socketio.Decode(p.AppendText(nil)); err != nil {
			t.Fatalf("%s does not decode: %v", tt.want, err)
		}
	}
}

// TestPingTimeout runs against a fake server that opens a polling session
// and never pings: the client closes it after pingInterval+pingTimeout.
func TestPingTimeout(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			_, _ = io.Copy(io.Discard, r.Body)
			_, _ = io.WriteString(w, "ok")
			return
		}
		if r.URL.Query().Get("sid") == "" {
			_, _ = io.WriteString(w, `0{"sid":"s1","upgrades":[],"pingInterval":50,"pingTimeout":50,"maxPayload":1000}`)
			return
		}
		<-r.Context().Done() // a long poll that never answers
	}))
	defer hs.Close()
	m, err := NewManager(hs.URL, &Options{Transports: []string{TransportPolling}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	start := time.Now()
	eng, err := dialEngine(context.Background(), &m.cfg, func([]byte, bool) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-eng.done:
	case <-time.After(2 * time.Second):
		t.Fatal("no ping timeout")
	}
	eng.wait()
	if reason, _ := eng.closeReason(); reason != ReasonPingTimeout {
		t.Fatalf("reason %q", reason)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("closed after %v, before pingInterval+pingTimeout", d)
	}
}

// TestPollingPayloadDecoding checks a GET answer with several packets,
// binary ones included, reaches the handler in order.
func TestPollingPayloadDecoding(t *testing.T) {
	var polls atomic.Int32
	pong := make(chan string, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			b, _ := io.ReadAll(r.Body)
			pong <- string(b)
			_, _ = io.WriteString(w, "ok")
			return
		}
		if r.URL.Query().Get("sid") == "" {
			_, _ = io.WriteString(w, "0{\"sid\":\"s1\",\"upgrades\":[],\"pingInterval\":5000,\"pingTimeout\":5000,\"maxPayload\":1000}\x1e4first")
			return
		}
		if polls.Add(1) == 1 {
			_, _ = io.WriteString(w, "4second\x1ebAQID\x1e2\x1e6")
			return
		}
		<-r.Context().Done()
	}))
	defer hs.Close()
	m, err := NewManager(hs.URL, &Options{Transports: []string{TransportPolling}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got := make(chan string, 10)
	eng, err := dialEngine(context.Background(), &m.cfg, func(b []byte, bin bool) error {
		if bin {
			got <- "bin:" + strings.TrimSpace(string(rune('0'+b[0]))+string(rune('0'+b[2])))
		} else {
			got <- string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { eng.fail("forced close", nil); eng.wait() }()
	for _, want := range []string{"first", "second", "bin:13"} {
		select {
		case g := <-got:
			if g != want {
				t.Fatalf("got %q, want %q", g, want)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("timed out waiting for %q", want)
		}
	}
	select {
	case p := <-pong:
		if p != "3" {
			t.Fatalf("pong %q", p)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no pong")
	}
}
