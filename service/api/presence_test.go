package api_test

import (
	"fmt"
	"testing"
)

func TestPresence(t *testing.T) {
	n := start(t, nil)
	for _, id := range []string{"u1", "u2", "u3"} {
		n.connect(id, "User "+id, "/")
	}
	chat, _ := n.connect("u2", "User u2", "/chat")
	chat.Send(`42/chat,1["join-room","general"]`)
	next(t, chat, `43/chat,1`)

	code, res := n.call("GET", "/api/v1/presence?limit=2", nil)
	users, _ := res["users"].([]any)
	if code != 200 || len(users) != 2 || res["total"] != 3.0 || res["nextCursor"] != "u2" ||
		users[0].(map[string]any)["userId"] != "u1" || users[0].(map[string]any)["status"] != "online" {
		t.Fatalf("%d %v", code, res)
	}
	code, res = n.call("GET", "/api/v1/presence?limit=2&after=u2", nil)
	if users, _ := res["users"].([]any); code != 200 || len(users) != 1 || res["nextCursor"] != nil {
		t.Fatalf("%d %v", code, res)
	}

	code, res = n.call("GET", "/api/v1/users/u1/presence", nil)
	if devices, _ := res["devices"].([]any); code != 200 || res["status"] != "online" || res["name"] != "User u1" || len(devices) != 1 {
		t.Fatalf("%d %v", code, res)
	}
	code, res = n.call("GET", "/api/v1/rooms/general/presence", nil)
	if users, _ := res["users"].([]any); code != 200 || len(users) != 1 || users[0].(map[string]any)["userId"] != "u2" {
		t.Fatalf("%d %v", code, res)
	}

	// Offline after the grace: status offline, last seen kept.
	n.call("POST", "/api/v1/sockets/disconnect", `{"userId":"u3"}`)
	waitFor(t, func() bool {
		_, res := n.call("GET", "/api/v1/users/u3/presence", nil)
		return res["status"] == "offline" && fmt.Sprint(res["devices"]) == "[]"
	})
	n.expectErrors([]badCase{
		{"GET", "/api/v1/users/ghost/presence", ``, 404, "user_not_found"},
		{"GET", "/api/v1/rooms/nope/presence", ``, 404, "room_not_found"},
		{"GET", "/api/v1/presence?limit=101", ``, 400, "invalid_field"},
		{"GET", "/api/v1/presence?limit=-1", ``, 400, "invalid_field"},
	})
}
