package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldio/herald/test/support"
)

// backend makes a fresh, empty database for one test and returns its url.
type backend struct {
	name   string
	newURL func(t testing.TB) string
}

func backends() []backend {
	return []backend{
		{name: "sqlite", newURL: func(t testing.TB) string {
			return "sqlite:" + filepath.Join(t.TempDir(), "herald.db")
		}},
		{name: "postgres", newURL: newPostgresURL},
	}
}

// newPostgresURL creates a schema of its own for the test and points the
// url's search_path at it. The schema is dropped when the test ends.
func newPostgresURL(t testing.TB) string { return support.PostgresURL(t) }

func open(t testing.TB, url string) Store {
	t.Helper()
	s, err := Open(t.Context(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustRoom(t testing.TB, s Store, id string, public bool) Room {
	t.Helper()
	r, err := s.CreateRoom(t.Context(), Room{ID: id, Name: "Room " + id, Public: public})
	if err != nil {
		t.Fatalf("CreateRoom(%s): %v", id, err)
	}
	return r
}

func mustMessages(t *testing.T, s Store, roomID string, n int) []Message {
	t.Helper()
	out := make([]Message, n)
	for i := range out {
		m, err := s.CreateMessage(t.Context(), Message{RoomID: roomID, AuthorID: "u1", AuthorName: "Ann", Content: fmt.Sprintf("m%d", i)})
		if err != nil {
			t.Fatalf("CreateMessage: %v", err)
		}
		out[i] = m
	}
	return out
}

func migrationCount(t *testing.T, s Store) int {
	t.Helper()
	var n int
	var err error
	switch s := s.(type) {
	case *SQLite:
		err = s.r.QueryRowContext(t.Context(), `SELECT count(*) FROM schema_migrations`).Scan(&n)
	case *Postgres:
		err = s.pool.QueryRow(t.Context(), `SELECT count(*) FROM schema_migrations`).Scan(&n)
	default:
		t.Fatalf("unknown store %T", s)
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// conformance is the behaviour every Store must have. Each case gets a
// fresh database url.
var conformance = []struct {
	name string
	run  func(t *testing.T, url string)
}{
	{"MigrationsIdempotent", testMigrationsIdempotent},
	{"ConcurrentOpen", testConcurrentOpen},
	{"Rooms", testRooms},
	{"HistoryPaging", testHistoryPaging},
	{"MessagesSince", testMessagesSince},
	{"Notifications", testNotifications},
	{"ConcurrentCreateMessage", testConcurrentCreateMessage},
	{"IdempotentCreateMessage", testIdempotentCreateMessage},
	{"RoomMembers", testRoomMembers},
	{"ReadState", testReadState},
	{"EditDelete", testEditDelete},
	{"SurvivesReopen", testSurvivesReopen},
	{"LastSeen", testLastSeen},
	{"Revocations", testRevocations},
	{"Timestamps", testTimestamps},
	{"BadInput", testBadInput},
}

func TestConformance(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range conformance {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.run(t, b.newURL(t))
				})
			}
		})
	}
}

func testMigrationsIdempotent(t *testing.T, url string) {
	s1 := open(t, url)
	want, err := loadMigrations(map[bool]string{true: "sqlite", false: "postgres"}[strings.HasPrefix(url, "sqlite:")])
	if err != nil {
		t.Fatal(err)
	}
	if got := migrationCount(t, s1); got != len(want) {
		t.Fatalf("schema_migrations has %d rows, want %d", got, len(want))
	}
	mustRoom(t, s1, "r1", true)
	s1.Close()
	s2 := open(t, url) // again: nothing to apply, data intact
	if got := migrationCount(t, s2); got != len(want) {
		t.Fatalf("after reopen schema_migrations has %d rows, want %d", got, len(want))
	}
	if _, err := s2.GetRoom(t.Context(), "r1"); err != nil {
		t.Fatalf("room lost on reopen: %v", err)
	}
}

func testConcurrentOpen(t *testing.T, url string) {
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	stores := make([]Store, n)
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), url) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Open %d: %v", i, errs[i])
		}
		defer stores[i].Close()
	}
	if _, err := stores[0].EnsureRoom(t.Context(), Room{ID: "general", Name: "General", Public: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := stores[n-1].GetRoom(t.Context(), "general"); err != nil {
		t.Fatal(err)
	}
}

func testRooms(t *testing.T, url string) {
	s := open(t, url)
	ctx := t.Context()
	pub := mustRoom(t, s, "pub", true)
	mustRoom(t, s, "priv", false)
	mustRoom(t, s, "other", false)

	if _, err := s.CreateRoom(ctx, Room{ID: "pub", Name: "again"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate CreateRoom: %v, want ErrExists", err)
	}
	got, err := s.GetRoom(ctx, "pub")
	if err != nil || got != pub {
		t.Fatalf("GetRoom = %+v, %v; want %+v", got, err, pub)
	}
	if _, err := s.GetRoom(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetRoom missing: %v", err)
	}
	auto, err := s.CreateRoom(ctx, Room{Name: "Auto"})
	if err != nil || len(auto.ID) != IDLen {
		t.Fatalf("CreateRoom without id = %+v, %v", auto, err)
	}

	// EnsureRoom creates once, then returns the stored room unchanged.
	g1, err := s.EnsureRoom(ctx, Room{ID: "general", Name: "General", Public: true})
	if err != nil {
		t.Fatal(err)
	}
	g2, err := s.EnsureRoom(ctx, Room{ID: "general", Name: "Renamed", Public: false})
	if err != nil || g2 != g1 {
		t.Fatalf("EnsureRoom again = %+v, %v; want %+v", g2, err, g1)
	}

	if err := s.AddMember(ctx, "priv", "u1"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddMember(ctx, "priv", "u1"); err != nil {
		t.Fatalf("AddMember twice: %v", err)
	}
	if err := s.AddMember(ctx, "pub", "u1"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddMember(ctx, "nope", "u1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("AddMember to missing room: %v", err)
	}
	for _, tc := range []struct {
		room, user string
		want       bool
	}{{"priv", "u1", true}, {"priv", "u2", false}, {"other", "u1", false}, {"nope", "u1", false}} {
		ok, err := s.IsMember(ctx, tc.room, tc.user)
		if err != nil || ok != tc.want {
			t.Errorf("IsMember(%s, %s) = %v, %v; want %v", tc.room, tc.user, ok, err, tc.want)
		}
	}

	list := func(user string) map[string]bool {
		t.Helper()
		rs, err := s.ListRooms(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, r := range rs {
			m[r.ID] = r.Member
		}
		return m
	}
	if got, want := list("u1"), map[string]bool{"pub": true, "priv": true, "general": false}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ListRooms(u1) = %v, want %v", got, want)
	}
	if got, want := list("u2"), map[string]bool{"pub": false, "general": false}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ListRooms(u2) = %v, want %v", got, want)
	}

	if err := s.RemoveMember(ctx, "priv", "u1"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveMember(ctx, "priv", "u1"); err != nil {
		t.Fatalf("RemoveMember twice: %v", err)
	}
	if _, ok := list("u1")["priv"]; ok {
		t.Fatal("private room still listed after RemoveMember")
	}
}

func testHistoryPaging(t *testing.T, url string) {
	s := open(t, url)
	ctx := t.Context()
	mustRoom(t, s, "r", true)
	mustRoom(t, s, "noise", true)
	created := mustMessages(t, s, "r", 237)
	mustMessages(t, s, "noise", 5)

	for _, size := range []int{1, 10, 100, 236, 237} {
		var got []Message
		cursor, pages := "", 0
		for {
			msgs, next, err := s.History(ctx, "r", cursor, size)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if len(msgs) > size {
				t.Fatalf("page of %d with limit %d", len(msgs), size)
			}
			got = append(got, msgs...)
			if next == "" {
				break
			}
			if next != msgs[len(msgs)-1].ID {
				t.Fatalf("next = %s, want last id of page %s", next, msgs[len(msgs)-1].ID)
			}
			cursor = next
			if pages > 300 {
				t.Fatal("paging does not end")
			}
		}
		if len(got) != len(created) {
			t.Fatalf("size %d: got %d messages, want %d", size, len(got), len(created))
		}
		for i, m := range got {
			if want := created[len(created)-1-i]; m != want {
				t.Fatalf("size %d: message %d = %+v, want %+v", size, i, m, want)
			}
		}
	}

	// A huge limit is clamped.
	msgs, next, err := s.History(ctx, "r", "", 1<<30)
	if err != nil || len(msgs) != MaxLimit || next == "" {
		t.Fatalf("huge limit: %d messages, next %q, %v", len(msgs), next, err)
	}
	// An empty room has no history.
	mustRoom(t, s, "empty", true)
	msgs, next, err = s.History(ctx, "empty", "", 10)
	if err != nil || len(msgs) != 0 || next != "" {
		t.Fatalf("empty room: %v %q %v", msgs, next, err)
	}
}

func testMessagesSince(t *testing.T, url string) {
	s := open(t, url)
	ctx := t.Context()
	mustRoom(t, s, "r", true)
	created := mustMessages(t, s, "r", 30)

	got, err := s.MessagesSince(ctx, "r", created[9].ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 20 || got[0] != created[10] || got[19] != created[29] {
		t.Fatalf("MessagesSince(10th) = %d messages", len(got))
	}
	got, err = s.MessagesSince(ctx, "r", "", 5)
	if err != nil || len(got) != 5 || got[0] != created[0] || got[4] != created[4] {
		t.Fatalf("MessagesSince(\"\", 5) = %v, %v", got, err)
	}
	got, err = s.MessagesSince(ctx, "r", created[29].ID, 10)
	if err != nil || len(got) != 0 {
		t.Fatalf("MessagesSince(newest) = %v, %v", got, err)
	}
	// Catch up page by page.
	var all []Message
	after := ""
	for {
		page, err := s.MessagesSince(ctx, "r", after, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1].ID
	}
	if len(all) != len(created) {
		t.Fatalf("catch-up got %d, want %d", len(all), len(created))
	}
	for i := range all {
		if all[i] != created[i] {
			t.Fatalf("catch-up %d = %+v, want %+v", i, all[i], created[i])
		}
	}
}

func testNotifications(t *testing.T, url string) {
	s := open(t, url)
	ctx := t.Context()
	ns, err := s.CreateNotifications(ctx, []Notification{
		{UserID: "u1", Type: "mention", Title: "a", Message: "first"},
		{UserID: "u2", Type: "mention", Title: "b", Message: "other user"},
		{UserID: "u1", Type: "system", Title: "c", Message: "second"},
		{UserID: "u1", Type: "system", Title: "d", Message: "third", Read: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 4 || ns[0].ID == "" || ns[0].CreatedAt.IsZero() || ns[3].Read {
		t.Fatalf("CreateNotifications = %+v", ns)
	}
	if got, err := s.CreateNotifications(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("empty batch: %v, %v", got, err)
	}

	list, err := s.ListNotifications(ctx, "u1", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0] != ns[3] || list[1] != ns[2] || list[2] != ns[0] {
		t.Fatalf("ListNotifications(u1) = %+v", list)
	}
	if list, _ := s.ListNotifications(ctx, "u1", 2); len(list) != 2 {
		t.Fatalf("limit 2 gave %d", len(list))
	}
	unread := func(u string) int {
		t.Helper()
		n, err := s.UnreadCount(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := unread("u1"); n != 3 {
		t.Fatalf("unread = %d, want 3", n)
	}
	if err := s.MarkRead(ctx, "u1", ns[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkRead(ctx, "u1", ns[0].ID); err != nil {
		t.Fatalf("MarkRead twice: %v", err)
	}
	if n := unread("u1"); n != 2 {
		t.Fatalf("unread = %d, want 2", n)
	}
	if err := s.MarkRead(ctx, "u1", ns[1].ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("MarkRead of another user's: %v, want ErrNotFound", err)
	}
	if err := s.MarkRead(ctx, "u1", NewID()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("MarkRead of missing: %v, want ErrNotFound", err)
	}
	if n := unread("u2"); n != 1 {
		t.Fatalf("u2 unread = %d, want 1", n)
	}
	n, err := s.MarkAllRead(ctx, "u1")
	if err != nil || n != 2 {
		t.Fatalf("MarkAllRead = %d, %v; want 2", n, err)
	}
	if n := unread("u1"); n != 0 {
		t.Fatalf("unread after MarkAllRead = %d", n)
	}
	if n := unread("u2"); n != 1 {
		t.Fatalf("MarkAllRead touched u2: unread %d", n)
	}
	list, _ = s.ListNotifications(ctx, "u1", 10)
	for _, x := range list {
		if !x.Read {
			t.Fatalf("%s unread after MarkAllRead", x.ID)
		}
	}
}

// testIdempotentCreateMessage sends one (author, client id) many times at
// once through two Stores on the same database, as two nodes would: one
// message is stored, and every call gets it.
func testIdempotentCreateMessage(t *testing.T, url string) {
	s1, s2 := open(t, url), open(t, url)
	ctx := t.Context()
	mustRoom(t, s1, "r", true)
	mustRoom(t, s1, "other", true)
	const tries = 12
	got := make([]Message, tries)
	errs := make([]error, tries)
	var wg sync.WaitGroup
	for i := range tries {
		s := []Store{s1, s2}[i%2]
		wg.Go(func() {
			got[i], errs[i] = s.CreateMessage(ctx, Message{RoomID: "r", AuthorID: "u1", AuthorName: "Ann", Content: "once", ClientID: "c-1"})
		})
	}
	wg.Wait()
	stored := 0
	for i, err := range errs {
		switch {
		case err == nil:
			stored++
		case !errors.Is(err, ErrDuplicate):
			t.Fatalf("try %d: %v, want nil or ErrDuplicate", i, err)
		}
		if got[i].ID == "" || got[i].ID != got[0].ID || got[i].ClientID != "c-1" || got[i].Content != "once" {
			t.Fatalf("try %d returned %+v, try 0 %+v", i, got[i], got[0])
		}
	}
	if stored != 1 {
		t.Fatalf("%d tries stored the message, want 1", stored)
	}
	// Another author's client id is theirs; no client id is never a
	// duplicate; the same id in another room is refused.
	if _, err := s2.CreateMessage(ctx, Message{RoomID: "r", AuthorID: "u2", Content: "mine", ClientID: "c-1"}); err != nil {
		t.Fatalf("other author, same client id: %v", err)
	}
	for range 2 {
		if _, err := s1.CreateMessage(ctx, Message{RoomID: "r", AuthorID: "u1", Content: "plain"}); err != nil {
			t.Fatalf("no client id: %v", err)
		}
	}
	if _, err := s2.CreateMessage(ctx, Message{RoomID: "other", AuthorID: "u1", Content: "x", ClientID: "c-1"}); !errors.Is(err, ErrExists) {
		t.Fatalf("same client id in another room: %v, want ErrExists", err)
	}
	if _, err := s1.CreateMessage(ctx, Message{RoomID: "r", AuthorID: "u1", Content: "x", ClientID: strings.Repeat("c", MaxIDLen+1)}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("oversized client id: %v, want ErrInvalid", err)
	}
	hist, _, err := s2.History(ctx, "r", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 4 {
		t.Fatalf("history has %d messages, want 4: %+v", len(hist), hist)
	}
	if m := hist[len(hist)-1]; m.ID != got[0].ID || m.ClientID != "c-1" {
		t.Fatalf("oldest message %+v, want %s with its client id", m, got[0].ID)
	}
	if other, _, _ := s1.History(ctx, "other", "", 10); len(other) != 0 {
		t.Fatalf("other room has %+v", other)
	}
}

func testRoomMembers(t *testing.T, url string) {
	s := open(t, url)
	ctx := t.Context()
	if _, err := s.CreateRoom(ctx, Room{ID: "r", Name: "R", CreatedBy: "owner"}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.GetRoom(ctx, "r"); err != nil || r.CreatedBy != "owner" {
		t.Fatalf("GetRoom: %+v %v, want created by owner", r, err)
	}
	for _, u := range []string{"u3", "u1", "u2", "u1"} {
		if err := s.AddMember(ctx, "r", u); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.RoomMembers(ctx, "r", "", 2)
	if err != nil || strings.Join(got, ",") != "u1,u2" {
		t.Fatalf("first page: %v %v", got, err)
	}
	if got, err = s.RoomMembers(ctx, "r", "u2", 2); err != nil || strings.Join(got, ",") != "u3" {
		t.Fatalf("second page: %v %v", got, err)
	}
	if err := s.RemoveMember(ctx, "r", "u1"); err != nil {
		t.Fatal(err)
	}
	if got, err = s.RoomMembers(ctx, "r", "", 0); err != nil || strings.Join(got, ",") != "u2,u3" {
		t.Fatalf("after remove: %v %v", got, err)
	}
	if got, err = s.RoomMembers(ctx, "none", "", 0); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("missing room: %#v %v", got, err)
	}
	if _, err := s.RoomMembers(ctx, "", "", 0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty room id: %v", err)
	}
}

func testReadState(t *testing.T, url string) {
	s := open(t, url)
	ctx := t.Context()
	mustRoom(t, s, "r", true)
	mustRoom(t, s, "quiet", true)
	msgs := mustMessages(t, s, "r", 5) // by u1
	if _, err := s.CreateMessage(ctx, Message{RoomID: "r", AuthorID: "u2", Content: "mine"}); err != nil {
		t.Fatal(err)
	}
	state := func(user string) map[string]RoomRead {
		t.Helper()
		st, err := s.ReadState(ctx, user, []string{"r", "quiet"})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := state("u2"); st["r"] != (RoomRead{Unread: 5}) || st["quiet"] != (RoomRead{}) {
		t.Fatalf("before reading: %+v", st)
	}
	if moved, err := s.MarkRoomRead(ctx, "r", "u2", msgs[2].ID); err != nil || !moved {
		t.Fatalf("mark read: %v %v", moved, err)
	}
	if st := state("u2"); st["r"] != (RoomRead{LastReadID: msgs[2].ID, Unread: 2}) {
		t.Fatalf("after reading 3: %+v", st)
	}
	// Monotonic: an older position and the same one change nothing.
	for _, id := range []string{msgs[0].ID, msgs[2].ID} {
		if moved, err := s.MarkRoomRead(ctx, "r", "u2", id); err != nil || moved {
			t.Fatalf("mark read %s again: %v %v", id, moved, err)
		}
	}
	if st := state("u2"); st["r"].LastReadID != msgs[2].ID {
		t.Fatalf("moved back: %+v", st)
	}
	if st := state("u1"); st["r"].Unread != 1 {
		t.Fatalf("u1 counts only u2's message: %+v", st)
	}
	for _, bad := range [][2]string{{"quiet", msgs[4].ID}, {"r", "nope"}, {"r", ""}, {"nope", msgs[4].ID}} {
		if _, err := s.MarkRoomRead(ctx, bad[0], "u2", bad[1]); !errors.Is(err, ErrInvalid) {
			t.Errorf("mark read %v: %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := s.ReadState(ctx, "u2", make([]string, MaxLimit+1)); !errors.Is(err, ErrInvalid) {
		t.Errorf("too many rooms: %v", err)
	}
}

func testEditDelete(t *testing.T, url string) {
	s := open(t, url)
	ctx := t.Context()
	mustRoom(t, s, "r", true)
	msgs := mustMessages(t, s, "r", 3) // by u1
	seen := msgs[2].ID                 // a client holds the room up to here
	if edits, err := s.EditsSince(ctx, "r", seen, 10); err != nil || len(edits) != 0 {
		t.Fatalf("edits before any: %v %v", edits, err)
	}
	ed, err := s.EditMessage(ctx, "r", msgs[0].ID, "u1", "m0, edited")
	if err != nil || ed.Content != "m0, edited" || ed.EditedAt.IsZero() || ed.ID != msgs[0].ID || ed.Deleted {
		t.Fatalf("edit: %+v %v", ed, err)
	}
	del, err := s.DeleteMessage(ctx, "r", msgs[1].ID, "u1")
	if err != nil || !del.Deleted || del.Content != "" {
		t.Fatalf("delete: %+v %v", del, err)
	}
	hist, _, err := s.History(ctx, "r", "", 10)
	if err != nil || len(hist) != 3 || hist[2].Content != "m0, edited" || !hist[1].Deleted || hist[0].Deleted || !hist[0].EditedAt.IsZero() {
		t.Fatalf("history: %+v %v", hist, err)
	}
	edits, err := s.EditsSince(ctx, "r", seen, 10)
	if err != nil || len(edits) != 2 || edits[0].ID != msgs[0].ID || edits[1].ID != msgs[1].ID || !edits[1].Deleted {
		t.Fatalf("edits since %s: %+v %v", seen, edits, err)
	}
	// A client that came later holds the changes already.
	later := mustMessages(t, s, "r", 1)[0].ID
	if edits, _ := s.EditsSince(ctx, "r", later, 10); len(edits) != 0 {
		t.Fatalf("edits since a later message: %+v", edits)
	}
	for name, f := range map[string]func() error{
		"other author":  func() error { _, err := s.EditMessage(ctx, "r", msgs[2].ID, "u2", "x"); return err },
		"deleted":       func() error { _, err := s.EditMessage(ctx, "r", msgs[1].ID, "u1", "x"); return err },
		"deleted again": func() error { _, err := s.DeleteMessage(ctx, "r", msgs[1].ID, "u1"); return err },
		"other room":    func() error { _, err := s.DeleteMessage(ctx, "x", msgs[2].ID, "u1"); return err },
		"no such":       func() error { _, err := s.EditMessage(ctx, "r", "nope", "u1", "x"); return err },
	} {
		if err := f(); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
	if _, err := s.EditMessage(ctx, "r", msgs[2].ID, "u1", ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty edit: %v", err)
	}
	if _, err := s.EditsSince(ctx, "r", "not-a-cursor", 10); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad cursor: %v", err)
	}
}

func testConcurrentCreateMessage(t *testing.T, url string) {
	s := open(t, url)
	ctx := t.Context()
	mustRoom(t, s, "r", true)
	const writers, each = 16, 12
	var wg sync.WaitGroup
	perWriter := make([][]string, writers)
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				m, err := s.CreateMessage(ctx, Message{RoomID: "r", AuthorID: fmt.Sprint("w", w), Content: fmt.Sprint(i)})
				if err != nil {
					errs <- err
					return
				}
				perWriter[w] = append(perWriter[w], m.ID)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for w, ids := range perWriter {
		if !sort.StringsAreSorted(ids) {
			t.Fatalf("writer %d ids not increasing: %v", w, ids)
		}
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("duplicate id %s", id)
			}
			seen[id] = true
		}
	}
	all, err := s.MessagesSince(ctx, "r", "", MaxLimit)
	if err != nil {
		t.Fatal(err)
	}
	more, err := s.MessagesSince(ctx, "r", all[len(all)-1].ID, MaxLimit)
	if err != nil {
		t.Fatal(err)
	}
	all = append(all, more...)
	if len(all) != writers*each {
		t.Fatalf("stored %d messages, want %d", len(all), writers*each)
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID <= all[i-1].ID || all[i].CreatedAt.Before(all[i-1].CreatedAt) {
			t.Fatalf("messages %d and %d out of order", i-1, i)
		}
	}
}

func testSurvivesReopen(t *testing.T, url string) {
	ctx := t.Context()
	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	room := mustRoom(t, s, "r", false)
	if err := s.AddMember(ctx, "r", "u1"); err != nil {
		t.Fatal(err)
	}
	msgs := mustMessages(t, s, "r", 3)
	ns, err := s.CreateNotifications(ctx, []Notification{{UserID: "u1", Type: "t", Title: "x", Message: "y"}})
	if err != nil {
		t.Fatal(err)
	}
	seenAt := time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	if err := s.SetLastSeen(ctx, "u1", "Ann", seenAt); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, url)
	if got, err := s.GetRoom(ctx, "r"); err != nil || got != room {
		t.Fatalf("room after reopen = %+v, %v", got, err)
	}
	if ok, _ := s.IsMember(ctx, "r", "u1"); !ok {
		t.Fatal("membership lost")
	}
	got, _, err := s.History(ctx, "r", "", 10)
	if err != nil || len(got) != 3 || got[0] != msgs[2] || got[2] != msgs[0] {
		t.Fatalf("history after reopen = %+v, %v", got, err)
	}
	list, err := s.ListNotifications(ctx, "u1", 10)
	if err != nil || len(list) != 1 || list[0] != ns[0] {
		t.Fatalf("notifications after reopen = %+v, %v", list, err)
	}
	seen, err := s.LastSeen(ctx, []string{"u1"})
	if err != nil || !seen["u1"].At.Equal(seenAt) || seen["u1"].Name != "Ann" {
		t.Fatalf("last seen after reopen = %+v, %v", seen, err)
	}
	// New ids still sort after the old ones.
	m, err := s.CreateMessage(ctx, Message{RoomID: "r", AuthorID: "u1", Content: "after"})
	if err != nil || m.ID <= msgs[2].ID {
		t.Fatalf("new id %s not after %s (%v)", m.ID, msgs[2].ID, err)
	}
}

func testRevocations(t *testing.T, url string) {
	s := open(t, url)
	ctx := t.Context()
	t0 := time.Date(2026, 5, 6, 7, 8, 9, 123e6, time.UTC)
	for _, r := range []struct {
		user string
		at   time.Time
	}{{"u1", t0}, {"u2", t0.Add(time.Minute)}, {"u1", t0.Add(time.Hour)}, {"u1", t0.Add(time.Second)}} { // the last is older: kept as is
		if err := s.RevokeSessions(ctx, r.user, r.at); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.Revocations(ctx, time.Time{})
	if err != nil || len(all) != 2 || !all["u1"].Equal(t0.Add(time.Hour)) || !all["u2"].Equal(t0.Add(time.Minute)) {
		t.Fatalf("all: %v %v", all, err)
	}
	recent, err := s.Revocations(ctx, t0.Add(30*time.Minute))
	if err != nil || len(recent) != 1 || !recent["u1"].Equal(t0.Add(time.Hour)) {
		t.Fatalf("recent: %v %v", recent, err)
	}
	if err := s.RevokeSessions(ctx, "", t0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty user: %v", err)
	}
}

func testLastSeen(t *testing.T, url string) {
	s := open(t, url)
	ctx := t.Context()
	t0 := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.SetLastSeen(ctx, "u1", "Ann", t0))
	must(s.SetLastSeen(ctx, "u2", "Bob", t0.Add(time.Minute)))
	must(s.SetLastSeen(ctx, "u1", "Annie", t0.Add(time.Hour)))
	must(s.SetLastSeen(ctx, "u1", "Old", t0)) // older: ignored
	got, err := s.LastSeen(ctx, []string{"u1", "u2", "ghost"})
	must(err)
	want := map[string]Seen{
		"u1": {UserID: "u1", Name: "Annie", At: t0.Add(time.Hour)},
		"u2": {UserID: "u2", Name: "Bob", At: t0.Add(time.Minute)},
	}
	if len(got) != len(want) || got["u1"] != want["u1"] || got["u2"] != want["u2"] {
		t.Fatalf("LastSeen = %+v, want %+v", got, want)
	}
	if got, err := s.LastSeen(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("LastSeen(nil) = %v, %v", got, err)
	}
	// Many ids at once (the SQLite backend queries in chunks).
	ids := make([]string, 1200)
	for i := range ids {
		ids[i] = fmt.Sprint("x", i)
	}
	ids[1100] = "u2"
	got, err = s.LastSeen(ctx, ids)
	if err != nil || len(got) != 1 || got["u2"] != want["u2"] {
		t.Fatalf("LastSeen(1200 ids) = %v, %v", got, err)
	}
}

func testTimestamps(t *testing.T, url string) {
	s := open(t, url)
	ctx := t.Context()
	loc := time.FixedZone("X", 5*3600)
	in := time.Date(2026, 3, 4, 10, 11, 12, 345_678_901, loc)
	r, err := s.CreateRoom(ctx, Room{ID: "r", Name: "R", CreatedAt: in})
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 3, 4, 5, 11, 12, 345_000_000, time.UTC)
	if r.CreatedAt != want {
		t.Fatalf("CreatedAt = %v, want %v", r.CreatedAt, want)
	}
	got, _ := s.GetRoom(ctx, "r")
	if got.CreatedAt != want {
		t.Fatalf("stored CreatedAt = %v, want %v", got.CreatedAt, want)
	}
	m, err := s.CreateMessage(ctx, Message{RoomID: "r", AuthorID: "u", Content: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if m.CreatedAt.Location() != time.UTC || m.CreatedAt.Nanosecond()%int(time.Millisecond) != 0 {
		t.Fatalf("message time %v not UTC ms", m.CreatedAt)
	}
	if d := time.Since(m.CreatedAt); d < -time.Second || d > time.Minute {
		t.Fatalf("message time %v far from now", m.CreatedAt)
	}
	if idt, _ := IDTime(m.ID); !idt.Equal(m.CreatedAt) {
		t.Fatalf("IDTime %v != CreatedAt %v", idt, m.CreatedAt)
	}
}

func testBadInput(t *testing.T, url string) {
	s := open(t, url)
	ctx := t.Context()
	mustRoom(t, s, "r", true)
	long := strings.Repeat("x", MaxIDLen+1)
	call := func(f func() error) func() error { return f }
	for _, tc := range []struct {
		name string
		call func() error
		want error
	}{
		{"CreateRoom empty name", call(func() error { _, err := s.CreateRoom(ctx, Room{ID: "x"}); return err }), ErrInvalid},
		{"CreateRoom long id", call(func() error { _, err := s.CreateRoom(ctx, Room{ID: long, Name: "x"}); return err }), ErrInvalid},
		{"GetRoom empty", call(func() error { _, err := s.GetRoom(ctx, ""); return err }), ErrInvalid},
		{"ListRooms empty user", call(func() error { _, err := s.ListRooms(ctx, ""); return err }), ErrInvalid},
		{"AddMember empty user", call(func() error { return s.AddMember(ctx, "r", "") }), ErrInvalid},
		{"AddMember empty room", call(func() error { return s.AddMember(ctx, "", "u") }), ErrInvalid},
		{"IsMember empty", call(func() error { _, err := s.IsMember(ctx, "", ""); return err }), ErrInvalid},
		{"CreateMessage empty room", call(func() error {
			_, err := s.CreateMessage(ctx, Message{AuthorID: "u", Content: "x"})
			return err
		}), ErrInvalid},
		{"CreateMessage empty author", call(func() error {
			_, err := s.CreateMessage(ctx, Message{RoomID: "r", Content: "x"})
			return err
		}), ErrInvalid},
		{"CreateMessage empty content", call(func() error {
			_, err := s.CreateMessage(ctx, Message{RoomID: "r", AuthorID: "u"})
			return err
		}), ErrInvalid},
		{"CreateMessage huge content", call(func() error {
			_, err := s.CreateMessage(ctx, Message{RoomID: "r", AuthorID: "u", Content: strings.Repeat("x", MaxContentLen+1)})
			return err
		}), ErrInvalid},
		{"CreateMessage bad utf8", call(func() error {
			_, err := s.CreateMessage(ctx, Message{RoomID: "r", AuthorID: "u", Content: "\xff"})
			return err
		}), ErrInvalid},
		{"CreateMessage missing room", call(func() error {
			_, err := s.CreateMessage(ctx, Message{RoomID: "nope", AuthorID: "u", Content: "x"})
			return err
		}), ErrNotFound},
		{"History empty room id", call(func() error { _, _, err := s.History(ctx, "", "", 10); return err }), ErrInvalid},
		{"History bad cursor", call(func() error { _, _, err := s.History(ctx, "r", "zzz", 10); return err }), ErrInvalid},
		{"MessagesSince empty room id", call(func() error { _, err := s.MessagesSince(ctx, "", "", 10); return err }), ErrInvalid},
		{"MessagesSince bad cursor", call(func() error { _, err := s.MessagesSince(ctx, "r", "' OR 1=1 --", 10); return err }), ErrInvalid},
		{"CreateNotifications empty user", call(func() error {
			_, err := s.CreateNotifications(ctx, []Notification{{UserID: "u", Type: "t"}, {Type: "t"}})
			return err
		}), ErrInvalid},
		{"CreateNotifications empty type", call(func() error {
			_, err := s.CreateNotifications(ctx, []Notification{{UserID: "u"}})
			return err
		}), ErrInvalid},
		{"ListNotifications empty", call(func() error { _, err := s.ListNotifications(ctx, "", 10); return err }), ErrInvalid},
		{"UnreadCount empty", call(func() error { _, err := s.UnreadCount(ctx, ""); return err }), ErrInvalid},
		{"MarkRead empty id", call(func() error { return s.MarkRead(ctx, "u", "") }), ErrInvalid},
		{"MarkAllRead empty", call(func() error { _, err := s.MarkAllRead(ctx, ""); return err }), ErrInvalid},
		{"SetLastSeen empty", call(func() error { return s.SetLastSeen(ctx, "", "x", time.Now()) }), ErrInvalid},
		{"LastSeen empty id", call(func() error { _, err := s.LastSeen(ctx, []string{"a", ""}); return err }), ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	// A failed batch stores nothing.
	if n, _ := s.UnreadCount(ctx, "u"); n != 0 {
		t.Fatalf("partial batch stored: %d", n)
	}
	// Limits: zero and negative mean the default, huge is clamped.
	mustMessages(t, s, "r", MaxLimit+5)
	for _, tc := range []struct{ in, want int }{{0, DefaultLimit}, {-3, DefaultLimit}, {1, 1}, {1 << 40, MaxLimit}} {
		msgs, _, err := s.History(ctx, "r", "", tc.in)
		if err != nil || len(msgs) != tc.want {
			t.Errorf("History limit %d: %d messages (%v), want %d", tc.in, len(msgs), err, tc.want)
		}
		since, err := s.MessagesSince(ctx, "r", "", tc.in)
		if err != nil || len(since) != tc.want {
			t.Errorf("MessagesSince limit %d: %d messages (%v), want %d", tc.in, len(since), err, tc.want)
		}
	}
}

func TestOpenRejects(t *testing.T) {
	for _, url := range []string{"", ":memory:", "postgres://%zz"} {
		if s, err := Open(t.Context(), url); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", url)
		}
	}
}
