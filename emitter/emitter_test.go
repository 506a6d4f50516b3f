package emitter_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldio/herald/adapter/redisadapter"
	"github.com/heraldio/herald/emitter"
	"github.com/heraldio/herald/socketio"
	"github.com/heraldio/herald/test/support"
)

func TestEmitterReachesClusterSockets(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatal("redis:", err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	key := "herald-emitter-" + hex.EncodeToString(b)
	io := socketio.NewServer(&socketio.Options{Adapter: redisadapter.New(rdb, &redisadapter.Options{Key: key})})
	io.On("join", func(e *socketio.Event) {
		r, _ := e.Args.String(0)
		e.Socket.Join(r)
		_ = e.Ack()
	})
	hs := httptest.NewServer(io)
	defer hs.Close()
	defer io.Shutdown(context.Background())
	c := support.Dial(t, hs.URL, "/socket.io/")
	c.Connect("/", "")
	c.Send(`421["join","r1"]`)
	c.ExpectExact(`431[]`)

	ctx := context.Background()
	e := emitter.New(rdb, &emitter.Options{Key: key})
	if err := e.To("r1").Emit(ctx, "hello", 42, map[string]any{"ok": true}); err != nil {
		t.Fatal(err)
	}
	c.ExpectExact(`42["hello",42,{"ok":true}]`)
	type note struct {
		Title string `json:"title"`
	}
	if err := e.To("r1").Emit(ctx, "note", note{"hi"}); err != nil {
		t.Fatal(err)
	}
	c.ExpectExact(`42["note",{"title":"hi"}]`)
	if err := e.Except("r1").Emit(ctx, "not-you"); err != nil {
		t.Fatal(err)
	}
	if err := e.Emit(ctx, "bin", []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	c.ExpectExact(`451-["bin",{"_placeholder":true,"num":0}]`)
	if f := c.Next(); string(f.Data) != "\x01\x02" {
		t.Fatalf("attachment %v", f.Data)
	}
	if err := e.In("r1").SocketsJoin(ctx, "r2"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if socks, _ := io.In("r2").FetchSockets(ctx); len(socks) != 1 {
		t.Fatalf("socketsJoin: %d", len(socks))
	}
	if err := e.In("r2").DisconnectSockets(ctx, false); err != nil {
		t.Fatal(err)
	}
	c.ExpectExact("41")
	if err := e.To("r1").Emit(ctx, "bad", func() {}); err == nil {
		t.Fatal("a func argument was accepted")
	}
}

// The emitter publishes exactly the bytes Node's emitter published in the
// capture.
func TestBytesMatchNodeEmitter(t *testing.T) {
	raw, err := os.ReadFile("../../shared/reference/redis-adapter-captures/out-classic.json")
	if err != nil {
		t.Skip("captures not beside the repository:", err)
	}
	var capture struct {
		Log []struct {
			From, Channel, Hex string
			Value              json.RawMessage
		} `json:"log"`
	}
	if err := json.Unmarshal(raw, &capture); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range capture.Log {
		if e.From != "EMITTER" {
			continue
		}
		if e.Hex != "" {
			want = append(want, e.Channel+" "+e.Hex)
		} else {
			want = append(want, e.Channel+" "+string(e.Value))
		}
	}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	ctx := context.Background()
	ps := rdb.PSubscribe(ctx, "socket.io-test-emitter*")
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	e := emitter.New(rdb, &emitter.Options{Key: "socket.io-test-emitter"})
	_ = e.Emit(ctx, "from-emitter", 42)
	_ = e.To("room1").Except("roomX").Volatile().Emit(ctx, "em-room", map[string]any{"b": 2})
	_ = e.Of("/chat").Emit(ctx, "x")
	_ = e.In("room1").SocketsJoin(ctx, "room5")
	_ = e.In("room1").SocketsLeave(ctx, "room5")
	_ = e.ServerSideEmit(ctx, "ping-server", "from emitter")
	var got []string
	for range want {
		m, err := ps.ReceiveTimeout(ctx, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		msg := m.(*redis.Message)
		ch := strings.Replace(msg.Channel, "socket.io-test-emitter", "socket.io", 1)
		if msg.Payload[0] == '{' {
			var v any
			_ = json.Unmarshal([]byte(msg.Payload), &v)
			b, _ := json.Marshal(v)
			got = append(got, ch+" "+string(b))
		} else {
			got = append(got, ch+" "+hex.EncodeToString([]byte(msg.Payload)))
		}
	}
	for i := range want {
		var v any
		if j := strings.IndexByte(want[i], ' '); json.Unmarshal([]byte(want[i][j+1:]), &v) == nil {
			b, _ := json.Marshal(v) // JSON: compare values
			want[i] = want[i][:j+1] + string(b)
		}
		if got[i] != want[i] {
			t.Errorf("message %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}
