package client_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/socketio"
)

// lifecycle records a socket's and its manager's events, in order.
type lifecycle struct {
	mu     sync.Mutex
	events []string
	ch     chan string
}

func watch(s *client.Socket) *lifecycle {
	l := &lifecycle{ch: make(chan string, 100)}
	add := func(e string) {
		l.mu.Lock()
		l.events = append(l.events, e)
		l.mu.Unlock()
		l.ch <- e
	}
	s.OnConnect(func() { add("connect") })
	s.OnDisconnect(func(r client.Reason) { add("disconnect:" + string(r)) })
	m := s.Manager()
	m.OnReconnectAttempt(func(n int) { add("attempt:" + itoa(n)) })
	m.OnReconnect(func(n int) { add("reconnect:" + itoa(n)) })
	m.OnReconnectFailed(func() { add("failed") })
	return l
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// dropped waits for the disconnect of a connection the server dropped.
// Over polling the reason depends on timing: "transport close" when a GET
// was pending and got the close packet, "transport error" when the next
// GET finds the session gone.
func (l *lifecycle) dropped(t *testing.T) {
	t.Helper()
	for {
		switch e := recv(t, l.ch, "disconnect"); e {
		case "disconnect:" + string(client.ReasonTransportClose), "disconnect:" + string(client.ReasonTransportError):
			return
		case "connect":
		default:
			t.Fatalf("got %q, want a transport disconnect", e)
		}
	}
}

// until reads events until want, returning what came before it.
func (l *lifecycle) until(t *testing.T, want string) []string {
	t.Helper()
	var seen []string
	timeout := time.After(5 * time.Second)
	for {
		select {
		case e := <-l.ch:
			if e == want {
				return seen
			}
			seen = append(seen, e)
		case <-timeout:
			t.Fatalf("timed out waiting for %s (after %s)", want, joinEvents(seen))
		}
	}
}

func joinEvents(es []string) string {
	out := ""
	for i, e := range es {
		if i > 0 {
			out += " "
		}
		out += e
	}
	return out
}

func dropAll(io *socketio.Server) {
	for _, s := range io.Sockets() {
		_ = s.Conn().Close()
	}
}

func TestReconnectAfterDrop(t *testing.T) {
	for _, transports := range [][]string{{client.TransportWebSocket}, {client.TransportPolling}, nil} {
		name := "default"
		if transports != nil {
			name = transports[0]
		}
		t.Run(name, func(t *testing.T) {
			got := make(chan string, 10)
			connected := make(chan struct{}, 10)
			ts := newTestServer(t, nil, func(io *socketio.Server) {
				io.OnConnection(func(s *socketio.Socket) {
					connected <- struct{}{}
					s.On("msg", func(e *socketio.Event) {
						v, _ := e.Args.String(0)
						got <- v
					})
				})
			})
			resynced := make(chan bool, 10)
			var l *lifecycle
			// A fixed 200ms delay: the emits below happen while disconnected.
			s := connect(t, ts.url(), &client.Options{
				Transports:          transports,
				ReconnectionDelay:   200 * time.Millisecond,
				RandomizationFactor: -1,
				SocketOptions: client.SocketOptions{
					Resync: func(ctx context.Context, s *client.Socket) { resynced <- s.Recovered() },
				},
			}, func(s *client.Socket) { l = watch(s) })
			recv(t, connected, "server connection")
			l.until(t, "connect")
			firstID := s.ID()

			dropAll(ts.io)
			l.dropped(t)
			if s.Connected() || s.ID() != "" {
				t.Fatal("still connected after the drop")
			}
			for _, m := range []string{"a", "b"} {
				if err := s.Emit("msg", m); err != nil {
					t.Fatal(err)
				}
			}
			_ = s.VolatileEmit("msg", "volatile")
			before := l.until(t, "reconnect:1")
			if len(before) != 1 || before[0] != "attempt:1" {
				t.Fatalf("events before reconnect: %v", before)
			}
			l.until(t, "connect")
			if r := recv(t, resynced, "resync"); r {
				t.Fatal("Recovered without recovery on the server")
			}
			if s.ID() == firstID || s.ID() == "" {
				t.Fatalf("id %q after reconnection (was %q)", s.ID(), firstID)
			}
			// The buffered emits arrive, in order; the volatile one does not.
			if a, b := recv(t, got, "a"), recv(t, got, "b"); a != "a" || b != "b" {
				t.Fatalf("got %q %q", a, b)
			}
			_ = s.Emit("msg", "after")
			if v := recv(t, got, "after"); v != "after" {
				t.Fatalf("got %q, want after (the volatile emit must be dropped)", v)
			}
		})
	}
}

func TestReconnectAfterServerRestart(t *testing.T) {
	connected := make(chan string, 10)
	setup := func(io *socketio.Server) {
		io.OnConnection(func(s *socketio.Socket) {
			connected <- s.ID()
			s.On("ping", func(e *socketio.Event) { _ = e.Ack("pong") })
		})
	}
	ts := newTestServer(t, nil, setup)
	var l *lifecycle
	s := connect(t, ts.url(), &client.Options{ReconnectionAttempts: 1000}, func(s *client.Socket) { l = watch(s) })
	recv(t, connected, "first connection")
	l.until(t, "connect")

	ts.stop()
	l.dropped(t)
	// Several attempts fail while the server is down.
	l.until(t, "attempt:1")
	l.until(t, "attempt:2")
	l.until(t, "attempt:3")
	buffered := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := s.EmitWithAck(ctx, "ping") // buffered until reconnected
		buffered <- err
	}()
	ts.start()
	seen := l.until(t, "connect")
	// Attempts are numbered in order and the reconnect event carries the
	// last number.
	last := 3
	for _, e := range seen {
		var n int
		switch {
		case len(e) > 8 && e[:8] == "attempt:":
			n = atoiT(t, e[8:])
			if n != last+1 {
				t.Fatalf("attempt %d after %d in %v", n, last, seen)
			}
			last = n
		case len(e) > 10 && e[:10] == "reconnect:":
			if n = atoiT(t, e[10:]); n != last {
				t.Fatalf("reconnect:%d after attempt %d", n, last)
			}
		default:
			t.Fatalf("unexpected %q in %v", e, seen)
		}
	}
	recv(t, connected, "connection to the new server")
	if err := recv(t, buffered, "buffered ack"); err != nil {
		t.Fatalf("ack of the emit buffered during the restart: %v", err)
	}
}

func atoiT(t *testing.T, s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("not a number: %q", s)
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func TestServerDisconnectDoesNotReconnect(t *testing.T) {
	ts := newTestServer(t, nil, func(io *socketio.Server) {
		io.OnConnection(func(s *socketio.Socket) {
			s.On("kick-me", func(e *socketio.Event) { s.Disconnect(false) })
		})
	})
	var l *lifecycle
	s := connect(t, ts.url(), nil, func(s *client.Socket) { l = watch(s) })
	l.until(t, "connect")
	_ = s.Emit("kick-me")
	l.until(t, "disconnect:io server disconnect")
	none(t, l.ch, "event after io server disconnect", 300*time.Millisecond)
	if s.Connected() || s.Manager().Transport() != "" {
		t.Fatal("still connected")
	}
	// Connect brings it back explicitly.
	s.Connect()
	l.until(t, "connect")
}

func TestConnectionStateRecovery(t *testing.T) {
	for _, transports := range [][]string{{client.TransportWebSocket}, {client.TransportPolling}} {
		t.Run(transports[0], func(t *testing.T) {
			ts := newTestServer(t, &socketio.Options{Recovery: &socketio.RecoveryOptions{}}, func(io *socketio.Server) {
				io.OnConnection(func(s *socketio.Socket) {
					s.Join("room")
					_ = s.Emit("joined")
				})
			})
			joined := make(chan struct{}, 10)
			news := make(chan string, 10)
			resynced := make(chan bool, 1)
			var l *lifecycle
			s := connect(t, ts.url(), &client.Options{Transports: transports, SocketOptions: client.SocketOptions{
				Auth:   map[string]any{"user": "u1"},
				Resync: func(ctx context.Context, s *client.Socket) { resynced <- s.Recovered() },
			}}, func(s *client.Socket) {
				l = watch(s)
				s.On("joined", func(*client.Event) { joined <- struct{}{} })
				s.On("news", func(e *client.Event) {
					v, _ := e.Args.String(0)
					news <- v
				})
			})
			l.until(t, "connect")
			recv(t, joined, "joined")
			id := s.ID()
			if s.Recovered() {
				t.Fatal("recovered on the first connection")
			}
			_ = ts.io.To("room").Emit("news", "before")
			if v := recv(t, news, "news"); v != "before" {
				t.Fatal(v)
			}

			// Stop reconnections from racing the broadcasts: the server
			// drops us, we wait for the disconnect, then it broadcasts.
			dropAll(ts.io)
			l.dropped(t)
			deadline := time.Now().Add(2 * time.Second)
			for len(ts.io.Sockets()) > 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			_ = ts.io.To("room").Emit("news", "missed-1")
			_ = ts.io.To("room").Emit("news", "missed-2")
			l.until(t, "connect")
			if !s.Recovered() || s.ID() != id {
				t.Fatalf("recovered %v, id %q (was %q)", s.Recovered(), s.ID(), id)
			}
			if !recv(t, resynced, "resync") {
				t.Fatal("Resync saw Recovered false")
			}
			// The missed broadcasts arrive (unless the reconnection beat
			// them, in which case they arrive live: either way, in order).
			for _, want := range []string{"missed-1", "missed-2"} {
				if v := recv(t, news, want); v != want {
					t.Fatalf("got %q, want %q", v, want)
				}
			}
			// Rooms were restored.
			_ = ts.io.To("room").Emit("news", "after")
			if v := recv(t, news, "after"); v != "after" {
				t.Fatal(v)
			}
		})
	}
}

func TestReconnectionAttemptsExhausted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now

	s, err := client.NewSocket("http://"+addr, fast(&client.Options{ReconnectionAttempts: 3}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := watch(s)
	errs := make(chan error, 10)
	s.OnConnectError(func(err error) { errs <- err })
	s.Connect()
	err = s.WaitConnected(ctxT(t))
	if !errors.Is(err, client.ErrReconnectFailed) {
		t.Fatalf("WaitConnected: %v", err)
	}
	seen := l.until(t, "failed")
	if joinEvents(seen) != "attempt:1 attempt:2 attempt:3" {
		t.Fatalf("events %v", seen)
	}
	// One connect error per failed attempt, the first one included.
	for range 4 {
		recv(t, errs, "connect error")
	}
	none(t, l.ch, "event after giving up", 200*time.Millisecond)
}

func TestBufferBound(t *testing.T) {
	s, err := client.NewSocket("http://127.0.0.1:1", fast(&client.Options{SocketOptions: client.SocketOptions{MaxBufferedPackets: 2}}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 2 {
		if err := s.Emit("x", i); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Emit("x", 3); !errors.Is(err, client.ErrBufferFull) {
		t.Fatalf("third emit: %v", err)
	}
	if err := s.VolatileEmit("x"); err != nil {
		t.Fatalf("volatile emit while disconnected: %v", err)
	}
	if err := s.Emit("disconnect"); !errors.Is(err, client.ErrReservedEvent) {
		t.Fatalf("reserved: %v", err)
	}
	// An ack awaited for a buffered emit gives up with its context and
	// frees its place.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := s.EmitWithAck(ctx, "x"); !errors.Is(err, client.ErrBufferFull) {
		t.Fatalf("ack emit on a full buffer: %v", err)
	}
}

func TestCloseFromHandlerAndAcksFailOnClose(t *testing.T) {
	ts := newTestServer(t, nil, func(io *socketio.Server) {
		io.OnConnection(func(s *socketio.Socket) { _ = s.Emit("bye") })
	})
	s, err := client.NewSocket(ts.url(), fast(nil))
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	s.On("bye", func(e *client.Event) {
		_ = s.Emit("never-answered")
		closed <- s.Close()
	})
	s.Connect()
	if err := recv(t, closed, "close"); err != nil {
		t.Fatal(err)
	}
	if err := s.Emit("x"); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("emit after close: %v", err)
	}
	if _, err := s.EmitWithAck(context.Background(), "x"); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("emit with ack after close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestPendingAckFailsOnDisconnect(t *testing.T) {
	ts := newTestServer(t, nil, func(io *socketio.Server) {
		io.OnConnection(func(s *socketio.Socket) {
			s.On("slow", func(e *socketio.Event) { _ = s.Conn().Close() })
		})
	})
	s := connect(t, ts.url(), &client.Options{Transports: []string{client.TransportWebSocket}}, nil)
	_, err := s.EmitWithAck(ctxT(t), "slow")
	if !errors.Is(err, client.ErrDisconnected) {
		t.Fatalf("want ErrDisconnected, got %v", err)
	}
}

func TestCloseStopsEveryGoroutine(t *testing.T) {
	ts := newTestServer(t, nil, echoServer)
	before := goleak.IgnoreCurrent()
	for _, transports := range [][]string{nil, {client.TransportPolling}, {client.TransportWebSocket}} {
		s := connect(t, ts.url(), &client.Options{Transports: transports}, nil)
		m := s.Manager()
		other := m.Socket("/other", nil) // refused: an invalid namespace
		other.Connect()
		_ = other.WaitConnected(ctxT(t))
		pending := make(chan error, 1)
		go func() {
			_, err := s.EmitWithAck(context.Background(), "never-answered")
			pending <- err
		}()
		if _, err := s.EmitWithAck(ctxT(t), "echo"); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := recv(t, pending, "pending ack"); !errors.Is(err, client.ErrClosed) {
			t.Fatalf("pending ack after Close: %v", err)
		}
	}
	// The server's side of the connections ends too, a moment later.
	goleak.VerifyNone(t, before)
}

// TestDisconnectReasonsAreTyped: a disconnect handler gets a Reason with
// the JavaScript client's value, and the error after giving up carries it
// for CloseReason.
func TestDisconnectReasonsAreTyped(t *testing.T) {
	ts := newTestServer(t, nil, func(io *socketio.Server) {
		io.OnConnection(func(s *socketio.Socket) {
			s.On("drop-me", func(e *socketio.Event) { _ = s.Conn().Close() })
		})
	})
	reasons := make(chan client.Reason, 10)
	s := connect(t, ts.url(), &client.Options{DisableReconnection: true}, func(s *client.Socket) {
		s.OnDisconnect(func(r client.Reason) { reasons <- r })
	})
	if err := s.WaitConnected(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	_ = s.Emit("drop-me")
	if r := recv(t, reasons, "disconnect"); r != socketio.ReasonTransportClose {
		t.Fatalf("reason %q, want %q", r, socketio.ReasonTransportClose)
	}
	err := s.WaitConnected(ctxT(t))
	if !errors.Is(err, client.ErrReconnectFailed) || client.CloseReason(err) != client.ReasonTransportClose {
		t.Fatalf("WaitConnected: %v (reason %q), want ErrReconnectFailed with %q", err, client.CloseReason(err), client.ReasonTransportClose)
	}
}
