package presence

import (
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Batcher gathers presence changes and hands the net ones to its flush
// function once per tick: the last state of each user wins, and a user
// back where they were when the tick began (online, offline, online) is
// not reported at all. So a storm of N users arriving costs each client
// one event per tick instead of one per user.
//
// A flushed Change whose Status differs from Was is a status change, for
// every room of the user's audience; one whose Status is Was only tells
// the rooms in Joined.
//
// Flushes run one at a time on the Batcher's own goroutine. Hold keeps
// them waiting, so that a snapshot read and sent under Hold is never
// overtaken by an older flush: a client applying the snapshot and then the
// events in the order received ends up with the current state.
type Batcher struct {
	tick  time.Duration
	flush func([]Change)

	mu      sync.Mutex
	pending map[string]*Change
	timer   *time.Timer
	closed  bool

	emit    sync.RWMutex // held by a flush; read-held by Hold
	flushes atomic.Uint64
}

// NewBatcher returns a Batcher that calls flush with the net changes of
// each tick, ordered by user id. A tick of zero or less flushes each
// change at once.
func NewBatcher(tick time.Duration, flush func([]Change)) *Batcher {
	return &Batcher{tick: tick, flush: flush, pending: map[string]*Change{}}
}

// Add records a change; it does not wait for a flush.
func (b *Batcher) Add(c Change) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	if p := b.pending[c.UserID]; p != nil {
		was, joined := p.Was, p.Joined
		*p = c
		p.Was = was // the state when the tick began
		for _, r := range c.Joined {
			if !slices.Contains(joined, r) {
				joined = append(joined, r)
			}
		}
		p.Joined = joined
	} else {
		c.Joined = slices.Clone(c.Joined)
		b.pending[c.UserID] = &c
	}
	if b.tick <= 0 {
		b.mu.Unlock()
		b.Flush()
		return
	}
	if b.timer == nil {
		b.timer = time.AfterFunc(b.tick, b.Flush)
	}
	b.mu.Unlock()
}

// Flush hands the pending changes to the flush function now.
func (b *Batcher) Flush() {
	b.emit.Lock()
	defer b.emit.Unlock()
	b.mu.Lock()
	pending := b.pending
	b.pending = map[string]*Change{}
	b.timer = nil
	b.mu.Unlock()
	out := make([]Change, 0, len(pending))
	for _, c := range pending {
		switch {
		case c.Status != c.Was:
			c.Joined = nil
		case len(c.Joined) == 0 || c.Status == Offline:
			continue // back as it was: nothing to tell
		}
		out = append(out, *c)
	}
	b.flushes.Add(1) // pending was emptied, sent or not
	if len(out) == 0 {
		return
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
	b.flush(out)
}

// Pending returns the latest entry of each user with a change waiting for
// the next flush, ordered by user id.
func (b *Batcher) Pending() []Entry {
	b.mu.Lock()
	out := make([]Entry, 0, len(b.pending))
	for _, c := range b.pending {
		out = append(out, c.Entry)
	}
	b.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
	return out
}

// Flushes returns how many flushes ran: a snapshot taken before the count
// moved may miss what they reported; one taken after, with Pending laid
// over it, is current.
func (b *Batcher) Flushes() uint64 { return b.flushes.Load() }

// Hold keeps flushes waiting until release is called. Keep it short: a
// snapshot and a send.
func (b *Batcher) Hold() (release func()) {
	b.emit.RLock()
	return b.emit.RUnlock
}

// Close flushes what is pending; later changes are dropped.
func (b *Batcher) Close() {
	b.mu.Lock()
	b.closed = true
	if b.timer != nil {
		b.timer.Stop()
	}
	b.mu.Unlock()
	b.Flush()
}
