package redisstreams_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldio/herald/adapter/redisstreams"
	"github.com/heraldio/herald/socketio"
	"github.com/heraldio/herald/test/support"
)

// connectWithPID connects c to "/" and returns the session's pid.
func connectWithPID(t *testing.T, c *support.Conn) (sid, pid string) {
	t.Helper()
	c.Send("40")
	reply := c.Expect("40")
	var hs struct{ SID, PID string }
	if err := json.Unmarshal([]byte(reply[2:]), &hs); err != nil || hs.PID == "" {
		t.Fatalf("connect reply %q", reply)
	}
	return hs.SID, hs.PID
}

// lastOffset returns the offset a broadcast frame ends with.
func lastOffset(t *testing.T, frame string) string {
	t.Helper()
	var args []any
	if err := json.Unmarshal([]byte(strings.TrimPrefix(frame, "42")), &args); err != nil || len(args) < 2 {
		t.Fatalf("frame %q", frame)
	}
	off, ok := args[len(args)-1].(string)
	if !ok {
		t.Fatalf("no offset in %q", frame)
	}
	return off
}

// A socket's data crosses nodes with its session, in its JSON form:
// strings, float64 numbers, maps, and structs as their JSON objects.
func TestSessionDataAcrossNodes(t *testing.T) {
	nodes := streamNodes(t, 2)
	type user struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	nodes[0].io.OnConnection(func(s *socketio.Socket) {
		s.Set("name", "ann")
		s.Set("count", 42)
		s.Set("ratio", 0.5)
		s.Set("prefs", map[string]any{"theme": "dark", "size": 3, "tags": []string{"a", "b"}})
		s.Set("user", user{ID: "u1", Name: "Ann"})
	})
	restored := make(chan map[string]any, 1)
	nodes[1].io.OnConnection(func(s *socketio.Socket) {
		if !s.Recovered() {
			return
		}
		m := map[string]any{}
		for _, k := range []string{"name", "count", "ratio", "prefs", "user"} {
			m[k], _ = s.Get(k)
		}
		restored <- m
	})
	a := support.Dial(t, nodes[0].url, "/socket.io/")
	sid, pid := connectWithPID(t, a)
	_ = nodes[0].io.Emit("m", 0)
	off := lastOffset(t, a.Expect(`42["m",0,`))
	a.Close()
	time.Sleep(200 * time.Millisecond) // node 0 notices and keeps the session

	c := support.Dial(t, nodes[1].url, "/socket.io/")
	c.Send(`40{"pid":"` + pid + `","offset":"` + off + `"}`)
	if r := c.Expect("40"); !strings.Contains(r, sid) {
		t.Fatalf("not recovered: %s", r)
	}
	want := map[string]any{
		"name":  "ann",
		"count": float64(42),
		"ratio": 0.5,
		"prefs": map[string]any{"theme": "dark", "size": float64(3), "tags": []any{"a", "b"}},
		"user":  map[string]any{"id": "u1", "name": "Ann"},
	}
	select {
	case got := <-restored:
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("restored data\n%#v\nwant\n%#v", got, want)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no recovered connection on node 1")
	}
}

// While Redis is hung a broadcast reaches the local clients at once, with
// the latest offset the node knows; a client that recovers from it gets
// that broadcast again (once its entry is written) and nothing is lost.
func TestOffsetDuringHangRecovers(t *testing.T) {
	srv := support.StartRedis(t)
	rdb := srv.Client()
	key := uniqueKey()
	var nodes []node
	for i := 0; i < 2; i++ {
		io := socketio.NewServer(&socketio.Options{
			Recovery: &socketio.RecoveryOptions{MaxDisconnectionDuration: 30 * time.Second},
			Adapter:  redisstreams.New(rdb, options(key, nil)),
		})
		join(io)
		nodes = append(nodes, node{io: io, url: support.Serve(t, io), stream: key})
	}
	t.Cleanup(srv.Resume)
	a := support.Dial(t, nodes[0].url, "/socket.io/")
	sid, pid := connectWithPID(t, a)
	a.Send(`421["join","r"]`)
	a.ExpectExact(`431[]`)
	_ = nodes[1].io.To("r").Emit("m", 0)
	before := lastOffset(t, a.Expect(`42["m",0,`))

	srv.Pause()
	start := time.Now()
	_ = nodes[0].io.To("r").Emit("m", 1)
	during := lastOffset(t, a.Expect(`42["m",1,`))
	if d := time.Since(start); d > time.Second {
		t.Fatalf("local delivery took %v while Redis was hung", d)
	}
	// The last offset the node knows: m0's, or a later entry it read
	// before the hang (a heartbeat of either node may come in between).
	if during == "" || offsetBefore(during, before) {
		t.Fatalf("offset during the hang %q, want the last known, at least %q", during, before)
	}
	srv.Resume()
	st := nodes[0].io.Of("/").Adapter().(*redisstreams.Adapter)
	for deadline := time.Now().Add(10 * time.Second); st.Stats().Queued > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("queue never drained: %+v", st.Stats())
		}
	}
	a.Close()
	time.Sleep(300 * time.Millisecond) // node 0 keeps the session in Redis
	_ = nodes[1].io.To("r").Emit("m", 2)

	c := support.Dial(t, nodes[1].url, "/socket.io/")
	c.Send(`40{"pid":"` + pid + `","offset":"` + during + `"}`)
	c.Expect(`42["m",1,`)
	c.Expect(`42["m",2,`)
	if r := c.Expect("40"); !strings.Contains(r, sid) {
		t.Fatalf("not recovered: %s", r)
	}
}

// offsetBefore reports whether stream id a comes before b.
func offsetBefore(a, b string) bool {
	parse := func(id string) (ms, seq int64) {
		x, y, _ := strings.Cut(id, "-")
		ms, _ = strconv.ParseInt(x, 10, 64)
		seq, _ = strconv.ParseInt(y, 10, 64)
		return ms, seq
	}
	am, as := parse(a)
	bm, bs := parse(b)
	return am < bm || am == bm && as < bs
}

// A client whose node never saw it leave (killed, or cut off from it) is
// restored on another node: the session of a connected socket is kept in
// Redis from its connection on and after each room change, so the other
// node gives it its id, its rooms and what it missed.
func TestSessionOfAConnectedSocketIsKept(t *testing.T) {
	nodes := streamNodes(t, 2)
	a := support.Dial(t, nodes[0].url, "/socket.io/")
	sid, pid := connectWithPID(t, a)
	a.Send(`421["join","r"]`)
	a.ExpectExact(`431[]`)
	_ = nodes[1].io.To("r").Emit("m", 0)
	off := lastOffset(t, a.Expect(`42["m",0,`))
	// Node 0 goes on believing the client is connected; the client comes
	// back on node 1 after missing m 1.
	_ = nodes[1].io.To("r").Emit("m", 1)
	c := support.Dial(t, nodes[1].url, "/socket.io/")
	c.Send(`40{"pid":"` + pid + `","offset":"` + off + `"}`)
	c.Expect(`42["m",1,`)
	if r := c.Expect("40"); !strings.Contains(r, sid) {
		t.Fatalf("not recovered: %s", r)
	}
	_ = nodes[1].io.To("r").Emit("m", 2) // in room r again
	c.Expect(`42["m",2,`)
	// A socket that leaves for good takes its kept session with it.
	b := support.Dial(t, nodes[0].url, "/socket.io/")
	sidB, pidB := connectWithPID(t, b)
	_ = nodes[0].io.Emit("m", 3)
	offB := lastOffset(t, b.Expect(`42["m",3,`))
	rdb := client(t, redisURL())
	key := nodes[0].stream + ":session:" + pidB
	waitFor(t, "the kept session", func() bool { return rdb.Exists(context.Background(), key).Val() == 1 })
	b.Send("41")
	waitFor(t, "the session forgotten", func() bool { return rdb.Exists(context.Background(), key).Val() == 0 })
	d := support.Dial(t, nodes[1].url, "/socket.io/")
	d.Send(`40{"pid":"` + pidB + `","offset":"` + offB + `"}`)
	if r := d.Expect("40"); strings.Contains(r, sidB) {
		t.Fatalf("a socket that left for good was recovered: %s", r)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
