package service

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldio/herald/test/support"
)

// presenceRounds is how many times the departure race is run: a user with
// a tab on each node, one tab leaving the room and the other
// disconnecting in the same moment, both orders in turn.
const presenceRounds = 12

// roomPresenceRace runs the race on two nodes: each round's departure
// reaches the watcher exactly once, counting the others users in the
// room besides the watcher and the marker.
func roomPresenceRace(t *testing.T, on [2]node, rounds, others int) {
	t.Helper()
	watcher := on[0].dial("wes", "Wes")
	watcher.call("join-room", `"general"`)
	marker := on[1].dial("max", "Max")
	marker.call("join-room", `"general"`)
	for i := range rounds {
		id := fmt.Sprintf("amy%d", i)
		tabA, tabB := on[0].dial(id, "Amy"), on[1].dial(id, "Amy")
		tabA.call("join-room", `"general"`)
		tabB.call("join-room", `"general"`)
		watcher.waitEvent(`"presence:room"`, `"userId":"`+id+`"`, `"joined":true`)
		// In the same moment: tab A's leave-room and tab B's disconnect.
		if i%2 == 0 {
			tabB.c.Send("41/chat,")
			tabA.call("leave-room", `"general"`)
		} else {
			tabA.c.Send(`42/chat,99["leave-room","general"]`)
			tabB.c.Send("41/chat,")
		}
		watcher.waitEvent(`"presence:room"`, `"userId":"`+id+`"`, `"joined":false`, fmt.Sprintf(`"count":%d`, others+2))
		// Anything node B told the room before the marker arrives first.
		text := "marker " + id
		marker.call("send-message", `{"roomId":"general","content":"`+text+`"}`)
		watcher.waitEvent(`"new-message"`, text)
		if n := presenceEvents(watcher, id); n != 0 {
			t.Fatalf("round %d: %d more presence events of %s: %q", i, n, id, watcher.seen)
		}
		tabA.c.Close()
		tabB.c.Close()
	}
}

// presenceEvents counts the presence:room events of the user among the
// frames cc has seen.
func presenceEvents(cc *chatClient, userID string) int {
	n := 0
	for _, f := range cc.seen {
		if strings.Contains(f, `"presence:room"`) && strings.Contains(f, `"userId":"`+userID+`"`) {
			n++
		}
	}
	return n
}

// The race of a user's two tabs leaving a room at once on two nodes: with
// the count kept in Redis by one script, exactly one of them tells the
// room. (Deciding from the cluster's sockets, each tab saw the other gone
// and both told it, or each saw the other there and neither did.)
func TestRoomPresenceDepartureRace(t *testing.T) {
	roomPresenceRace(t, twoNodes(t), presenceRounds, 0)
}

// Redis restarted empty: who is in the room converges on both nodes, and
// once each node has written its rooms' sockets again, departures and
// arrivals are told exactly once as before.
func TestRoomPresenceAfterRedisDataLoss(t *testing.T) {
	srv := support.StartRedis(t)
	env := clusterEnv(t)
	env["HERALD_REDIS_URL"] = "redis://" + srv.Addr() + "/0"
	var on [2]node
	for i := range on {
		_, url := newTestServiceWith(t, env, func(c *Config) { c.roomPresenceTTL = 600 * time.Millisecond })
		on[i] = node{t, url, env["HERALD_JWT_SECRET"]}
	}
	watcher := on[0].dial("wes", "Wes")
	watcher.call("join-room", `"general"`)
	ann := on[1].dial("ann", "Ann")
	ann.call("join-room", `"general"`)
	annA := on[0].dial("ann", "Ann")
	annA.call("join-room", `"general"`)
	watcher.waitEvent(`"presence:room"`, `"userId":"ann"`, `"joined":true`)

	rdb := srv.Client()
	ctx := context.Background()
	prefix := env["HERALD_REDIS_PREFIX"] + ":rooms:*"
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// Every node answers who is in the room from the cluster's sockets.
	for _, n := range on {
		c := n.dial("zoe", "Zoe")
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			ack := c.call("room:presence", `"general"`)
			if strings.Contains(ack, `"count":2`) && strings.Contains(ack, `"userId":"ann"`) && strings.Contains(ack, `"userId":"wes"`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after Redis lost its data, room:presence on %s: %s", n.url, ack)
			}
		}
	}
	// Both nodes write their sockets again: ann's two, wes's and max's.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		keys, err := rdb.Keys(ctx, prefix).Result()
		if err == nil && len(keys) == 2 && rdb.ZCard(ctx, keys[0]).Val()+rdb.ZCard(ctx, keys[1]).Val() == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("room sockets not written again: %v %v", keys, err)
		}
	}
	// One tab of ann leaving tells nothing (the other is still there).
	annA.call("leave-room", `"general"`)
	watcher.call("room:presence", `"general"`)
	if n := presenceEvents(watcher, "ann"); n != 0 {
		t.Fatalf("ann left one tab: %q", watcher.seen)
	}
	roomPresenceRace(t, on, 4, 1)
}
