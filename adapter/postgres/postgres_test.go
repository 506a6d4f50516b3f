package postgres_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/heraldio/herald/adapter/postgres"
	"github.com/heraldio/herald/socketio"
	"github.com/heraldio/herald/test/support"
)

type node struct {
	io  *socketio.Server
	url string
}

func pool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// handlers: join(room) with an ack, say(room, ...) to the room but the
// sender, and an answer to the server-side "ping".
func handlers(io *socketio.Server) {
	io.On("join", func(e *socketio.Event) {
		r, _ := e.Args.String(0)
		e.Socket.Join(r)
		_ = e.Ack()
	})
	io.On("say", func(e *socketio.Event) {
		r, _ := e.Args.String(0)
		_ = e.Socket.To(r).Emit("said", e.Args.Slice(1))
	})
	io.Of("/").OnServerSideEmit("ping", func(args socketio.Args, ack func(...any)) {
		if ack != nil {
			ack("pong from herald")
		}
	})
}

func serve(t *testing.T, f socketio.AdapterFactory) node {
	t.Helper()
	io := socketio.NewServer(&socketio.Options{Adapter: f})
	handlers(io)
	return node{io: io, url: support.Serve(t, io)}
}

// options are a test's own channels (NOTIFY channels are database-wide)
// and table (in the test's schema).
func options() *postgres.Options {
	return &postgres.Options{ChannelPrefix: support.UniqueKey(), RequestsTimeout: 3 * time.Second,
		HeartbeatInterval: 200 * time.Millisecond, HeartbeatTimeout: time.Second}
}

// waitNodes waits until n counts want nodes (heartbeats).
func waitNodes(t *testing.T, n node, want int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, _ := n.io.Of("/").Adapter().(*postgres.Adapter).ServerCount(context.Background())
		if c == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d nodes counted, want %d", c, want)
		}
	}
}

// Three nodes on one database: broadcasts exactly once (small, large past
// NOTIFY's limit, binary), fetchSockets, serverSideEmit with acks,
// broadcasts with acks and disconnectSockets across them.
func TestAcrossNodes(t *testing.T) {
	url := support.PostgresURL(t)
	o := options()
	var nodes []node
	for i := 0; i < 3; i++ {
		nodes = append(nodes, serve(t, postgres.New(pool(t, url), o)))
	}
	var cs []*support.Conn
	for _, n := range nodes {
		c := support.Dial(t, n.url, "/socket.io/")
		c.Connect("/", "")
		c.Send(`421["join","room"]`)
		c.ExpectExact(`431[]`)
		cs = append(cs, c)
	}
	for _, n := range nodes { // each hears the others: each listens
		waitNodes(t, n, 3)
	}
	cs[0].Send(`42["say","room","hello"]`)
	cs[1].ExpectExact(`42["said","hello"]`)
	cs[2].ExpectExact(`42["said","hello"]`)
	big := strings.Repeat("x", 20000)
	cs[1].Send(`42["say","room","` + big + `"]`)
	cs[0].ExpectExact(`42["said","` + big + `"]`)
	cs[2].ExpectExact(`42["said","` + big + `"]`)
	if err := nodes[2].io.Emit("bin", []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		c.ExpectExact(`451-["bin",{"_placeholder":true,"num":0}]`)
		if f := c.Next(); string(f.Data) != "\x01\x02\x03" {
			t.Fatalf("attachment %v", f.Data)
		}
	}
	for _, c := range cs {
		c.ExpectNothing(100 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	socks, err := nodes[1].io.In("room").FetchSockets(ctx)
	if err != nil || len(socks) != 3 {
		t.Fatalf("fetchSockets: %d %v", len(socks), err)
	}
	got, err := nodes[0].io.Of("/").ServerSideEmitWithAck(ctx, "ping", "x")
	if err != nil || len(got) != 2 {
		t.Fatalf("serverSideEmitWithAck: %v %v", got, err)
	}
	done := make(chan int, 1)
	go func() {
		r, _ := nodes[0].io.To("room").EmitWithAck(ctx, "q")
		done <- len(r)
	}()
	for _, c := range cs {
		m := c.Expect(`42`)
		id := strings.TrimSuffix(strings.TrimPrefix(m, "42"), `["q"]`)
		c.Send("43" + id + `["a"]`)
	}
	if n := <-done; n != 3 {
		t.Fatalf("acks: %d", n)
	}
	nodes[2].io.In("room").DisconnectSockets(false)
	for _, c := range cs {
		c.ExpectExact("41")
	}
	if st := nodes[0].io.Of("/").Adapter().(*postgres.Adapter).Stats(); st.Dropped != 0 || st.Sent == 0 || st.Received == 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A database that does not answer never holds an emitting handler: the
// message for the other nodes waits in the bounded queue, past it the
// emit says ErrQueueFull, and local delivery goes on.
func TestUnresponsiveDatabase(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // accepts and never answers
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	o := options()
	o.QueueSize = 2
	n := serve(t, postgres.New(pool(t, "postgres://x@"+ln.Addr().String()+"/x?sslmode=disable&connect_timeout=1"), o))
	c := support.Dial(t, n.url, "/socket.io/")
	c.Connect("/", "")
	c.Send(`421["join","r"]`)
	c.ExpectExact(`431[]`)
	full := 0
	for i := 0; i < 10; i++ {
		start := time.Now()
		if err := n.io.To("r").Emit("m", i); err == postgres.ErrQueueFull {
			full++
		} else if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("emit took %v", d)
		}
		c.Expect(`42["m",`)
	}
	if full < 5 {
		t.Fatalf("%d of 10 emits refused with a queue of 2", full)
	}
}

// Garbage on the channel and in the table is ignored.
func TestMalformedNotificationsIgnored(t *testing.T) {
	url := support.PostgresURL(t)
	o := options()
	p := pool(t, url)
	n := serve(t, postgres.New(p, o))
	c := support.Dial(t, n.url, "/socket.io/")
	c.Connect("/", "")
	ctx := context.Background()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) { // the listener makes the table
		var name *string
		if err := p.QueryRow(ctx, `SELECT to_regclass('socket_io_attachments')::text`).Scan(&name); err == nil && name != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the attachments table was never made")
		}
	}
	var id int64
	if err := p.QueryRow(ctx, `INSERT INTO socket_io_attachments (payload) VALUES ($1) RETURNING id`, []byte{0xc1, 0xff}).Scan(&id); err != nil {
		t.Fatal(err)
	}
	for _, payload := range []string{`not json`, `{"uid":"x","type":3,"attachmentId":"nope"}`,
		`{"uid":"x","type":3,"attachmentId":"999999999"}`, `{"uid":"x","type":3,"attachmentId":` + strconv.FormatInt(id, 10) + `}`,
		`{"uid":"x","nsp":"/","type":3,"data":{"packet":7}}`} {
		if _, err := p.Exec(ctx, `SELECT pg_notify($1, $2)`, o.ChannelPrefix+"#/", payload); err != nil {
			t.Fatal(err)
		}
	}
	// Still serving: a broadcast from "another node" arrives.
	if _, err := p.Exec(ctx, `SELECT pg_notify($1, $2)`, o.ChannelPrefix+"#/",
		`{"uid":"other","nsp":"/","type":3,"data":{"packet":{"type":2,"data":["still"],"nsp":"/"},"opts":{"rooms":[],"except":[],"flags":{}}}}`); err != nil {
		t.Fatal(err)
	}
	c.ExpectExact(`42["still"]`)
}

// The factory's goroutines end with its last adapter.
func TestCloseStopsGoroutines(t *testing.T) {
	url := support.PostgresURL(t)
	p := pool(t, url)
	before := goleak.IgnoreCurrent()
	io := socketio.NewServer(&socketio.Options{Adapter: postgres.New(p, options())})
	io.Of("/other")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := io.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, before, goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"))
}

// A node that starts announces itself once it listens, so the answers to
// its initial heartbeat reach it: both nodes count each other long before
// the next heartbeat (a minute away).
func TestNodesMeetAtStart(t *testing.T) {
	o := options()
	o.HeartbeatInterval, o.HeartbeatTimeout = time.Minute, 2*time.Minute
	p := pool(t, support.PostgresURL(t))
	a := serve(t, postgres.New(p, o))
	b := serve(t, postgres.New(p, o))
	waitNodes(t, a, 2)
	waitNodes(t, b, 2)
}
