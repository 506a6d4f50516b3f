package api_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestSocketsListJoinLeave(t *testing.T) {
	n := start(t, nil)
	alice, sid := n.connect("alice", "Alice", "/", "user", "admin")
	chat, chatSID := n.connect("alice", "Alice", "/chat")
	chat.Send(`42/chat,1["join-room","general"]`)
	next(t, chat, `43/chat,1`)

	code, res := n.call("GET", "/api/v1/sockets?userId=alice", nil)
	socks, _ := res["sockets"].([]any)
	if code != 200 || len(socks) != 1 {
		t.Fatalf("%d %v", code, res)
	}
	s := socks[0].(map[string]any)
	if s["id"] != sid || s["namespace"] != "/" || s["node"] != n.svc.NodeID() || s["userId"] != "alice" ||
		s["userName"] != "Alice" || !strings.HasPrefix(fmt.Sprint(s["address"]), "127.0.0.1") ||
		!strings.Contains(fmt.Sprint(s["rooms"]), "role:admin") {
		t.Fatalf("socket %v", s)
	}
	if at, err := time.Parse(time.RFC3339, s["connectedAt"].(string)); err != nil || time.Since(at) > time.Minute {
		t.Fatalf("connectedAt %v %v", s["connectedAt"], err)
	}
	code, res = n.call("GET", "/api/v1/sockets?namespace=/chat&room=room:general", nil)
	if socks, _ := res["sockets"].([]any); code != 200 || len(socks) != 1 || socks[0].(map[string]any)["id"] != chatSID {
		t.Fatalf("%d %v", code, res)
	}
	for _, q := range []string{"role=admin", "socketId=" + sid} {
		if code, res := n.call("GET", "/api/v1/sockets?"+q, nil); code != 200 || len(res["sockets"].([]any)) != 1 {
			t.Fatalf("%s: %d %v", q, code, res)
		}
	}
	if code, res := n.call("GET", "/api/v1/sockets?userId=nobody", nil); code != 200 || len(res["sockets"].([]any)) != 0 {
		t.Fatalf("nobody: %d %v", code, res)
	}

	// join, an emit to the room reaches the socket; leave, it no longer does
	if code, res := n.call("POST", "/api/v1/sockets/rooms", `{"userId":"alice","join":["vip","beta","gamma"]}`); code != 200 {
		t.Fatalf("join: %d %v", code, res)
	}
	n.call("POST", "/api/v1/emit", `{"room":"vip","event":"offer"}`)
	next(t, alice, `42["offer"`)
	if code, res := n.call("POST", "/api/v1/sockets/rooms", `{"rooms":["vip","gamma"],"leave":["vip","gamma"],"join":["delta"]}`); code != 200 {
		t.Fatalf("leave: %d %v", code, res)
	}
	n.call("POST", "/api/v1/emit", `{"rooms":["vip"],"event":"offer2"}`)
	none(t, alice, `42["offer2"`, 100*time.Millisecond)
	_, res = n.call("GET", "/api/v1/sockets?socketId="+sid, nil)
	if r := fmt.Sprint(res["sockets"].([]any)[0].(map[string]any)["rooms"]); !strings.Contains(r, "beta") || !strings.Contains(r, "delta") || strings.Contains(r, "vip") || strings.Contains(r, "gamma") {
		t.Fatalf("rooms %s", r)
	}
}

// A user is disconnected from every namespace, each socket told why
// first; with namespace, only there.
func TestSocketsDisconnect(t *testing.T) {
	n := start(t, nil)
	main, _ := n.connect("alice", "Alice", "/")
	chat, _ := n.connect("alice", "Alice", "/chat")
	other, otherSID := n.connect("bob", "Bob", "/chat")
	code, res := n.call("POST", "/api/v1/sockets/disconnect", `{"socketId":"`+otherSID+`","namespace":"/chat"}`)
	if code != 200 {
		t.Fatalf("%d %v", code, res)
	}
	next(t, other, `41/chat,`)
	code, res = n.call("POST", "/api/v1/sockets/disconnect", `{"userId":"alice","reason":{"event":"kicked","data":{"why":"spam"}}}`)
	if code != 200 {
		t.Fatalf("%d %v", code, res)
	}
	if got := next(t, main, `42["kicked"`); !strings.Contains(got, `"why":"spam"`) {
		t.Fatal(got)
	}
	next(t, main, `41`)
	next(t, chat, `42/chat,["kicked"`)
	next(t, chat, `41/chat,`)
	if code, res := n.call("GET", "/api/v1/sockets?userId=alice", nil); code != 200 || len(res["sockets"].([]any)) != 0 {
		t.Fatalf("still there: %v", res)
	}
	// close: the whole connection goes
	c, _ := n.connect("carol", "Carol", "/")
	n.call("POST", "/api/v1/sockets/disconnect", `{"userId":"carol","close":true}`)
	c.WaitClosed()
}

func TestSocketsRejectBadInput(t *testing.T) {
	n := start(t, nil)
	n.expectErrors([]badCase{
		{"GET", "/api/v1/sockets", "", 400, "invalid_target"},
		{"GET", "/api/v1/sockets?userId=a&room=b", "", 400, "invalid_target"},
		{"GET", "/api/v1/sockets?userId=", "", 400, "invalid_field"},
		{"GET", "/api/v1/sockets?userId=a&namespace=/nope", "", 404, "unknown_namespace"},
		{"POST", "/api/v1/sockets/rooms", `{"userId":"a"}`, 400, "invalid_field"},
		{"POST", "/api/v1/sockets/rooms", `{"userId":"a","join":"vip"}`, 400, "invalid_type"},
		{"POST", "/api/v1/sockets/rooms", `{"join":["vip"]}`, 400, "invalid_target"},
		{"POST", "/api/v1/sockets/rooms", `{"userId":"a","leave":[""]}`, 400, "invalid_field"},
		{"POST", "/api/v1/sockets/rooms", `{"userId":"a","join":[]}`, 400, "invalid_field"},
		{"POST", "/api/v1/sockets/rooms", `{"userId":"a","join":["x"],"namespace":"/x"}`, 404, "unknown_namespace"},
		{"POST", "/api/v1/sockets/disconnect", `{"userId":"a","reason":{"event":"connect"}}`, 400, "invalid_field"},
		{"POST", "/api/v1/sockets/disconnect", `{"userId":"a","reason":"bye"}`, 400, "invalid_type"},
		{"POST", "/api/v1/sockets/disconnect", `{"userId":"a","why":"bye"}`, 400, "unknown_field"},
		{"POST", "/api/v1/sockets/disconnect", `{"userId":"a"`, 400, "invalid_json"},
		{"POST", "/api/v1/sockets/disconnect", `{"userId":"a","namespace":"/nope"}`, 404, "unknown_namespace"},
		{"POST", "/api/v1/sockets/rooms", `{"userId":"a","join":["` + strings.Repeat("r", 70<<10) + `"]}`, 413, "body_too_large"},
	})
}
