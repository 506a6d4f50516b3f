package socketio_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/socketio"
	"github.com/heraldio/herald/test/support"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("time.Sleep"))
}

func newServer(t *testing.T, opts *socketio.Options) (*socketio.Server, string) {
	t.Helper()
	if opts == nil {
		opts = &socketio.Options{}
	}
	io := socketio.NewServer(opts)
	return io, support.Serve(t, io)
}

func dial(t *testing.T, url string) *support.Conn { return support.Dial(t, url, "/socket.io/") }

func TestConnectAuthAndEcho(t *testing.T) {
	io, url := newServer(t, nil)
	io.OnConnection(func(s *socketio.Socket) {
		_ = s.Emit("auth", s.Handshake().Auth)
		s.On("message", func(e *socketio.Event) { _ = s.Emit("message-back", e.Args) })
		s.On("with-ack", func(e *socketio.Event) { _ = e.Ack(e.Args) })
	})
	c := dial(t, url)
	sid := c.Connect("/", `{"token":"123"}`)
	if len(sid) != 20 {
		t.Fatalf("socket id %q: want 20 characters", sid)
	}
	c.ExpectExact(`42["auth",{"token":"123"}]`)
	c.Send(`42["message",1,"2",{"3":[true]},null]`)
	c.ExpectExact(`42["message-back",1,"2",{"3":[true]},null]`)
	c.Send(`4212["with-ack","a",{"b":{}}]`)
	c.ExpectExact(`4312["a",{"b":{}}]`)
}

func TestBinaryBothWays(t *testing.T) {
	io, url := newServer(t, nil)
	got := make(chan []byte, 1)
	io.OnConnection(func(s *socketio.Socket) {
		s.On("bin", func(e *socketio.Event) {
			b, _ := e.Args.Bytes(0)
			got <- b
			_ = e.Ack(e.Args)
		})
		s.On("send-me", func(e *socketio.Event) {
			_ = s.Emit("data", []byte{9, 8}, map[string]any{"nested": []byte{7}})
		})
	})
	c := dial(t, url)
	c.Connect("/", "")
	c.Send(`451-3["bin",{"_placeholder":true,"num":0}]`)
	c.SendBinary([]byte{1, 2, 3})
	if b := <-got; string(b) != "\x01\x02\x03" {
		t.Fatalf("server got %v", b)
	}
	c.ExpectExact(`461-3[{"_placeholder":true,"num":0}]`)
	if f := c.Next(); !f.Binary || string(f.Data) != "\x01\x02\x03" {
		t.Fatalf("attachment %v", f)
	}
	c.Send(`42["send-me"]`)
	c.ExpectExact(`452-["data",{"_placeholder":true,"num":0},{"nested":{"_placeholder":true,"num":1}}]`)
	if f := c.Next(); string(f.Data) != "\x09\x08" {
		t.Fatalf("attachment 0: %v", f.Data)
	}
	if f := c.Next(); string(f.Data) != "\x07" {
		t.Fatalf("attachment 1: %v", f.Data)
	}
}

func TestServerToClientAck(t *testing.T) {
	io, url := newServer(t, nil)
	res := make(chan string, 1)
	io.OnConnection(func(s *socketio.Socket) {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			a, err := s.EmitWithAck(ctx, "question", "q")
			if err != nil {
				res <- err.Error()
				return
			}
			v, _ := a.String(0)
			res <- v
		}()
	})
	c := dial(t, url)
	c.Connect("/", "")
	q := c.Expect(`42`)
	id := strings.TrimSuffix(strings.TrimPrefix(q, "42"), `["question","q"]`)
	c.Send(`43` + id + `["answer"]`)
	if v := <-res; v != "answer" {
		t.Fatalf("ack got %q", v)
	}
}

func TestAckTimeout(t *testing.T) {
	io, url := newServer(t, nil)
	res := make(chan error, 1)
	io.OnConnection(func(s *socketio.Socket) {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			_, err := s.EmitWithAck(ctx, "question")
			res <- err
		}()
	})
	c := dial(t, url)
	c.Connect("/", "")
	c.Expect("42")
	if err := <-res; err != socketio.ErrAckTimeout {
		t.Fatalf("want ErrAckTimeout, got %v", err)
	}
}

// An ack awaited from a socket that disconnects fails with the reason.
func TestAckFailsWithDisconnectReason(t *testing.T) {
	io, url := newServer(t, nil)
	res := make(chan error, 1)
	io.OnConnection(func(s *socketio.Socket) {
		go func() {
			_, err := s.EmitWithAck(context.Background(), "question")
			res <- err
		}()
	})
	c := dial(t, url)
	c.Connect("/", "")
	c.Expect("42")
	c.Send("41")
	select {
	case err := <-res:
		if !errors.Is(err, socketio.ErrDisconnected) || socketio.CloseReason(err) != socketio.ReasonClientNamespaceDisconnect {
			t.Fatalf("got %v (reason %q)", err, socketio.CloseReason(err))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ack still awaited")
	}
}

func TestMiddlewareRejects(t *testing.T) {
	io, url := newServer(t, nil)
	io.Use(func(s *socketio.Socket) error {
		var a struct{ Token string }
		_ = s.Handshake().BindAuth(&a)
		if a.Token != "ok" {
			return &socketio.ConnectError{Message: "not authorized", Data: map[string]any{"code": 401}}
		}
		s.Set("user", "u1")
		return nil
	})
	io.Of("/plain").Use(func(*socketio.Socket) error { return errPlain })
	connected := make(chan string, 1)
	io.OnConnection(func(s *socketio.Socket) {
		v, _ := s.Get("user")
		connected <- v.(string)
	})
	c := dial(t, url)
	c.Send(`40{"token":"nope"}`)
	c.ExpectExact(`44{"message":"not authorized","data":{"code":401}}`)
	c.Send(`40/plain,`)
	c.ExpectExact(`44/plain,{"message":"plain refusal"}`)
	c.Connect("/", `{"token":"ok"}`)
	if u := <-connected; u != "u1" {
		t.Fatalf("data %q", u)
	}
}

type plainErr struct{}

func (plainErr) Error() string { return "plain refusal" }

var errPlain = plainErr{}

func TestNamespaces(t *testing.T) {
	io, url := newServer(t, nil)
	io.Of("/custom").OnConnection(func(s *socketio.Socket) { _ = s.Emit("hello", s.Namespace().Name()) })
	parent := io.OfRegexp(regexp.MustCompile(`^/dyn-\w+$`))
	parent.OnConnection(func(s *socketio.Socket) { _ = s.Emit("hello", s.Namespace().Name()) })
	c := dial(t, url)
	c.Send("40/random")
	c.ExpectExact(`44/random,{"message":"Invalid namespace"}`)
	c.Connect("/custom", "")
	c.ExpectExact(`42/custom,["hello","/custom"]`)
	c.Connect("/dyn-abc", "")
	c.ExpectExact(`42/dyn-abc,["hello","/dyn-abc"]`)
	c.Connect("/", "")
	// Leaving one namespace keeps the others.
	c.Send("41/custom,")
	if err := parent.Emit("ping-all", 1); err != nil {
		t.Fatal(err)
	}
	c.ExpectExact(`42/dyn-abc,["ping-all",1]`)
}

func TestRoomsAndBroadcasts(t *testing.T) {
	io, url := newServer(t, nil)
	io.OnConnection(func(s *socketio.Socket) {
		s.On("join", func(e *socketio.Event) {
			r, _ := e.Args.String(0)
			s.Join(r)
			_ = e.Ack()
		})
		s.On("to", func(e *socketio.Event) {
			r, _ := e.Args.String(0)
			_ = s.To(r).Emit("msg", e.Args.Slice(1))
		})
	})
	a, b, c := dial(t, url), dial(t, url), dial(t, url)
	idA := a.Connect("/", "")
	b.Connect("/", "")
	idC := c.Connect("/", "")
	a.Send(`421["join","r1"]`)
	a.ExpectExact(`431[]`)
	b.Send(`421["join","r1"]`)
	b.ExpectExact(`431[]`)
	a.Send(`42["to","r1","hi"]`)
	b.ExpectExact(`42["msg","hi"]`)
	a.ExpectNothing(50 * time.Millisecond)
	c.ExpectNothing(10 * time.Millisecond)

	// Server-side operator: rooms, except, personal rooms.
	if err := io.To("r1").Except(idA).Emit("x", 1); err != nil {
		t.Fatal(err)
	}
	b.ExpectExact(`42["x",1]`)
	_ = io.To(idC).Emit("direct")
	c.ExpectExact(`42["direct"]`)
	_ = io.Emit("all")
	a.ExpectExact(`42["all"]`)
	b.ExpectExact(`42["all"]`)
	c.ExpectExact(`42["all"]`)

	// Utilities.
	io.Of("/").In(idC).SocketsJoin("r1")
	socks, err := io.Of("/").In("r1").FetchSockets(context.Background())
	if err != nil || len(socks) != 3 {
		t.Fatalf("fetchSockets: %d %v", len(socks), err)
	}
	io.Of("/").In(idC).SocketsLeave("r1")
	socks, _ = io.Of("/").In("r1").FetchSockets(context.Background())
	if len(socks) != 2 {
		t.Fatalf("after leave: %d", len(socks))
	}
	io.Of("/").In("r1").DisconnectSockets(false)
	a.ExpectExact("41")
	b.ExpectExact("41")
}

// TestEmitWithAckToMany: EmitWithAck returns the answers so far with
// ErrAckTimeout when its context ends before every socket answered, and
// all of them once they have. The context ends once the server has read
// the two answers (each client's next event is handled after its ack),
// not after a time a loaded machine may not keep to.
func TestEmitWithAckToMany(t *testing.T) {
	io, url := newServer(t, nil)
	synced := make(chan struct{}, 10)
	io.OnConnection(func(s *socketio.Socket) {
		s.Join("ask")
		s.On("sync", func(*socketio.Event) { synced <- struct{}{} })
	})
	clients := []*support.Conn{dial(t, url), dial(t, url), dial(t, url)}
	for _, c := range clients {
		c.Connect("/", "")
	}
	type result struct {
		n   int
		err error
	}
	run := func(ctx context.Context) chan result {
		ch := make(chan result, 1)
		go func() {
			r, err := io.To("ask").EmitWithAck(ctx, "q")
			ch <- result{len(r), err}
		}()
		return ch
	}
	answer := func(c *support.Conn) {
		m := c.Expect("42")
		id := strings.TrimSuffix(strings.TrimPrefix(m, "42"), `["q"]`)
		c.Send("43" + id + `["a"]`)
		c.Send(`42["sync"]`)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	ch := run(ctx)
	answer(clients[0])
	answer(clients[1])
	clients[2].Expect("42") // never answers
	for range 2 {
		recv(t, synced, "the answers read")
	}
	cancel()
	if r := <-ch; r.n != 2 || r.err != socketio.ErrAckTimeout {
		t.Fatalf("partial: %+v", r)
	}
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ch = run(ctx)
	for _, c := range clients {
		answer(c)
	}
	if r := <-ch; r.n != 3 || r.err != nil {
		t.Fatalf("all: %+v", r)
	}
}

// TestDisconnectReasons: each way a socket ends gives its handlers the
// reference's reason, its rooms still joined in OnDisconnecting. The
// heartbeat is short only for the ping timeout: elsewhere a pong late on
// a loaded machine would end the connection with another reason.
func TestDisconnectReasons(t *testing.T) {
	reasons := make(chan socketio.Reason, 10)
	roomsAtDisconnecting := make(chan []string, 10)
	setup := func(io *socketio.Server) {
		io.OnConnection(func(s *socketio.Socket) {
			s.Join("keep")
			s.OnDisconnecting(func(socketio.Reason) { roomsAtDisconnecting <- s.Rooms() })
			s.OnDisconnect(func(r socketio.Reason) { reasons <- r })
			s.On("bye", func(*socketio.Event) { s.Disconnect(false) })
		})
	}
	want := func(r socketio.Reason) {
		t.Helper()
		if got := recv(t, reasons, "disconnect "+string(r)); got != r {
			t.Fatalf("reason %q, want %q", got, r)
		}
		if rooms := recv(t, roomsAtDisconnecting, "disconnecting"); len(rooms) != 2 {
			t.Fatalf("rooms at disconnecting: %v", rooms)
		}
	}
	io, url := newServer(t, nil)
	setup(io)
	c := dial(t, url)
	c.Connect("/", "")
	c.Send("41")
	want(socketio.ReasonClientNamespaceDisconnect)

	c.Connect("/", "")
	c.Send(`42["bye"]`)
	c.Expect("41")
	want(socketio.ReasonServerNamespaceDisconnect)

	c.Connect("/", "")
	c.Close()
	want(socketio.ReasonTransportClose)

	c = dial(t, url)
	c.Connect("/", "")
	c.Send(`42{}`)
	want(socketio.ReasonParseError)
	c.WaitClosed()

	// A CONNECT for a namespace the client is in: the server closes the
	// connection, as the reference does for a packet out of place.
	c = dial(t, url)
	c.Connect("/", "")
	c.Send("40")
	want(socketio.ReasonForcedServerClose)
	c.WaitClosed()

	io, url = newServer(t, &socketio.Options{Engine: engineio.Options{PingInterval: 100 * time.Millisecond, PingTimeout: 100 * time.Millisecond}})
	setup(io)
	c = dial(t, url)
	c.AutoPong = false
	c.Connect("/", "")
	want(socketio.ReasonPingTimeout)
}

func TestMalformedInputClosesOnlyThatConnection(t *testing.T) {
	io, url := newServer(t, nil)
	io.OnConnection(func(s *socketio.Socket) {
		s.On("echo", func(e *socketio.Event) { _ = e.Ack(e.Args) })
	})
	good := dial(t, url)
	good.Connect("/", "")
	bad := []string{
		"4abc", "42{}", `42abc["x"]`, `42["connect"]`, `42[]`, `4`, `43["no id"]`,
		`45-["x"]`, `4599-["x"]`, `40{bad json`, `41/x,extra`, "49", `42[{"a":1}]`,
		`42["x"`, `42["x",]`, "42[\"x\",\"\xff\"]",
	}
	for _, in := range bad {
		t.Run(in, func(t *testing.T) {
			c := dial(t, url)
			c.Connect("/", "")
			c.Send(in)
			c.WaitClosed()
		})
	}
	// Binary frame without a pending packet.
	c := dial(t, url)
	c.Connect("/", "")
	c.SendBinary([]byte{1})
	c.WaitClosed()
	good.Send(`421["echo","still here"]`)
	good.ExpectExact(`431["still here"]`)
}

func TestOversizedMessageCloses(t *testing.T) {
	_, url := newServer(t, &socketio.Options{Engine: engineio.Options{MaxPayload: 1000}})
	c := dial(t, url)
	c.Connect("/", "")
	c.Send(`42["x","` + strings.Repeat("a", 2000) + `"]`)
	c.WaitClosed()
}

func TestHandlerPanicDoesNotCrash(t *testing.T) {
	io, url := newServer(t, &socketio.Options{})
	io.OnConnection(func(s *socketio.Socket) {
		s.On("boom", func(*socketio.Event) { panic("boom") })
		s.On("ok", func(e *socketio.Event) { _ = e.Ack("ok") })
	})
	c := dial(t, url)
	c.Connect("/", "")
	c.Send(`42["boom"]`)
	c.Send(`421["ok"]`)
	c.ExpectExact(`431["ok"]`)
}

func TestConnectionStateRecovery(t *testing.T) {
	io, url := newServer(t, &socketio.Options{Recovery: &socketio.RecoveryOptions{}})
	recovered := make(chan bool, 4)
	io.OnConnection(func(s *socketio.Socket) {
		if !s.Recovered() {
			s.Join("room")
			s.Set("n", 7)
		}
		recovered <- s.Recovered()
	})
	c := dial(t, url)
	c.Send("40")
	reply := c.Expect("40")
	var hs struct{ SID, PID string }
	if err := json.Unmarshal([]byte(reply[2:]), &hs); err != nil || hs.PID == "" {
		t.Fatalf("CONNECT reply %q: %v", reply, err)
	}
	<-recovered
	_ = io.To("room").Emit("m", 1)
	first := c.Expect(`42["m",1,"`)
	offset := strings.TrimSuffix(strings.TrimPrefix(first, `42["m",1,"`), `"]`)
	c.Close()
	time.Sleep(50 * time.Millisecond)
	_ = io.To("room").Emit("m", 2)
	_ = io.Volatile().Emit("v", 0) // volatile: never replayed
	_ = io.Emit("m", 3)

	c2 := dial(t, url)
	c2.Send(`40{"pid":"` + hs.PID + `","offset":"` + offset + `"}`)
	c2.Expect(`42["m",2,"`)
	c2.Expect(`42["m",3,"`)
	reply = c2.Expect("40")
	if !strings.Contains(reply, hs.SID) {
		t.Fatalf("recovered with another id: %q (want %s)", reply, hs.SID)
	}
	if !<-recovered {
		t.Fatal("socket not marked recovered")
	}
	socks, _ := io.In("room").FetchSockets(context.Background())
	if len(socks) != 1 || socks[0].ID != hs.SID || socks[0].Data["n"] != 7 {
		t.Fatalf("state after recovery: %+v", socks)
	}
	// An unknown session starts afresh.
	c3 := dial(t, url)
	c3.Send(`40{"pid":"nope","offset":"x"}`)
	c3.Expect("40")
	if <-recovered {
		t.Fatal("unknown pid recovered")
	}
}

func TestConcurrentBroadcastsAndDisconnects(t *testing.T) {
	io, url := newServer(t, nil)
	io.OnConnection(func(s *socketio.Socket) { s.Join("r") })
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		c := dial(t, url)
		c.Connect("/", "")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				_ = io.To("r").Emit("tick", j)
			}
			c.Close()
		}()
	}
	wg.Wait()
}

func TestShutdownTellsClients(t *testing.T) {
	io := socketio.NewServer(nil)
	hs := httptest.NewServer(io)
	defer hs.Close()
	reasons := make(chan socketio.Reason, 1)
	ready := make(chan struct{})
	io.OnConnection(func(s *socketio.Socket) {
		s.OnDisconnect(func(r socketio.Reason) { reasons <- r })
		close(ready)
	})
	c := dial(t, hs.URL)
	c.Connect("/", "")
	<-ready // the CONNECT answer goes out before the handlers run
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := io.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-reasons:
		if r != socketio.ReasonServerShuttingDown {
			t.Fatalf("reason %q", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no disconnect")
	}
	c.WaitClosed()
}

func TestNamespaceHandlers(t *testing.T) {
	io, url := newServer(t, nil)
	var order []string
	var mu sync.Mutex
	io.On("ev", func(e *socketio.Event) {
		mu.Lock()
		order = append(order, "nsp")
		mu.Unlock()
	})
	io.OnConnection(func(s *socketio.Socket) {
		s.On("ev", func(e *socketio.Event) {
			mu.Lock()
			order = append(order, "socket")
			mu.Unlock()
			_ = e.Ack(e.Socket.ID() == s.ID())
		})
		s.On("other", func(e *socketio.Event) {})
		s.Off("other")
	})
	if !io.Of("/").Handles("ev") || io.Of("/").Handles("other") {
		t.Fatal("Handles: only events with a namespace handler")
	}
	c := dial(t, url)
	c.Connect("/", "")
	c.Send(`421["ev"]`)
	c.ExpectExact(`431[true]`)
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(order, ",") != "nsp,socket" {
		t.Fatalf("order %v", order)
	}
}

// recv receives from ch, failing after a generous deadline.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}
