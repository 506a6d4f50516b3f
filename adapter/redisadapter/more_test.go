package redisadapter_test

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/heraldio/herald/adapter/redisadapter"
	"github.com/heraldio/herald/socketio"
	"github.com/heraldio/herald/test/support"
)

func serve(t *testing.T, f socketio.AdapterFactory, setup func(*socketio.Server)) node {
	t.Helper()
	return serveWith(t, &socketio.Options{Adapter: f}, setup)
}

func serveWith(t *testing.T, opts *socketio.Options, setup func(*socketio.Server)) node {
	t.Helper()
	io := socketio.NewServer(opts)
	if setup != nil {
		setup(io)
	}
	return node{io: io, url: support.Serve(t, io)}
}

// Nodes that answer on the requester's own channel and nodes that answer
// on the shared one work together; allRooms and allSockets span the
// nodes; JSON crosses nodes byte for byte (key order, numbers).
func TestMixedResponseChannelsAllRoomsAndVerbatimJSON(t *testing.T) {
	rdb := client(t, redisURL())
	key := uniqueKey()
	var nodes []node
	for i := 0; i < 3; i++ {
		nodes = append(nodes, serve(t, redisadapter.New(rdb, &redisadapter.Options{Key: key, RequestsTimeout: time.Second,
			PublishOnSpecificResponseChannel: i != 1}), join))
	}
	var ids []string
	for i, n := range nodes {
		c := support.Dial(t, n.url, "/socket.io/")
		c.Connect("/", "")
		c.Send(`421["join","r` + string(rune('0'+i)) + `"]`)
		c.ExpectExact(`431[]`)
		ids = append(ids, n.io.Of("/").Sockets()[0].ID())
		defer c.Close()
		if i == 2 {
			// the others send JSON with its key order and spelling; it arrives unchanged
			_ = nodes[0].io.To("r2").Emit("obj", json.RawMessage(`{"b":1,"a":[2.5,-0.5,1e-7],"é":"<&>"}`))
			c.ExpectExact(`42["obj",{"b":1,"a":[2.5,-0.5,1e-7],"é":"<&>"}]`)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for i, n := range nodes {
		socks, err := n.io.FetchSockets(ctx)
		if err != nil || len(socks) != 3 {
			t.Fatalf("node %d: fetchSockets %d %v", i, len(socks), err)
		}
		a := n.io.Of("/").Adapter().(*redisadapter.Adapter)
		rooms, err := a.AllRooms(ctx)
		sort.Strings(rooms)
		want := append([]string{"r0", "r1", "r2"}, ids...)
		sort.Strings(want)
		if err != nil || strings.Join(rooms, ",") != strings.Join(want, ",") {
			t.Fatalf("node %d: allRooms %v %v, want %v", i, rooms, err, want)
		}
		all, err := a.AllSockets(ctx, []string{"r0", "r2"})
		if err != nil || len(all) != 2 {
			t.Fatalf("node %d: allSockets %v %v", i, all, err)
		}
	}
}

// A server-side event handler may itself wait for the other nodes: it
// runs off the subscription's reader, so their answers still arrive.
func TestServerSideHandlerMayAskOtherNodes(t *testing.T) {
	rdb := client(t, redisURL())
	key := uniqueKey()
	var nodes []node
	for i := 0; i < 2; i++ {
		nodes = append(nodes, serve(t, redisadapter.New(rdb, &redisadapter.Options{Key: key, RequestsTimeout: 2 * time.Second}), func(io *socketio.Server) {
			nsp := io.Of("/")
			nsp.OnServerSideEmit("count", func(args socketio.Args, ack func(...any)) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				socks, err := nsp.FetchSockets(ctx)
				if err != nil {
					ack("error: " + err.Error())
					return
				}
				ack(len(socks))
			})
		}))
	}
	for _, n := range nodes {
		c := support.Dial(t, n.url, "/socket.io/")
		c.Connect("/", "")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	got, err := nodes[0].io.Of("/").ServerSideEmitWithAck(ctx, "count")
	if err != nil || len(got) != 1 || string(got[0].Raw(0)) != "2" {
		t.Fatalf("answers %v %v", got, err)
	}
}

// A subscriber counted by SHARDNUMSUB that never answers: the request
// ends by its deadline with the other nodes' answers.
func TestShardedSilentNode(t *testing.T) {
	rdb := client(t, redisURL())
	key := uniqueKey()
	var nodes []node
	for i := 0; i < 2; i++ {
		nodes = append(nodes, serve(t, redisadapter.NewSharded(rdb, &redisadapter.Options{Key: key, RequestsTimeout: time.Second}), nil))
		c := support.Dial(t, nodes[i].url, "/socket.io/")
		c.Connect("/", "")
	}
	silent := rdb.SSubscribe(context.Background(), key+"#/#")
	defer silent.Close()
	if _, err := silent.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	start := time.Now()
	socks, err := nodes[0].io.FetchSockets(ctx)
	if !errors.Is(err, redisadapter.ErrRequestTimeout) || len(socks) != 2 {
		t.Fatalf("want the 2 sockets that answered and ErrRequestTimeout, got %d %v", len(socks), err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v", d)
	}
}
