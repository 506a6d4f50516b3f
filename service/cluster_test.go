package service

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/test/support"
)

// Two nodes sharing Redis and PostgreSQL: chat, presence and
// notifications cross between them.
func TestClusterOfTwoNodes(t *testing.T) { testClusterOfTwoNodes(t, clusterEnv(t)) }

func testClusterOfTwoNodes(t *testing.T, env map[string]string) {
	_, urlA := newTestService(t, env)
	_, urlB := newTestService(t, env)
	tok := func(id, name string) string {
		s, _ := auth.Mint([]byte(env["HERALD_JWT_SECRET"]), auth.User{ID: id, Name: name, Roles: []string{"user"}}, time.Hour)
		return s
	}
	skipTo := func(c *support.Conn, prefix string) string {
		t.Helper()
		for i := 0; i < 50; i++ {
			f := c.Next()
			if strings.HasPrefix(string(f.Data), prefix) {
				return string(f.Data)
			}
		}
		t.Fatalf("no frame starting with %s", prefix)
		return ""
	}
	// Alice on node A, Bob on node B, both in the chat room.
	alice := support.Dial(t, urlA, "/socket.io/")
	alice.Connect("/", `{"token":"`+tok("alice", "Alice")+`"}`)
	alice.Send(`40/chat,{"token":"` + tok("alice", "Alice") + `"}`)
	skipTo(alice, `40/chat,`)
	bob := support.Dial(t, urlB, "/socket.io/")
	bob.Connect("/", `{"token":"`+tok("bob", "Bob")+`"}`)
	// In the list, or just after it when node A's write of its users
	// lands after B read the cluster's view (later with PostgreSQL).
	if list := skipTo(bob, `42["presence:list"`); !strings.Contains(list, `"userId":"alice"`) {
		if u := skipTo(bob, `42["presence:update",{"userId":"alice"`); !strings.Contains(u, `"status":"online"`) {
			t.Fatalf("node B does not see Alice online: %s, then %s", list, u)
		}
	}
	bob.Send(`40/chat,{"token":"` + tok("bob", "Bob") + `"}`)
	skipTo(bob, `40/chat,`)
	alice.Send(`42/chat,1["join-room","general"]`)
	skipTo(alice, `43/chat,1`)
	bob.Send(`42/chat,1["join-room","general"]`)
	skipTo(bob, `43/chat,1`)
	alice.Send(`42/chat,2["send-message",{"roomId":"general","content":"across nodes"}]`)
	msg := skipTo(bob, `42/chat,["new-message"`)
	if !strings.Contains(msg, `"content":"across nodes"`) {
		t.Fatalf("message: %s", msg)
	}
	// A notification sent through node A's API reaches Bob on node B.
	req, _ := http.NewRequest("POST", urlA+"/api/notifications", strings.NewReader(`{"userId":"bob","type":"t","title":"from A","message":""}`))
	req.Header.Set("Authorization", "Bearer cluster-key")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 202 {
		t.Fatalf("notify: %v %v", res, err)
	}
	res.Body.Close()
	if n := skipTo(bob, `42["notification"`); !strings.Contains(n, `"title":"from A"`) {
		t.Fatalf("notification: %s", n)
	}
	// History is shared through PostgreSQL.
	bob.Send(`42/chat,3["history",{"roomId":"general"}]`)
	if h := skipTo(bob, `43/chat,3`); !strings.Contains(h, "across nodes") {
		t.Fatalf("history on B: %s", h)
	}
}

// clusterEnv is the environment of nodes sharing Redis and a PostgreSQL
// schema of their own, dropped after the test.
func clusterEnv(t testing.TB) map[string]string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return map[string]string{
		"HERALD_JWT_SECRET":   "cluster-secret-cluster-secret-cluster",
		"HERALD_API_KEY":      "cluster-key",
		"HERALD_REDIS_URL":    "redis://127.0.0.1:6379/0",
		"HERALD_REDIS_PREFIX": "herald-test-" + hex.EncodeToString(b),
		"HERALD_DATABASE_URL": support.PostgresURL(t),
	}
}

// Batched presence across two nodes, with the rooms audience: each node
// batches its own users' changes for the whole cluster, pages list the
// users of both nodes who share a room, and a room joined on one node
// makes the user part of its audience on the other.
func TestClusterPresenceBatchedRooms(t *testing.T) {
	env := clusterEnv(t)
	env["HERALD_PRESENCE_AUDIENCE"] = "rooms"
	env["HERALD_PRESENCE_TICK"] = "50ms"
	_, urlA := newTestService(t, env)
	_, urlB := newTestService(t, env)
	tok := func(id string) string {
		s, _ := auth.Mint([]byte(env["HERALD_JWT_SECRET"]), auth.User{ID: id, Name: id, Roles: []string{"user"}}, time.Hour)
		return s
	}
	dial := func(url, id, nsp string) *support.Conn {
		c := support.Dial(t, url, "/socket.io/")
		c.Connect(nsp, `{"token":"`+tok(id)+`","presence":"changes"}`)
		return c
	}
	// ann (node A) and bob (node B) are members of general; cid (node B)
	// of nothing yet.
	for _, u := range []struct{ url, id string }{{urlA, "ann"}, {urlB, "bob"}} {
		ack(t, dial(u.url, u.id, "/chat"), "/chat", 1, `["join-room","general"]`)
	}
	bob := dial(urlB, "bob", "/")
	bobState := map[string]string{}
	waitPresence(t, bob, bobState, has(map[string]string{"bob": "online"}))
	ann := dial(urlA, "ann", "/")
	cid := dial(urlB, "cid", "/")
	waitPresence(t, bob, bobState, has(map[string]string{"ann": "online"}))
	for _, ev := range collectPresence(t, bob, 200*time.Millisecond) {
		apply(bobState, ev)
	}
	if len(bobState) != 2 {
		t.Fatalf("bob on B learned %v, want ann (on A) and himself", bobState)
	}
	for n, deadline := 1, time.Now().Add(3*time.Second); ; n++ {
		time.Sleep(50 * time.Millisecond)
		users, _ := page(t, bob, n, `{}`)
		if ids := userIDs(users); slices.Equal(ids, []string{"ann", "bob"}) {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("bob's page: %v", ids)
		}
	}
	// cid joins general through node A's /chat: bob (B) and ann (A) learn
	// cid is online; cid's tab on B is in general's audience.
	annState, cidState := map[string]string{}, map[string]string{}
	waitPresence(t, ann, annState, has(map[string]string{"ann": "online"}))
	waitPresence(t, cid, cidState, has(map[string]string{"cid": "online"}))
	ack(t, dial(urlA, "cid", "/chat"), "/chat", 1, `["join-room","general"]`)
	waitPresence(t, bob, bobState, has(map[string]string{"cid": "online"}))
	waitPresence(t, ann, annState, has(map[string]string{"cid": "online"}))
	ack(t, ann, "/", 1, `["presence:status","busy"]`)
	waitPresence(t, cid, cidState, has(map[string]string{"ann": "busy"}))
}
