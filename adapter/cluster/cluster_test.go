package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldio/herald/adapter/cluster"
	"github.com/heraldio/herald/socketio"
	"github.com/heraldio/herald/test/support"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type node struct {
	io  *socketio.Server
	url string
}

// hubNodes starts n servers sharing a hub, each answering "join" with an
// ack, and waits until each counts the others.
func hubNodes(t *testing.T, n int, opts *socketio.Options) []node {
	t.Helper()
	h := &hub{}
	var nodes []node
	for i := 0; i < n; i++ {
		o := socketio.Options{}
		if opts != nil {
			o = *opts
		}
		o.Adapter = h.factory()
		io := socketio.NewServer(&o)
		io.On("join", func(e *socketio.Event) {
			r, _ := e.Args.String(0)
			e.Socket.Join(r)
			_ = e.Ack()
		})
		nodes = append(nodes, node{io: io, url: support.Serve(t, io)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, nd := range nodes {
		for c := 0; c < n; time.Sleep(5 * time.Millisecond) {
			if c, _ = nd.io.Of("/").Adapter().ServerCount(ctx); ctx.Err() != nil {
				t.Fatalf("nodes never heard from each other: %d of %d", c, n)
			}
		}
	}
	return nodes
}

func joined(t *testing.T, url, room string) (*support.Conn, string) {
	t.Helper()
	c := support.Dial(t, url, "/socket.io/")
	id := c.Connect("/", "")
	c.Send(`421["join","` + room + `"]`)
	c.ExpectExact(`431[]`)
	return c, id
}

// Over a transport, a Cluster carries broadcasts (once each), broadcasts
// with acks, fetchSockets, socketsJoin, disconnectSockets and
// server-side emits with acks between nodes.
func TestOperationsAcrossNodes(t *testing.T) {
	nodes := hubNodes(t, 2, nil)
	a, idA := joined(t, nodes[0].url, "r")
	b, idB := joined(t, nodes[1].url, "r")

	_ = nodes[0].io.To("r").Emit("m", 1, "x")
	a.ExpectExact(`42["m",1,"x"]`)
	b.ExpectExact(`42["m",1,"x"]`)
	b.ExpectNothing(100 * time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	socks, err := nodes[1].io.In("r").FetchSockets(ctx)
	if err != nil || len(socks) != 2 {
		t.Fatalf("fetchSockets: %+v %v", socks, err)
	}

	done := make(chan []socketio.Args, 1)
	go func() {
		acks, err := nodes[0].io.To("r").EmitWithAck(ctx, "q")
		if err != nil {
			t.Error(err)
		}
		done <- acks
	}()
	for _, c := range []*support.Conn{a, b} {
		f := c.Expect(`42`)
		c.Send("43" + strings.TrimSuffix(strings.TrimPrefix(f, "42"), `["q"]`) + `["ok"]`)
	}
	if acks := <-done; len(acks) != 2 {
		t.Fatalf("acks %v", acks)
	}

	nodes[1].io.Of("/").OnServerSideEmit("hello", func(args socketio.Args, ack func(...any)) {
		n, _ := args.String(0)
		ack("hi " + n)
	})
	answers, err := nodes[0].io.Of("/").ServerSideEmitWithAck(ctx, "hello", "a")
	if err != nil || len(answers) != 1 {
		t.Fatalf("serverSideEmit: %v %v", answers, err)
	}
	if s, _ := answers[0].String(0); s != "hi a" {
		t.Fatalf("answer %q", s)
	}

	nodes[0].io.In(idB).SocketsJoin("more")
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if s := nodes[1].io.Of("/").Socket(idB); s != nil && contains(s.Rooms(), "more") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("socketsJoin did not reach the other node")
		}
	}
	nodes[1].io.In(idA).DisconnectSockets(false)
	a.ExpectExact("41")
}

func contains(s []string, e string) bool {
	for _, x := range s {
		if x == e {
			return true
		}
	}
	return false
}

// A node that closes tells the others, which stop counting it at once.
func TestCloseLeavesTheCount(t *testing.T) {
	nodes := hubNodes(t, 2, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := nodes[1].io.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for n := 2; n != 1; time.Sleep(5 * time.Millisecond) {
		if n, _ = nodes[0].io.Of("/").Adapter().ServerCount(ctx); ctx.Err() != nil {
			t.Fatalf("still counts %d nodes", n)
		}
	}
}

// unreachable is a transport whose broker is away.
type unreachable struct{}

func (unreachable) Publish(context.Context, *cluster.Message) error { return nil }
func (unreachable) Reachable() bool                                 { return false }

// While the transport knows the other nodes are out of reach, requests
// fail at once with ErrUnavailable, which matches ErrRequestTimeout.
func TestRequestsFailFastWhenUnreachable(t *testing.T) {
	io := socketio.NewServer(&socketio.Options{Adapter: func(nsp *socketio.Namespace) socketio.Adapter {
		return cluster.New(nsp, unreachable{}, nil)
	}})
	defer func() { _ = io.Shutdown(context.Background()) }()
	_, err := io.FetchSockets(context.Background())
	if !errors.Is(err, cluster.ErrUnavailable) || !errors.Is(err, cluster.ErrRequestTimeout) {
		t.Fatalf("err %v", err)
	}
}

// offsets is a transport that numbers its messages, as a stream does.
type offsets struct {
	sent chan *cluster.Message
}

func (o offsets) Publish(_ context.Context, m *cluster.Message) error { o.sent <- m; return nil }
func (o offsets) PublishOffset(_ context.Context, m *cluster.Message) (string, error) {
	o.sent <- m
	return "7-0", nil
}
func (offsets) ServerCount(context.Context) (int, error) { return 1, nil }

// With an OffsetTransport and recovery on, a broadcast's offset is the
// transport's, and BroadcastPacket reads the broadcast back from its
// message as the other nodes deliver it.
func TestTransportOffsetsAndBroadcastPacket(t *testing.T) {
	tr := offsets{sent: make(chan *cluster.Message, 16)}
	io := socketio.NewServer(&socketio.Options{
		Recovery: &socketio.RecoveryOptions{MaxDisconnectionDuration: time.Minute},
		Adapter:  func(nsp *socketio.Namespace) socketio.Adapter { return cluster.New(nsp, tr, nil) },
	})
	url := support.Serve(t, io)
	c := support.Dial(t, url, "/socket.io/")
	c.Send("40")
	c.Expect("40")
	_ = io.Except("nobody").Emit("m", map[string]any{"k": 1})
	c.ExpectExact(`42["m",{"k":1},"7-0"]`)

	m := <-tr.sent
	if m.Type != cluster.MsgBroadcast || m.Nsp != "/" || m.UID == "" {
		t.Fatalf("message %+v", m)
	}
	p, opts, ok := cluster.BroadcastPacket(m)
	if !ok || string(p.Data) != `["m",{"k":1}]` || len(opts.Except) != 1 || opts.Except[0] != "nobody" {
		t.Fatalf("broadcast packet %v %+v %v", p, opts, ok)
	}
	for _, other := range []*cluster.Message{
		{Type: cluster.MsgBroadcast, Nsp: "/", Data: json.RawMessage(`{"requestId":"x","packet":{"type":2,"data":["m"]},"opts":{}}`)},
		{Type: cluster.MsgSocketsJoin, Nsp: "/", Data: json.RawMessage(`{"opts":{},"rooms":["r"]}`)},
		{Type: cluster.MsgBroadcast, Nsp: "/", Data: json.RawMessage(`{"packet":{"type":2,"data":[1]}}`)},
	} {
		if _, _, ok := cluster.BroadcastPacket(other); ok {
			t.Errorf("BroadcastPacket accepted %s", other.Data)
		}
	}
}

// refusing is a transport whose queue is full; it records the contexts
// it is given.
type refusing struct{ ctxs chan context.Context }

var errRefused = errors.New("queue full")

func (r refusing) Publish(ctx context.Context, m *cluster.Message) error {
	select {
	case r.ctxs <- ctx:
	default:
	}
	return errRefused
}
func (refusing) ServerCount(context.Context) (int, error) { return 2, nil }

// A handler's Emit, SocketsJoin and DisconnectSockets return the
// transport's error, after the local sockets got what was asked, and the
// transport gets a context that ends within 5 seconds.
func TestTransportErrorsReachTheCaller(t *testing.T) {
	tr := refusing{ctxs: make(chan context.Context, 16)}
	io := socketio.NewServer(&socketio.Options{Adapter: func(nsp *socketio.Namespace) socketio.Adapter { return cluster.New(nsp, tr, nil) }})
	url := support.Serve(t, io)
	c := support.Dial(t, url, "/socket.io/")
	id := c.Connect("/", "")

	if err := io.Emit("m", 1); !errors.Is(err, errRefused) {
		t.Fatalf("Emit: %v", err)
	}
	c.ExpectExact(`42["m",1]`)
	ctx := <-tr.ctxs
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > 5*time.Second || time.Until(dl) < 3*time.Second {
		t.Fatalf("context of Emit: deadline %v %v", dl, ok)
	}
	if err := io.In(id).SocketsJoin("r"); !errors.Is(err, errRefused) {
		t.Fatalf("SocketsJoin: %v", err)
	}
	if s := io.Of("/").Socket(id); s == nil || !contains(s.Rooms(), "r") {
		t.Fatal("the local socket did not join")
	}
	mine, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := io.Of("/").ServerSideEmitWithAck(mine, "e"); !errors.Is(err, errRefused) {
		t.Fatalf("ServerSideEmitWithAck: %v", err)
	}
	for len(tr.ctxs) > 1 {
		<-tr.ctxs
	}
	if got := <-tr.ctxs; got != mine {
		t.Fatal("ServerSideEmitWithAck did not pass the caller's context")
	}
	if err := io.In(id).DisconnectSockets(false); !errors.Is(err, errRefused) {
		t.Fatalf("DisconnectSockets: %v", err)
	}
	c.ExpectExact("41")
}
