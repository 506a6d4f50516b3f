package service

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
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
	prefix := env["HERALD_REDIS_PREFIX"] + ":rooms:[0-9]*" // the sets, not the index
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

// nodeProcessEnv holds, in a child process of the test binary, the
// environment of the node TestRoomPresenceNodeProcess serves, as JSON.
const nodeProcessEnv = "HERALD_TEST_NODE_ENV"

// TestRoomPresenceNodeProcess is not a test: in a child process started
// by startNodeProcess it serves a node, prints its URL and runs until the
// process is killed.
func TestRoomPresenceNodeProcess(t *testing.T) {
	raw := os.Getenv(nodeProcessEnv)
	if raw == "" {
		t.Skip("run by startNodeProcess")
	}
	var env map[string]string
	if err := json.Unmarshal([]byte(raw), &env); err != nil {
		t.Fatal(err)
	}
	_, url := newTestServiceWith(t, env, func(c *Config) { c.roomPresenceTTL = 600 * time.Millisecond })
	fmt.Println("node " + url)
	select {}
}

// startNodeProcess runs a node of env in a process of its own and returns
// its URL and the process, to kill.
func startNodeProcess(t *testing.T, env map[string]string) (string, *os.Process) {
	t.Helper()
	raw, _ := json.Marshal(env)
	cmd := exec.Command(os.Args[0], "-test.run=^TestRoomPresenceNodeProcess$")
	cmd.Env = append(os.Environ(), nodeProcessEnv+"="+string(raw))
	out := support.StartProcess(t, cmd)
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "node "); ok {
				url <- u
			}
		}
		close(url)
	}()
	select {
	case u, ok := <-url:
		if !ok {
			t.Fatal("the node process ended without a URL")
		}
		return u, cmd.Process
	case <-time.After(30 * time.Second):
		t.Fatal("the node process gave no URL")
	}
	return "", nil
}

// A node killed (no shutdown, no departures of its own) with a user in
// the room: the surviving node tells the room once that the user went,
// when the dead node's sockets lapse, and room:presence agrees.
func TestRoomPresenceNodeKilled(t *testing.T) {
	env := clusterEnv(t)
	// Pub/sub counts the nodes by their subscriptions: the killed one is
	// not waited for once gone. (Streams count it for their heartbeat
	// timeout, 10 s, within the 15 s its sockets live by default.)
	env["HERALD_REDIS_ADAPTER"] = "pubsub"
	_, urlA := newTestServiceWith(t, env, func(c *Config) { c.roomPresenceTTL = 600 * time.Millisecond })
	urlB, procB := startNodeProcess(t, env)
	on := [2]node{{t, urlA, env["HERALD_JWT_SECRET"]}, {t, urlB, env["HERALD_JWT_SECRET"]}}
	watcher := on[0].dial("wes", "Wes")
	watcher.call("join-room", `"general"`)
	bea := on[1].dial("bea", "Bea")
	bea.call("join-room", `"general"`)
	watcher.waitEvent(`"presence:room"`, `"userId":"bea"`, `"joined":true`)

	if err := procB.Kill(); err != nil {
		t.Fatal(err)
	}
	watcher.waitEvent(`"presence:room"`, `"userId":"bea"`, `"joined":false`, `"count":1`)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ack := watcher.call("room:presence", `"general"`)
		if strings.Contains(ack, `"count":1`) && !strings.Contains(ack, `"userId":"bea"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("room:presence after node B died: %s", ack)
		}
	}
	// A later departure on node A is told after anything of bea's.
	amy := on[0].dial("amy", "Amy")
	amy.call("join-room", `"general"`)
	amy.call("leave-room", `"general"`)
	watcher.waitEvent(`"presence:room"`, `"userId":"amy"`, `"joined":false`)
	if n := presenceEvents(watcher, "bea"); n != 0 {
		t.Fatalf("bea's departure told again: %q", watcher.seen)
	}
}
