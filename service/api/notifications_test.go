package api_test

import (
	"strings"
	"testing"

	"github.com/heraldio/herald/test/support"
)

// The first API goes on as it was, and matches the document.
func TestLegacyNotifications(t *testing.T) {
	n := start(t, nil)
	alice, _ := n.connect("alice", "Alice", "/")
	code, res := n.call("POST", "/api/notifications", `{"userId":"alice","type":"order","title":"Shipped","message":"#42"}`)
	if code != 202 || res["count"] != 1.0 {
		t.Fatalf("%d %v", code, res)
	}
	if got := next(t, alice, `42["notification"`); !strings.Contains(got, `"title":"Shipped"`) {
		t.Fatal(got)
	}
	for _, tt := range []struct {
		body, key string
		status    int
	}{
		{`{"userId":"alice","type":"t","title":"x"}`, "Bearer wrong", 401},
		{`{"type":"t","title":"x"}`, "Bearer " + testKey, 400},
		{`{"userId":"alice","type":"t","title":"x","extra":1}`, "Bearer " + testKey, 400},
	} {
		status, res := n.bad("POST", "/api/notifications", tt.body, map[string]string{"Authorization": tt.key})
		if status != tt.status {
			t.Errorf("%s: %d %v", tt.body, status, res)
		}
	}
}

// Sent, listed and marked read through the API; the user's tabs see the
// read state change as they do for notifications:read.
func TestNotificationsReadState(t *testing.T) {
	n := start(t, nil)
	tab1, _ := n.connect("alice", "Alice", "/")
	tab2, _ := n.connect("alice", "Alice", "/")
	code, res := n.call("POST", "/api/v1/notifications", `{"userIds":["alice","bob"],"type":"order","title":"Shipped","message":"#42"}`)
	if code != 202 || res["count"] != 2.0 {
		t.Fatalf("%d %v", code, res)
	}
	for _, tab := range []*support.Conn{tab1, tab2} {
		next(t, tab, `42["notification"`)
	}
	n.call("POST", "/api/v1/notifications", `{"userId":"alice","type":"order","title":"Delivered"}`)
	code, res = n.call("GET", "/api/v1/users/alice/notifications", nil)
	list, _ := res["notifications"].([]any)
	if code != 200 || len(list) != 2 || res["unreadCount"] != 2.0 || list[0].(map[string]any)["title"] != "Delivered" {
		t.Fatalf("%d %v", code, res)
	}
	id := list[1].(map[string]any)["id"].(string)
	if code, res := n.call("POST", "/api/v1/users/alice/notifications/"+id+"/read", nil); code != 200 {
		t.Fatalf("%d %v", code, res)
	}
	for _, tab := range []*support.Conn{tab1, tab2} {
		if got := next(t, tab, `42["notifications:state"`); !strings.HasPrefix(got, `42["notifications:state",{"read":["`+id+`"]}`) {
			t.Fatal(got)
		}
	}
	if _, res := n.call("GET", "/api/v1/users/alice/notifications", nil); res["unreadCount"] != 1.0 {
		t.Fatalf("%v", res)
	}
	// Bob's notification is not Alice's to read.
	_, bobs := n.call("GET", "/api/v1/users/bob/notifications", nil)
	bobID := bobs["notifications"].([]any)[0].(map[string]any)["id"].(string)
	if status, res := n.bad("POST", "/api/v1/users/alice/notifications/"+bobID+"/read", "", nil); status != 404 ||
		res["error"].(map[string]any)["code"] != "notification_not_found" {
		t.Fatalf("%d %v", status, res)
	}
	code, res = n.call("POST", "/api/v1/users/alice/notifications/read-all", nil)
	if code != 200 || res["count"] != 1.0 {
		t.Fatalf("%d %v", code, res)
	}
	for _, tab := range []*support.Conn{tab1, tab2} {
		if got := next(t, tab, `42["notifications:state"`); !strings.HasPrefix(got, `42["notifications:state",{"all":true}`) {
			t.Fatal(got)
		}
	}
	if code, res := n.call("GET", "/api/v1/users/nobody/notifications", nil); code != 200 || res["unreadCount"] != 0.0 {
		t.Fatalf("%d %v", code, res)
	}
}

func TestNotificationsRejectBadInput(t *testing.T) {
	n := start(t, nil)
	n.expectErrors([]badCase{
		{"POST", "/api/v1/notifications", `{"type":"t","title":"x"}`, 400, "invalid_target"},
		{"POST", "/api/v1/notifications", `{"userId":"a","role":"r","type":"t","title":"x"}`, 400, "invalid_target"},
		{"POST", "/api/v1/notifications", `{"userId":"a","type":"t"}`, 400, "invalid_field"},
		{"POST", "/api/v1/notifications", `{"userId":"a","type":"t","title":"` + strings.Repeat("x", 201) + `"}`, 400, "invalid_field"},
		{"POST", "/api/v1/notifications", `{"userId":"a","type":"t","title":"x","extra":1}`, 400, "unknown_field"},
		{"POST", "/api/v1/notifications", `{"userId":1,"type":"t","title":"x"}`, 400, "invalid_type"},
		{"POST", "/api/v1/notifications", `{"userId":"a",`, 400, "invalid_json"},
		{"POST", "/api/v1/notifications", `{"userId":"a","type":"t","title":"x","message":"` + strings.Repeat("m", 70<<10) + `"}`, 413, "body_too_large"},
		{"POST", "/api/v1/users/alice/notifications/nope/read", ``, 404, "notification_not_found"},
		{"POST", "/api/v1/users/" + strings.Repeat("u", 129) + "/notifications/read-all", ``, 400, "invalid_field"},
	})
}
