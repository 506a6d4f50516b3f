package client_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/socketio"
)

// startNodeReference starts interop/ref-server.mjs (socket.io v4, see
// interop/README.md for its contract) on a free port and returns its URL;
// env is added to its environment.
func startNodeReference(t *testing.T, env ...string) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "interop"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		npm := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		npm.Dir = dir
		if out, err := npm.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	// PORT=0: Node takes a free port and prints it (a port picked here
	// could be taken by another process before Node binds it).
	out := &lineWatcher{want: []byte("listening on"), ready: make(chan struct{})}
	cmd := exec.Command("node", "ref-server.mjs")
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "PORT=0", "PING_INTERVAL=1000", "PING_TIMEOUT=1000"), env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(3 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	select {
	case <-out.ready:
	case err := <-exited:
		exited <- err
		t.Fatalf("node exited: %v\n%s", err, out.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("node did not start:\n%s", out.String())
	}
	m := regexp.MustCompile(`listening on (\d+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no port in node's output:\n%s", out.String())
	}
	return "http://127.0.0.1:" + m[1]
}

// lineWatcher collects a process's output and closes ready once want
// appears.
type lineWatcher struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	want  []byte
	ready chan struct{}
	seen  bool
}

func (w *lineWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.seen && bytes.Contains(w.buf.Bytes(), w.want) {
		w.seen = true
		close(w.ready)
	}
	return len(p), nil
}

func (w *lineWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestNodeInterop runs the client against the Node reference server. It
// needs node and the interop packages; set HERALD_NODE_INTEROP=1.
func TestNodeInterop(t *testing.T) {
	if os.Getenv("HERALD_NODE_INTEROP") != "1" {
		t.Skip("set HERALD_NODE_INTEROP=1 to run against the Node reference server")
	}
	url := startNodeReference(t)

	t.Run("ConnectWithAuth", func(t *testing.T) {
		for _, transports := range [][]string{{client.TransportWebSocket}, {client.TransportPolling}} {
			welcome := make(chan socketio.Args, 1)
			s := connect(t, url, &client.Options{Transports: transports, SocketOptions: client.SocketOptions{Auth: map[string]any{"token": "t1"}}}, func(s *client.Socket) {
				s.On("welcome", func(e *client.Event) { welcome <- e.Args })
			})
			var w struct {
				ID        string          `json:"id"`
				Auth      json.RawMessage `json:"auth"`
				Recovered bool            `json:"recovered"`
			}
			if err := recv(t, welcome, "welcome").Decode(0, &w); err != nil {
				t.Fatal(err)
			}
			if w.ID != s.ID() || string(w.Auth) != `{"token":"t1"}` || w.Recovered {
				t.Fatalf("%s: welcome %+v, id %q", transports[0], w, s.ID())
			}
			_ = s.Close()
		}
	})

	t.Run("MiddlewareRejection", func(t *testing.T) {
		_, err := client.Dial(ctxT(t), url, fast(&client.Options{SocketOptions: client.SocketOptions{Auth: map[string]any{"token": "bad"}}}))
		var ce *client.ConnectError
		if !errors.As(err, &ce) || ce.Message != "not authorized" || string(ce.Data) != `{"code":401}` {
			t.Fatalf("Dial: %v", err)
		}
	})

	t.Run("EventsAndAcks", func(t *testing.T) {
		echo := make(chan socketio.Args, 1)
		s := connect(t, url, nil, func(s *client.Socket) {
			s.On("echo", func(e *client.Event) { echo <- e.Args })
			s.On("question", func(e *client.Event) {
				if q, _ := e.Args.String(0); q == "q1" {
					_ = e.Ack("forty-two")
				}
			})
		})
		_ = s.Emit("echo", 1, "two", map[string]any{"three": 3})
		a := recv(t, echo, "echo")
		if a.Len() < 3 || string(a.Raw(0)) != "1" || string(a.Raw(1)) != `"two"` || string(a.Raw(2)) != `{"three":3}` {
			t.Fatalf("echo %v", a.Values())
		}
		// client → server ack
		a, err := s.EmitWithAck(ctxT(t), "echo", "x", []any{1, 2})
		if err != nil || a.Len() != 2 || string(a.Raw(1)) != "[1,2]" {
			t.Fatalf("ack %v %v", a.Values(), err)
		}
		// server → client ack, answered in the handler
		a, err = s.EmitWithAck(ctxT(t), "ask")
		if err != nil || string(a.Raw(0)) != `{"answer":"forty-two"}` {
			t.Fatalf("ask %s %v", a.Raw(0), err)
		}
	})

	t.Run("Binary", func(t *testing.T) {
		for _, transports := range [][]string{{client.TransportWebSocket}, {client.TransportPolling}} {
			echo := make(chan socketio.Args, 1)
			s := connect(t, url, &client.Options{Transports: transports}, func(s *client.Socket) {
				s.On("echo", func(e *client.Event) { echo <- e.Args })
			})
			a, err := s.EmitWithAck(ctxT(t), "echo", []byte{1, 2, 3}, map[string]any{"nested": []byte{4, 5}})
			if err != nil {
				t.Fatal(err)
			}
			vals := a.Values()
			if b, _ := a.Bytes(0); string(b) != "\x01\x02\x03" || string(vals[1].(map[string]any)["nested"].([]byte)) != "\x04\x05" {
				t.Fatalf("%s: binary ack %v", transports[0], vals)
			}
			_ = s.Emit("echo", []byte{0, 255})
			if b, _ := recv(t, echo, "binary echo").Bytes(0); string(b) != "\x00\xff" {
				t.Fatalf("%s: binary event %v", transports[0], b)
			}
			_ = s.Close()
		}
	})

	t.Run("TwoNamespacesOneManager", func(t *testing.T) {
		m, err := client.NewManager(url, fast(nil))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		hello := make(chan socketio.Args, 1)
		main, custom := m.Socket("/", nil), m.Socket("/custom", nil)
		custom.On("hello", func(e *client.Event) { hello <- e.Args })
		main.Connect()
		custom.Connect()
		for _, s := range []*client.Socket{main, custom} {
			if err := s.WaitConnected(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			a, err := s.EmitWithAck(ctxT(t), "echo", s.Namespace())
			if err != nil || string(a.Raw(0)) != strconv.Quote(s.Namespace()) {
				t.Fatalf("%s: %v %v", s.Namespace(), a.Values(), err)
			}
		}
		var h struct{ Nsp string }
		if err := recv(t, hello, "hello").Decode(0, &h); err != nil || h.Nsp != "/custom" {
			t.Fatalf("hello %+v %v", h, err)
		}
	})

	t.Run("PollingAndUpgrade", func(t *testing.T) {
		s := connect(t, url, nil, nil)
		deadline := time.Now().Add(5 * time.Second)
		for s.Manager().Transport() != client.TransportWebSocket {
			if time.Now().After(deadline) {
				t.Fatalf("no upgrade: %q", s.Manager().Transport())
			}
			time.Sleep(10 * time.Millisecond)
		}
		for i := range 20 {
			a, err := s.EmitWithAck(ctxT(t), "echo", i)
			if err != nil || string(a.Raw(0)) != strconv.Itoa(i) {
				t.Fatal(a.Values(), err)
			}
		}
		p := connect(t, url, &client.Options{Transports: []string{client.TransportPolling}}, nil)
		// Outlive heartbeats (ping interval 1 s) on polling.
		time.Sleep(1500 * time.Millisecond)
		if _, err := p.EmitWithAck(ctxT(t), "echo", "still here"); err != nil || p.Manager().Transport() != client.TransportPolling {
			t.Fatal(err, p.Manager().Transport())
		}
	})

	t.Run("ReconnectAfterDrop", func(t *testing.T) {
		all := make(chan socketio.Args, 10)
		var l *lifecycle
		s := connect(t, url, nil, func(s *client.Socket) {
			l = watch(s)
			s.On("broadcast-all", func(e *client.Event) { all <- e.Args })
		})
		l.until(t, "connect")
		// A broadcast gives the client an offset: the reference then
		// recovers the session.
		_ = s.Emit("broadcast-all", "hi")
		if a := recv(t, all, "broadcast"); a.Len() != 2 {
			t.Fatalf("broadcast without offset: %v", a.Values())
		}
		id := s.ID()
		_ = s.Emit("drop")
		l.until(t, "disconnect:transport close")
		l.until(t, "reconnect:1")
		l.until(t, "connect")
		if !s.Recovered() || s.ID() != id {
			t.Fatalf("recovered %v, id %q (was %q)", s.Recovered(), s.ID(), id)
		}
		if _, err := s.EmitWithAck(ctxT(t), "echo", "back"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ServerDisconnect", func(t *testing.T) {
		var l *lifecycle
		s := connect(t, url, nil, func(s *client.Socket) { l = watch(s) })
		l.until(t, "connect")
		rooms, err := s.EmitWithAck(ctxT(t), "join", "kickme")
		if err != nil {
			t.Fatal(err, rooms)
		}
		_ = s.Emit("kick-room", "kickme")
		l.until(t, "disconnect:io server disconnect")
		none(t, l.ch, "event after io server disconnect", 300*time.Millisecond)
	})

}
