package store

import (
	"errors"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestIDRoundTrip(t *testing.T) {
	for _, x := range []id{{0, 0}, {1, 2}, {^uint64(0), ^uint64(0)}, {0xFFFF_FFFF_FFFF_0000, 1 << 63}} {
		s := x.String()
		if len(s) != IDLen {
			t.Fatalf("%v: len %d", x, len(s))
		}
		y, err := parseID(s)
		if err != nil || y != x {
			t.Fatalf("parse(%q) = %v, %v; want %v", s, y, err, x)
		}
	}
}

func TestIDOrderMatchesStrings(t *testing.T) {
	g := &idGen{now: func() time.Time { return time.UnixMilli(1_700_000_000_000) }}
	var ids []string
	for range 1000 {
		ids = append(ids, g.next(id{}).String())
	}
	if !sort.StringsAreSorted(ids) {
		t.Fatal("ids from a fixed clock are not increasing")
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			t.Fatalf("duplicate id %s", ids[i])
		}
	}
	ts, err := IDTime(ids[0])
	if err != nil || !ts.Equal(time.UnixMilli(1_700_000_000_000)) {
		t.Fatalf("IDTime = %v, %v", ts, err)
	}
}

func TestIDClockBackwards(t *testing.T) {
	ms := int64(1_700_000_000_000)
	g := &idGen{now: func() time.Time { return time.UnixMilli(ms) }}
	a := g.next(id{}).String()
	ms -= 5000
	b := g.next(id{}).String()
	if b <= a {
		t.Fatalf("id went back with the clock: %s then %s", a, b)
	}
}

func TestIDNextAfterFloor(t *testing.T) {
	g := &idGen{now: func() time.Time { return time.UnixMilli(1000) }}
	future := id{hi: uint64(999_999) << 16, lo: 5}.String()
	x, err := g.nextAfter(future)
	if err != nil {
		t.Fatal(err)
	}
	if x.String() <= future {
		t.Fatalf("nextAfter(%s) = %s", future, x)
	}
	if _, err := g.nextAfter("not-an-id"); !errors.Is(err, errBadID) {
		t.Fatalf("bad floor: %v", err)
	}
}

func TestParseIDRejects(t *testing.T) {
	for _, s := range []string{"", "0", strings.Repeat("0", 25), strings.Repeat("0", 27), "8" + strings.Repeat("0", 25),
		strings.Repeat("U", 26), strings.Repeat("a", 26), "01ARZ3NDEKTSV4RRFFQ69G5FA!"} {
		if _, err := parseID(s); err == nil {
			t.Errorf("parseID(%q) accepted", s)
		}
	}
	if _, err := parseID(NewID()); err != nil {
		t.Fatal(err)
	}
}

func TestSQLiteDSN(t *testing.T) {
	for _, tc := range []struct {
		in, prefix string
		bad        bool
	}{
		{in: "herald.db", prefix: "file:herald.db?"},
		{in: "sqlite:data/h.db", prefix: "file:data/h.db?"},
		{in: "sqlite:///tmp/h.db", prefix: "file:/tmp/h.db?"},
		{in: "file:h.db?cache=shared", prefix: "file:h.db?cache=shared&"},
		{in: ":memory:", bad: true},
		{in: "sqlite:", bad: true},
	} {
		got, err := sqliteDSN(tc.in, false)
		if tc.bad {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%q: err = %v, want ErrInvalid", tc.in, err)
			}
			continue
		}
		if err != nil || !strings.HasPrefix(got, tc.prefix) || !strings.Contains(got, "_journal_mode=WAL") {
			t.Errorf("%q: got %q, %v", tc.in, got, err)
		}
	}
}

func BenchmarkNewID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		NewID()
	}
}
