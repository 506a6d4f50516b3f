package presence

import (
	"slices"
	"sort"
	"sync"
	"time"
)

// Snapshot is the online users at one moment, ordered by user id and
// indexed by audience room, to be read a page at a time.
type Snapshot struct {
	all    []Entry
	byRoom map[string][]int32 // positions in all, ascending
}

// NewSnapshot indexes list, which must be ordered by user id (as List
// returns it). The snapshot keeps list; it must not change after.
func NewSnapshot(list []Entry) *Snapshot {
	s := &Snapshot{all: list}
	for i, e := range list {
		for _, r := range e.Rooms {
			if s.byRoom == nil {
				s.byRoom = map[string][]int32{}
			}
			if l := s.byRoom[r]; len(l) == 0 || l[len(l)-1] != int32(i) { // a room named twice
				s.byRoom[r] = append(l, int32(i))
			}
		}
	}
	return s
}

// Len returns how many users are online.
func (s *Snapshot) Len() int { return len(s.all) }

// Page returns up to limit users whose id sorts after the cursor after
// ("" starts at the first), and the cursor of the next page ("" after the
// last). With rooms nil it pages everyone; otherwise the users whose
// audience rooms include any of rooms, each once.
func (s *Snapshot) Page(rooms []string, after string, limit int) (users []Entry, next string) {
	return s.PageWith(nil, rooms, after, limit)
}

// PageWith is Page over the snapshot with newer entries laid over it:
// pending, ordered by user id (as Batcher.Pending returns them), replace
// the snapshot's entries of their users, and drop those gone offline. So
// a snapshot taken at the last flush, with the changes pending since,
// pages the current state.
func (s *Snapshot) PageWith(pending []Entry, rooms []string, after string, limit int) (users []Entry, next string) {
	if limit <= 0 {
		return nil, ""
	}
	base := s.from(rooms, after)
	j := sort.Search(len(pending), func(i int) bool { return pending[i].UserID > after })
	pending = pending[j:]
	b, ok := base()
	for ok || len(pending) > 0 {
		var e Entry
		switch {
		case !ok || len(pending) > 0 && pending[0].UserID < b.UserID:
			e, pending = pending[0], pending[1:]
			if e.Status == Offline || !inRooms(e, rooms) {
				continue
			}
		case len(pending) > 0 && pending[0].UserID == b.UserID:
			e, pending = pending[0], pending[1:]
			b, ok = base()
			if e.Status == Offline || !inRooms(e, rooms) {
				continue
			}
		default:
			e = b
			b, ok = base()
		}
		if len(users) == limit {
			return users, users[limit-1].UserID
		}
		users = append(users, e)
	}
	return users, ""
}

// inRooms reports whether e's audience has any of rooms (nil: everyone's
// does).
func inRooms(e Entry, rooms []string) bool {
	if rooms == nil {
		return true
	}
	for _, r := range rooms {
		if _, found := slices.BinarySearch(e.Rooms, r); found {
			return true
		}
	}
	return false
}

// from returns the snapshot's users after the cursor, in id order, one at
// a time: everyone, or those in any of rooms.
func (s *Snapshot) from(rooms []string, after string) func() (Entry, bool) {
	start := sort.Search(len(s.all), func(i int) bool { return s.all[i].UserID > after })
	if rooms == nil {
		i := start
		return func() (Entry, bool) {
			if i >= len(s.all) {
				return Entry{}, false
			}
			i++
			return s.all[i-1], true
		}
	}
	// A merge of the rooms' position lists from the cursor on: positions
	// in all are in user id order, so the smallest head is the next user.
	heads := make([][]int32, 0, len(rooms))
	for _, r := range rooms {
		l := s.byRoom[r]
		j := sort.Search(len(l), func(i int) bool { return int(l[i]) >= start })
		if j < len(l) {
			heads = append(heads, l[j:])
		}
	}
	return func() (Entry, bool) {
		if len(heads) == 0 {
			return Entry{}, false
		}
		low := heads[0][0]
		for _, h := range heads[1:] {
			low = min(low, h[0])
		}
		kept := heads[:0]
		for _, h := range heads {
			if h[0] == low {
				h = h[1:]
			}
			if len(h) > 0 {
				kept = append(kept, h)
			}
		}
		heads = kept
		return s.all[low], true
	}
}

// Roster serves pages of a tracker's online users from a Snapshot that it
// takes again only when a flush reported changes since the last one, or
// when the last is older than maxAge (for changes it hears of otherwise,
// such as other nodes'): during a storm of arrivals each of them asks for
// a page, and a snapshot per arrival would cost O(N²).
type Roster struct {
	list    func() []Entry
	flushes func() uint64
	maxAge  time.Duration

	mu   sync.Mutex
	snap *Snapshot
	gen  uint64
	at   time.Time
}

// NewRoster returns a Roster over list (ordered by user id, as Tracker.List
// returns it), invalidated when flushes moves (Batcher.Flushes) or after
// maxAge (zero: never by age).
func NewRoster(list func() []Entry, flushes func() uint64, maxAge time.Duration) *Roster {
	return &Roster{list: list, flushes: flushes, maxAge: maxAge}
}

// Snapshot returns the current snapshot.
func (r *Roster) Snapshot() *Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	gen := r.flushes()
	if r.snap == nil || r.gen != gen || r.maxAge > 0 && time.Since(r.at) >= r.maxAge {
		r.snap, r.gen, r.at = NewSnapshot(r.list()), gen, time.Now()
	}
	return r.snap
}
