package redisadapter_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/heraldio/herald/adapter/redisadapter"
	"github.com/heraldio/herald/test/support"
)

func TestShardedAcrossNodes(t *testing.T) {
	for _, mode := range []redisadapter.SubscriptionMode{redisadapter.Dynamic, redisadapter.Static, redisadapter.DynamicPrivate} {
		t.Run(string(mode), func(t *testing.T) { shardedAcrossNodes(t, mode) })
	}
}

// shardedAcrossNodes: three nodes in one mode, each message exactly once.
func shardedAcrossNodes(t *testing.T, mode redisadapter.SubscriptionMode) {
	rdb := client(t, redisURL())
	key := uniqueKey()
	var nodes []node
	for i := 0; i < 3; i++ {
		nodes = append(nodes, serve(t, redisadapter.NewSharded(rdb, &redisadapter.Options{Key: key, RequestsTimeout: time.Second, SubscriptionMode: mode}), join))
	}
	var cs []*support.Conn
	var ids []string
	for _, n := range nodes {
		c := support.Dial(t, n.url, "/socket.io/")
		ids = append(ids, c.Connect("/", ""))
		c.Send(`421["join","room"]`)
		c.ExpectExact(`431[]`)
		cs = append(cs, c)
	}
	if mode != redisadapter.Static {
		waitRoomSubscribers(t, rdb, key, "room", 3)
	}
	if mode == redisadapter.DynamicPrivate {
		waitRoomSubscribers(t, rdb, key, ids[2], 1)
	}
	cs[0].Send(`42["say","room","via the room channel"]`)
	cs[1].ExpectExact(`42["said","via the room channel"]`)
	cs[2].ExpectExact(`42["said","via the room channel"]`)
	cs[0].ExpectNothing(100 * time.Millisecond)
	cs[0].Send(`42["say","` + ids[2] + `","to one socket"]`)
	cs[2].ExpectExact(`42["said","to one socket"]`)
	cs[1].ExpectNothing(100 * time.Millisecond)
	cs[2].ExpectNothing(0)
	_ = nodes[1].io.Emit("bin", []byte{5})
	for _, c := range cs {
		c.ExpectExact(`451-["bin",{"_placeholder":true,"num":0}]`)
		if f := c.Next(); string(f.Data) != "\x05" {
			t.Fatalf("attachment %v", f.Data)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	socks, err := nodes[2].io.In("room").FetchSockets(ctx)
	if err != nil || len(socks) != 3 {
		t.Fatalf("fetchSockets: %d %v", len(socks), err)
	}
	done := make(chan int, 1)
	go func() {
		r, _ := nodes[0].io.To("room").EmitWithAck(ctx, "q")
		done <- len(r)
	}()
	for i, c := range cs {
		m := c.Expect(`42`)
		id := strings.TrimSuffix(strings.TrimPrefix(m, "42"), `["q"]`)
		c.Send("43" + id + `["a` + strconv.Itoa(i) + `"]`)
	}
	if n := <-done; n != 3 {
		t.Fatalf("acks: %d", n)
	}
	nodes[1].io.In("room").DisconnectSockets(false)
	for _, c := range cs {
		c.ExpectExact("41")
	}
}

// Every message Node's sharded adapter published in the capture decodes,
// and its broadcasts replayed into a Herald node reach its client.
func TestCapturedShardedTraffic(t *testing.T) {
	raw, err := os.ReadFile("../../../shared/reference/redis-adapter-captures/out-sharded.json")
	if err != nil {
		t.Skip("captures not beside the repository:", err)
	}
	var capture struct {
		Log []struct {
			Cmd, Channel, Encoding, Hex string
			Value                       json.RawMessage
		} `json:"log"`
	}
	if err := json.Unmarshal(raw, &capture); err != nil {
		t.Fatal(err)
	}
	rdb := client(t, redisURL())
	key := uniqueKey()
	h := serve(t, redisadapter.NewSharded(rdb, &redisadapter.Options{Key: key}), nil)
	c := support.Dial(t, h.url, "/socket.io/")
	c.Connect("/", "")
	n := 0
	for _, e := range capture.Log {
		if e.Cmd != "SPUBLISH" {
			continue
		}
		n++
		var payload []byte
		var v map[string]any
		if e.Hex != "" {
			payload, _ = hex.DecodeString(e.Hex)
			err = msgpack.Unmarshal(payload, &v)
		} else {
			payload = e.Value
			err = json.Unmarshal(payload, &v)
		}
		if err != nil || v["uid"] == nil || v["type"] == nil {
			t.Fatalf("message %d: %v %v", n, v, err)
		}
		d, _ := v["data"].(map[string]any)
		if e.Channel == "socket.io#/#" && v["type"] == float64(3) && d["requestId"] == nil || e.Hex != "" {
			if err := rdb.SPublish(context.Background(), key+"#/#", payload).Err(); err != nil {
				t.Fatal(err)
			}
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
	joined := strings.Join(got, "\n")
	for _, want := range []string{`42["hello","world",1]`, `451-["bin",{"_placeholder":true,"num":0}]`} {
		if !strings.Contains(joined, want) {
			t.Errorf("missing %s in:\n%s", want, joined)
		}
	}
	if n < 10 {
		t.Fatalf("only %d messages", n)
	}
}

// A Join of a room new to the node does not wait on Redis: while the
// subscription's connection is being dialled again (a dial that hangs,
// as to an unreachable host), the join is acknowledged; once the dial
// goes through, the node subscribes to the room's channel and gets what
// another node broadcasts to it.
func TestShardedJoinDoesNotWaitForRedis(t *testing.T) {
	srv := support.StartRedis(t)
	var hung atomic.Int32
	var hang atomic.Bool
	release := make(chan struct{})
	var once sync.Once
	unhang := func() { once.Do(func() { close(release) }) }
	sub := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if hang.Load() {
				hung.Add(1)
				select {
				case <-release:
				case <-time.After(time.Minute):
				}
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}})
	t.Cleanup(func() { sub.Close() })
	key := uniqueKey()
	o := &redisadapter.Options{Key: key, RequestsTimeout: time.Second}
	n0 := serve(t, redisadapter.NewShardedWithSubscriber(srv.Client(), sub, o), join)
	n1 := serve(t, redisadapter.NewSharded(srv.Client(), o), join)
	t.Cleanup(unhang) // before the nodes close: cleanups run last first
	a := support.Dial(t, n0.url, "/socket.io/")
	a.Connect("/", "")

	hang.Store(true)
	srv.Restart() // the subscription breaks and go-redis dials again
	waitUntil(t, "the subscription's dial", func() bool { return hung.Load() > 0 })
	a.Send(`421["join","late room"]`)
	a.ExpectExact(`431[]`)

	unhang()
	waitRoomSubscribers(t, srv.Client(), key, "late room", 1)
	waitUntil(t, "a broadcast from the other node", func() bool {
		_ = n1.io.To("late room").Emit("m", 1)
		f, ok := a.TryNext(500 * time.Millisecond)
		return ok && string(f.Data) == `42["m",1]`
	})
}

// waitUntil polls cond until it holds, failing after a generous deadline.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// waitRoomSubscribers waits until n nodes of the sharded adapter with key
// are subscribed to room's channel in the main namespace (they subscribe
// in the background).
func waitRoomSubscribers(t *testing.T, rdb redis.UniversalClient, key, room string, n int64) {
	t.Helper()
	ch := key + "#/#" + room + "#"
	waitUntil(t, "the subscriptions to "+ch, func() bool {
		got, err := rdb.PubSubShardNumSub(context.Background(), ch).Result()
		return err == nil && got[ch] == n
	})
}
