package admin_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/heraldio/herald/adapter/redisadapter"
	"github.com/heraldio/herald/admin"
	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/socketio"
	"github.com/heraldio/herald/test/support"
)

// Two nodes on Redis: the UI logged in to one sees the sockets and the
// stats of both, and its disconnect reaches a socket of the other.
func TestTwoNodesOnRedis(t *testing.T) {
	rdb := support.RedisClient(t, support.RedisURL())
	key := support.UniqueKey()
	var urls []string
	for _, id := range []string{"node-a", "node-b"} {
		_, _, url := serve(t, admin.Options{Auth: basic(), ServerID: id, StatsInterval: 100 * time.Millisecond,
			SessionKey: []byte("the cluster's admin session key")},
			&socketio.Options{Adapter: redisadapter.New(rdb, &redisadapter.Options{Key: key, RequestsTimeout: 2 * time.Second})})
		urls = append(urls, url)
	}
	onA, onB := dialUser(t, urls[0]), dialUser(t, urls[1])
	ack(t, onA, "join", "room-a")
	ack(t, onB, "join", "room-b")

	u := mustUI(t, urls[0], login())
	var session string
	_ = json.Unmarshal(u.next(t, "session", nil)[0], &session)
	all := string(u.next(t, "all_sockets", nil)[0])
	for _, want := range []string{onA.ID(), onB.ID(), "room-a", "room-b"} {
		if !strings.Contains(all, want) {
			t.Fatalf("all_sockets without %s: %s", want, all)
		}
	}
	var sockets []struct {
		ID, ClientID, Transport string
	}
	_ = json.Unmarshal([]byte(all), &sockets)
	for _, s := range sockets {
		if s.ID == onB.ID() && (s.ClientID == "" || s.Transport == "") {
			t.Fatalf("the other node's socket without its client or transport: %+v", s)
		}
	}

	// Stats of both nodes reach the UI on node A.
	seen := map[string]bool{}
	for len(seen) < 2 {
		var st struct {
			ServerID string `json:"serverId"`
		}
		_ = json.Unmarshal(u.next(t, "server_stats", nil)[0], &st)
		seen[st.ServerID] = true
	}
	if !seen["node-a"] || !seen["node-b"] {
		t.Fatalf("stats of %v", seen)
	}

	// What happens on node B is told to the UI on node A.
	late := dialUser(t, urls[1])
	u.next(t, "socket_connected", func(a []json.RawMessage) bool { return strings.Contains(string(a[0]), late.ID()) })

	// The session works on the other node (same key).
	mustUI(t, urls[1], map[string]any{"sessionId": session}).next(t, "config", nil)

	idB := onB.ID() // the client forgets it once disconnected
	disconnected := make(chan client.Reason, 1)
	onB.OnDisconnect(func(r client.Reason) { disconnected <- r })
	if got := ack(t, u.s, "_disconnect", "/", false, idB); got != `{"ok":true}` {
		t.Fatalf("disconnect: %s", got)
	}
	if r := <-disconnected; r != "io server disconnect" {
		t.Fatalf("reason %s", r)
	}
	u.next(t, "socket_disconnected", func(a []json.RawMessage) bool { return string(a[1]) == `"`+idB+`"` })
	if !onA.Connected() || !late.Connected() {
		t.Fatal("other sockets disconnected")
	}
}
