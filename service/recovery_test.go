package service

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/test/support"
)

// skipTo reads frames until one starts with prefix.
func skipTo(t *testing.T, c *support.Conn, prefix string) string {
	t.Helper()
	for i := 0; i < 100; i++ {
		f := c.Next()
		if strings.HasPrefix(string(f.Data), prefix) {
			return string(f.Data)
		}
	}
	t.Fatalf("no frame starting with %s", prefix)
	return ""
}

// tokenExpiringAt signs an HS256 token for sub that expires at exp.
func tokenExpiringAt(t *testing.T, secret, sub string, exp time.Time) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject: sub, IssuedAt: jwt.NewNumericDate(exp.Add(-2 * time.Hour)), ExpiresAt: jwt.NewNumericDate(exp),
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// connectAnswer returns the CONNECT or CONNECT_ERROR answer for nsp.
func connectAnswer(t *testing.T, c *support.Conn, nsp string) string {
	t.Helper()
	for i := 0; i < 100; i++ {
		f := string(c.Next().Data)
		if strings.HasPrefix(f, "40"+nsp+",") || strings.HasPrefix(f, "44"+nsp+",") {
			return f
		}
	}
	t.Fatalf("no answer to CONNECT %s", nsp)
	return ""
}

var (
	pidRe    = regexp.MustCompile(`"pid":"([^"]+)"`)
	sidRe    = regexp.MustCompile(`"sid":"([^"]+)"`)
	offsetRe = regexp.MustCompile(`,"([^"]+)"\]$`)
)

// A recovered session keeps its user on every adapter: the chat answers
// as before the drop, on the same node and (streams) on another one. The
// token is verified again: a garbage or expired one is refused.
func TestRecoveredSessionKeepsItsUser(t *testing.T) {
	const secret = "recovery-secret-recovery-secret-recovery"
	for _, tt := range []struct {
		adapter   string
		crossNode bool
	}{
		{adapter: ""}, // in-memory, single node
		{adapter: "pubsub"},
		{adapter: "sharded"},
		{adapter: "streams", crossNode: true},
		{adapter: "streams-only", crossNode: true},
	} {
		name := tt.adapter
		if name == "" {
			name = "memory"
		}
		t.Run(name, func(t *testing.T) {
			env := map[string]string{"HERALD_JWT_SECRET": secret, "HERALD_API_KEY": "k"}
			if tt.adapter != "" {
				env["HERALD_REDIS_URL"] = support.RedisURL()
				env["HERALD_REDIS_ADAPTER"] = tt.adapter
				env["HERALD_REDIS_PREFIX"] = support.UniqueKey()
				env["HERALD_DATABASE_URL"] = t.TempDir() + "/shared.db"
			}
			_, urlA := newTestService(t, env)
			urlB := urlA
			if tt.crossNode {
				_, urlB = newTestService(t, env)
			}
			tok, _ := auth.Mint([]byte(secret), auth.User{ID: "alice", Name: "Alice", Roles: []string{"user"}}, time.Hour)
			expired := tokenExpiringAt(t, secret, "alice", time.Now().Add(-time.Hour))

			// Alice joins, receives a broadcast (its offset), and drops.
			a := support.Dial(t, urlA, "/socket.io/")
			a.Send(`40/chat,{"token":"` + tok + `"}`)
			hello := skipTo(t, a, `40/chat,`)
			sid, pid := sidRe.FindStringSubmatch(hello)[1], pidRe.FindStringSubmatch(hello)[1]
			a.Send(`42/chat,1["join-room","general"]`)
			skipTo(t, a, `43/chat,1`)
			a.Send(`42/chat,2["send-message",{"roomId":"general","content":"before"}]`)
			msg := skipTo(t, a, `42/chat,["new-message"`)
			m := offsetRe.FindStringSubmatch(msg)
			if m == nil {
				t.Fatalf("broadcast without an offset: %s", msg)
			}
			offset := m[1]
			skipTo(t, a, `43/chat,2`)
			a.Close()
			time.Sleep(200 * time.Millisecond) // the server notices the drop

			b := support.Dial(t, urlB, "/socket.io/")
			b.Send(`40/chat,{"token":"` + tok + `","pid":"` + pid + `","offset":"` + offset + `"}`)
			back := skipTo(t, b, `40/chat,`)
			if got := sidRe.FindStringSubmatch(back)[1]; got != sid {
				t.Fatalf("not recovered: sid %s, was %s (%s)", got, sid, back)
			}
			b.Send(`42/chat,3["send-message",{"roomId":"general","content":"after"}]`)
			if ack := skipTo(t, b, `43/chat,3`); !strings.Contains(ack, `"author":{"id":"alice","name":"Alice"}`) {
				t.Fatalf("send-message after recovery: %s", ack)
			}
			b.Send(`42/chat,4["rooms:list"]`)
			if ack := skipTo(t, b, `43/chat,4`); strings.Contains(ack, `"error"`) {
				t.Fatalf("rooms:list after recovery: %s", ack)
			}
			b.Close()
			time.Sleep(200 * time.Millisecond)

			// A garbage token does not recover the session, nor does an
			// expired one.
			for _, bad := range []string{"garbage", expired} {
				x := support.Dial(t, urlB, "/socket.io/")
				x.Send(`40/chat,{"token":"` + bad + `","pid":"` + pid + `","offset":"` + offset + `"}`)
				if got := connectAnswer(t, x, "/chat"); got != `44/chat,{"message":"Invalid token"}` {
					t.Fatalf("recovery with token %.10s…: %s", bad, got)
				}
				x.Close()
			}
		})
	}
}
