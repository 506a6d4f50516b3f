package redisadapter_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/heraldio/herald/adapter/redisadapter"
	"github.com/heraldio/herald/socketio"
	"github.com/heraldio/herald/test/support"
)

var (
	redisURL  = support.RedisURL
	client    = support.RedisClient
	uniqueKey = support.UniqueKey
)

type node struct {
	io  *socketio.Server
	url string
}

func startNodes(t *testing.T, rdb *redis.Client, key string, n int, setup func(*socketio.Server)) []node {
	t.Helper()
	var nodes []node
	for i := 0; i < n; i++ {
		io := socketio.NewServer(&socketio.Options{Adapter: redisadapter.New(rdb, &redisadapter.Options{Key: key, RequestsTimeout: time.Second})})
		if setup != nil {
			setup(io)
		}
		nodes = append(nodes, node{io: io, url: support.Serve(t, io)})
	}
	return nodes
}

func join(io *socketio.Server) {
	io.On("join", func(e *socketio.Event) {
		r, _ := e.Args.String(0)
		e.Socket.Join(r)
		_ = e.Ack()
	})
	io.On("say", func(e *socketio.Event) {
		r, _ := e.Args.String(0)
		_ = e.Socket.To(r).Emit("said", e.Args.Slice(1))
	})
}

func TestBroadcastAcrossNodesExactlyOnce(t *testing.T) {
	rdb := client(t, redisURL())
	nodes := startNodes(t, rdb, uniqueKey(), 3, join)
	var cs []*support.Conn
	for _, n := range nodes {
		c := support.Dial(t, n.url, "/socket.io/")
		c.Connect("/", "")
		c.Send(`421["join","room"]`)
		c.ExpectExact(`431[]`)
		cs = append(cs, c)
	}
	cs[0].Send(`42["say","room","hello",{"n":1}]`)
	cs[1].ExpectExact(`42["said","hello",{"n":1}]`)
	cs[2].ExpectExact(`42["said","hello",{"n":1}]`)
	cs[0].ExpectNothing(100 * time.Millisecond)
	cs[1].ExpectNothing(100 * time.Millisecond)
	// server-side broadcast with binary and except
	_ = nodes[2].io.Except("nobody").Emit("bin", []byte{1, 2, 3}, "x")
	for _, c := range cs {
		c.ExpectExact(`451-["bin",{"_placeholder":true,"num":0},"x"]`)
		if f := c.Next(); string(f.Data) != "\x01\x02\x03" {
			t.Fatalf("attachment %v", f.Data)
		}
	}
	for _, c := range cs {
		c.ExpectNothing(50 * time.Millisecond)
	}
}

func TestFetchDisconnectAndAcksAcrossNodes(t *testing.T) {
	rdb := client(t, redisURL())
	nodes := startNodes(t, rdb, uniqueKey(), 3, join)
	var cs []*support.Conn
	for _, n := range nodes {
		c := support.Dial(t, n.url, "/socket.io/")
		c.Connect("/", "")
		c.Send(`421["join","r"]`)
		c.ExpectExact(`431[]`)
		cs = append(cs, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	socks, err := nodes[0].io.In("r").FetchSockets(ctx)
	if err != nil || len(socks) != 3 {
		t.Fatalf("fetchSockets: %d %v", len(socks), err)
	}
	// emit with ack across nodes collects every answer
	type res struct {
		n   int
		err error
	}
	done := make(chan res, 1)
	go func() {
		r, err := nodes[1].io.To("r").EmitWithAck(ctx, "q", 1)
		done <- res{len(r), err}
	}()
	for i, c := range cs {
		m := c.Expect(`42`)
		id := strings.TrimSuffix(strings.TrimPrefix(m, "42"), `["q",1]`)
		c.Send("43" + id + `["a` + strconv.Itoa(i) + `"]`)
	}
	if r := <-done; r.n != 3 || r.err != nil {
		t.Fatalf("acks: %+v", r)
	}
	nodes[0].io.In("r").SocketsJoin("extra")
	time.Sleep(100 * time.Millisecond)
	socks, _ = nodes[2].io.In("extra").FetchSockets(ctx)
	if len(socks) != 3 {
		t.Fatalf("socketsJoin across nodes: %d", len(socks))
	}
	nodes[2].io.In("extra").DisconnectSockets(false)
	for _, c := range cs {
		c.ExpectExact("41")
	}
}

func TestServerSideEmitAndSilentNode(t *testing.T) {
	rdb := client(t, redisURL())
	key := uniqueKey()
	nodes := startNodes(t, rdb, key, 2, func(io *socketio.Server) {
		io.Of("/").OnServerSideEmit("ping", func(args socketio.Args, ack func(...any)) {
			if ack != nil {
				s, _ := args.String(0)
				ack("pong " + s)
			}
		})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	got, err := nodes[0].io.Of("/").ServerSideEmitWithAck(ctx, "ping", "x")
	if err != nil || len(got) != 1 || string(got[0].Raw(0)) != `"pong x"` {
		t.Fatalf("serverSideEmit: %v %v", got, err)
	}
	// A subscriber that is counted but never answers: the request ends by
	// its deadline with what the others said.
	silent := rdb.Subscribe(context.Background(), key+"-request#/#")
	defer silent.Close()
	if _, err := silent.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	start := time.Now()
	socks, err := nodes[1].io.FetchSockets(short)
	if err != redisadapter.ErrRequestTimeout {
		t.Fatalf("want ErrRequestTimeout, got %v (%d sockets)", err, len(socks))
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("request not bounded by its context")
	}
}

// Every message Node's adapter and emitter published in the captures
// decodes, and broadcasts reach local sockets as Node's did.
func TestCapturedTraffic(t *testing.T) {
	raw, err := os.ReadFile("../../../shared/reference/redis-adapter-captures/out-classic.json")
	if err != nil {
		t.Skip("captures not beside the repository:", err)
	}
	var capture struct {
		Log []struct {
			Cmd      string `json:"cmd"`
			Channel  string `json:"channel"`
			Encoding string `json:"encoding"`
			Hex      string `json:"hex"`
		} `json:"log"`
	}
	if err := json.Unmarshal(raw, &capture); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range capture.Log {
		if e.Cmd != "PUBLISH" || e.Hex == "" {
			continue
		}
		b, err := hex.DecodeString(e.Hex)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if e.Encoding == "json" {
			err = json.Unmarshal(b, &v)
		} else {
			err = msgpack.Unmarshal(b, &v)
		}
		if err != nil {
			t.Errorf("%s: %v", e.Channel, err)
		}
		n++
	}
	if n < 5 {
		t.Fatalf("only %d messages in the capture", n)
	}
	// Replay the broadcasts into a node and check what its client gets.
	rdb := client(t, redisURL())
	key := uniqueKey()
	nodes := startNodes(t, rdb, key, 1, nil)
	c := support.Dial(t, nodes[0].url, "/socket.io/")
	c.Connect("/", "")
	for _, e := range capture.Log {
		if e.Cmd != "PUBLISH" || e.Channel != "socket.io#/#" || e.Encoding != "msgpack" {
			continue
		}
		b, _ := hex.DecodeString(e.Hex)
		if err := rdb.Publish(context.Background(), key+"#/#", b).Err(); err != nil {
			t.Fatal(err)
		}
	}
	got := []string{}
	for {
		f, ok := c.TryNext(500 * time.Millisecond)
		if !ok {
			break
		}
		if !f.Binary {
			got = append(got, string(f.Data))
		}
	}
	sort.Strings(got)
	joined := strings.Join(got, "\n")
	if len(got) != 3 { // "multi" was for rooms this client is not in
		t.Errorf("got %d events: %v", len(got), got)
	}
	for _, s := range []string{`42["hello","world",1]`, `42["from-emitter",42]`, `451-["bin",{"_placeholder":true,"num":0}]`} {
		if !strings.Contains(joined, s) {
			t.Errorf("missing %s in:\n%s", s, joined)
		}
	}
}

// A Redis that goes away and comes back: no crash, delivery resumes.
func TestRedisRestart(t *testing.T) {
	srv := support.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: 1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	nodes := startNodes(t, rdb, uniqueKey(), 2, join)
	a := support.Dial(t, nodes[0].url, "/socket.io/")
	a.Connect("/", "")
	b := support.Dial(t, nodes[1].url, "/socket.io/")
	b.Connect("/", "")
	_ = nodes[0].io.Emit("m", 1)
	a.ExpectExact(`42["m",1]`)
	b.ExpectExact(`42["m",1]`)

	srv.Kill()
	_ = nodes[0].io.Emit("m", 2) // Redis is down: local delivery goes on
	a.ExpectExact(`42["m",2]`)

	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for n := 3; ; n++ {
		_ = nodes[0].io.Emit("m", n)
		a.Expect(`42["m",`)
		if f, ok := b.TryNext(300 * time.Millisecond); ok && strings.HasPrefix(string(f.Data), `42["m",`) {
			return // cross-node delivery resumed
		}
		if time.Now().After(deadline) {
			t.Fatal("cross-node delivery did not resume")
		}
	}
}
