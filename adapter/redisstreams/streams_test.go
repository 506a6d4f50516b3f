package redisstreams_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/heraldio/herald/adapter/redisstreams"
	"github.com/heraldio/herald/socketio"
	"github.com/heraldio/herald/test/support"
)

func streamNodes(t *testing.T, n int, mod ...func(*redisstreams.Options)) []node {
	t.Helper()
	rdb := client(t, redisURL())
	key := uniqueKey()
	t.Cleanup(func() { rdb.Del(context.Background(), key) })
	var nodes []node
	for i := 0; i < n; i++ {
		io := socketio.NewServer(&socketio.Options{
			Recovery: &socketio.RecoveryOptions{MaxDisconnectionDuration: 30 * time.Second},
			Adapter:  redisstreams.New(rdb, options(key, mod)),
		})
		join(io)
		nodes = append(nodes, node{io: io, url: support.Serve(t, io), stream: key})
	}
	return nodes
}

func options(key string, mod []func(*redisstreams.Options)) *redisstreams.Options {
	o := &redisstreams.Options{RequestsTimeout: time.Second, StreamName: key, SessionKeyPrefix: key + ":session:",
		ChannelPrefix: key}
	for _, f := range mod {
		f(o)
	}
	return o
}

// Requests and answers travel over pub/sub by default (Node's adapter
// since 0.3) and through the stream with StreamsOnly (before 0.3); both
// work across nodes.
func TestRequestsOverPubSubOrStream(t *testing.T) {
	for _, only := range []bool{false, true} {
		t.Run(fmt.Sprintf("StreamsOnly=%v", only), func(t *testing.T) {
			nodes := streamNodes(t, 2, func(o *redisstreams.Options) { o.StreamsOnly = only })
			for _, n := range nodes {
				n.io.Of("/").OnServerSideEmit("hello", func(args socketio.Args, ack func(...any)) { ack("hi") })
			}
			c := support.Dial(t, nodes[1].url, "/socket.io/")
			c.Connect("/", "")
			c.Send(`421["join","r"]`)
			c.ExpectExact(`431[]`)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			// node 0 counts node 1 once it has heard from it
			for n := 0; n < 2; time.Sleep(20 * time.Millisecond) {
				if n, _ = nodes[0].io.Of("/").Adapter().(*redisstreams.Adapter).ServerCount(ctx); ctx.Err() != nil {
					t.Fatal("node 1 never heard")
				}
			}
			// garbage on the pub/sub channels and in the stream is ignored
			rdb := client(t, redisURL())
			for _, ch := range []string{nodes[0].stream + "#/#", nodes[0].stream + "#/#x#"} {
				rdb.Publish(ctx, ch, "\xdf\xff\xff\xff\xff")
				rdb.Publish(ctx, ch, `{"type":7,"uid":"u","nsp":"/","data":[`)
			}
			rdb.XAdd(ctx, &redis.XAddArgs{Stream: nodes[0].stream, Values: []any{"uid", "u", "nsp", "/", "type", "3", "data", "!not base64"}})
			socks, err := nodes[0].io.In("r").FetchSockets(ctx)
			if err != nil || len(socks) != 1 {
				t.Fatalf("fetchSockets: %v %v", socks, err)
			}
			got, err := nodes[0].io.Of("/").ServerSideEmitWithAck(ctx, "hello")
			if err != nil || len(got) != 1 || string(got[0].Raw(0)) != `"hi"` {
				t.Fatalf("serverSideEmit: %v %v", got, err)
			}
			entries, err := client(t, redisURL()).XRange(ctx, nodes[0].stream, "-", "+").Result()
			if err != nil {
				t.Fatal(err)
			}
			types := map[string]int{}
			for _, e := range entries {
				typ, _ := e.Values["type"].(string)
				types[typ]++
			}
			inStream := types["7"] + types["8"] + types["9"] + types["10"] // requests and answers
			if only && inStream != 4 || !only && inStream != 0 {
				t.Fatalf("request and answer entries in the stream: %v", types)
			}
		})
	}
}

func TestStreamsBroadcastAndRecoveryAcrossNodes(t *testing.T) {
	nodes := streamNodes(t, 2)
	a := support.Dial(t, nodes[0].url, "/socket.io/")
	a.Send("40")
	reply := a.Expect("40")
	var hs struct{ SID, PID string }
	if err := json.Unmarshal([]byte(reply[2:]), &hs); err != nil || hs.PID == "" {
		t.Fatalf("connect reply %q", reply)
	}
	a.Send(`421["join","rec"]`)
	a.ExpectExact(`431[]`)
	b := support.Dial(t, nodes[1].url, "/socket.io/")
	b.Connect("/", "")
	// node B broadcasts; the client on A gets it with the stream offset
	_ = nodes[1].io.To("rec").Emit("m", 0)
	first := a.Expect(`42["m",0,"`)
	offset := strings.TrimSuffix(strings.TrimPrefix(first, `42["m",0,"`), `"]`)
	a.Close()
	time.Sleep(200 * time.Millisecond) // node A notices and keeps the session in Redis
	_ = nodes[1].io.To("rec").Emit("m", 1)
	_ = nodes[1].io.Emit("m", 2)
	_ = nodes[1].io.To("elsewhere").Emit("m", 99)
	time.Sleep(100 * time.Millisecond)
	// The session waits in Redis as Node's adapter keeps it.
	rdb := client(t, redisURL())
	raw, err := rdb.Get(context.Background(), nodes[0].stream+":session:"+hs.PID).Result()
	if err != nil {
		t.Fatal("session not in Redis:", err)
	}
	sb, _ := base64.StdEncoding.DecodeString(raw)
	var st map[string]any
	if err := msgpack.Unmarshal(sb, &st); err != nil || st["sid"] != hs.SID || st["pid"] != hs.PID || fmt.Sprint(st["rooms"]) != "["+hs.SID+" rec]" {
		t.Fatalf("session %v %v", st, err)
	}

	// The client comes back on node B.
	c := support.Dial(t, nodes[1].url, "/socket.io/")
	c.Send(`40{"pid":"` + hs.PID + `","offset":"` + offset + `"}`)
	c.Expect(`42["m",1,"`)
	c.Expect(`42["m",2,"`)
	if r := c.Expect("40"); !strings.Contains(r, hs.SID) {
		t.Fatalf("not recovered with the same id: %s (want %s)", r, hs.SID)
	}
	c.ExpectNothing(200 * time.Millisecond) // exactly what it missed: not m 99, nothing twice
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	socks, err := nodes[0].io.In("rec").FetchSockets(ctx)
	if err != nil || len(socks) != 1 || socks[0].ID != hs.SID {
		t.Fatalf("rooms after recovery, seen from node A: %+v %v", socks, err)
	}
}

// The entries Node's streams adapter wrote in the capture replay into a
// Herald node: broadcasts (JSON and msgpack with binary) reach its client.
func TestCapturedStreamEntries(t *testing.T) {
	raw, err := os.ReadFile("../../../shared/reference/redis-adapter-captures/out-csr-streams.json")
	if err != nil {
		t.Skip("captures not beside the repository:", err)
	}
	var capture struct {
		Log []struct {
			Cmd    string            `json:"cmd"`
			Fields map[string]string `json:"fields"`
		} `json:"log"`
	}
	if err := json.Unmarshal(raw, &capture); err != nil {
		t.Fatal(err)
	}
	nodes := streamNodes(t, 1)
	c := support.Dial(t, nodes[0].url, "/socket.io/")
	c.Connect("/", "")
	c.Send(`421["join","room1"]`)
	c.ExpectExact(`431[]`)
	rdb := client(t, redisURL())
	stream := nodes[0].stream
	n := 0
	for _, e := range capture.Log {
		if e.Cmd != "XADD" {
			continue
		}
		vals := map[string]any{}
		for k, v := range e.Fields {
			vals[k] = v
		}
		if err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: stream, Values: vals}).Err(); err != nil {
			t.Fatal(err)
		}
		n++
	}
	got := []string{}
	for {
		f, ok := c.TryNext(700 * time.Millisecond)
		if !ok {
			break
		}
		if !f.Binary {
			got = append(got, string(f.Data))
		}
	}
	joined := strings.Join(got, "\n")
	for _, want := range []string{`42["e1","before disconnect",`, `42["e2",{"n":2},`, `42["missed1",`, `451-["missed2",{"_placeholder":true,"num":0},`} {
		if !strings.Contains(joined, want) {
			t.Errorf("missing %s in:\n%s", want, joined)
		}
	}
	if strings.Contains(joined, "not-for-me") || n < 4 {
		t.Errorf("%d entries; got:\n%s", n, joined)
	}
}

// A Herald node writes its entries as Node's adapter does: same fields in
// the same order, the same JSON, the same base64 msgpack for binary.
func TestEntriesAsNodeWritesThem(t *testing.T) {
	nodes := streamNodes(t, 1)
	rdb := client(t, redisURL())
	_ = nodes[0].io.Emit("e1", "before disconnect")
	_ = nodes[0].io.To("room1").Emit("missed2", []byte{9})
	time.Sleep(100 * time.Millisecond)
	res, err := rdb.Do(context.Background(), "XRANGE", nodes[0].stream, "-", "+").Slice()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range res {
		fields := e.([]any)[1].([]any)
		var keys []string
		vals := map[string]string{}
		for i := 0; i < len(fields); i += 2 {
			k := fields[i].(string)
			keys = append(keys, k)
			vals[k] = fields[i+1].(string)
		}
		if vals["type"] != "3" {
			continue
		}
		if strings.Join(keys, ",") != "uid,nsp,type,data" || vals["nsp"] != "/" {
			t.Errorf("fields %v", keys)
		}
		got = append(got, vals["data"])
	}
	want := []string{
		`{"packet":{"type":2,"data":["e1","before disconnect"]},"opts":{"rooms":[],"except":[],"flags":{}}}`,
		// Node's bytes for io.to("room1").emit("missed2", Buffer.from([9])), from the capture
		"gqZwYWNrZXSCpHR5cGUCpGRhdGGSp21pc3NlZDLEAQmkb3B0c4Olcm9vbXORpXJvb20xpmV4Y2VwdJClZmxhZ3OA",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
