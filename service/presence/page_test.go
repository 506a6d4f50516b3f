package presence

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func entries(ids ...string) []Entry {
	out := make([]Entry, len(ids))
	for i, id := range ids {
		out[i] = Entry{UserID: id, Status: Online}
	}
	return out
}

func ids(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.UserID
	}
	return out
}

func TestSnapshotPages(t *testing.T) {
	list := entries("a", "b", "c", "d", "e")
	list[0].Rooms = []string{"r1"}
	list[1].Rooms = []string{"r1", "r2"}
	list[3].Rooms = []string{"r2"}
	list[4].Rooms = []string{"r3"}
	s := NewSnapshot(list)
	tests := []struct {
		rooms      []string
		after      string
		limit      int
		want       []string
		wantCursor string
	}{
		{nil, "", 2, []string{"a", "b"}, "b"},
		{nil, "b", 2, []string{"c", "d"}, "d"},
		{nil, "d", 2, []string{"e"}, ""},
		{nil, "c", 2, []string{"d", "e"}, ""},
		{nil, "e", 2, []string{}, ""},
		{nil, "", 0, nil, ""},
		{[]string{"r1"}, "", 10, []string{"a", "b"}, ""},
		{[]string{"r1", "r2"}, "", 10, []string{"a", "b", "d"}, ""}, // b once
		{[]string{"r1", "r2"}, "", 2, []string{"a", "b"}, "b"},
		{[]string{"r1", "r2"}, "b", 2, []string{"d"}, ""},
		{[]string{"r2", "r3"}, "a", 2, []string{"b", "d"}, "d"},
		{[]string{"nowhere"}, "", 10, nil, ""},
		{[]string{}, "", 10, nil, ""}, // no rooms: nobody
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v after %q limit %d", tt.rooms, tt.after, tt.limit), func(t *testing.T) {
			got, next := s.Page(tt.rooms, tt.after, tt.limit)
			if !slices.Equal(ids(got), tt.want) && !(len(got) == 0 && len(tt.want) == 0) || next != tt.wantCursor {
				t.Fatalf("got %v next %q, want %v next %q", ids(got), next, tt.want, tt.wantCursor)
			}
		})
	}
}

// Walking every page gives every user once, whatever the page size.
func TestSnapshotWalk(t *testing.T) {
	var all []string
	for i := range 1000 {
		all = append(all, fmt.Sprintf("u%04d", i))
	}
	list := entries(all...)
	for i := range list {
		list[i].Rooms = []string{fmt.Sprintf("r%d", i%7), fmt.Sprintf("r%d", i%3)}
	}
	s := NewSnapshot(list)
	for _, limit := range []int{1, 7, 100, 5000} {
		var got []string
		for after := ""; ; {
			page, next := s.Page(nil, after, limit)
			got = append(got, ids(page)...)
			if next == "" {
				break
			}
			after = next
		}
		if !slices.Equal(got, all) {
			t.Fatalf("limit %d: %d users walked", limit, len(got))
		}
		var inRooms []string
		for after := ""; ; {
			page, next := s.Page([]string{"r1", "r5"}, after, limit)
			inRooms = append(inRooms, ids(page)...)
			if next == "" {
				break
			}
			after = next
		}
		var want []string
		for i, id := range all {
			if i%7 == 1 || i%3 == 1 || i%7 == 5 {
				want = append(want, id)
			}
		}
		if !slices.Equal(inRooms, want) {
			t.Fatalf("limit %d: rooms walk %d users, want %d", limit, len(inRooms), len(want))
		}
	}
}

func TestRosterRefreshesAfterAFlush(t *testing.T) {
	calls := 0
	list := entries("a")
	gen := uint64(0)
	r := NewRoster(func() []Entry { calls++; return list }, func() uint64 { return gen }, 0)
	r.Snapshot()
	r.Snapshot()
	if calls != 1 {
		t.Fatalf("%d list calls without a flush", calls)
	}
	list, gen = entries("a", "b"), 1
	if s := r.Snapshot(); s.Len() != 2 || calls != 2 {
		t.Fatalf("after a flush: %d users, %d calls", s.Len(), calls)
	}
}

func TestLocalRooms(t *testing.T) {
	r := &recorder{ch: make(chan Change, 10)}
	l := NewLocal(time.Hour, r.on)
	defer l.Close()
	l.Connect("u1", "Ann", []string{"r2", "r1"})
	if c := <-r.ch; c.Was != Offline || !slices.Equal(c.Rooms, []string{"r1", "r2"}) {
		t.Fatalf("came online: %+v", c)
	}
	l.Connect("u1", "Ann", []string{"r1", "r3"}) // another tab, one room more
	if c := <-r.ch; c.Was != Online || c.Status != Online || !slices.Equal(c.Joined, []string{"r3"}) {
		t.Fatalf("second tab: %+v", c)
	}
	l.Join("u1", "r3", "r4")
	if c := <-r.ch; !slices.Equal(c.Joined, []string{"r4"}) || !slices.Equal(c.Rooms, []string{"r1", "r2", "r3", "r4"}) {
		t.Fatalf("join: %+v", c)
	}
	l.Join("u1", "r4") // nothing new
	l.Join("nobody", "r1")
	select {
	case c := <-r.ch:
		t.Fatalf("reported %+v", c)
	default:
	}
	if got := l.List(); len(got) != 1 || len(got[0].Rooms) != 4 {
		t.Fatalf("list %+v", got)
	}
}

// Pending entries laid over a snapshot: newer states replace, offline
// ones drop, arrivals appear in order, the rooms filter applies to them.
func TestSnapshotPageWithPending(t *testing.T) {
	list := entries("a", "c", "e")
	for i := range list {
		list[i].Rooms = []string{"r1"}
	}
	s := NewSnapshot(list)
	pending := []Entry{
		{UserID: "b", Status: Online, Rooms: []string{"r1"}},
		{UserID: "c", Status: Offline, Rooms: []string{"r1"}},
		{UserID: "d", Status: Online, Rooms: []string{"r2"}},
		{UserID: "e", Status: Away, Rooms: []string{"r1"}},
	}
	tests := []struct {
		rooms      []string
		after      string
		limit      int
		want       string
		wantCursor string
	}{
		{nil, "", 10, "a b d e:away", ""},
		{nil, "", 2, "a b", "b"},
		{nil, "b", 2, "d e:away", ""},
		{[]string{"r1"}, "", 10, "a b e:away", ""},
		{[]string{"r2"}, "", 10, "d", ""},
	}
	for _, tt := range tests {
		got, next := s.PageWith(pending, tt.rooms, tt.after, tt.limit)
		var parts []string
		for _, e := range got {
			p := e.UserID
			if e.Status != Online {
				p += ":" + e.Status
			}
			parts = append(parts, p)
		}
		if strings.Join(parts, " ") != tt.want || next != tt.wantCursor {
			t.Errorf("%v after %q limit %d: %v next %q, want %s next %q", tt.rooms, tt.after, tt.limit, parts, next, tt.want, tt.wantCursor)
		}
	}
}
