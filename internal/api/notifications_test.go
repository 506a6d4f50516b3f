package api_test

import (
	"strings"
	"testing"
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
