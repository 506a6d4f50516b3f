package service

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/test/support"
)

// pgClusterEnv is the environment of nodes meeting through PostgreSQL
// alone: a schema of their own, and a prefix of their own for the
// notification channels (which are the whole database's).
func pgClusterEnv(t testing.TB) map[string]string {
	t.Helper()
	env := clusterEnv(t)
	delete(env, "HERALD_REDIS_URL")
	delete(env, "HERALD_REDIS_PREFIX")
	env["HERALD_CLUSTER"] = "postgres"
	env["HERALD_POSTGRES_PREFIX"] = strings.ReplaceAll(support.UniqueKey(), "-", "_")
	return env
}

// fastPresence makes a dead or closed node's users go offline on the
// others within a few seconds (writes every second, each bounded by it:
// shorter fails on a loaded machine).
func fastPresence(c *Config) { c.presenceTTL = 3 * time.Second }

// The Redis cluster's cross-node tests, on PostgreSQL alone: chat,
// presence (Bob on B sees Alice on A), a notification through node A's
// API, history; DMs opened at once from both nodes; polling without
// affinity (the route registry).
func TestPostgresClusterOfTwoNodes(t *testing.T) { testClusterOfTwoNodes(t, pgClusterEnv(t)) }
func TestPostgresClusterDirectMessages(t *testing.T) {
	testDirectMessagesAcrossNodes(t, pgClusterEnv(t))
}
func TestPostgresClusterPollingForward(t *testing.T) { testPollingWithoutAffinity(t, pgClusterEnv(t)) }

// HERALD_CLUSTER: the default follows HERALD_REDIS_URL as before; postgres
// needs a PostgreSQL store and no Redis URL; bad values and prefixes are
// errors naming the setting.
func TestClusterSetting(t *testing.T) {
	const pg, redisURL = "postgres://h/db", "redis://127.0.0.1:6379/0"
	for _, tc := range []struct {
		env  map[string]string
		mode string // "" : an error containing err
		err  string
	}{
		{env: nil, mode: "none"},
		{env: map[string]string{"HERALD_REDIS_URL": redisURL}, mode: "redis"},
		{env: map[string]string{"HERALD_CLUSTER": "redis", "HERALD_REDIS_URL": redisURL}, mode: "redis"},
		{env: map[string]string{"HERALD_CLUSTER": "postgres", "HERALD_DATABASE_URL": pg}, mode: "postgres"},
		{env: map[string]string{"HERALD_CLUSTER": "postgres", "HERALD_DATABASE_URL": "postgresql://h/db", "HERALD_POSTGRES_PREFIX": "herald_2"}, mode: "postgres"},
		{env: map[string]string{"HERALD_CLUSTER": "none"}, mode: "none"},
		{env: map[string]string{"HERALD_CLUSTER": "Redis"}, err: `HERALD_CLUSTER: "Redis": want one of none, redis, postgres`},
		{env: map[string]string{"HERALD_CLUSTER": "nats"}, err: `HERALD_CLUSTER: "nats"`},
		{env: map[string]string{"HERALD_CLUSTER": "postgres"}, err: "HERALD_CLUSTER: postgres needs the store in PostgreSQL"},
		{env: map[string]string{"HERALD_CLUSTER": "postgres", "HERALD_DATABASE_URL": "/var/lib/herald.db"}, err: "not /var/lib/herald.db"},
		{env: map[string]string{"HERALD_CLUSTER": "postgres", "HERALD_DATABASE_URL": "postgres://u:secret@h/db", "HERALD_REDIS_URL": redisURL},
			err: "HERALD_CLUSTER: postgres uses no Redis, but HERALD_REDIS_URL is set"},
		{env: map[string]string{"HERALD_CLUSTER": "none", "HERALD_REDIS_URL": redisURL}, err: "none uses no Redis"},
		{env: map[string]string{"HERALD_CLUSTER": "redis"}, err: "HERALD_CLUSTER: redis needs a Redis URL"},
		{env: map[string]string{"HERALD_CLUSTER": "postgres", "HERALD_DATABASE_URL": pg, "HERALD_POSTGRES_PREFIX": "Herald"}, err: "HERALD_POSTGRES_PREFIX"},
		{env: map[string]string{"HERALD_CLUSTER": "postgres", "HERALD_DATABASE_URL": pg, "HERALD_POSTGRES_PREFIX": "a-b"}, err: "HERALD_POSTGRES_PREFIX"},
		{env: map[string]string{"HERALD_CLUSTER": "postgres", "HERALD_DATABASE_URL": pg, "HERALD_POSTGRES_PREFIX": "1x"}, err: "HERALD_POSTGRES_PREFIX"},
		{env: map[string]string{"HERALD_CLUSTER": "postgres", "HERALD_DATABASE_URL": pg, "HERALD_POSTGRES_PREFIX": strings.Repeat("a", 41)}, err: "HERALD_POSTGRES_PREFIX"},
	} {
		env := testEnv(t.TempDir())(tc.env)
		c, err := Check(nil, env)
		switch {
		case tc.err == "" && (err != nil || c.ClusterMode() != tc.mode):
			t.Errorf("%v: mode %q, %v; want %s", tc.env, c.ClusterMode(), err, tc.mode)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%v: %v, want an error with %q", tc.env, err, tc.err)
		case err != nil && strings.Contains(err.Error(), "secret"):
			t.Errorf("%v: the error shows the password: %v", tc.env, err)
		}
	}
	// The config file's key and the flag.
	file := writeConfig(t, "cluster: postgres\ndatabase-url: postgres://h/db\npostgres-prefix: hc\n")
	c, err := Check([]string{"-config", file}, func(string) string { return "" })
	if err != nil || c.ClusterMode() != "postgres" || c.PostgresPrefix != "hc" {
		t.Fatalf("from the file: %q %q %v", c.ClusterMode(), c.PostgresPrefix, err)
	}
	if _, err := Check([]string{"-config", writeConfig(t, "cluster: pg\n")}, func(string) string { return "" }); err == nil ||
		!strings.Contains(err.Error(), "line 1: cluster") {
		t.Fatalf("a bad value in the file: %v", err)
	}
	if _, err := Check([]string{"-cluster=postgres"}, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "-cluster: postgres needs") {
		t.Fatalf("the flag without a PostgreSQL store: %v", err)
	}
}

// Presence on PostgreSQL alone: Alice on node A is seen by Bob on node B
// (the event, a page, the API), her status change reaches him, and when
// node A closes she goes offline for him; a node killed (its presence row
// left to expire) loses its users the same way.
func TestPostgresClusterPresence(t *testing.T) {
	env := pgClusterEnv(t)
	svcA, urlA := newTestServiceWith(t, env, fastPresence)
	svcB, urlB := newTestServiceWith(t, env, fastPresence)
	svcC, urlC := newTestServiceWith(t, env, fastPresence)
	waitCluster(t, svcA, svcB, svcC)
	tok := func(id string) string {
		s, _ := auth.Mint([]byte(env["HERALD_JWT_SECRET"]), auth.User{ID: id, Name: id, Roles: []string{"user"}}, time.Hour)
		return s
	}
	dial := func(url, id string) *support.Conn {
		c := support.Dial(t, url, "/socket.io/")
		c.Connect("/", `{"token":"`+tok(id)+`","presence":"changes"}`)
		return c
	}
	bob := dial(urlB, "bob")
	st := map[string]string{}
	waitPresence(t, bob, st, has(map[string]string{"bob": "online"}))
	alice := dial(urlA, "alice")
	dial(urlC, "cid")
	waitPresence(t, bob, st, has(map[string]string{"alice": "online", "cid": "online"}))
	ack(t, alice, "/", 1, `["presence:status","busy"]`)
	waitPresence(t, bob, st, has(map[string]string{"alice": "busy"}))
	for n, deadline := 1, time.Now().Add(10*time.Second); ; n++ {
		users, _ := page(t, bob, n, `{}`)
		if ids := userIDs(users); strings.Join(ids, ",") == "alice,bob,cid" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("bob's page on B: %v", ids)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := httpDo(t, "GET", urlB+"/api/v1/users/alice/presence", "", map[string][]string{"Authorization": {"Bearer cluster-key"}}); code != 200 ||
		!strings.Contains(body, `"status":"busy"`) {
		t.Fatalf("node B's API on alice: %d %s", code, body)
	}

	// Node A closes: its users go offline on B.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := svcA.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	gone := func(id string) func(map[string]string) bool {
		return func(st map[string]string) bool { _, on := st[id]; return !on }
	}
	waitPresence(t, bob, st, gone("alice"))

	// Node C dies: its presence row stays until it expires (the tracker
	// abandoned as a crash leaves it), then cid goes offline on B too.
	svcC.presence.(interface{ Abandon() }).Abandon()
	waitPresence(t, bob, st, gone("cid"))
	if _, on := st["bob"]; !on || len(st) != 1 {
		t.Fatalf("bob's view at the end: %v", st)
	}
}

// The adapter's LISTEN connection killed on the server
// (pg_terminate_backend): node A listens again on a new connection, and
// chat messages and notifications from node B reach its users again.
func TestPostgresClusterListenerKilled(t *testing.T) {
	env := pgClusterEnv(t)
	env["HERALD_LOG_LEVEL"] = "error" // the adapter warns of the lost connection
	svcA, urlA := newTestService(t, env)
	svcB, urlB := newTestService(t, env)
	waitCluster(t, svcA, svcB)
	secret := env["HERALD_JWT_SECRET"]
	alice := dialChat(t, urlA, secret, "alice", "Alice")
	bob := dialChat(t, urlB, secret, "bob", "Bob")
	for _, c := range []*chatClient{alice, bob} {
		if ack := c.call("join-room", `"general"`); !strings.Contains(ack, `"ok":true`) {
			t.Fatalf("join: %s", ack)
		}
	}
	bob.call("send-message", `{"roomId":"general","content":"before"}`)
	alice.waitEvent(`"new-message"`, `"before"`)

	ctx := context.Background()
	admin, err := pgx.Connect(ctx, env["HERALD_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	listener := func() int {
		var pid int
		err := admin.QueryRow(ctx, `SELECT COALESCE(max(pid), 0) FROM pg_stat_activity
			WHERE application_name = $1 AND query LIKE 'LISTEN %'`, "herald cluster "+svcA.NodeID()).Scan(&pid)
		if err != nil {
			t.Fatal(err)
		}
		return pid
	}
	old := listener()
	if old == 0 {
		t.Fatal("no LISTEN connection of node A in pg_stat_activity")
	}
	var killed bool
	if err := admin.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, old).Scan(&killed); err != nil || !killed {
		t.Fatalf("pg_terminate_backend(%d): %v %v", old, killed, err)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if pid := listener(); pid != 0 && pid != old {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node A never listened again")
		}
	}
	// What is sent while A is not listening is lost (as with Node's
	// adapter); once it is, delivery resumes. A's LISTENs for every
	// namespace come before it waits, so a few tries cover the last ones.
	for i := 0; ; i++ {
		msg := fmt.Sprintf("after %d", i)
		bob.call("send-message", `{"roomId":"general","content":"`+msg+`"}`)
		if _, ok := waitFrame(alice.c, 2*time.Second, msg); ok {
			break
		}
		if i == 5 {
			t.Fatal("no message from node B reached node A after its listener was killed")
		}
	}
	main := support.Dial(t, urlA, "/socket.io/")
	main.Connect("/", `{"token":"`+alice.tok+`"}`)
	code, body := httpDo(t, "POST", urlB+"/api/v1/notifications", `{"userId":"alice","type":"t","title":"via B","message":""}`,
		map[string][]string{"Authorization": {"Bearer cluster-key"}})
	if code != 202 && code != 201 {
		t.Fatalf("notify through B: %d %s", code, body)
	}
	if n := skipTo(t, main, `42["notification"`); !strings.Contains(n, `"title":"via B"`) {
		t.Fatalf("notification: %s", n)
	}
}

// waitFrame reads c until a frame containing s, for at most d.
func waitFrame(c *support.Conn, d time.Duration, s string) (string, bool) {
	for deadline := time.Now().Add(d); ; {
		f, ok := c.TryNext(time.Until(deadline))
		if !ok {
			return "", false
		}
		if strings.Contains(string(f.Data), s) {
			return string(f.Data), true
		}
	}
}

// The per-user message limit holds across nodes without Redis: three per
// minute, two sent on each node, the fourth is refused.
func TestPostgresClusterUserRateLimit(t *testing.T) {
	env := pgClusterEnv(t)
	env["HERALD_USER_MESSAGE_RATE"] = "3/1m"
	svcA, urlA := newTestService(t, env)
	svcB, urlB := newTestService(t, env)
	waitCluster(t, svcA, svcB)
	a, b := dialChat(t, urlA, env["HERALD_JWT_SECRET"], "alice", "Alice"), dialChat(t, urlB, env["HERALD_JWT_SECRET"], "alice", "Alice")
	for _, c := range []*chatClient{a, b} {
		if ack := c.call("join-room", `"general"`); !strings.Contains(ack, `"ok":true`) {
			t.Fatalf("join: %s", ack)
		}
	}
	var acks []string
	for i, c := range []*chatClient{a, b, a, b} {
		acks = append(acks, c.call("send-message", fmt.Sprintf(`{"roomId":"general","content":"m%d"}`, i)))
	}
	for i, ack := range acks[:3] {
		if !strings.Contains(ack, `"message"`) {
			t.Fatalf("send %d refused: %s", i, ack)
		}
	}
	if !strings.Contains(acks[3], `"error":"Rate limit exceeded"`) {
		t.Fatalf("the fourth send across two nodes: %s (node A: %+v)", acks[3], svcA.shared.Stats())
	}
}

// Per-room presence on PostgreSQL alone: Bob on node B is
// told when Alice on node A comes into the room and leaves it, and
// room:presence on either node lists both.
func TestPostgresClusterRoomPresence(t *testing.T) {
	on := twoNodesOn(t, pgClusterEnv(t))
	bob := on[1].dial("bob", "Bob")
	if ack := bob.call("join-room", `"general"`); !strings.Contains(ack, `"ok":true`) {
		t.Fatalf("join: %s", ack)
	}
	alice := on[0].dial("alice", "Alice")
	if ack := alice.call("join-room", `"general"`); !strings.Contains(ack, `"ok":true`) {
		t.Fatalf("join: %s", ack)
	}
	bob.waitEvent(`"presence:room"`, `"userId":"alice"`, `"joined":true`, `"count":2`)
	for _, c := range []*chatClient{alice, bob} {
		if got := c.call("room:presence", `{"roomId":"general"}`); !strings.Contains(got, `"count":2`) ||
			!strings.Contains(got, `"alice"`) || !strings.Contains(got, `"bob"`) {
			t.Fatalf("room:presence: %s", got)
		}
	}
	alice.call("leave-room", `"general"`)
	bob.waitEvent(`"presence:room"`, `"userId":"alice"`, `"joined":false`, `"count":1`)
}

// Connection state recovery on PostgreSQL alone: a client that comes back
// to its node is recovered with what it missed, broadcasts from the other
// node included; one that comes back on the other node is not (the
// adapter keeps no session in the database, as Node's does not) and
// connects afresh.
func TestPostgresClusterRecovery(t *testing.T) {
	env := pgClusterEnv(t)
	svcA, urlA := newTestService(t, env)
	svcB, urlB := newTestService(t, env)
	waitCluster(t, svcA, svcB)
	tok, _ := auth.Mint([]byte(env["HERALD_JWT_SECRET"]), auth.User{ID: "alice", Name: "Alice", Roles: []string{"user"}}, time.Hour)
	bob := dialChat(t, urlB, env["HERALD_JWT_SECRET"], "bob", "Bob")
	bob.call("join-room", `"general"`)

	drop := func(url string) (sid, pid, offset string) {
		a := support.Dial(t, url, "/socket.io/")
		a.Send(`40/chat,{"token":"` + tok + `"}`)
		hello := skipTo(t, a, `40/chat,`)
		sid, pid = sidRe.FindStringSubmatch(hello)[1], pidRe.FindStringSubmatch(hello)[1]
		a.Send(`42/chat,1["join-room","general"]`)
		skipTo(t, a, `43/chat,1`)
		bob.call("send-message", `{"roomId":"general","content":"seen"}`)
		msg := skipTo(t, a, `42/chat,["new-message"`)
		offset = offsetRe.FindStringSubmatch(msg)[1]
		a.Close()
		time.Sleep(200 * time.Millisecond) // the server notices the drop
		bob.call("send-message", `{"roomId":"general","content":"missed"}`)
		return sid, pid, offset
	}
	sid, pid, offset := drop(urlA)
	back := support.Dial(t, urlA, "/socket.io/")
	back.Send(`40/chat,{"token":"` + tok + `","pid":"` + pid + `","offset":"` + offset + `"}`)
	// Missed packets come before the CONNECT answer, as from Node (its
	// client holds them until connected); a broadcast that reaches node A
	// after the recovery comes live, after it.
	var gotSid string
	var missed bool
	for !missed || gotSid == "" {
		f, ok := back.TryNext(5 * time.Second)
		if !ok {
			t.Fatalf("after recovery: sid %q, missed message %v", gotSid, missed)
		}
		if m := sidRe.FindStringSubmatch(string(f.Data)); m != nil && strings.HasPrefix(string(f.Data), "40/chat,") {
			gotSid = m[1]
		}
		missed = missed || strings.HasPrefix(string(f.Data), `42/chat,["new-message"`) && strings.Contains(string(f.Data), `"missed"`)
	}
	if gotSid != sid {
		t.Fatalf("not recovered on its own node: sid %s, was %s", gotSid, sid)
	}
	back.Close()

	sid, pid, offset = drop(urlA)
	other := support.Dial(t, urlB, "/socket.io/")
	other.Send(`40/chat,{"token":"` + tok + `","pid":"` + pid + `","offset":"` + offset + `"}`)
	if got := sidRe.FindStringSubmatch(skipTo(t, other, `40/chat,`))[1]; got == sid {
		t.Fatal("recovered on the other node: the README says it is not")
	}
}

// Per-room presence counted in PostgreSQL (presence.PostgresRooms): two
// tabs of a user leaving at once on two nodes tell the room once.
func TestPostgresClusterRoomPresenceDepartureRace(t *testing.T) {
	roomPresenceRace(t, twoNodesOn(t, pgClusterEnv(t)), presenceRounds, 0)
}
