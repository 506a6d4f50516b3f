package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// tokenAt mints a token issued at iat.
func tokenAt(t *testing.T, id string, iat time.Time) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": id, "name": id, "roles": []string{"user"},
		"iat": iat.Unix(), "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Revocation on a 2-node cluster: the user's sockets on both nodes are
// told and disconnected; tokens issued before are refused by both nodes,
// and by a node started afterwards; newer tokens and other users pass.
func TestClusterRevokeSessions(t *testing.T) {
	a, b := cluster(t)
	onA, _ := a.connect("alice", "Alice", "/")
	onB, _ := b.connect("alice", "Alice", "/chat")
	bob, _ := b.connect("bob", "Bob", "/")
	old := token("alice", "Alice")

	code, res := a.call("POST", "/api/v1/users/alice/revoke", nil)
	if code != 200 || res["ok"] != true {
		t.Fatalf("%d %v", code, res)
	}
	at, err := time.Parse(time.RFC3339, res["revokedAt"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if got := next(t, onA, `42["auth:revoked"`); !strings.Contains(got, "Session revoked") {
		t.Fatal(got)
	}
	next(t, onA, `41`)
	next(t, onB, `42/chat,["auth:revoked"`)
	next(t, onB, `41/chat,`)
	none(t, bob, `41`, 100*time.Millisecond)

	late := start(t, a.env) // reads the revocation from the store
	for _, n := range []*node{a, b, late} {
		c := dial(n)
		c.Send(`40{"token":"` + old + `"}`)
		if got := next(t, c, `44`); !strings.Contains(got, `"message":"Invalid token"`) || !strings.Contains(got, `"reason":"revoked"`) {
			t.Fatal(got)
		}
		// A token issued after the revocation's second is welcome.
		c.Send(`40{"token":"` + tokenAt(t, "alice", at.Truncate(time.Second).Add(time.Second)) + `"}`)
		next(t, c, `40{"sid"`)
	}
	if code, res := b.call("POST", "/api/v1/users/alice/revoke", nil); code != 200 {
		t.Fatalf("again: %d %v", code, res)
	}
}

func TestRevokeRejectsBadInput(t *testing.T) {
	n := start(t, nil)
	n.expectErrors([]badCase{
		{"POST", "/api/v1/users/" + strings.Repeat("u", 129) + "/revoke", ``, 400, "invalid_field"},
		{"GET", "/api/v1/users/alice/revoke", ``, 405, "method_not_allowed"},
	})
	status, res := n.bad("POST", "/api/v1/users/alice/revoke", "", map[string]string{"Authorization": "Bearer nope"})
	if status != 401 || res["error"].(map[string]any)["code"] != "unauthorized" {
		t.Fatalf("%d %v", status, res)
	}
}
