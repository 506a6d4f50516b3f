package engineio_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"go.uber.org/goleak"

	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/test/support"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type echo struct {
	c      *engineio.Conn
	closed chan string
}

func (e *echo) OnMessage(d []byte, bin bool) { _ = e.c.Send(engineio.NewMessage(d, bin)) }
func (e *echo) OnClose(reason engineio.Reason, err error) {
	if e.closed != nil {
		e.closed <- string(reason)
	}
}

func newServer(t *testing.T, opts *engineio.Options) (*engineio.Server, string, chan string) {
	t.Helper()
	closed := make(chan string, 16)
	s := engineio.NewServer(opts, func(c *engineio.Conn) engineio.Handler { return &echo{c: c, closed: closed} })
	return s, support.Serve(t, s) + "/engine.io/", closed
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	res, err := http.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func handshake(t *testing.T, base string) string {
	t.Helper()
	code, body := get(t, base+"?EIO=4&transport=polling")
	if code != 200 || body[0] != '0' {
		t.Fatalf("handshake %d %q", code, body)
	}
	var hs struct{ Sid string }
	_ = json.Unmarshal([]byte(body[1:]), &hs)
	return hs.Sid
}

func TestHandshakeAndErrors(t *testing.T) {
	_, base, _ := newServer(t, &engineio.Options{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond})
	code, body := get(t, base+"?EIO=4&transport=polling")
	if code != 200 {
		t.Fatal(code)
	}
	var hs map[string]any
	if err := json.Unmarshal([]byte(body[1:]), &hs); err != nil {
		t.Fatal(err)
	}
	if len(hs) != 5 || len(hs["sid"].(string)) != 20 || hs["pingInterval"].(float64) != 300 || hs["maxPayload"].(float64) != 1e6 {
		t.Fatalf("handshake %v", hs)
	}
	for _, tt := range []struct {
		query string
		code  int
		body  string
	}{
		{"?transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"?EIO=3&transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"?EIO=4", 400, `{"code":0,"message":"Transport unknown"}`},
		{"?EIO=4&transport=flash", 400, `{"code":0,"message":"Transport unknown"}`},
		{"?EIO=4&transport=polling&sid=nope", 400, `{"code":1,"message":"Session ID unknown"}`},
		{"?EIO=4&transport=websocket", 400, `{"code":3,"message":"Bad request"}`},
	} {
		code, body := get(t, base+tt.query)
		if code != tt.code || body != tt.body {
			t.Errorf("%s: %d %s", tt.query, code, body)
		}
	}
	code, body = post(t, base+"?EIO=4&transport=polling", "")
	if code != 400 || body != `{"code":2,"message":"Bad handshake method"}` {
		t.Errorf("POST handshake: %d %s", code, body)
	}
}

func TestPollingEchoAndPayloadLimit(t *testing.T) {
	_, base, closed := newServer(t, &engineio.Options{MaxPayload: 100})
	sid := handshake(t, base)
	u := base + "?EIO=4&transport=polling&sid=" + sid
	if code, body := post(t, u, "4a\x1ebAQI="); code != 200 || body != "ok" {
		t.Fatalf("post %d %q", code, body)
	}
	if code, body := get(t, u); code != 200 || body != "4a\x1ebAQI=" {
		t.Fatalf("poll %d %q", code, body)
	}
	if code, _ := post(t, u, "4"+strings.Repeat("x", 200)); code != 413 {
		t.Fatalf("oversized POST: %d", code)
	}
	if r := <-closed; r != "transport error" {
		t.Fatalf("reason %q", r)
	}
	if code, _ := get(t, u); code != 400 {
		t.Fatalf("session survived: %d", code)
	}
	// A malformed payload closes the session with a parse error.
	sid = handshake(t, base)
	u = base + "?EIO=4&transport=polling&sid=" + sid
	if code, _ := post(t, u, "zzz"); code != 400 {
		t.Fatalf("bad payload: %d", code)
	}
	if r := <-closed; r != "parse error" {
		t.Fatalf("reason %q", r)
	}
}

func TestPingTimeoutAndPong(t *testing.T) {
	_, base, closed := newServer(t, &engineio.Options{PingInterval: 50 * time.Millisecond, PingTimeout: 50 * time.Millisecond})
	sid := handshake(t, base)
	u := base + "?EIO=4&transport=polling&sid=" + sid
	for i := 0; i < 3; i++ {
		if _, body := get(t, u); body != "2" {
			t.Fatalf("want ping, got %q", body)
		}
		post(t, u, "3")
	}
	if r := <-closed; r != "ping timeout" {
		t.Fatalf("reason %q", r)
	}
}

func TestUpgrade(t *testing.T) {
	_, base, _ := newServer(t, nil)
	sid := handshake(t, base)
	pollURL := base + "?EIO=4&transport=polling&sid=" + sid
	wsURL := strings.Replace(pollURL, "http", "ws", 1)
	wsURL = strings.Replace(wsURL, "transport=polling", "transport=websocket", 1)

	pending := make(chan string, 1)
	go func() { _, b := get(t, pollURL); pending <- b }()
	time.Sleep(20 * time.Millisecond)
	conn, _, _, err := ws.Dial(context.Background(), wsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = wsutil.WriteClientText(conn, []byte("2probe"))
	if d, _ := wsutil.ReadServerText(conn); string(d) != "3probe" {
		t.Fatalf("probe answer %q", d)
	}
	if b := <-pending; b != "6" {
		t.Fatalf("pending GET got %q", b)
	}
	post(t, pollURL, "4queued") // still polling until the upgrade packet
	_ = wsutil.WriteClientText(conn, []byte("5"))
	if d, _ := wsutil.ReadServerText(conn); string(d) != "4queued" {
		t.Fatalf("after upgrade %q", d)
	}
	if code, _ := get(t, pollURL); code != 400 {
		t.Fatalf("polling after upgrade: %d", code)
	}
	_ = wsutil.WriteClientText(conn, []byte("4hi"))
	if d, _ := wsutil.ReadServerText(conn); string(d) != "4hi" {
		t.Fatalf("echo %q", d)
	}
}

// A polling request sent right after the upgrade packet is refused, even
// when it reaches the server before the packet is read; one during an
// upgrade whose packet does not come gets a noop.
func TestPollingDuringUpgrade(t *testing.T) {
	_, base, _ := newServer(t, nil)
	probe := func() (string, net.Conn) {
		sid := handshake(t, base)
		pollURL := base + "?EIO=4&transport=polling&sid=" + sid
		wsURL := strings.Replace(strings.Replace(pollURL, "http", "ws", 1), "transport=polling", "transport=websocket", 1)
		conn, _, _, err := ws.Dial(context.Background(), wsURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		_ = wsutil.WriteClientText(conn, []byte("2probe"))
		if d, _ := wsutil.ReadServerText(conn); string(d) != "3probe" {
			t.Fatalf("probe answer %q", d)
		}
		return pollURL, conn
	}
	for i := 0; i < 10; i++ { // newServer records up to 16 closes
		pollURL, conn := probe()
		_ = wsutil.WriteClientText(conn, []byte("5"))
		if code, _ := get(t, pollURL); code != 400 {
			t.Fatalf("round %d: polling right after the upgrade packet: %d", i, code)
		}
	}
	pollURL, conn := probe()
	if code, body := get(t, pollURL); code != 200 || body != "6" {
		t.Fatalf("polling during the upgrade: %d %q", code, body)
	}
	_ = wsutil.WriteClientText(conn, []byte("5")) // the upgrade still completes
	_ = wsutil.WriteClientText(conn, []byte("4hi"))
	if d, _ := wsutil.ReadServerText(conn); string(d) != "4hi" {
		t.Fatalf("echo after the upgrade: %q", d)
	}
}

func TestWebSocketLimitsAndMalformed(t *testing.T) {
	_, base, closed := newServer(t, &engineio.Options{MaxPayload: 100})
	for _, tt := range []struct {
		name   string
		send   func(c *support.Conn)
		reason string
	}{
		{"oversized", func(c *support.Conn) { c.Send("4" + strings.Repeat("x", 200)) }, "transport error"},
		{"bad type", func(c *support.Conn) { c.Send("9") }, "parse error"},
		{"empty", func(c *support.Conn) { c.Send("") }, "parse error"},
		{"close", func(c *support.Conn) { c.Send("1") }, "transport close"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := support.Dial(t, strings.TrimSuffix(base, "/engine.io/"), "/engine.io/")
			tt.send(c)
			c.WaitClosed()
			if r := <-closed; r != tt.reason {
				t.Fatalf("reason %q, want %q", r, tt.reason)
			}
		})
	}
}

// A client that never reads is dropped once its queue is full; the others
// are unaffected.
func TestSlowClientDropped(t *testing.T) {
	url, next := recordingServer(t, &engineio.Options{MaxQueuedPackets: 64})
	// Polling client: never polls, so nothing drains its queue.
	handshake(t, url+"/")
	c := next()
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		err = c.Send(engineio.NewMessage([]byte("x"), false))
	}
	if err != engineio.ErrSlowClient {
		t.Fatalf("want ErrSlowClient, got %v", err)
	}
	if err := c.Send(engineio.NewMessage([]byte("x"), false)); err != engineio.ErrClosed {
		t.Fatalf("after drop: %v", err)
	}
}

func contextWithTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// recordingServer is an echo server that hands the test its connections.
func recordingServer(t *testing.T, opts *engineio.Options) (url string, conn func() *engineio.Conn) {
	t.Helper()
	conns := make(chan *engineio.Conn, 16)
	s := engineio.NewServer(opts, func(c *engineio.Conn) engineio.Handler {
		conns <- c
		return &echo{c: c}
	})
	return support.Serve(t, s), func() *engineio.Conn {
		select {
		case c := <-conns:
			return c
		case <-time.After(5 * time.Second):
			t.Fatal("no connection")
			return nil
		}
	}
}

type stuck struct{ entered, release chan struct{} }

func (h *stuck) OnMessage([]byte, bool)         { h.entered <- struct{}{}; <-h.release }
func (h *stuck) OnClose(engineio.Reason, error) {}

// An application handler that never returns does not hold Shutdown past
// its context.
func TestShutdownNotHeldByStuckHandler(t *testing.T) {
	h := &stuck{entered: make(chan struct{}, 1), release: make(chan struct{})}
	s := engineio.NewServer(nil, func(*engineio.Conn) engineio.Handler { return h })
	hs := httptest.NewServer(s)
	defer hs.Close()
	c := support.Dial(t, hs.URL, "/engine.io/")
	c.Send("4stuck")
	<-h.entered
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	close(h.release)
}

// Shutdown returns only once every goroutine the server started has ended:
// writers flushing a backlog, WebSocket closes, timers closing sessions.
func TestShutdownWaitsForItsGoroutines(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	conns := make(chan *engineio.Conn, 8)
	s := engineio.NewServer(&engineio.Options{WriteTimeout: 300 * time.Millisecond, PingTimeout: 300 * time.Millisecond},
		func(c *engineio.Conn) engineio.Handler { conns <- c; return &echo{c: c} })
	hs := httptest.NewServer(s)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var clients []net.Conn
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for range 3 {
		// A WebSocket client that reads nothing and never closes: its
		// writer is stuck on a full socket, and its close drains it.
		conn, _, _, err := ws.Dial(context.Background(), strings.Replace(hs.URL, "http", "ws", 1)+"/engine.io/?EIO=4&transport=websocket")
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, conn)
		// A polling client that does not poll.
		res, err := client.Get(hs.URL + "/engine.io/?EIO=4&transport=polling")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	chunk := engineio.NewMessage(bytes.Repeat([]byte("x"), 64<<10), false)
	for range 6 {
		c := <-conns
		for range 200 {
			_ = c.Send(chunk)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	hs.Close()
	goleak.VerifyNone(t, ignore) // while the clients are still there
}

// Dropped slow clients are counted, for a metric.
func TestSlowClientsCounted(t *testing.T) {
	conns := make(chan *engineio.Conn, 1)
	s := engineio.NewServer(&engineio.Options{MaxQueuedPackets: 8}, func(c *engineio.Conn) engineio.Handler {
		conns <- c
		return &echo{c: c}
	})
	url := support.Serve(t, s)
	handshake(t, url+"/")
	c := <-conns
	for i := 0; i < 20; i++ {
		_ = c.Send(engineio.NewMessage([]byte("x"), false))
	}
	if n := s.WriteStats().SlowClients; n != 1 {
		t.Fatalf("SlowClients %d, want 1", n)
	}
}

// A cluster's hook: ids name the node, and a request for a session held
// elsewhere goes to Forward instead of being refused; one Forward declines
// is refused as before, with the server's CORS headers.
func TestForwardUnknownSession(t *testing.T) {
	var forwarded []string
	_, base, _ := newServer(t, &engineio.Options{
		CORS:       &engineio.CORS{Origins: []string{"*"}},
		GenerateID: func() string { return "n1." + engineio.NewID() },
		Forward: func(w http.ResponseWriter, r *http.Request, sid string) bool {
			forwarded = append(forwarded, r.Method+" "+sid)
			if len(w.Header()) != 0 {
				t.Errorf("headers before forwarding: %v", w.Header())
			}
			if !strings.HasPrefix(sid, "n2.") {
				return false
			}
			w.WriteHeader(http.StatusTeapot)
			return true
		},
	})
	sid := handshake(t, base)
	if !strings.HasPrefix(sid, "n1.") || len(sid) != 23 {
		t.Fatalf("sid %q", sid)
	}
	u := base + "?EIO=4&transport=polling&sid="
	if code, body := post(t, u+sid, "4a"); code != 200 || body != "ok" {
		t.Fatalf("local session: %d %q", code, body)
	}
	if code, _ := get(t, u+"n2.elsewhere"); code != http.StatusTeapot {
		t.Fatalf("forwarded GET: %d", code)
	}
	if code, _ := post(t, u+"n2.elsewhere", "4a"); code != http.StatusTeapot {
		t.Fatalf("forwarded POST: %d", code)
	}
	res, err := http.Get(u + "n3.nobody")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 400 || string(b) != `{"code":1,"message":"Session ID unknown"}` {
		t.Fatalf("declined: %d %s", res.StatusCode, b)
	}
	if res.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("declined without CORS: %v", res.Header)
	}
	want := []string{"GET n2.elsewhere", "POST n2.elsewhere", "GET n3.nobody"}
	if strings.Join(forwarded, ",") != strings.Join(want, ",") {
		t.Fatalf("forwarded %v, want %v", forwarded, want)
	}
}
