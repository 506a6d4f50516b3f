package api_test

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/heraldio/herald/test/support"
)

// cluster starts two nodes sharing Redis (under a prefix of their own)
// and a PostgreSQL schema of their own.
func cluster(t *testing.T) (a, b *node) {
	t.Helper()
	var r [4]byte
	_, _ = rand.Read(r[:])
	id := hex.EncodeToString(r[:])
	env := map[string]string{
		"HERALD_REDIS_URL":    "redis://127.0.0.1:6379/0",
		"HERALD_REDIS_PREFIX": "herald-api-test-" + id,
		"HERALD_DATABASE_URL": support.PostgresURL(t),
	}
	return start(t, env), start(t, env)
}

// Everything that selects sockets works across nodes: emit (with acks),
// listing, joins and leaves, disconnection with a reason.
func TestClusterEmitAndSockets(t *testing.T) {
	a, b := cluster(t)
	alice, _ := a.connect("alice", "Alice", "/")
	bob, bobSID := b.connect("bob", "Bob", "/", "user", "admin")

	// An emit through node A reaches Bob on node B.
	if code, res := a.call("POST", "/api/v1/emit", `{"role":"admin","event":"admin:new-order","data":{"orderId":7}}`); code != 200 {
		t.Fatalf("%d %v", code, res)
	}
	if got := next(t, bob, `42["admin:new-order"`); !strings.Contains(got, `"orderId":7`) {
		t.Fatal(got)
	}
	// Acks from both nodes.
	done := make(chan map[string]any)
	go func() {
		_, res := a.call("POST", "/api/v1/emit", `{"all":true,"event":"confirm","ack":{"timeoutMs":5000}}`)
		done <- res
	}()
	ackFrom := func(c *support.Conn, answer string) {
		for i := 0; i < 100; i++ {
			if m := ackID.FindStringSubmatch(string(c.Next().Data)); m != nil {
				c.Send(`43` + m[1] + `["` + answer + `"]`)
				return
			}
		}
		t.Fatal("no ack request")
	}
	ackFrom(alice, "from A")
	ackFrom(bob, "from B")
	res := <-done
	if acks := res["acks"].([]any); len(acks) != 2 || res["timedOut"] != false {
		t.Fatalf("acks %v", res)
	}

	// Node A lists Bob's socket on node B.
	_, res = a.call("GET", "/api/v1/sockets?userId=bob", nil)
	socks := res["sockets"].([]any)
	if len(socks) != 1 || socks[0].(map[string]any)["id"] != bobSID || socks[0].(map[string]any)["node"] != b.svc.NodeID() ||
		socks[0].(map[string]any)["userName"] != "Bob" {
		t.Fatalf("sockets %v", res)
	}
	// Node A makes Bob join a room, then emits to it.
	a.call("POST", "/api/v1/sockets/rooms", `{"userId":"bob","join":["vip"]}`)
	waitFor(t, func() bool {
		_, res := a.call("GET", "/api/v1/sockets?room=vip", nil)
		return len(res["sockets"].([]any)) == 1
	})
	a.call("POST", "/api/v1/emit", `{"room":"vip","event":"vip:offer"}`)
	next(t, bob, `42["vip:offer"`)
	// Node A disconnects Bob, who reads the reason first.
	a.call("POST", "/api/v1/sockets/disconnect", `{"userId":"bob","reason":{"event":"kicked","data":"bye"}}`)
	next(t, bob, `42["kicked","bye"`)
	next(t, bob, `41`)
}

// waitFor polls cond until it holds (5 s at most): cluster operations
// are applied by each node as it gets them.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("condition not met in 5 s")
}
