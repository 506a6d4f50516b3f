package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/test/support"
)

// A node that never hears of a revocation (no Redis between the two, only
// the database) still refuses the old token and disconnects the user's
// sockets once it reloads the revocations.
func TestRevocationReachesANodeThatMissedIt(t *testing.T) {
	env := map[string]string{
		"HERALD_JWT_SECRET":   "revoke-secret-revoke-secret-revoke",
		"HERALD_DATABASE_URL": support.PostgresURL(t),
	}
	start := func() (*Service, string) {
		svc, url := newTestServiceWith(t, env, func(c *Config) { c.revocationReload = 20 * time.Millisecond })
		return svc, url
	}
	a, _ := start()
	_, bURL := start()
	tok, _ := auth.Mint([]byte(env["HERALD_JWT_SECRET"]), auth.User{ID: "eve", Name: "Eve"}, time.Hour)
	onB := support.Dial(t, bURL, "/socket.io/")
	onB.Connect("/", `{"token":"`+tok+`"}`)

	if _, err := a.Revoke(context.Background(), "eve"); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		f := onB.Next()
		if strings.HasPrefix(string(f.Data), `42["auth:revoked"`) {
			break
		}
		if i > 50 {
			t.Fatal("node B never disconnected the revoked user")
		}
	}
	onB.Expect(`41`)
	again := support.Dial(t, bURL, "/socket.io/")
	again.Send(`40{"token":"` + tok + `"}`)
	again.Expect(`44{"message":"Invalid token"`)
}
