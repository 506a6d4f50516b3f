package api_test

import (
	"strings"
	"testing"
	"time"
)

func TestChatRoomsMessagesMembers(t *testing.T) {
	n := start(t, nil)
	alice, _ := n.connect("alice", "Alice", "/chat")
	alice.Send(`42/chat,1["join-room","general"]`)
	next(t, alice, `43/chat,1`)
	bob, _ := n.connect("bob", "Bob", "/chat")

	// A system message and one on behalf of Alice, broadcast as
	// send-message's are.
	code, res := n.call("POST", "/api/v1/rooms/general/messages", `{"content":"  maintenance at six  "}`)
	if code != 201 || res["message"].(map[string]any)["content"] != "maintenance at six" {
		t.Fatalf("%d %v", code, res)
	}
	got := next(t, alice, `42/chat,["new-message"`)
	if !strings.Contains(got, `"author":{"id":"system","name":"System"}`) || !strings.Contains(got, `"content":"maintenance at six"`) {
		t.Fatal(got)
	}
	code, res = n.call("POST", "/api/v1/rooms/general/messages", `{"content":"hi from the backend","userId":"alice"}`)
	if code != 201 {
		t.Fatalf("%d %v", code, res)
	}
	if got := next(t, alice, `42/chat,["new-message"`); !strings.Contains(got, `"author":{"id":"alice","name":"Alice"}`) {
		t.Fatal(got)
	}

	// A private room made for an order; Bob is invited, then removed.
	code, res = n.call("POST", "/api/v1/rooms", `{"id":"order-42","name":"Order 42","public":false,"createdBy":"alice"}`)
	if room, _ := res["room"].(map[string]any); code != 201 || room["id"] != "order-42" || room["public"] != false || room["createdBy"] != "alice" {
		t.Fatalf("%d %v", code, res)
	}
	if code, res := n.call("GET", "/api/v1/rooms/order-42", nil); code != 200 || res["room"].(map[string]any)["name"] != "Order 42" {
		t.Fatalf("%d %v", code, res)
	}
	code, res = n.call("POST", "/api/v1/rooms", `{"name":"no id given"}`)
	if room, _ := res["room"].(map[string]any); code != 201 || room["id"] == "" || room["public"] != true {
		t.Fatalf("%d %v", code, res)
	}
	if code, res := n.call("POST", "/api/v1/rooms/order-42/messages", `{"content":"x","userId":"bob","name":"Bob"}`); code != 403 {
		t.Fatalf("non-member posted: %d %v", code, res)
	}
	if code, res := n.call("PUT", "/api/v1/rooms/order-42/members/bob", nil); code != 200 {
		t.Fatalf("%d %v", code, res)
	}
	if code, res := n.call("PUT", "/api/v1/rooms/order-42/members/bob", nil); code != 200 {
		t.Fatalf("again: %d %v", code, res)
	}
	n.call("POST", "/api/v1/rooms/order-42/messages", `{"content":"welcome","userId":"bob"}`)
	if got := next(t, bob, `42/chat,["new-message"`); !strings.Contains(got, `"content":"welcome"`) || !strings.Contains(got, `"name":"Bob"`) {
		t.Fatal(got)
	}
	// Bob may now join it from his client.
	bob.Send(`42/chat,2["join-room","order-42"]`)
	if ack := next(t, bob, `43/chat,2`); !strings.Contains(ack, `"ok":true`) {
		t.Fatal(ack)
	}
	if code, res := n.call("DELETE", "/api/v1/rooms/order-42/members/bob", nil); code != 200 {
		t.Fatalf("%d %v", code, res)
	}
	n.call("POST", "/api/v1/rooms/order-42/messages", `{"content":"after bob left"}`)
	none(t, bob, `42/chat,["new-message"`, 150*time.Millisecond)
	bob.Send(`42/chat,3["join-room","order-42"]`)
	if ack := next(t, bob, `43/chat,3`); !strings.Contains(ack, `Access denied`) {
		t.Fatal(ack)
	}

	// History, paged.
	code, res = n.call("GET", "/api/v1/rooms/general/messages?limit=1", nil)
	msgs, _ := res["messages"].([]any)
	if code != 200 || len(msgs) != 1 || msgs[0].(map[string]any)["content"] != "hi from the backend" || res["nextCursor"] == nil {
		t.Fatalf("%d %v", code, res)
	}
	code, res = n.call("GET", "/api/v1/rooms/general/messages?limit=100&before="+res["nextCursor"].(string), nil)
	if msgs, _ := res["messages"].([]any); code != 200 || len(msgs) != 1 || res["nextCursor"] != nil {
		t.Fatalf("%d %v", code, res)
	}

	// A backend's retry of a post with a clientId is stored and broadcast
	// once, and answered 200 with the first message.
	code, first := n.call("POST", "/api/v1/rooms/general/messages", `{"content":"order shipped","clientId":"evt-17"}`)
	if code != 201 {
		t.Fatalf("%d %v", code, first)
	}
	next(t, alice, `42/chat,["new-message"`)
	code, again := n.call("POST", "/api/v1/rooms/general/messages", `{"content":"order shipped","clientId":"evt-17"}`)
	if code != 200 || again["message"].(map[string]any)["id"] != first["message"].(map[string]any)["id"] {
		t.Fatalf("retry: %d %v (first %v)", code, again, first)
	}
	alice.ExpectNothing(200 * time.Millisecond) // not broadcast again
}

func TestChatRejectsBadInput(t *testing.T) {
	n := start(t, nil)
	n.call("POST", "/api/v1/rooms", `{"id":"taken","name":"Taken"}`)
	n.expectErrors([]badCase{
		{"POST", "/api/v1/rooms", `{"name":""}`, 400, "invalid_field"},
		{"POST", "/api/v1/rooms", `{"name":"` + strings.Repeat("n", 65) + `"}`, 400, "invalid_field"},
		{"POST", "/api/v1/rooms", `{"name":"x","public":"yes"}`, 400, "invalid_type"},
		{"POST", "/api/v1/rooms", `{"name":"x","owner":"a"}`, 400, "unknown_field"},
		{"POST", "/api/v1/rooms", `{"id":"taken","name":"Again"}`, 409, "room_exists"},
		{"POST", "/api/v1/rooms", `{"id":"","name":"x"}`, 400, "invalid_field"},
		{"GET", "/api/v1/rooms/nope", ``, 404, "room_not_found"},
		{"GET", "/api/v1/rooms/nope/messages", ``, 404, "room_not_found"},
		{"GET", "/api/v1/rooms/general/messages?limit=0", ``, 400, "invalid_field"},
		{"GET", "/api/v1/rooms/general/messages?limit=abc", ``, 400, "invalid_field"},
		{"GET", "/api/v1/rooms/general/messages?before=not-a-cursor", ``, 400, "invalid_field"},
		{"POST", "/api/v1/rooms/nope/messages", `{"content":"x"}`, 404, "room_not_found"},
		{"POST", "/api/v1/rooms/general/messages", `{}`, 400, "invalid_field"},
		{"POST", "/api/v1/rooms/general/messages", `{"content":"   "}`, 400, "invalid_field"},
		{"POST", "/api/v1/rooms/general/messages", `{"content":"` + strings.Repeat("x", 4001) + `"}`, 400, "invalid_field"},
		{"POST", "/api/v1/rooms/general/messages", `{"content":5}`, 400, "invalid_type"},
		{"POST", "/api/v1/rooms/general/messages", `{"content":"x","author":"me"}`, 400, "unknown_field"},
		{"POST", "/api/v1/rooms/general/messages", `{"content":"x","userId":"ghost"}`, 404, "user_not_found"},
		{"POST", "/api/v1/rooms/general/messages", `{"content":"x","name":""}`, 400, "invalid_field"},
		{"POST", "/api/v1/rooms/general/messages", `{"content":"x","clientId":""}`, 400, "invalid_field"},
		{"POST", "/api/v1/rooms/general/messages", `{"content":"x","clientId":"` + strings.Repeat("c", 129) + `"}`, 400, "invalid_field"},
		{"POST", "/api/v1/rooms/general/messages", `{"content":"x","clientId":7}`, 400, "invalid_type"},
		{"POST", "/api/v1/rooms/general/messages", `{"content":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "body_too_large"},
		{"PUT", "/api/v1/rooms/nope/members/bob", ``, 404, "room_not_found"},
		{"DELETE", "/api/v1/rooms/nope/members/bob", ``, 404, "room_not_found"},
		{"PUT", "/api/v1/rooms/general/members/" + strings.Repeat("u", 129), ``, 400, "invalid_field"},
	})
}
