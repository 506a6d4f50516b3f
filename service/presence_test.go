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

// waitPresence reads c's presence events until the state they make (on
// top of st, which it updates) satisfies cond, and returns them; it fails
// after 10 s. Waiting on a state rather than on a quiet spell keeps the
// test right on a loaded machine, where a tick may come late.
func waitPresence(t *testing.T, c *support.Conn, st map[string]string, cond func(map[string]string) bool) []presenceEvent {
	t.Helper()
	var out []presenceEvent
	for deadline := time.Now().Add(10 * time.Second); !cond(st); {
		f, ok := c.TryNext(time.Until(deadline))
		if !ok {
			t.Fatalf("presence never reached the state wanted: %v after %+v", st, out)
		}
		if ev, ok := parsePresence(t, string(f.Data)); ok {
			out = append(out, ev)
			apply(st, ev)
		}
	}
	return out
}

// settlePresence waits until svc has flushed every pending presence change
// (and the flush has queued its events), then reads what conns were sent.
func settlePresence(t *testing.T, svc *Service, conns ...*support.Conn) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(svc.pendingPresence()) > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("presence changes still pending after 10 s")
		}
	}
	svc.holdPresence()() // a flush under way has finished
	for _, c := range conns {
		collectPresence(t, c, 100*time.Millisecond)
	}
}

// has is a waitPresence condition: every user of want with its status.
func has(want map[string]string) func(map[string]string) bool {
	return func(st map[string]string) bool {
		for id, status := range want {
			if st[id] != status {
				return false
			}
		}
		return true
	}
}

func apply(m map[string]string, ev presenceEvent) {
	for _, e := range ev.entries {
		if e.Status == "offline" {
			delete(m, e.UserID)
		} else {
			m[e.UserID] = e.Status
		}
	}
}

// state applies events in order to the set of users seen online.
func state(evs []presenceEvent) map[string]string {
	m := map[string]string{}
	for _, ev := range evs {
		apply(m, ev)
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
	const tick = 300 * time.Millisecond
	svc, url := hardeningService(t, map[string]string{"HERALD_PRESENCE_TICK": tick.String()})
	watcher := dialPresence(t, url, "watcher", true)
	// Its CONNECT is answered before its connection handler runs: its own
	// arrival says the server has it.
	waitPresence(t, watcher, map[string]string{}, has(map[string]string{"watcher": "online"}))
	seed := dialPresence(t, url, "seed", false)
	if list := skipTo(t, seed, `42["presence:list"`); !strings.Contains(list, `"userId":"watcher"`) {
		t.Fatalf("seed's list: %s", list)
	}
	settlePresence(t, svc, watcher, seed)
	const n = 20
	want := map[string]string{}
	start := time.Now()
	for i := range n {
		id := fmt.Sprintf("storm-%02d", i)
		want[id] = "online"
		dialPresence(t, url, id, true)
	}
	evs := waitPresence(t, watcher, map[string]string{}, has(want))
	// One event per tick that saw arrivals: the ticks of the dialling,
	// and one for those still pending when it ended.
	if most := int(time.Since(start)/tick) + 2; len(evs) > most || len(evs) >= n {
		t.Fatalf("%d events for %d arrivals, want at most %d (one per tick)", len(evs), n, most)
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
	seedEvs := waitPresence(t, seed, map[string]string{}, has(want))
	seedEvs = append(seedEvs, collectPresence(t, seed, 100*time.Millisecond)...)
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
	svc, url := hardeningService(t, map[string]string{"HERALD_PRESENCE_TICK": "2s"})
	dialPresence(t, url, "early", true)
	// Its CONNECT is answered before its connection handler runs.
	for deadline := time.Now().Add(5 * time.Second); len(svc.pendingPresence()) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("early's arrival never pending")
		}
	}
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
	// A long tick and grace, so that a loaded machine still does the
	// reload and the two status changes within them.
	svc, url := hardeningService(t, map[string]string{"HERALD_PRESENCE_TICK": "2s", "HERALD_PRESENCE_GRACE": "5s"})
	watcher := dialPresence(t, url, "watcher", true)
	seed := dialPresence(t, url, "seed", false)
	reloader := dialPresence(t, url, "reloader", true)
	settlePresence(t, svc, watcher, seed, reloader)

	reloader.Close()
	time.Sleep(100 * time.Millisecond)
	reloader = dialPresence(t, url, "reloader", true)
	ack(t, reloader, "/", 1, `["presence:status","away"]`)
	ack(t, reloader, "/", 2, `["presence:status","online"]`)
	for _, c := range []*support.Conn{watcher, seed} {
		if evs := collectPresence(t, c, 2500*time.Millisecond); len(evs) > 0 {
			t.Fatalf("events for a reload and a status set back: %+v", evs)
		}
	}
	// A real change still goes out, once.
	ack(t, reloader, "/", 3, `["presence:status","busy"]`)
	evs := waitPresence(t, watcher, map[string]string{}, has(map[string]string{"reloader": "busy"}))
	if len(evs) != 1 || len(evs[0].entries) != 1 {
		t.Fatalf("status change: %+v", evs)
	}
}

// presence:list pages everyone online by user id: {users, nextCursor},
// null after the last page; a page and the seed's list on connect are
// capped by HERALD_PRESENCE_LIST_LIMIT.
func TestPresenceListPages(t *testing.T) {
	svc, url := hardeningService(t, map[string]string{"HERALD_PRESENCE_LIST_LIMIT": "10", "HERALD_PRESENCE_TICK": "20ms"})
	var want []string
	for i := range 24 {
		id := fmt.Sprintf("p-%02d", i)
		want = append(want, id)
		dialPresence(t, url, id, true)
	}
	c := dialPresence(t, url, "q-reader", true)
	want = append(want, "q-reader")
	// A CONNECT is answered before its connection handler runs: wait
	// until the server has them all.
	for deadline := time.Now().Add(5 * time.Second); len(svc.presence.List()) < len(want); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d users online, want %d", len(svc.presence.List()), len(want))
		}
	}
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
	svc, url := hardeningService(t, map[string]string{"HERALD_PRESENCE_AUDIENCE": "rooms", "HERALD_PRESENCE_TICK": "50ms"})
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
	settlePresence(t, svc, bob, seedBob)
	ann := dialPresence(t, url, "ann", true)
	cid := dialPresence(t, url, "cid", true)
	bobState, annState, cidState := map[string]string{"bob": "online"}, map[string]string{}, map[string]string{}
	// cid hears of cid's own arrival (its tab), and of no one else.
	waitPresence(t, cid, cidState, has(map[string]string{"cid": "online"}))
	seedState := map[string]string{"bob": "online"}
	waitPresence(t, bob, bobState, has(map[string]string{"ann": "online"}))
	waitPresence(t, seedBob, seedState, has(map[string]string{"ann": "online"}))
	settlePresence(t, svc)
	for _, c := range []struct {
		name string
		conn *support.Conn
		st   map[string]string
		want int
	}{{"bob", bob, bobState, 2}, {"bob's seed tab", seedBob, seedState, 2}, {"cid", cid, cidState, 1}} {
		for _, ev := range collectPresence(t, c.conn, 100*time.Millisecond) {
			apply(c.st, ev)
		}
		if len(c.st) != c.want {
			t.Fatalf("%s learned %v", c.name, c.st)
		}
	}
	users, _ := page(t, bob, 1, `{}`)
	if ids := userIDs(users); !slices.Equal(ids, []string{"ann", "bob"}) {
		t.Fatalf("bob's page: %v", ids)
	}
	waitPresence(t, ann, annState, has(map[string]string{"ann": "online"}))

	// cid joins blue while online: bob and ann learn cid is online.
	ack(t, cidChat, "/chat", 3, `["join-room","`+blue+`"]`)
	waitPresence(t, bob, bobState, has(map[string]string{"cid": "online"}))
	waitPresence(t, ann, annState, has(map[string]string{"cid": "online"}))
	users, _ = page(t, bob, 2, `{}`)
	if ids := userIDs(users); !slices.Equal(ids, []string{"ann", "bob", "cid"}) {
		t.Fatalf("bob's page after the join: %v", ids)
	}
	// And cid's status now reaches blue.
	ack(t, cid, "/", 1, `["presence:status","away"]`)
	waitPresence(t, bob, bobState, has(map[string]string{"cid": "away"}))
}

func userIDs(es []wireEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.UserID
	}
	return out
}
