package redisadapter_test

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldio/herald/adapter/redisadapter"
	"github.com/heraldio/herald/adapter/redisstreams"
	"github.com/heraldio/herald/socketio"
	"github.com/heraldio/herald/test/support"
)

// variant is one Redis adapter, built for a test cluster.
type variant struct {
	name     string
	recovery bool
	factory  func(rdb redis.UniversalClient, key string, o redisadapter.Options) socketio.AdapterFactory
}

var variants = []variant{
	{"pubsub", false, func(rdb redis.UniversalClient, key string, o redisadapter.Options) socketio.AdapterFactory {
		o.Key = key
		return redisadapter.New(rdb, &o)
	}},
	{"sharded", false, func(rdb redis.UniversalClient, key string, o redisadapter.Options) socketio.AdapterFactory {
		o.Key = key
		return redisadapter.NewSharded(rdb, &o)
	}},
	{"streams", true, func(rdb redis.UniversalClient, key string, o redisadapter.Options) socketio.AdapterFactory {
		return redisstreams.New(rdb, streamsOptions(o, key, false))
	}},
	{"streams-only", true, func(rdb redis.UniversalClient, key string, o redisadapter.Options) socketio.AdapterFactory {
		return redisstreams.New(rdb, streamsOptions(o, key, true))
	}},
}

// streamsOptions are the streams adapter's options matching o. The
// heartbeat is slowed to once a minute: the tests count what is queued
// while Redis hangs, and a heartbeat falling into that window (a test's
// set-up can take the default 5 s on a loaded machine) is one message
// more than the broadcasts they count.
func streamsOptions(o redisadapter.Options, key string, only bool) *redisstreams.Options {
	return &redisstreams.Options{RequestsTimeout: o.RequestsTimeout, QueueSize: o.QueueSize, Parser: o.Parser, Logger: o.Logger,
		StreamName: key, ChannelPrefix: key, StreamsOnly: only, HeartbeatInterval: time.Minute, HeartbeatTimeout: 2 * time.Minute}
}

// outageCluster starts two nodes of v on a private Redis, each with one
// client in room "r": the clients of node 0 and node 1. With defaults,
// the Redis client has go-redis's defaults, as a service makes it from a
// URL (context deadlines ignored, 3 s read timeout, 3 retries); else the
// options a service should set.
func outageCluster(t *testing.T, v variant, o redisadapter.Options, defaults bool) (*support.Redis, []node, *support.Conn, *support.Conn) {
	t.Helper()
	srv := support.StartRedis(t)
	rdb := srv.Client()
	if defaults {
		rdb = redis.NewClient(&redis.Options{Addr: srv.Addr()})
		t.Cleanup(func() { rdb.Close() })
	}
	key := support.UniqueKey()
	o.RequestsTimeout = time.Second
	var nodes []node
	var cs []*support.Conn
	for i := 0; i < 2; i++ {
		opts := &socketio.Options{Adapter: v.factory(rdb, key, o)}
		if v.recovery {
			opts.Recovery = &socketio.RecoveryOptions{MaxDisconnectionDuration: 30 * time.Second}
		}
		n := serveWith(t, opts, func(io *socketio.Server) {
			join(io)
			// shout is a chat message: broadcast to the room, then ack.
			io.On("shout", func(e *socketio.Event) {
				r, _ := e.Args.String(0)
				_ = io.To(r).Emit("m", e.Args.Raw(1))
				_ = e.Ack()
			})
		})
		c := support.Dial(t, n.url, "/socket.io/")
		c.Connect("/", "")
		c.Send(`421["join","r"]`)
		c.ExpectExact(`431[]`)
		nodes = append(nodes, n)
		cs = append(cs, c)
	}
	if v.name == "sharded" {
		waitRoomSubscribers(t, rdb, key, "r", 2)
	}
	_ = nodes[0].io.To("r").Emit("m", 0)
	cs[0].Expect(`42["m",0`)
	cs[1].Expect(`42["m",0`)
	// Resume before the nodes close (cleanups run last first).
	t.Cleanup(srv.Resume)
	return srv, nodes, cs[0], cs[1]
}

// eachVariant runs f in a subtest per variant, on an outageCluster.
func eachVariant(t *testing.T, o redisadapter.Options, defaults bool, f func(t *testing.T, srv *support.Redis, nodes []node, a, b *support.Conn)) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			srv, nodes, a, b := outageCluster(t, v, o, defaults)
			f(t, srv, nodes, a, b)
		})
	}
}

// expectM reads frames until event m with n arrives, failing on another
// event; it returns the frame.
func expectM(t *testing.T, c *support.Conn, n int, within time.Duration) string {
	t.Helper()
	want := `42["m",` + strconv.Itoa(n)
	f, ok := c.TryNext(within)
	if !ok {
		t.Fatalf("m %d not delivered within %v", n, within)
	}
	if s := string(f.Data); s != want+"]" && !strings.HasPrefix(s, want+",") {
		t.Fatalf("want m %d, got %s", n, s)
	}
	return string(f.Data)
}

// expectInOrder reads m from..to from c, each first seen in order; some
// may come again (a batch whose send an outage cut short, or that went
// out before every node subscribed again, is sent again).
func expectInOrder(t *testing.T, c *support.Conn, from, to int, within time.Duration) {
	t.Helper()
	for next := from; next <= to; {
		f, ok := c.TryNext(within)
		if !ok {
			t.Fatalf("m %d never reached the other node", next)
		}
		var n int
		if _, err := fmt.Sscanf(string(f.Data), `42["m",%d`, &n); err != nil || n > next {
			t.Fatalf("want m %d, got %s", next, f.Data)
		}
		if n == next {
			next++
		}
	}
}

// broadcastLocally broadcasts m i to room "r" from n and expects its
// client a to get it within a second, Redis or not; it returns Emit's
// error.
func broadcastLocally(t *testing.T, n node, a *support.Conn, i int) error {
	t.Helper()
	start := time.Now()
	err := n.io.To("r").Emit("m", i)
	expectM(t, a, i, time.Second)
	if d := time.Since(start); d > time.Second {
		t.Fatalf("local delivery of m %d took %v", i, d)
	}
	return err
}

// A hung Redis (SIGSTOP) does not slow a node's own clients: a chat
// message is acked and broadcast to the local client at once; once Redis
// is back, what was sent meanwhile reaches the other node's client, in
// order.
func TestHungRedisLocalDeliveryAndCatchUp(t *testing.T) {
	eachVariant(t, redisadapter.Options{}, true, func(t *testing.T, srv *support.Redis, _ []node, a, b *support.Conn) {
		srv.Pause()
		for i := 1; i <= 5; i++ {
			start := time.Now()
			a.Send(`42` + strconv.Itoa(i) + `["shout","r",` + strconv.Itoa(i) + `]`)
			expectM(t, a, i, time.Second)
			a.ExpectExact(`43` + strconv.Itoa(i) + `[]`)
			if d := time.Since(start); d > time.Second {
				t.Fatalf("message %d: acked after %v while Redis was hung", i, d)
			}
		}
		start := time.Now()
		a.Send(`426["join","another room"]`) // a room channel to subscribe to (sharded)
		a.ExpectExact(`436[]`)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("join acked after %v while Redis was hung", d)
		}
		srv.Resume()
		expectInOrder(t, b, 1, 5, 15*time.Second)
	})
}

// statsOf returns the Redis message counts of a node's main namespace.
func statsOf(n node) redisadapter.Stats {
	return n.io.Of("/").Adapter().(interface{ Stats() redisadapter.Stats }).Stats()
}

// settled waits until n has sent what its set-up queued (the nodes'
// heartbeats and answers to them) and sends nothing more for 300 ms, and
// returns its stats then.
func settled(t *testing.T, n node) redisadapter.Stats {
	t.Helper()
	last, since := statsOf(n), time.Now()
	for deadline := time.Now().Add(20 * time.Second); time.Since(since) < 300*time.Millisecond; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the node's queue never settled: %+v", last)
		}
		if st := statsOf(n); st != last || st.Queued != 0 {
			last, since = st, time.Now()
		}
	}
	return last
}

// With Redis hung past the client's timeouts, messages wait in a bounded
// queue: beyond it they are dropped, counted, and Emit says so with
// ErrQueueFull; once Redis is back, the queued ones reach the other node,
// in order.
func TestHungRedisQueueBound(t *testing.T) {
	const size = 4
	eachVariant(t, redisadapter.Options{QueueSize: size}, false, func(t *testing.T, srv *support.Redis, nodes []node, a, b *support.Conn) {
		// What the set-up queued is sent first: the counts below are the
		// broadcasts' alone.
		base := settled(t, nodes[0])
		srv.Pause()
		full := 0
		count := func(err error) {
			switch {
			case errors.Is(err, redisadapter.ErrQueueFull):
				full++
			case err != nil:
				t.Fatalf("Emit: %v", err)
			}
		}
		count(broadcastLocally(t, nodes[0], a, 1)) // usually in flight when the client times out
		time.Sleep(100 * time.Millisecond)
		for i := 2; i <= 31; i++ {
			count(broadcastLocally(t, nodes[0], a, i))
		}
		time.Sleep(time.Second) // past the client's timeouts: the send fails
		// The newest are dropped: kept are m 1 to m kept, the queue's
		// and the batch the sender held (one message, or, on a busy
		// machine where the sender was late to take them, up to a
		// queue's worth and one).
		st := statsOf(nodes[0])
		st.Dropped -= base.Dropped
		kept := 31 - int(st.Dropped)
		if kept < size || kept > 2*size+1 || st.Queued != kept || st.Failures < 1 || full != int(st.Dropped) {
			t.Fatalf("stats while hung %+v, %d ErrQueueFull: want %d to %d kept and queued, the rest dropped and refused, a failure", st, full, size, 2*size+1)
		}
		srv.Resume()
		expectInOrder(t, b, 1, kept, 10*time.Second)
		for { // the dropped ones stay dropped
			f, ok := b.TryNext(300 * time.Millisecond)
			if !ok {
				break
			}
			var n int
			if _, err := fmt.Sscanf(string(f.Data), `42["m",%d`, &n); err != nil || n > kept {
				t.Fatalf("a dropped message arrived: %s", f.Data)
			}
		}
		for deadline := time.Now().Add(5 * time.Second); statsOf(nodes[0]).Queued > 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("queue never drained: %+v", statsOf(nodes[0]))
			}
		}
		if after := statsOf(nodes[0]); after.Sent < st.Sent+uint64(kept) || after.Dropped != st.Dropped {
			t.Fatalf("stats after %+v, before %+v: want the %d kept sent, no more dropped", after, st, kept)
		}
	})
}

// Redis killed and restarted empty: what was broadcast while it was gone
// reaches the other node once it is back.
func TestKilledRedisCatchUp(t *testing.T) {
	eachVariant(t, redisadapter.Options{}, false, func(t *testing.T, srv *support.Redis, nodes []node, a, b *support.Conn) {
		srv.Kill()
		for i := 1; i <= 3; i++ {
			broadcastLocally(t, nodes[0], a, i)
		}
		time.Sleep(300 * time.Millisecond)
		srv.Restart()
		expectInOrder(t, b, 1, 3, 10*time.Second)
	})
}
