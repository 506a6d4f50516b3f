package service

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/test/support"
)

// chatClient is a raw /chat socket of one user, for the chat feature tests.
type chatClient struct {
	t    *testing.T
	c    *support.Conn
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
	return &chatClient{t: t, c: c}
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
	env := clusterEnv(t)
	_, urlA := newTestService(t, env)
	_, urlB := newTestService(t, env)
	secret := env["HERALD_JWT_SECRET"]
	aliceA := dialChat(t, urlA, secret, "alice", "Alice")
	aliceB := dialChat(t, urlB, secret, "alice", "Alice")
	bob := dialChat(t, urlA, secret, "bob", "Bob")
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
