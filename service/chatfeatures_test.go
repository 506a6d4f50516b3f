package service

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/service/chat"
	"github.com/heraldio/herald/test/support"
)

// chatClient is a raw /chat socket of one user, for the chat feature tests.
type chatClient struct {
	t    *testing.T
	c    *support.Conn
	tok  string
	seq  int
	seen []string // event frames passed over while waiting for acks
}

func dialChat(t *testing.T, url, secret, id, name string) *chatClient {
	t.Helper()
	tok, err := auth.Mint([]byte(secret), auth.User{ID: id, Name: name, Roles: []string{"user"}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := support.Dial(t, url, "/socket.io/")
	c.Connect("/chat", `{"token":"`+tok+`"}`)
	return &chatClient{t: t, c: c, tok: tok}
}

// call emits event with the JSON args and returns the ack's payload.
func (cc *chatClient) call(event, args string) string {
	cc.t.Helper()
	cc.seq++
	cc.c.Send(fmt.Sprintf(`42/chat,%d["%s",%s]`, cc.seq, event, args))
	prefix := fmt.Sprintf(`43/chat,%d[`, cc.seq)
	for range 200 {
		f := string(cc.c.Next().Data)
		if rest, ok := strings.CutPrefix(f, prefix); ok {
			return strings.TrimSuffix(rest, "]")
		}
		cc.seen = append(cc.seen, f)
	}
	cc.t.Fatalf("no ack to %s %s", event, args)
	return ""
}

// waitEvent returns the first event frame (seen already or next) that
// contains all of parts.
func (cc *chatClient) waitEvent(parts ...string) string {
	cc.t.Helper()
	match := func(f string) bool {
		for _, p := range parts {
			if !strings.Contains(f, p) {
				return false
			}
		}
		return true
	}
	for i, f := range cc.seen {
		if match(f) {
			cc.seen = append(cc.seen[:i:i], cc.seen[i+1:]...)
			return f
		}
	}
	for range 500 {
		f := string(cc.c.Next().Data)
		if match(f) {
			return f
		}
		cc.seen = append(cc.seen, f)
	}
	cc.t.Fatalf("no event with %q", parts)
	return ""
}

// count returns how many frames seen so far contain s.
func (cc *chatClient) count(s string) int {
	n := 0
	for _, f := range cc.seen {
		if strings.Contains(f, s) {
			n++
		}
	}
	return n
}

// node is one node of a test cluster.
type node struct {
	t           *testing.T
	url, secret string
}

// dial connects a chat client of the user to the node.
func (n node) dial(id, name string) *chatClient { return dialChat(n.t, n.url, n.secret, id, name) }

// twoNodes starts two nodes sharing Redis and PostgreSQL.
func twoNodes(t *testing.T) [2]node { return twoNodesOn(t, clusterEnv(t)) }

// twoNodesOn starts two nodes of env's cluster.
func twoNodesOn(t *testing.T, env map[string]string) [2]node {
	var on [2]node
	var svcs []*Service
	for i := range on {
		svc, url := newTestService(t, env)
		on[i] = node{t, url, env["HERALD_JWT_SECRET"]}
		svcs = append(svcs, svc)
	}
	waitCluster(t, svcs...)
	return on
}

// waitCluster waits until every node counts them all (a cluster that
// counts by heartbeats meets a moment after its nodes start).
func waitCluster(t testing.TB, svcs ...*Service) {
	t.Helper()
	type counter interface {
		ServerCount(context.Context) (int, error)
	}
	// Each namespace has an adapter of its own, which meets the other
	// nodes by itself: "/" counting them all says nothing of "/chat".
	for _, s := range svcs {
		for _, nsp := range s.io.Namespaces() {
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				n, _ := nsp.Adapter().(counter).ServerCount(context.Background())
				if n >= len(svcs) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("node %s counts %d nodes in %s, want %d", s.node, n, nsp.Name(), len(svcs))
				}
			}
		}
	}
}

func jsonField(payload, key string) string {
	k := `"` + key + `":"`
	i := strings.Index(payload, k)
	if i < 0 {
		return ""
	}
	rest := payload[i+len(k):]
	return rest[:strings.IndexByte(rest, '"')]
}

// A send retried with its client id, on the node that stored it and on
// another one, is stored once, broadcast once and acked with the stored
// message each time.
func TestIdempotentSendAcrossNodes(t *testing.T) {
	on := twoNodes(t)
	aliceA := on[0].dial("alice", "Alice")
	aliceB := on[1].dial("alice", "Alice")
	bob := on[0].dial("bob", "Bob")
	for _, c := range []*chatClient{aliceA, aliceB, bob} {
		if ack := c.call("join-room", `"general"`); !strings.Contains(ack, `"ok":true`) {
			t.Fatalf("join: %s", ack)
		}
	}
	send := `{"roomId":"general","content":"only once","clientId":"c-42"}`
	first := aliceA.call("send-message", send)
	id := jsonField(first, "id")
	if id == "" || !strings.Contains(first, `"clientId":"c-42"`) {
		t.Fatalf("first ack: %s", first)
	}
	for i, c := range []*chatClient{aliceA, aliceB, aliceB} {
		if again := c.call("send-message", send); jsonField(again, "id") != id || !strings.Contains(again, `"content":"only once"`) {
			t.Fatalf("retry %d acked %s, want message %s", i, again, id)
		}
	}
	// A later message from node B reaches Bob after any broadcast of the
	// retries would have.
	aliceB.call("send-message", `{"roomId":"general","content":"marker"}`)
	bob.waitEvent(`"new-message"`, `"marker"`)
	if n := bob.count(`"only once"`); n != 1 {
		t.Fatalf("bob got the message %d times, want 1: %q", n, bob.seen)
	}
	hist := bob.call("history", `{"roomId":"general"}`)
	if n := strings.Count(hist, `"only once"`); n != 1 {
		t.Fatalf("history holds the message %d times: %s", n, hist)
	}

	sideID := jsonField(aliceA.call("create-room", `{"name":"Side","public":true}`), "id")
	for _, bad := range []string{
		`{"roomId":"general","content":"x","clientId":5}`,
		`{"roomId":"general","content":"x","clientId":""}`,
		`{"roomId":"general","content":"x","clientId":["c"]}`,
		`{"roomId":"general","content":"x","clientId":"` + strings.Repeat("c", 129) + `"}`,
	} {
		if ack := aliceA.call("send-message", bad); !strings.Contains(ack, `"error":"Invalid payload"`) {
			t.Errorf("%s: %s", bad, ack)
		}
	}
	// The client id of a message in general, reused in another room.
	if ack := aliceA.call("join-room", `"`+sideID+`"`); !strings.Contains(ack, `"ok":true`) {
		t.Fatalf("join side %q: %s", sideID, ack)
	}
	if ack := aliceA.call("send-message", `{"roomId":"`+sideID+`","content":"x","clientId":"c-42"}`); !strings.Contains(ack, `"error":"Invalid payload"`) {
		t.Errorf("client id reused in another room: %s", ack)
	}
	// Another user's client id is their own.
	if ack := bob.call("send-message", send); jsonField(ack, "id") == id || jsonField(ack, "id") == "" {
		t.Errorf("bob's send with alice's client id: %s", ack)
	}
}

// dm:open from either user, on either node, at the same time, gives one
// private room with both as members; others are refused it.
func TestDirectMessagesAcrossNodes(t *testing.T) { testDirectMessagesAcrossNodes(t, clusterEnv(t)) }

func testDirectMessagesAcrossNodes(t *testing.T, env map[string]string) {
	on := twoNodesOn(t, env)
	alice := on[0].dial("alice", "Alice")
	bob := on[1].dial("bob", "Bob")
	carol := on[1].dial("carol", "Carol")
	want := chat.DMRoomID("alice", "bob")
	// Both ask at once, one on each node.
	alice.seq++
	alice.c.Send(fmt.Sprintf(`42/chat,%d["dm:open",{"userId":"bob"}]`, alice.seq))
	fromBob := bob.call("dm:open", `{"userId":"alice"}`)
	fromAlice := alice.waitEvent(fmt.Sprintf(`43/chat,%d[`, alice.seq))
	for _, ack := range []string{fromAlice, fromBob} {
		if jsonField(ack, "id") != want || !strings.Contains(ack, `"public":false`) {
			t.Fatalf("dm:open: %s, want room %s", ack, want)
		}
	}
	if !strings.Contains(fromAlice, `"dm":{"name":"Bob","userId":"bob"}`) || !strings.Contains(fromBob, `"dm":{"name":"Alice","userId":"alice"}`) {
		t.Fatalf("dm peers: alice got %s, bob got %s", fromAlice, fromBob)
	}
	if again := alice.call("dm:open", `{"userId":"bob"}`); jsonField(again, "id") != want {
		t.Fatalf("dm:open again: %s", again)
	}
	bob.waitEvent(`"rooms:added"`, want)
	// Both are members: they join, talk, and see it in rooms:list.
	for _, c := range []*chatClient{alice, bob} {
		if ack := c.call("join-room", `"`+want+`"`); !strings.Contains(ack, `"ok":true`) {
			t.Fatalf("join dm: %s", ack)
		}
	}
	alice.call("send-message", `{"roomId":"`+want+`","content":"just us"}`)
	bob.waitEvent(`"new-message"`, `"just us"`)
	if list := bob.call("rooms:list", `{}`); !strings.Contains(list, want) || !strings.Contains(list, `"dm":{"name":"Alice","userId":"alice"}`) {
		t.Fatalf("bob's rooms: %s", list)
	}
	if list := carol.call("rooms:list", `{}`); strings.Contains(list, want) {
		t.Fatalf("carol sees the dm: %s", list)
	}
	for _, ev := range []string{"join-room", "history"} {
		if ack := carol.call(ev, `{"roomId":"`+want+`"}`); !strings.Contains(ack, `"error":"Access denied"`) {
			t.Errorf("carol %s: %s", ev, ack)
		}
	}
	if ack := carol.call("send-message", `{"roomId":"`+want+`","content":"let me in"}`); !strings.Contains(ack, `"error":"Access denied"`) {
		t.Errorf("carol send: %s", ack)
	}
	for _, bad := range []string{`{"userId":5}`, `{}`, `null`, `"bob"`, `{"userId":""}`, `{"userId":"alice"}`,
		`{"userId":"` + strings.Repeat("u", 129) + `"}`} {
		if ack := alice.call("dm:open", bad); !strings.Contains(ack, `"error":"Invalid payload"`) {
			t.Errorf("dm:open %s: %s", bad, ack)
		}
	}
	// The API cannot take a dm: id for a room of its own.
	code, body := post(t, on[0].url+"/api/v1/rooms", "Bearer cluster-key", `{"id":"dm:x","name":"Fake"}`)
	if code != 400 {
		t.Errorf("API room with a dm: id: %d %v", code, body)
	}
}

// The owner of a private room invites and removes members; invitees see
// it at once (rooms:added, a notification, rooms:list), members leave.
func TestInvitationsAndMembers(t *testing.T) {
	on := twoNodes(t)
	alice := on[0].dial("alice", "Alice")
	bob := on[1].dial("bob", "Bob")
	bob.c.Connect("/", `{"token":"`+bob.tok+`"}`) // for the notification
	carol := on[1].dial("carol", "Carol")
	carol.c.Connect("/", `{"token":"`+carol.tok+`"}`)
	room := jsonField(alice.call("create-room", `{"name":"Secret","public":false}`), "id")
	rid := `"roomId":"` + room + `"`
	denied := func(c *chatClient, ev, args string) {
		t.Helper()
		if ack := c.call(ev, args); !strings.Contains(ack, `"error":"Access denied"`) {
			t.Errorf("%s %s: %s, want Access denied", ev, args, ack)
		}
	}
	denied(bob, "join-room", `"`+room+`"`)
	denied(bob, "room:invite", `{`+rid+`,"userId":"bob"}`)
	denied(bob, "room:members", `{`+rid+`}`)
	denied(alice, "room:invite", `{"roomId":"general","userId":"bob"}`) // not hers
	denied(alice, "room:invite", `{"roomId":"nope","userId":"bob"}`)

	if ack := alice.call("room:invite", `{`+rid+`,"userId":"bob"}`); ack != `{"ok":true}` {
		t.Fatalf("invite: %s", ack)
	}
	bob.waitEvent(`"rooms:added"`, room, `"name":"Secret"`)
	bob.waitEvent(`42["notification"`, `"Invited to Secret"`, `Alice invited you`)
	if list := bob.call("rooms:list", `{}`); !strings.Contains(list, room) {
		t.Fatalf("bob's rooms after the invitation: %s", list)
	}
	if ack := bob.call("join-room", `"`+room+`"`); !strings.Contains(ack, `"ok":true`) {
		t.Fatalf("bob joins: %s", ack)
	}
	if ack := alice.call("room:members", `{`+rid+`}`); !strings.Contains(ack, `"members":["alice","bob"]`) {
		t.Fatalf("members: %s", ack)
	}
	denied(bob, "room:invite", `{`+rid+`,"userId":"carol"}`) // a member, not the owner
	denied(bob, "room:remove", `{`+rid+`,"userId":"alice"}`)

	if ack := alice.call("room:remove", `{`+rid+`,"userId":"bob"}`); ack != `{"ok":true}` {
		t.Fatalf("remove: %s", ack)
	}
	bob.waitEvent(`"rooms:removed"`, room)
	denied(bob, "history", `{`+rid+`}`)
	if list := bob.call("rooms:list", `{}`); strings.Contains(list, room) {
		t.Fatalf("bob still sees the room: %s", list)
	}

	// Invited through the API on node A: carol, on node B, hears of it.
	code, body := put(t, on[0].url+"/api/v1/rooms/"+room+"/members/carol", "Bearer cluster-key")
	if code != 200 {
		t.Fatalf("API invite: %d %v", code, body)
	}
	carol.waitEvent(`"rooms:added"`, room)
	carol.waitEvent(`42["notification"`, `"Invited to Secret"`)
	if ack := carol.call("room:leave", `{`+rid+`}`); ack != `{"ok":true}` {
		t.Fatalf("leave: %s", ack)
	}
	carol.waitEvent(`"rooms:removed"`, room)
	denied(carol, "join-room", `"`+room+`"`)

	for _, bad := range [][2]string{
		{"room:invite", `{"roomId":5,"userId":"bob"}`}, {"room:invite", `{}`}, {"room:invite", `"x"`},
		{"room:invite", `{` + rid + `,"userId":7}`}, {"room:invite", `{` + rid + `}`},
		{"room:remove", `{` + rid + `,"userId":"alice"}`}, {"room:remove", `{` + rid + `,"userId":""}`},
	} {
		if ack := alice.call(bad[0], bad[1]); !strings.Contains(ack, `"error":"Invalid payload"`) {
			t.Errorf("%s %s: %s", bad[0], bad[1], ack)
		}
	}
	for _, ev := range []string{"room:leave", "room:members"} {
		if ack := alice.call(ev, `{"roomId":[1]}`); !strings.Contains(ack, `"error":"Invalid payload"`) {
			t.Errorf("%s: %s", ev, ack)
		}
	}
}

func put(t *testing.T, url, auth string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url, nil)
	req.Header.Set("Authorization", auth)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// mark-read moves a user's read position forward only; rooms:list counts
// what is unread; the user's tabs on every node get read-state and the
// other members read-receipt, unless receipts are off.
func TestReadStateAcrossNodes(t *testing.T) {
	on := twoNodes(t)
	alice := on[0].dial("alice", "Alice")
	aliceTab := on[1].dial("alice", "Alice")
	bob := on[1].dial("bob", "Bob")
	carol := on[0].dial("carol", "Carol")
	room := jsonField(bob.call("create-room", `{"name":"Reading","public":false}`), "id")
	bob.call("room:invite", `{"roomId":"`+room+`","userId":"alice"}`)
	for _, c := range []*chatClient{alice, bob} {
		c.call("join-room", `"`+room+`"`)
	}
	var ids []string
	for i := range 3 {
		ids = append(ids, jsonField(bob.call("send-message", fmt.Sprintf(`{"roomId":"%s","content":"m%d"}`, room, i)), "id"))
	}
	unread := func(c *chatClient) string {
		t.Helper()
		list := c.call("rooms:list", `{}`)
		i := strings.Index(list, `"id":"`+room+`"`)
		if i < 0 {
			t.Fatalf("room not listed: %s", list)
		}
		j := strings.LastIndex(list[:i], "{")
		return list[j : i+strings.IndexByte(list[i:], '}')+1]
	}
	if r := unread(alice); !strings.Contains(r, `"unread":3`) {
		t.Fatalf("alice before reading: %s", r)
	}
	if ack := alice.call("mark-read", `{"roomId":"`+room+`","messageId":"`+ids[1]+`"}`); !strings.Contains(ack, `"unread":1`) || !strings.Contains(ack, ids[1]) {
		t.Fatalf("mark-read: %s", ack)
	}
	aliceTab.waitEvent(`"read-state"`, ids[1], `"unread":1`)
	bob.waitEvent(`"read-receipt"`, `"userId":"alice"`, ids[1])
	if r := unread(alice); !strings.Contains(r, `"unread":1`) || !strings.Contains(r, `"lastReadId":"`+ids[1]+`"`) {
		t.Fatalf("alice after reading 2: %s", r)
	}
	// An older position is kept back; the ack says where it stands.
	if ack := alice.call("mark-read", `{"roomId":"`+room+`","messageId":"`+ids[0]+`"}`); !strings.Contains(ack, `"lastReadId":"`+ids[1]+`"`) {
		t.Fatalf("mark-read backwards: %s", ack)
	}
	if r := unread(bob); !strings.Contains(r, `"unread":0`) {
		t.Fatalf("bob's own messages are not unread: %s", r)
	}
	for _, bad := range []string{`{"roomId":"` + room + `","messageId":5}`, `{"roomId":"` + room + `"}`, `"x"`,
		`{"roomId":"` + room + `","messageId":"nope"}`, `{"roomId":"general","messageId":"` + ids[2] + `"}`} {
		if ack := alice.call("mark-read", bad); !strings.Contains(ack, `"error":"Invalid payload"`) {
			t.Errorf("mark-read %s: %s", bad, ack)
		}
	}
	if ack := carol.call("mark-read", `{"roomId":"`+room+`","messageId":"`+ids[2]+`"}`); !strings.Contains(ack, `"error":"Access denied"`) {
		t.Errorf("carol marks a room she cannot read: %s", ack)
	}
}

// With read receipts off the other members hear nothing of a read; the
// user's own tabs still do.
func TestReadReceiptsOff(t *testing.T) {
	env := clusterEnv(t)
	env["HERALD_READ_RECEIPTS"] = "off"
	_, url := newTestService(t, env)
	n := node{t, url, env["HERALD_JWT_SECRET"]}
	alice, aliceTab, bob := n.dial("alice", "Alice"), n.dial("alice", "Alice"), n.dial("bob", "Bob")
	for _, c := range []*chatClient{alice, aliceTab, bob} {
		c.call("join-room", `"general"`)
	}
	id := jsonField(bob.call("send-message", `{"roomId":"general","content":"read me"}`), "id")
	alice.call("mark-read", `{"roomId":"general","messageId":"`+id+`"}`)
	aliceTab.waitEvent(`"read-state"`, id)
	bob.call("send-message", `{"roomId":"general","content":"marker"}`)
	bob.waitEvent(`"new-message"`, `"marker"`)
	if n := bob.count(`"read-receipt"`); n != 0 {
		t.Fatalf("bob got %d read receipts with receipts off: %q", n, bob.seen)
	}
}

// Authors edit and delete their own messages; the room hears of it, and
// history and sync-state show it.
func TestEditAndDelete(t *testing.T) {
	on := twoNodes(t)
	alice := on[0].dial("alice", "Alice")
	bob := on[1].dial("bob", "Bob")
	for _, c := range []*chatClient{alice, bob} {
		c.call("join-room", `"general"`)
	}
	before := jsonField(alice.call("send-message", `{"roomId":"general","content":"before"}`), "id")
	id := jsonField(alice.call("send-message", `{"roomId":"general","content":"tpyo"}`), "id")
	other := jsonField(alice.call("send-message", `{"roomId":"general","content":"doomed"}`), "id")
	ref := func(msg string) string { return `{"roomId":"general","messageId":"` + msg + `"` }
	if ack := alice.call("edit-message", ref(id)+`,"content":"typo"}`); !strings.Contains(ack, `"content":"typo"`) || !strings.Contains(ack, `"editedAt":"`) {
		t.Fatalf("edit: %s", ack)
	}
	bob.waitEvent(`"message-updated"`, id, `"content":"typo"`)
	if ack := alice.call("delete-message", ref(other)+`}`); ack != `{"ok":true}` {
		t.Fatalf("delete: %s", ack)
	}
	bob.waitEvent(`"message-deleted"`, `"id":"`+other+`"`)
	hist := bob.call("history", `{"roomId":"general"}`)
	if !strings.Contains(hist, `"content":"typo"`) || strings.Contains(hist, "doomed") || !strings.Contains(hist, `"deleted":true`) {
		t.Fatalf("history: %s", hist)
	}
	// A client that held the room up to "doomed" missed both changes.
	sync := bob.call("sync-state", `{"lastMessageIds":{"general":"`+other+`"}}`)
	if !strings.Contains(sync, `"updated":{"general":[`) || !strings.Contains(sync, `"content":"typo"`) || !strings.Contains(sync, `"deleted":true`) {
		t.Fatalf("sync-state: %s", sync)
	}
	for _, args := range []string{ref(before) + `,"content":"mine now"}`, ref(before) + `}`} {
		ev := map[bool]string{true: "edit-message", false: "delete-message"}[strings.Contains(args, "content")]
		if ack := bob.call(ev, args); !strings.Contains(ack, `"error":"Access denied"`) {
			t.Errorf("bob %s of alice's message: %s", ev, ack)
		}
	}
	for _, bad := range [][2]string{
		{"edit-message", ref(id) + `}`}, {"edit-message", ref(id) + `,"content":5}`}, {"edit-message", `{"roomId":"general"}`},
		{"delete-message", `{"roomId":"general","messageId":7}`}, {"delete-message", `"x"`},
	} {
		if ack := alice.call(bad[0], bad[1]); !strings.Contains(ack, `"error":"Invalid payload"`) {
			t.Errorf("%s %s: %s", bad[0], bad[1], ack)
		}
	}
	if ack := alice.call("edit-message", ref(id)+`,"content":"   "}`); !strings.Contains(ack, `"error":"Message is empty"`) {
		t.Errorf("empty edit: %s", ack)
	}
	if ack := alice.call("edit-message", ref(other)+`,"content":"back"}`); !strings.Contains(ack, `"error":"Access denied"`) {
		t.Errorf("edit of a deleted message: %s", ack)
	}
	carol := on[0].dial("carol", "Carol")
	room := jsonField(alice.call("create-room", `{"name":"Closed","public":false}`), "id")
	if ack := carol.call("delete-message", `{"roomId":"`+room+`","messageId":"`+id+`"}`); !strings.Contains(ack, `"error":"Access denied"`) {
		t.Errorf("carol in a room she cannot read: %s", ack)
	}
}

// auth:refresh replaces a connection's token without reconnecting: expiry
// follows the new token, whether later or sooner; a token of another
// user, an invalid or expired one is refused and changes nothing.
func TestAuthRefresh(t *testing.T) {
	_, url := hardeningService(t, nil)
	n := node{t, url, testSecret}
	// The verifier allows 30 s of skew: these have about 2 s left.
	short := func(sub string) string { return tokenExpiringAt(t, testSecret, sub, time.Now().Add(-28*time.Second)) }
	refreshed := support.Dial(t, url, "/socket.io/")
	refreshed.Connect("/chat", `{"token":"`+short("amy")+`"}`)
	control := support.Dial(t, url, "/socket.io/")
	control.Connect("/chat", `{"token":"`+short("amy")+`"}`)
	rc := &chatClient{t: t, c: refreshed}
	long, _ := auth.Mint([]byte(testSecret), auth.User{ID: "amy", Name: "Amy"}, time.Hour)
	other, _ := auth.Mint([]byte(testSecret), auth.User{ID: "ben", Name: "Ben"}, time.Hour)
	for _, bad := range []string{`{"token":"` + other + `"}`, `{"token":"garbage"}`, `{"token":5}`, `{}`, `"x"`,
		`{"token":"` + tokenExpiringAt(t, testSecret, "amy", time.Now().Add(-time.Hour)) + `"}`} {
		if ack := rc.call("auth:refresh", bad); ack != `{"error":"Invalid token"}` {
			t.Errorf("refresh with %.40s: %s", bad, ack)
		}
	}
	if ack := rc.call("auth:refresh", `{"token":"`+long+`"}`); !strings.Contains(ack, `"ok":true`) || !strings.Contains(ack, `"expiresAt":"`) {
		t.Fatalf("refresh: %s", ack)
	}
	// The old deadline passes (the control, on the old token, is cut off);
	// the refreshed connection still answers.
	skipTo(t, control, `42/chat,["auth:expired"`)
	if ack := rc.call("rooms:list", `{}`); !strings.Contains(ack, `"general"`) {
		t.Fatalf("after the old deadline: %s", ack)
	}
	for _, f := range rc.seen {
		if strings.Contains(f, "auth:expired") {
			t.Fatalf("refreshed connection expired: %q", rc.seen)
		}
	}
	// A refresh to a token that ends sooner brings the end forward.
	soon := n.dial("cy", "Cy")
	if ack := soon.call("auth:refresh", `{"token":"`+short("cy")+`"}`); !strings.Contains(ack, `"ok":true`) {
		t.Fatalf("refresh to a shorter token: %s", ack)
	}
	soon.waitEvent(`"auth:expired"`)
}

// Who is in a room, as users across the cluster: room:presence lists them,
// presence:room tells the room of a user's first socket in and last out.
func TestRoomPresenceAcrossNodes(t *testing.T) {
	on := twoNodes(t)
	watcher := on[0].dial("wes", "Wes")
	watcher.call("join-room", `"general"`)
	amyA := on[0].dial("amy", "Amy")
	amyB := on[1].dial("amy", "Amy")
	amyA.call("join-room", `"general"`)
	watcher.waitEvent(`"presence:room"`, `"userId":"amy"`, `"joined":true`, `"count":2`)
	amyB.call("join-room", `"general"`) // a second tab: no news
	if ack := watcher.call("room:presence", `"general"`); !strings.Contains(ack, `"count":2`) ||
		!strings.Contains(ack, `{"name":"Amy","userId":"amy"}`) || !strings.Contains(ack, `{"name":"Wes","userId":"wes"}`) {
		t.Fatalf("room:presence: %s", ack)
	}
	amyB.c.Close()                       // still there on node A
	amyA.call("leave-room", `"general"`) // gone
	left := watcher.waitEvent(`"presence:room"`, `"userId":"amy"`, `"joined":false`)
	if !strings.Contains(left, `"count":1`) {
		t.Fatalf("departure: %s", left)
	}
	for _, f := range watcher.seen {
		if strings.Contains(f, `"presence:room"`) && strings.Contains(f, `"userId":"amy"`) {
			t.Fatalf("other presence:room events of amy (the second tab, the first leaving): %q", watcher.seen)
		}
	}
	carol := on[1].dial("carol", "Carol")
	room := jsonField(watcher.call("create-room", `{"name":"Hidden","public":false}`), "id")
	for _, bad := range [][2]string{{`"` + room + `"`, "Access denied"}, {`{"roomId":5}`, "Invalid payload"}, {`null`, "Invalid payload"}} {
		if ack := carol.call("room:presence", bad[0]); !strings.Contains(ack, bad[1]) {
			t.Errorf("room:presence %s: %s, want %s", bad[0], ack, bad[1])
		}
	}
}

// Reading a notification in a tab on one node marks it read in the
// user's tab on another node.
func TestNotificationReadStateAcrossNodes(t *testing.T) {
	env := clusterEnv(t)
	var urls [2]string
	for i := range urls {
		_, urls[i] = newTestService(t, env)
	}
	tok, err := auth.Mint([]byte(env["HERALD_JWT_SECRET"]), auth.User{ID: "nora", Name: "Nora", Roles: []string{"user"}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var tabs [2]*support.Conn
	for i, u := range urls {
		tabs[i] = support.Dial(t, u, "/socket.io/")
		tabs[i].Connect("/", `{"token":"`+tok+`"}`)
	}
	post(t, urls[0]+"/api/notifications", "Bearer "+env["HERALD_API_KEY"], `{"userId":"nora","type":"t","title":"one","message":""}`)
	id := jsonField(skipTo(t, tabs[1], `42["notification"`), "id")
	skipTo(t, tabs[0], `42["notification"`)
	ack(t, tabs[1], "/", 1, `["notifications:read","`+id+`"]`)
	if got := skipTo(t, tabs[0], `42["notifications:state"`); !strings.HasPrefix(got, `42["notifications:state",{"read":["`+id+`"]}`) {
		t.Fatalf("the tab on the other node: %s", got)
	}
	ack(t, tabs[0], "/", 2, `["notifications:read-all"]`)
	if got := skipTo(t, tabs[1], `42["notifications:state"`); !strings.HasPrefix(got, `42["notifications:state",{"all":true}`) {
		t.Fatalf("the first tab: %s", got)
	}
}
