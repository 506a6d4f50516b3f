package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldio/herald/internal/auth"
	"github.com/heraldio/herald/internal/siotest"
)

// Two nodes sharing Redis and PostgreSQL: chat, presence and
// notifications cross between them.
func TestClusterOfTwoNodes(t *testing.T) {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	schema := "herald_cluster_" + hex.EncodeToString(b)
	pg, err := pgx.Connect(context.Background(), "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	if err != nil {
		t.Fatal("postgres:", err)
	}
	if _, err := pg.Exec(context.Background(), "create schema "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = pg.Exec(context.Background(), "drop schema "+schema+" cascade")
		pg.Close(context.Background())
	})
	env := map[string]string{
		"HERALD_JWT_SECRET":   "cluster-secret-cluster-secret-cluster",
		"HERALD_API_KEY":      "cluster-key",
		"HERALD_REDIS_URL":    "redis://127.0.0.1:6379/0",
		"HERALD_DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test?sslmode=disable&search_path=" + schema,
	}
	_, hsA := newTestService(t, env)
	_, hsB := newTestService(t, env)
	tok := func(id, name string) string {
		s, _ := auth.Mint([]byte(env["HERALD_JWT_SECRET"]), auth.User{ID: id, Name: name, Roles: []string{"user"}}, time.Hour)
		return s
	}
	skipTo := func(c *siotest.Conn, prefix string) string {
		t.Helper()
		for i := 0; i < 50; i++ {
			f := c.Next()
			if strings.HasPrefix(string(f.Data), prefix) {
				return string(f.Data)
			}
		}
		t.Fatalf("no frame starting with %s", prefix)
		return ""
	}
	// Alice on node A, Bob on node B, both in the chat room.
	alice := siotest.Dial(t, hsA.URL, "/socket.io/")
	alice.Connect("/", `{"token":"`+tok("alice", "Alice")+`"}`)
	alice.Send(`40/chat,{"token":"` + tok("alice", "Alice") + `"}`)
	skipTo(alice, `40/chat,`)
	bob := siotest.Dial(t, hsB.URL, "/socket.io/")
	bob.Connect("/", `{"token":"`+tok("bob", "Bob")+`"}`)
	list := skipTo(bob, `42["presence:list"`)
	if !strings.Contains(list, `"userId":"alice"`) {
		t.Fatalf("node B does not see Alice online: %s", list)
	}
	bob.Send(`40/chat,{"token":"` + tok("bob", "Bob") + `"}`)
	skipTo(bob, `40/chat,`)
	alice.Send(`42/chat,1["join-room","general"]`)
	skipTo(alice, `43/chat,1`)
	bob.Send(`42/chat,1["join-room","general"]`)
	skipTo(bob, `43/chat,1`)
	alice.Send(`42/chat,2["send-message",{"roomId":"general","content":"across nodes"}]`)
	msg := skipTo(bob, `42/chat,["new-message"`)
	if !strings.Contains(msg, `"content":"across nodes"`) {
		t.Fatalf("message: %s", msg)
	}
	// A notification sent through node A's API reaches Bob on node B.
	req, _ := http.NewRequest("POST", hsA.URL+"/api/notifications", strings.NewReader(`{"userId":"bob","type":"t","title":"from A","message":""}`))
	req.Header.Set("Authorization", "Bearer cluster-key")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 202 {
		t.Fatalf("notify: %v %v", res, err)
	}
	res.Body.Close()
	if n := skipTo(bob, `42["notification"`); !strings.Contains(n, `"title":"from A"`) {
		t.Fatalf("notification: %s", n)
	}
	// History is shared through PostgreSQL.
	bob.Send(`42/chat,3["history",{"roomId":"general"}]`)
	if h := skipTo(bob, `43/chat,3`); !strings.Contains(h, "across nodes") {
		t.Fatalf("history on B: %s", h)
	}
}
