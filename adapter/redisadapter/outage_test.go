package redisadapter_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldio/herald/adapter/redisadapter"
	"github.com/heraldio/herald/internal/redistest"
	"github.com/heraldio/herald/internal/siotest"
	"github.com/heraldio/herald/socketio"
)

// variant is one adapter of this package, built for a test cluster.
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
		return redisadapter.NewStreams(rdb, &redisadapter.StreamsOptions{Options: o, StreamName: key, ChannelPrefix: key})
	}},
	{"streams-only", true, func(rdb redis.UniversalClient, key string, o redisadapter.Options) socketio.AdapterFactory {
		return redisadapter.NewStreams(rdb, &redisadapter.StreamsOptions{Options: o, StreamName: key, ChannelPrefix: key, StreamsOnly: true})
	}},
}

// outageCluster starts two nodes of v on a private Redis, each with one
// client in room "r": the clients of node 0 and node 1. With defaults,
// the Redis client has go-redis's defaults, as a service makes it from a
// URL (context deadlines ignored, 3 s read timeout, 3 retries); else the
// options a service should set.
func outageCluster(t *testing.T, v variant, o redisadapter.Options, defaults bool) (*redistest.Server, []node, *siotest.Conn, *siotest.Conn) {
	t.Helper()
	srv := redistest.Start(t)
	rdb := srv.Client()
	if defaults {
		rdb = redis.NewClient(&redis.Options{Addr: srv.Addr()})
		t.Cleanup(func() { rdb.Close() })
	}
	key := redistest.UniqueKey()
	o.RequestsTimeout = time.Second
	var nodes []node
	var cs []*siotest.Conn
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
		c := siotest.Dial(t, n.url, "/socket.io/")
		c.Connect("/", "")
		c.Send(`421["join","r"]`)
		c.ExpectExact(`431[]`)
		nodes = append(nodes, n)
		cs = append(cs, c)
	}
	time.Sleep(100 * time.Millisecond) // room channel subscriptions (sharded)
	_ = nodes[0].io.To("r").Emit("m", 0)
	cs[0].Expect(`42["m",0`)
	cs[1].Expect(`42["m",0`)
	// Resume before the nodes close (cleanups run last first).
	t.Cleanup(srv.Resume)
	return srv, nodes, cs[0], cs[1]
}

// expectM reads frames until event m with n arrives, failing on another
// event; it returns the frame.
func expectM(t *testing.T, c *siotest.Conn, n int, within time.Duration) string {
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

// A hung Redis (SIGSTOP) does not slow a node's own clients: a chat
// message is acked and broadcast to the local client at once; once Redis
// is back, what was sent meanwhile reaches the other node's client, in
// order.
func TestHungRedisLocalDeliveryAndCatchUp(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			srv, _, a, b := outageCluster(t, v, redisadapter.Options{}, true)
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
			// The first may arrive twice: its send was cut short by the
			// hang and is sent again.
			next := 1
			for next <= 5 {
				f, ok := b.TryNext(15 * time.Second)
				if !ok {
					t.Fatalf("m %d never reached the other node", next)
				}
				var n int
				if _, err := fmt.Sscanf(string(f.Data), `42["m",%d`, &n); err != nil || n > next || n < next-1 {
					t.Fatalf("want m %d, got %s", next, f.Data)
				}
				if n == next {
					next++
				}
			}
		})
	}
}

// statsOf returns the Redis message counts of a node's main namespace.
func statsOf(n node) redisadapter.Stats {
	return n.io.Of("/").Adapter().(interface{ Stats() redisadapter.Stats }).Stats()
}

// With Redis hung past the client's timeouts, messages wait in a bounded
// queue: beyond it they are dropped and counted; once Redis is back, the
// queued ones reach the other node, in order.
func TestHungRedisQueueBound(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			const size = 4
			srv, nodes, a, b := outageCluster(t, v, redisadapter.Options{QueueSize: size}, false)
			srv.Pause()
			_ = nodes[0].io.To("r").Emit("m", 1) // in flight when the client times out
			expectM(t, a, 1, time.Second)
			time.Sleep(100 * time.Millisecond)
			for i := 2; i <= 31; i++ {
				_ = nodes[0].io.To("r").Emit("m", i)
				expectM(t, a, i, time.Second)
			}
			time.Sleep(time.Second) // past the client's timeouts: the send fails
			st := statsOf(nodes[0])
			if st.Dropped < 30-size-1 || st.Queued > size+1 || st.Failures < 1 {
				t.Fatalf("stats while hung %+v: want about %d dropped, at most %d queued, a failure", st, 30-size, size+1)
			}
			srv.Resume()
			got := map[int]bool{}
			for last := 0; last < size+1; {
				f, ok := b.TryNext(10 * time.Second)
				if !ok {
					t.Fatalf("after Redis came back the other node got %v (stats %+v)", got, statsOf(nodes[0]))
				}
				var n int
				if _, err := fmt.Sscanf(string(f.Data), `42["m",%d`, &n); err != nil || n < last {
					t.Fatalf("out of order after %d: %s", last, f.Data)
				}
				got[n], last = true, n
			}
			for i := 1; i <= size+1; i++ {
				if !got[i] {
					t.Fatalf("m %d, queued during the hang, never reached the other node: got %v", i, got)
				}
			}
			b.ExpectNothing(300 * time.Millisecond) // the dropped ones stay dropped
			for deadline := time.Now().Add(5 * time.Second); statsOf(nodes[0]).Queued > 0; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("queue never drained: %+v", statsOf(nodes[0]))
				}
			}
		})
	}
}
