package service

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldio/herald/test/support"
)

// presenceEvent is a presence event a client read: its name and the
// entries it carried (one for presence:update).
type presenceEvent struct {
	name    string
	entries []wireEntry
}

type wireEntry struct {
	UserID   string  `json:"userId"`
	Name     string  `json:"name"`
	Status   string  `json:"status"`
	LastSeen *string `json:"lastSeen"`
}

// parsePresence decodes a presence event frame ("42[name, arg, offset?]");
// ok is false for any other frame.
func parsePresence(t *testing.T, frame string) (presenceEvent, bool) {
	t.Helper()
	body, ok := strings.CutPrefix(frame, "42")
	if !ok || !strings.HasPrefix(body, `["presence:`) {
		return presenceEvent{}, false
	}
	var args []json.RawMessage
	if err := json.Unmarshal([]byte(body), &args); err != nil || len(args) < 2 {
		t.Fatalf("bad presence frame %s", frame)
	}
	var ev presenceEvent
	_ = json.Unmarshal(args[0], &ev.name)
	switch ev.name {
	case "presence:update":
		var e wireEntry
		if err := json.Unmarshal(args[1], &e); err != nil {
			t.Fatal(err)
		}
		ev.entries = []wireEntry{e}
	default:
		if err := json.Unmarshal(args[1], &ev.entries); err != nil {
			t.Fatalf("%s: %v", frame, err)
		}
	}
	return ev, true
}

// collectPresence reads c's presence events until none came for quiet.
func collectPresence(t *testing.T, c *support.Conn, quiet time.Duration) []presenceEvent {
	t.Helper()
	var out []presenceEvent
	for {
		f, ok := c.TryNext(quiet)
		if !ok {
			return out
		}
		if ev, ok := parsePresence(t, string(f.Data)); ok {
			out = append(out, ev)
		}
	}
}

// state applies events in order to the set of users seen online.
func state(evs []presenceEvent) map[string]string {
	m := map[string]string{}
	for _, ev := range evs {
		for _, e := range ev.entries {
			if e.Status == "offline" {
				delete(m, e.UserID)
			} else {
				m[e.UserID] = e.Status
			}
		}
	}
	return m
}

const batched = `","presence":"changes"}`

// dialPresence connects id to "/" in the batched form (or the seed's).
func dialPresence(t *testing.T, url, id string, batch bool) *support.Conn {
	t.Helper()
	c := support.Dial(t, url, "/socket.io/")
	auth := `{"token":"` + token(t, id, time.Hour) + `"}`
	if batch {
		auth = `{"token":"` + token(t, id, time.Hour) + batched
	}
	c.Connect("/", auth)
	return c
}

// page asks for one page of presence:list and returns its users and
// cursor (nil after the last page).
func page(t *testing.T, c *support.Conn, n int, q string) ([]wireEntry, *string) {
	t.Helper()
	got := ack(t, c, "/", n, `["presence:list",`+q+`]`)
	var res []struct {
		Users      []wireEntry `json:"users"`
		NextCursor *string     `json:"nextCursor"`
	}
	if err := json.Unmarshal([]byte(got[len(fmt.Sprintf("43%d", n)):]), &res); err != nil || len(res) != 1 {
		t.Fatalf("page answer %s: %v", got, err)
	}
	return res[0].Users, res[0].NextCursor
}

// A storm of arrivals reaches a batched client as a few presence:changes
// events carrying everyone, and a client of the seed's form as one
// presence:update per user; a new batched client gets no list on connect
// and pages who is online instead.
func TestPresenceChangesAreBatchedPerTick(t *testing.T) {
	_, url := hardeningService(t, map[string]string{"HERALD_PRESENCE_TICK": "300ms"})
	watcher := dialPresence(t, url, "watcher", true)
	seed := dialPresence(t, url, "seed", false)
	if list := skipTo(t, seed, `42["presence:list"`); !strings.Contains(list, `"userId":"watcher"`) {
		t.Fatalf("seed's list: %s", list)
	}
	collectPresence(t, watcher, 400*time.Millisecond)
	collectPresence(t, seed, 100*time.Millisecond)
	const n = 20
	for i := range n {
		dialPresence(t, url, fmt.Sprintf("storm-%02d", i), true)
	}
	evs := collectPresence(t, watcher, 700*time.Millisecond)
	if len(evs) == 0 || len(evs) > 3 {
		t.Fatalf("%d events for %d arrivals, want 1 to 3 (one per tick)", len(evs), n)
	}
	for _, ev := range evs {
		if ev.name != "presence:changes" {
			t.Fatalf("batched client got %s", ev.name)
		}
		for _, e := range ev.entries {
			if e.Status == "online" && e.LastSeen != nil {
				t.Fatalf("an arrival carries lastSeen: %+v", e)
			}
		}
	}
	if got := state(evs); len(got) != n {
		t.Fatalf("batched client learned %d users, want %d", len(got), n)
	}
	seedEvs := collectPresence(t, seed, 300*time.Millisecond)
	if len(seedEvs) != n || seedEvs[0].name != "presence:update" {
		t.Fatalf("seed client got %d events (first %+v), want %d presence:update", len(seedEvs), seedEvs[0], n)
	}
	// A batched newcomer gets no list, and pages instead.
	late := dialPresence(t, url, "late", true)
	if f, ok := late.TryNext(100 * time.Millisecond); ok && strings.HasPrefix(string(f.Data), `42["presence:list"`) {
		t.Fatalf("batched client got a list on connect: %s", f.Data)
	}
	users, next := page(t, late, 1, `{"limit":100}`)
	if len(users) < n+2 || next != nil {
		t.Fatalf("page of %d users, next %v", len(users), next)
	}
}

// A list or a page asked for in the middle of a tick has the tick's
// arrivals, which are not sent yet.
func TestPresenceListIsCurrentWithinATick(t *testing.T) {
	_, url := hardeningService(t, map[string]string{"HERALD_PRESENCE_TICK": "2s"})
	dialPresence(t, url, "early", true)
	seed := dialPresence(t, url, "seed", false)
	list := skipTo(t, seed, `42["presence:list"`)
	if !strings.Contains(list, `"userId":"early"`) || !strings.Contains(list, `"userId":"seed"`) {
		t.Fatalf("seed's list within the tick: %s", list)
	}
	late := dialPresence(t, url, "late", true)
	if users, _ := page(t, late, 1, `{}`); !slices.Equal(userIDs(users), []string{"early", "late", "seed"}) {
		t.Fatalf("page within the tick: %v", userIDs(users))
	}
}

// A tab that reloads within the grace, and a status set and set back
// within a tick, send nothing to anyone.
func TestPresenceNoEventForReloadOrStatusBackWithinTick(t *testing.T) {
	_, url := hardeningService(t, map[string]string{"HERALD_PRESENCE_TICK": "400ms", "HERALD_PRESENCE_GRACE": "2s"})
	watcher := dialPresence(t, url, "watcher", true)
	seed := dialPresence(t, url, "seed", false)
	reloader := dialPresence(t, url, "reloader", true)
	collectPresence(t, watcher, 600*time.Millisecond)
	collectPresence(t, seed, 100*time.Millisecond)

	reloader.Close()
	time.Sleep(100 * time.Millisecond)
	reloader = dialPresence(t, url, "reloader", true)
	ack(t, reloader, "/", 1, `["presence:status","away"]`)
	ack(t, reloader, "/", 2, `["presence:status","online"]`)
	for _, c := range []*support.Conn{watcher, seed} {
		if evs := collectPresence(t, c, 900*time.Millisecond); len(evs) > 0 {
			t.Fatalf("events for a reload and a status set back: %+v", evs)
		}
	}
	// A real change still goes out, once.
	ack(t, reloader, "/", 3, `["presence:status","busy"]`)
	evs := collectPresence(t, watcher, 700*time.Millisecond)
	if len(evs) != 1 || len(evs[0].entries) != 1 || evs[0].entries[0].Status != "busy" {
		t.Fatalf("status change: %+v", evs)
	}
}

// presence:list pages everyone online by user id: {users, nextCursor},
// null after the last page; a page and the seed's list on connect are
// capped by HERALD_PRESENCE_LIST_LIMIT.
func TestPresenceListPages(t *testing.T) {
	_, url := hardeningService(t, map[string]string{"HERALD_PRESENCE_LIST_LIMIT": "10", "HERALD_PRESENCE_TICK": "20ms"})
	var want []string
	for i := range 24 {
		id := fmt.Sprintf("p-%02d", i)
		want = append(want, id)
		dialPresence(t, url, id, true)
	}
	c := dialPresence(t, url, "q-reader", true)
	want = append(want, "q-reader")
	time.Sleep(100 * time.Millisecond) // the arrivals flushed
	var got []string
	cursor, pages := "", 0
	for {
		pages++
		users, next := page(t, c, pages, `{"after":"`+cursor+`","limit":7}`)
		for _, u := range users {
			got = append(got, u.UserID)
		}
		if next == nil {
			break
		}
		cursor = *next
	}
	if !slices.Equal(got, want) || pages != 4 {
		t.Fatalf("%d pages of %v, want 4 of %v", pages, got, want)
	}
	if users, next := page(t, c, 10, `{"limit":500}`); len(users) != 10 || next == nil || *next != "p-09" {
		t.Fatalf("a page over the limit: %d users, next %v", len(users), next)
	}
	if users, _ := page(t, c, 11, `{}`); len(users) != 10 {
		t.Fatalf("default page: %d users", len(users))
	}
	seed := dialPresence(t, url, "seed", false)
	var list []wireEntry
	raw := skipTo(t, seed, `42["presence:list"`)
	var args []json.RawMessage
	_ = json.Unmarshal([]byte(raw[2:]), &args)
	if err := json.Unmarshal(args[1], &list); err != nil || len(list) != 10 {
		t.Fatalf("seed's list on connect: %d users (%v)", len(list), err)
	}
}

// With the rooms audience a user's presence reaches the users who share a
// chat room with them, and their own tabs, and no one else; joining a room
// while online makes the user part of its audience at once.
func TestPresenceRoomsAudience(t *testing.T) {
	_, url := hardeningService(t, map[string]string{"HERALD_PRESENCE_AUDIENCE": "rooms", "HERALD_PRESENCE_TICK": "50ms"})
	// Memberships first: ann and bob in "blue", cid in "green" (public
	// rooms ann and cid create).
	chat := func(id string) *support.Conn {
		c := support.Dial(t, url, "/socket.io/")
		c.Connect("/chat", `{"token":"`+token(t, id, time.Hour)+`"}`)
		return c
	}
	roomID := func(created string) string {
		i := strings.Index(created, `"id":"`) + 6
		return created[i : i+strings.IndexByte(created[i:], '"')]
	}
	annChat, bobChat, cidChat := chat("ann"), chat("bob"), chat("cid")
	blue := roomID(ack(t, annChat, "/chat", 1, `["create-room",{"name":"blue","public":true}]`))
	green := roomID(ack(t, cidChat, "/chat", 1, `["create-room",{"name":"green","public":true}]`))
	ack(t, annChat, "/chat", 2, `["join-room","`+blue+`"]`)
	ack(t, bobChat, "/chat", 1, `["join-room","`+blue+`"]`)
	ack(t, cidChat, "/chat", 2, `["join-room","`+green+`"]`)

	bob := dialPresence(t, url, "bob", true)
	seedBob := dialPresence(t, url, "bob", false) // bob's other tab, the seed's client
	if list := skipTo(t, seedBob, `42["presence:list"`); strings.Contains(list, `"cid"`) {
		t.Fatalf("bob's list shows cid: %s", list)
	}
	collectPresence(t, bob, 200*time.Millisecond)
	collectPresence(t, seedBob, 50*time.Millisecond)
	ann := dialPresence(t, url, "ann", true)
	cid := dialPresence(t, url, "cid", true)
	for _, c := range []*support.Conn{bob, seedBob} {
		if got := state(collectPresence(t, c, 300*time.Millisecond)); len(got) != 1 || got["ann"] != "online" {
			t.Fatalf("bob learned %v, want ann alone", got)
		}
	}
	// cid hears of cid's own arrival (its tab), nobody else's.
	if got := state(collectPresence(t, cid, 200*time.Millisecond)); len(got) != 1 || got["cid"] != "online" {
		t.Fatalf("cid learned %v", got)
	}
	users, _ := page(t, bob, 1, `{}`)
	if ids := userIDs(users); !slices.Equal(ids, []string{"ann", "bob"}) {
		t.Fatalf("bob's page: %v", ids)
	}
	collectPresence(t, ann, 200*time.Millisecond)

	// cid joins blue while online: bob and ann learn cid is online.
	ack(t, cidChat, "/chat", 3, `["join-room","`+blue+`"]`)
	for _, c := range []*support.Conn{bob, ann} {
		if got := state(collectPresence(t, c, 300*time.Millisecond)); got["cid"] != "online" {
			t.Fatalf("after cid joined blue: %v", got)
		}
	}
	users, _ = page(t, bob, 2, `{}`)
	if ids := userIDs(users); !slices.Equal(ids, []string{"ann", "bob", "cid"}) {
		t.Fatalf("bob's page after the join: %v", ids)
	}
	// And cid's status now reaches blue.
	ack(t, cid, "/", 1, `["presence:status","away"]`)
	if got := state(collectPresence(t, bob, 300*time.Millisecond)); got["cid"] != "away" {
		t.Fatalf("cid's status: %v", got)
	}
}

func userIDs(es []wireEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.UserID
	}
	return out
}
