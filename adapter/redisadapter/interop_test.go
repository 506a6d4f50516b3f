package redisadapter_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldio/herald/adapter/redisadapter"
	"github.com/heraldio/herald/adapter/redisstreams"
	"github.com/heraldio/herald/emitter"
	"github.com/heraldio/herald/socketio"
	"github.com/heraldio/herald/test/support"
)

// interopDir returns the Node interop folder with its dependencies
// installed, or skips the test unless HERALD_NODE_INTEROP=1.
func interopDir(t *testing.T) string {
	t.Helper()
	if os.Getenv("HERALD_NODE_INTEROP") != "1" {
		t.Skip("set HERALD_NODE_INTEROP=1 to run against Node's adapters")
	}
	dir, _ := filepath.Abs("../../interop")
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if _, err := os.Stat(filepath.Join(dir, "package-lock.json")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("interop/package-lock.json never appeared")
		}
		time.Sleep(2 * time.Second)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	return dir
}

// startNode runs interop/cluster/node-server.mjs and returns its URL.
func startNode(t *testing.T, dir string, env ...string) string {
	t.Helper()
	return support.StartNode(t, dir, "cluster/node-server.mjs", append([]string{"REDIS_URL=" + redisURL()}, env...)...)
}

func heraldHandlers(io *socketio.Server) {
	join(io)
	io.Of("/").OnServerSideEmit("ping", func(args socketio.Args, ack func(...any)) {
		if ack != nil {
			ack("pong from herald")
		}
	})
}

// A Node socket.io node with @socket.io/redis-adapter and a Herald node
// share Redis: broadcasts (JSON and binary), fetchSockets, allRooms,
// serverSideEmit and broadcasts with acks work both ways, and both
// emitters reach both.
func TestInteropWithNodeRedisAdapter(t *testing.T) {
	dir := interopDir(t)
	key := uniqueKey()
	rdb := client(t, redisURL())
	nodeURL := startNode(t, dir, "KEY="+key)
	h := serve(t, redisadapter.New(rdb, &redisadapter.Options{Key: key, RequestsTimeout: 3 * time.Second}), heraldHandlers)

	cn := support.Dial(t, nodeURL, "/socket.io/")
	idN := cn.Connect("/", "")
	ch := support.Dial(t, h.url, "/socket.io/")
	idH := ch.Connect("/", "")
	cn.Send(`421["join","mixed"]`)
	cn.ExpectExact(`431[]`)
	ch.Send(`421["join","mixed"]`)
	ch.ExpectExact(`431[]`)

	// broadcasts both ways, JSON verbatim
	cn.Send(`42["say","mixed","from node",{"n":1,"b":[1.5,null]}]`)
	cn.ExpectExact(`42["said","from node",{"n":1,"b":[1.5,null]}]`)
	ch.ExpectExact(`42["said","from node",{"n":1,"b":[1.5,null]}]`)
	ch.Send(`42["say","mixed","from herald",{"z":1,"a":2}]`) // socket.to: not back to the sender
	cn.ExpectExact(`42["said","from herald",{"z":1,"a":2}]`)
	_ = h.io.To("mixed").Emit("bin", []byte{7, 8, 9}, "tail")
	for _, c := range []*support.Conn{ch, cn} {
		c.ExpectExact(`451-["bin",{"_placeholder":true,"num":0},"tail"]`)
		if f := c.Next(); !f.Binary || string(f.Data) != "\x07\x08\x09" {
			t.Fatalf("attachment %q", f.Data)
		}
	}

	// fetchSockets and allRooms both ways
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // generous: a loaded machine
	defer cancel()
	socks, err := h.io.In("mixed").FetchSockets(ctx)
	if err != nil || len(socks) != 2 {
		t.Fatalf("Herald's fetchSockets: %d %v", len(socks), err)
	}
	for _, s := range socks {
		if s.ID == idN && (len(s.Rooms) != 2 || s.Handshake.URL == "") {
			t.Fatalf("Node's socket as Herald sees it: %+v", s)
		}
	}
	cn.Send(`422["fetch"]`)
	if m := cn.Expect(`432[`); !strings.Contains(m, idN) || !strings.Contains(m, idH) {
		t.Fatalf("Node's fetchSockets: %s", m)
	}
	cn.Send(`423["rooms"]`)
	if m := cn.Expect(`433[`); !strings.Contains(m, `"mixed"`) || !strings.Contains(m, idH) {
		t.Fatalf("Node's allRooms: %s", m)
	}
	rooms, err := h.io.Of("/").Adapter().(*redisadapter.Adapter).AllRooms(ctx)
	if err != nil || !strings.Contains(strings.Join(rooms, ","), idN) {
		t.Fatalf("Herald's allRooms: %v %v", rooms, err)
	}

	// serverSideEmit and broadcasts with acks, both ways
	acksBothWays(ctx, t, h, cn, ch, 4)

	// Node's emitter reaches Herald's clients, Herald's reaches Node's
	emit := exec.Command("node", "cluster/emit.mjs", "mixed", "emitted", `{"x":1}`, "bin:0102")
	emit.Dir = dir
	emit.Env = append(os.Environ(), "KEY="+key, "REDIS_URL="+redisURL())
	if out, err := emit.CombinedOutput(); err != nil {
		t.Fatalf("emit.mjs: %v\n%s", err, out)
	}
	for _, c := range []*support.Conn{ch, cn} {
		c.ExpectExact(`451-["emitted",{"x":1},{"_placeholder":true,"num":0}]`)
		if f := c.Next(); string(f.Data) != "\x01\x02" {
			t.Fatalf("attachment %q", f.Data)
		}
	}
	if err := emitter.New(rdb, &emitter.Options{Key: key}).To("mixed").Emit(ctx, "from-go-emitter", 3); err != nil {
		t.Fatal(err)
	}
	cn.ExpectExact(`42["from-go-emitter",3]`)
	ch.ExpectExact(`42["from-go-emitter",3]`)

	// socketsJoin from Node, disconnectSockets from Herald
	cn.Send(`42["joinall","everyone"]`)
	time.Sleep(200 * time.Millisecond)
	h.io.In("everyone").DisconnectSockets(false)
	cn.ExpectExact("41")
	ch.ExpectExact("41")
}

// The sharded variants of both sides work together, in each of the
// subscription modes: broadcasts to a room, to a socket's own room and to
// everyone both ways, fetchSockets, acks, disconnectSockets.
func TestInteropWithNodeShardedAdapter(t *testing.T) {
	for _, mode := range []redisadapter.SubscriptionMode{redisadapter.Dynamic, redisadapter.Static, redisadapter.DynamicPrivate} {
		t.Run(string(mode), func(t *testing.T) { interopSharded(t, mode) })
	}
}

func interopSharded(t *testing.T, mode redisadapter.SubscriptionMode) {
	dir := interopDir(t)
	key := uniqueKey()
	rdb := client(t, redisURL())
	nodeURL := startNode(t, dir, "KEY="+key, "ADAPTER=sharded", "SUBSCRIPTION_MODE="+string(mode))
	h := serve(t, redisadapter.NewSharded(rdb, &redisadapter.Options{Key: key, RequestsTimeout: 3 * time.Second, SubscriptionMode: mode}), heraldHandlers)
	cn := support.Dial(t, nodeURL, "/socket.io/")
	idN := cn.Connect("/", "")
	ch := support.Dial(t, h.url, "/socket.io/")
	idH := ch.Connect("/", "")
	for _, c := range []*support.Conn{cn, ch} {
		c.Send(`421["join","mixed"]`)
		c.ExpectExact(`431[]`)
	}
	switch mode {
	case redisadapter.Dynamic:
		waitRoomSubscribers(t, rdb, key, "mixed", 2)
	case redisadapter.DynamicPrivate:
		waitRoomSubscribers(t, rdb, key, "mixed", 2)
		waitRoomSubscribers(t, rdb, key, idN, 1)
		waitRoomSubscribers(t, rdb, key, idH, 1)
	case redisadapter.Static:
		// Nothing but the namespace's channels, on either side.
		waitRoomSubscribers(t, rdb, key, "mixed", 0)
		waitRoomSubscribers(t, rdb, key, idH, 0)
	}
	cn.Send(`42["say","mixed","via the room",{"n":1}]`)
	cn.ExpectExact(`42["said","via the room",{"n":1}]`)
	ch.ExpectExact(`42["said","via the room",{"n":1}]`)
	ch.Send(`42["say","mixed","from herald"]`) // socket.to: not back to the sender
	cn.ExpectExact(`42["said","from herald"]`)
	// To one socket of the other node, both ways.
	cn.Send(`42["say","` + idH + `","to herald's socket"]`)
	ch.ExpectExact(`42["said","to herald's socket"]`)
	ch.Send(`42["say","` + idN + `","to node's socket"]`)
	cn.ExpectExact(`42["said","to node's socket"]`)
	_ = h.io.Emit("bin", []byte{1})
	for _, c := range []*support.Conn{ch, cn} {
		c.ExpectExact(`451-["bin",{"_placeholder":true,"num":0}]`)
		if f := c.Next(); string(f.Data) != "\x01" {
			t.Fatalf("attachment %q", f.Data)
		}
	}
	cn.ExpectNothing(100 * time.Millisecond)
	ch.ExpectNothing(0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // generous: a loaded machine
	defer cancel()
	if socks, err := h.io.FetchSockets(ctx); err != nil || len(socks) != 2 {
		t.Fatalf("Herald's fetchSockets: %d %v", len(socks), err)
	}
	cn.Send(`422["fetch"]`)
	if m := cn.Expect(`432[`); !strings.Contains(m, idN) || !strings.Contains(m, idH) {
		t.Fatalf("Node's fetchSockets: %s", m)
	}
	acksBothWays(ctx, t, h, cn, ch, 4)
	h.io.In(idN).DisconnectSockets(false)
	cn.ExpectExact("41")
}

// A Node node with @socket.io/redis-streams-adapter and a Herald node share
// one stream: broadcasts both ways, fetchSockets both ways (each counts the
// other from its heartbeats), and a client of the Node node recovers its
// session on the Herald node with exactly the broadcasts it missed.
func TestInteropWithNodeStreamsAdapter(t *testing.T) {
	dir := interopDir(t)
	key := uniqueKey()
	rdb := client(t, redisURL())
	t.Cleanup(func() { rdb.Del(context.Background(), key) })
	nodeURL := startNode(t, dir, "KEY="+key, "ADAPTER=streams")
	h := serveWith(t, &socketio.Options{
		Recovery: &socketio.RecoveryOptions{MaxDisconnectionDuration: 30 * time.Second},
		Adapter: redisstreams.New(rdb, &redisstreams.Options{
			RequestsTimeout: 3 * time.Second, StreamName: key, SessionKeyPrefix: key + ":session:",
		}),
	}, heraldHandlers)
	cn := support.Dial(t, nodeURL, "/socket.io/")
	cn.Send("40")
	reply := cn.Expect("40")
	var hs struct{ SID, PID string }
	if err := json.Unmarshal([]byte(reply[2:]), &hs); err != nil || hs.PID == "" {
		t.Fatalf("Node's connect reply %q", reply)
	}
	cn.Send(`421["join","mixed"]`)
	cn.ExpectExact(`431[]`)
	ch := support.Dial(t, h.url, "/socket.io/")
	idH := ch.Connect("/", "")
	ch.Send(`421["join","mixed"]`)
	ch.ExpectExact(`431[]`)

	// Herald broadcasts; Node's client gets it with the entry id as offset
	_ = h.io.To("mixed").Emit("m", 0)
	ch.Expect(`42["m",0,"`)
	cn.Expect(`42["m",0,"`)
	cn.Send(`42["say","mixed","from node",{"n":1}]`)
	ch.Expect(`42["said","from node",{"n":1},"`)
	last := cn.Expect(`42["said","from node",{"n":1},"`)
	offset := strings.TrimSuffix(strings.TrimPrefix(last, `42["said","from node",{"n":1},"`), `"]`)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // generous: a loaded machine
	defer cancel()
	// Herald counts the Node node once it answers Herald's first heartbeat.
	for n := 0; n < 2; time.Sleep(20 * time.Millisecond) {
		if n, _ = h.io.Of("/").Adapter().(*redisstreams.Adapter).ServerCount(ctx); ctx.Err() != nil {
			t.Fatal("the Node node never answered the heartbeat")
		}
	}
	socks, err := h.io.In("mixed").FetchSockets(ctx)
	if err != nil || len(socks) != 2 {
		t.Fatalf("Herald's fetchSockets: %d %v", len(socks), err)
	}
	cn.Send(`422["fetch"]`)
	if m := cn.Expect(`432[`); !strings.Contains(m, hs.SID) || !strings.Contains(m, idH) {
		t.Fatalf("Node's fetchSockets: %s", m)
	}

	// what has no place in the stream goes over pub/sub, both ways
	acksBothWays(ctx, t, h, cn, ch, 3)

	// Node's client drops; it misses two broadcasts and comes back on Herald.
	cn.Close()
	time.Sleep(300 * time.Millisecond) // Node keeps the session in Redis
	_ = h.io.To("mixed").Emit("m", 1)
	_ = h.io.To("elsewhere").Emit("m", 99)
	ch.Expect(`42["m",1,"`)
	ch.Send(`42["say","mixed","while away"]`)
	ch.ExpectNothing(100 * time.Millisecond)
	c := support.Dial(t, h.url, "/socket.io/")
	c.Send(`40{"pid":"` + hs.PID + `","offset":"` + offset + `"}`)
	c.Expect(`42["m",1,"`)
	c.Expect(`42["said","while away","`)
	if r := c.Expect("40"); !strings.Contains(r, hs.SID) {
		t.Fatalf("not recovered with Node's id: %s (want %s)", r, hs.SID)
	}
	c.ExpectNothing(200 * time.Millisecond)
}

// acksBothWays checks serverSideEmit with an ack and broadcasts with acks
// in both directions between the Node node (client cn) and the Herald
// node h (client ch), both clients in room "mixed"; id is cn's next ack id.
func acksBothWays(ctx context.Context, t *testing.T, h node, cn, ch *support.Conn, id int) {
	t.Helper()
	got, err := h.io.Of("/").ServerSideEmitWithAck(ctx, "ping", "herald")
	if err != nil || len(got) != 1 || string(got[0].Raw(0)) != `"pong from node"` {
		t.Fatalf("Herald's serverSideEmitWithAck: %v %v", got, err)
	}
	ack := strconv.Itoa(id)
	cn.Send(`42` + ack + `["ssemit"]`)
	cn.ExpectExact(`43` + ack + `[["pong from herald"]]`)
	ack = strconv.Itoa(id + 1)
	cn.Send(`42` + ack + `["ask","mixed"]`)
	for i, c := range []*support.Conn{cn, ch} {
		m := c.Expect(`42`)
		qid := strings.TrimSuffix(strings.TrimPrefix(m, "42"), `["q"]`)
		c.Send("43" + qid + `["answer ` + string(rune('A'+i)) + `"]`)
	}
	if m := cn.Expect(`43` + ack + `[`); !strings.Contains(m, `"answer A"`) || !strings.Contains(m, `"answer B"`) {
		t.Fatalf("Node's emitWithAck: %s", m)
	}
	done := make(chan []socketio.Args, 1)
	go func() {
		r, err := h.io.To("mixed").EmitWithAck(ctx, "q2", []byte{5})
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	for _, c := range []*support.Conn{cn, ch} {
		m := c.Expect(`451-`)
		if f := c.Next(); string(f.Data) != "\x05" {
			t.Errorf("attachment %q", f.Data)
		}
		qid := strings.TrimSuffix(strings.TrimPrefix(m, "451-"), `["q2",{"_placeholder":true,"num":0}]`)
		c.Send("43" + qid + `[{"ok":true},"ignored"]`)
	}
	if r := <-done; len(r) != 2 || string(r[0].Raw(0)) != `{"ok":true}` || string(r[1].Raw(0)) != `{"ok":true}` {
		t.Fatalf("Herald's emitWithAck: %v", r)
	}
}
