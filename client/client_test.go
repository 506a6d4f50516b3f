package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/socketio"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("time.Sleep"))
}

// testServer is a Herald server on a real listener, restartable on the
// same address.
type testServer struct {
	t    *testing.T
	opts socketio.Options
	addr string
	io   *socketio.Server
	hs   *httptest.Server
	// setup configures each new socketio.Server.
	setup func(io *socketio.Server)
}

func newTestServer(t *testing.T, opts *socketio.Options, setup func(io *socketio.Server)) *testServer {
	t.Helper()
	ts := &testServer{t: t, setup: setup}
	if opts != nil {
		ts.opts = *opts
	}
	if ts.opts.Engine.PingInterval == 0 {
		ts.opts.Engine.PingInterval = 300 * time.Millisecond
		ts.opts.Engine.PingTimeout = 300 * time.Millisecond
	}
	// Without the shared poller: engineio.Server.Shutdown reads the poller
	// without synchronization while an upgrade may be creating it.
	ts.opts.Engine.DisableNetpoll = true
	ts.start()
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) start() {
	ts.t.Helper()
	addr := ts.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for range 50 { // the old listener's port may take a moment to free
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		ts.t.Fatalf("listen %s: %v", addr, err)
	}
	ts.addr = ln.Addr().String()
	ts.io = socketio.NewServer(&ts.opts)
	if ts.setup != nil {
		ts.setup(ts.io)
	}
	ts.hs = httptest.NewUnstartedServer(ts.io)
	ts.hs.Listener.Close()
	ts.hs.Listener = ln
	ts.hs.Start()
}

func (ts *testServer) stop() {
	if ts.hs == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = ts.io.Shutdown(ctx)
	ts.hs.Close()
	ts.hs = nil
}

func (ts *testServer) url() string { return "http://" + ts.addr }

// fast are client options with short delays for tests.
func fast(o *client.Options) *client.Options {
	if o == nil {
		o = &client.Options{}
	}
	if o.ReconnectionDelay == 0 {
		o.ReconnectionDelay = 20 * time.Millisecond
		o.ReconnectionDelayMax = 100 * time.Millisecond
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	return o
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// recv waits for a value on ch.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// none checks nothing arrives on ch for a while.
func none[T any](t *testing.T, ch <-chan T, what string, d time.Duration) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected %s: %v", what, v)
	case <-time.After(d):
	}
}

func connect(t *testing.T, url string, opts *client.Options, setup func(s *client.Socket)) *client.Socket {
	t.Helper()
	s, err := client.NewSocket(url, fast(opts))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if setup != nil {
		setup(s)
	}
	s.Connect()
	if err := s.WaitConnected(ctxT(t)); err != nil {
		t.Fatalf("connect: %v", err)
	}
	return s
}

func echoServer(io *socketio.Server) {
	io.OnConnection(func(s *socketio.Socket) {
		_ = s.Emit("welcome", s.ID(), s.Handshake().Auth)
		s.On("echo", func(e *socketio.Event) {
			if e.HasAck() {
				_ = e.Ack(e.Args)
				return
			}
			_ = s.Emit("echo", e.Args)
		})
	})
}

func TestConnectAuthAndEvents(t *testing.T) {
	for _, transports := range [][]string{nil, {client.TransportWebSocket}, {client.TransportPolling}} {
		name := "default"
		if len(transports) > 0 {
			name = transports[0]
		}
		t.Run(name, func(t *testing.T) {
			ts := newTestServer(t, nil, echoServer)
			welcome := make(chan socketio.Args, 1)
			echo := make(chan socketio.Args, 10)
			s := connect(t, ts.url(), &client.Options{Transports: transports, SocketOptions: client.SocketOptions{Auth: map[string]any{"token": "abc"}}}, func(s *client.Socket) {
				s.On("welcome", func(e *client.Event) { welcome <- e.Args })
				s.On("echo", func(e *client.Event) { echo <- e.Args })
			})
			w := recv(t, welcome, "welcome")
			if id, _ := w.String(0); id != s.ID() || len(id) != 20 {
				t.Fatalf("welcome id %q, socket id %q", id, s.ID())
			}
			if got := string(w.Raw(1)); got != `{"token":"abc"}` {
				t.Fatalf("auth %s", got)
			}
			if err := s.Emit("echo", 1, "two", map[string]any{"three": []any{true, nil}}); err != nil {
				t.Fatal(err)
			}
			a := recv(t, echo, "echo")
			if got := string(a.Raw(2)); a.Len() != 3 || string(a.Raw(0)) != "1" || got != `{"three":[true,null]}` {
				t.Fatalf("echo %v", a.Values())
			}
		})
	}
}

func TestAuthFuncCalledOnEveryConnect(t *testing.T) {
	var n atomic.Int32
	tokens := make(chan string, 10)
	ts := newTestServer(t, nil, func(io *socketio.Server) {
		io.OnConnection(func(s *socketio.Socket) {
			var auth struct{ Token string }
			_ = s.Handshake().BindAuth(&auth)
			tokens <- auth.Token
		})
	})
	s := connect(t, ts.url(), &client.Options{SocketOptions: client.SocketOptions{
		AuthFunc: func(ctx context.Context) (any, error) {
			return map[string]string{"Token": "t" + string(rune('0'+n.Add(1)))}, nil
		},
	}}, nil)
	if tok := recv(t, tokens, "token"); tok != "t1" {
		t.Fatalf("first token %q", tok)
	}
	for _, sock := range ts.io.Sockets() {
		_ = sock.Conn().Close()
	}
	if tok := recv(t, tokens, "token"); tok != "t2" {
		t.Fatalf("token after reconnection %q", tok)
	}
	_ = s
}

func TestMiddlewareRejection(t *testing.T) {
	var calls atomic.Int32
	ts := newTestServer(t, nil, func(io *socketio.Server) {
		io.Use(func(s *socketio.Socket) error {
			calls.Add(1)
			return &socketio.ConnectError{Message: "not authorized", Data: map[string]any{"code": 401}}
		})
	})
	s, err := client.NewSocket(ts.url(), fast(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	errs := make(chan error, 10)
	s.OnConnectError(func(err error) { errs <- err })
	s.Connect()
	err = s.WaitConnected(ctxT(t))
	var ce *client.ConnectError
	if !errors.As(err, &ce) || ce.Message != "not authorized" || string(ce.Data) != `{"code":401}` {
		t.Fatalf("WaitConnected: %v (%#v)", err, ce)
	}
	if err := recv(t, errs, "connect error"); !errors.As(err, &ce) {
		t.Fatalf("OnConnectError got %v", err)
	}
	none(t, errs, "second connect error", 200*time.Millisecond)
	if calls.Load() != 1 {
		t.Fatalf("middleware ran %d times: a refused namespace must not be retried", calls.Load())
	}

	// Dial reports the refusal too.
	if _, err := client.Dial(ctxT(t), ts.url(), fast(nil)); !errors.As(err, &ce) {
		t.Fatalf("Dial: %v", err)
	}
}

func TestInvalidNamespace(t *testing.T) {
	ts := newTestServer(t, nil, nil)
	_, err := client.Dial(ctxT(t), ts.url()+"/nope", fast(nil))
	var ce *client.ConnectError
	if !errors.As(err, &ce) || ce.Message != "Invalid namespace" {
		t.Fatalf("Dial: %v", err)
	}
}

func TestAcksBothWays(t *testing.T) {
	answers := make(chan socketio.Args, 1)
	ts := newTestServer(t, nil, func(io *socketio.Server) {
		io.OnConnection(func(s *socketio.Socket) {
			s.On("sum", func(e *socketio.Event) {
				var a, b int
				_ = e.Args.Decode(0, &a)
				_ = e.Args.Decode(1, &b)
				_ = e.Ack(a + b)
			})
			s.On("ask-me", func(e *socketio.Event) {
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
					defer cancel()
					a, err := s.EmitWithAck(ctx, "question", "how many?")
					if err == nil {
						answers <- a
					}
				}()
			})
		})
	})
	s := connect(t, ts.url(), nil, func(s *client.Socket) {
		s.On("question", func(e *client.Event) {
			if !e.HasAck() {
				t.Error("question without ack")
			}
			if err := e.Ack(42, "answer"); err != nil {
				t.Error(err)
			}
			if err := e.Ack(1); !errors.Is(err, client.ErrAlreadyAcked) {
				t.Errorf("second ack: %v", err)
			}
		})
	})
	a, err := s.EmitWithAck(ctxT(t), "sum", 2, 3)
	if err != nil || string(a.Raw(0)) != "5" {
		t.Fatalf("ack %v %v", a.Values(), err)
	}
	_ = s.Emit("ask-me")
	got := recv(t, answers, "client's ack")
	if got.Len() != 2 || string(got.Raw(0)) != "42" || string(got.Raw(1)) != `"answer"` {
		t.Fatalf("server got %v", got.Values())
	}

	// An ack that does not come is bounded by the context.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.EmitWithAck(ctx, "nobody-answers"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline exceeded, got %v", err)
	}
}

func TestBinaryBothWays(t *testing.T) {
	for _, tt := range []struct {
		transports []string
		parser     socketio.Parser
	}{
		{[]string{client.TransportWebSocket}, socketio.JSONParser},
		{[]string{client.TransportPolling}, socketio.JSONParser},
		{[]string{client.TransportWebSocket}, socketio.MsgpackParser},
		{[]string{client.TransportPolling}, socketio.MsgpackParser},
	} {
		transports := tt.transports
		name := transports[0]
		if tt.parser == socketio.MsgpackParser {
			name += "/msgpack"
		}
		t.Run(name, func(t *testing.T) {
			got := make(chan []byte, 2)
			ts := newTestServer(t, &socketio.Options{Parser: tt.parser}, func(io *socketio.Server) {
				io.OnConnection(func(s *socketio.Socket) {
					s.On("upload", func(e *socketio.Event) {
						b, _ := e.Args.Bytes(0)
						got <- b
						_ = e.Ack([]byte{0xff, 0}, map[string]any{"nested": []byte{1, 2}})
					})
					s.On("download", func(e *socketio.Event) {
						_ = s.Emit("file", "name.bin", []byte{0, 1, 2, 250})
					})
				})
			})
			files := make(chan socketio.Args, 1)
			s := connect(t, ts.url(), &client.Options{Transports: transports, Parser: tt.parser}, func(s *client.Socket) {
				s.On("file", func(e *client.Event) { files <- e.Args })
			})
			a, err := s.EmitWithAck(ctxT(t), "upload", []byte{1, 2, 3})
			if err != nil {
				t.Fatal(err)
			}
			if b := recv(t, got, "upload"); string(b) != "\x01\x02\x03" {
				t.Fatalf("server got %v", b)
			}
			vals := a.Values()
			if b, _ := a.Bytes(0); string(b) != "\xff\x00" || string(vals[1].(map[string]any)["nested"].([]byte)) != "\x01\x02" {
				t.Fatalf("ack %v", vals)
			}
			_ = s.Emit("download")
			f := recv(t, files, "file")
			if b, ok := f.Bytes(1); !ok || string(b) != "\x00\x01\x02\xfa" {
				t.Fatalf("file %v", f.Values())
			}
		})
	}
}

func TestNamespacesShareOneConnection(t *testing.T) {
	conns := make(chan string, 2)
	ts := newTestServer(t, nil, func(io *socketio.Server) {
		for _, name := range []string{"/", "/chat"} {
			io.Of(name).OnConnection(func(s *socketio.Socket) {
				conns <- s.Conn().ID()
				s.On("where", func(e *socketio.Event) { _ = e.Ack(s.Namespace().Name()) })
			})
		}
	})
	m, err := client.NewManager(ts.url(), fast(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	main, chat := m.Socket("/", nil), m.Socket("chat", nil)
	if m.Socket("/chat", nil) != chat {
		t.Fatal("a second Socket call for /chat made a new socket")
	}
	main.Connect()
	chat.Connect()
	for _, s := range []*client.Socket{main, chat} {
		if err := s.WaitConnected(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		a, err := s.EmitWithAck(ctxT(t), "where")
		if want := `"` + s.Namespace() + `"`; err != nil || string(a.Raw(0)) != want {
			t.Fatalf("%s: ack %s %v", s.Namespace(), a.Raw(0), err)
		}
	}
	if a, b := recv(t, conns, "conn"), recv(t, conns, "conn"); a != b {
		t.Fatalf("two Engine.IO connections: %s, %s", a, b)
	}

	// Leaving one namespace keeps the connection for the other.
	chat.Disconnect()
	if _, err := main.EmitWithAck(ctxT(t), "where"); err != nil {
		t.Fatal(err)
	}
	if chat.Connected() || !main.Connected() {
		t.Fatal("wrong states after leaving /chat")
	}
}

func TestPollingUpgrade(t *testing.T) {
	got := make(chan int, 200)
	ts := newTestServer(t, nil, func(io *socketio.Server) {
		io.OnConnection(func(s *socketio.Socket) {
			s.On("n", func(e *socketio.Event) {
				var n int
				_ = e.Args.Decode(0, &n)
				got <- n
			})
		})
	})
	s := connect(t, ts.url(), nil, nil)
	// Emit while the upgrade runs: nothing is lost or reordered.
	for i := range 100 {
		if err := s.Emit("n", i); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 100 {
		if n := recv(t, got, "n"); n != i {
			t.Fatalf("got %d, want %d", n, i)
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for s.Manager().Transport() != client.TransportWebSocket {
		if time.Now().After(deadline) {
			t.Fatalf("still on %q", s.Manager().Transport())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if srv := ts.io.Sockets()[0].Conn().Transport(); srv != engineio.TransportWebSocket {
		t.Fatalf("server transport %s", srv)
	}
}

func TestPollingOnlyStaysOnPolling(t *testing.T) {
	ts := newTestServer(t, nil, echoServer)
	s := connect(t, ts.url(), &client.Options{Transports: []string{client.TransportPolling}}, nil)
	for range 3 {
		a, err := s.EmitWithAck(ctxT(t), "echo", "x")
		if err != nil || string(a.Raw(0)) != `"x"` {
			t.Fatal(a.Values(), err)
		}
	}
	// Outlive a few heartbeats on polling.
	time.Sleep(700 * time.Millisecond)
	if tr := s.Manager().Transport(); tr != client.TransportPolling || !s.Connected() {
		t.Fatalf("transport %q connected %v", tr, s.Connected())
	}
}

func TestEngineErrorsAreHTTPErrors(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]any{"code": 5, "message": "Unsupported protocol version"})
	}))
	defer hs.Close()
	_, err := client.Dial(ctxT(t), hs.URL, fast(&client.Options{DisableReconnection: true}))
	var he *client.HTTPError
	if !errors.Is(err, client.ErrReconnectFailed) || !errors.As(err, &he) || he.StatusCode != 400 {
		t.Fatalf("Dial: %v", err)
	}
}

var _ = sync.Mutex{}

func TestPathQueryAndHeaders(t *testing.T) {
	type seen struct{ query, header string }
	got := make(chan seen, 2)
	ts := newTestServer(t, &socketio.Options{Path: "/rt/"}, func(io *socketio.Server) {
		io.OnConnection(func(s *socketio.Socket) {
			h := s.Handshake()
			got <- seen{h.Query.Get("room") + "," + h.Query.Get("v"), h.Headers.Get("X-Client")}
		})
	})
	for _, transports := range [][]string{{client.TransportPolling}, {client.TransportWebSocket}} {
		s := connect(t, ts.url()+"?room=42", &client.Options{
			Path:       "/rt",
			Transports: transports,
			Query:      map[string][]string{"v": {"1"}},
			Header:     http.Header{"X-Client": {"herald-test"}},
		}, nil)
		if g := recv(t, got, "handshake"); g.query != "42,1" || g.header != "herald-test" {
			t.Fatalf("%s: handshake %+v", transports[0], g)
		}
		_ = s.Close()
	}
}
