package presence

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Cluster is the Tracker of a node in a cluster: each node counts its own
// connections (with a Local tracker, tabs and grace included) and keeps
// the users it has online in a record of its own in the shared Nodes (a
// Redis hash, a PostgreSQL row), which expires unless the node writes it
// again. A user is online while any live node has them.
// When a node dies its record expires, and every other node reports its
// users offline to its own clients (onVanish) within about TTL+Interval.
//
// Each node writes its whole state (the record replaced, with its TTL)
// every Interval and soon after each change of its users, on its own
// goroutine: Connect never waits for the shared store, and when it loses
// its data (a Redis restart, PostgreSQL's crash recovery of an unlogged
// table) the cluster's view is whole again within an Interval. A node that
// finds its own record gone holds off reporting vanished users for two
// Intervals, so the others have time to write theirs again; a user
// reported offline who then comes back is reported again (OnReturn).
// While the store is away no one is reported offline, and List answers
// from the last view.
type Cluster struct {
	nodes    Nodes
	key      string // this node's id in nodes
	ttl      time.Duration
	interval time.Duration
	log      *slog.Logger
	local    *Local
	onChange func(Change)
	onVanish func(Change)
	onReturn func(Change)
	kick     chan struct{} // a change to write now
	down     atomic.Bool   // the last call to nodes failed
	gap      time.Duration // between writes a change asked for
	maxAge   time.Duration // of the view List answers from

	views viewCache

	mu       sync.Mutex
	known    map[string]Entry     // the cluster's online users at the last sweep
	vanished map[string]time.Time // users reported offline by a sweep, and when
	wrote    bool                 // the last write left users in the record
	settle   time.Time            // no vanish reported before then

	cancel context.CancelFunc
	done   chan struct{}
}

// Nodes is where the nodes of a cluster keep their users: a record per
// node that expires unless written again. Its methods are safe for
// concurrent use.
type Nodes interface {
	// Write replaces node's record with users, to expire after ttl (no
	// users: the record is removed); it reports whether a live record of
	// the node was there before.
	Write(ctx context.Context, node string, users []Entry, ttl time.Duration) (existed bool, err error)
	// Read returns the users of every live node, by node (rooms included).
	Read(ctx context.Context) (map[string]map[string]Entry, error)
}

// ClusterOptions configures a Cluster tracker.
type ClusterOptions struct {
	Prefix   string        // Redis key prefix (NewCluster), default "herald:presence"
	Grace    time.Duration // as for Local
	TTL      time.Duration // a dead node's users go offline after this (default 15s)
	Interval time.Duration // write and sweep period (default TTL/3)
	// ListMaxAge lets List answer from a view of the cluster up to this
	// old (while a newer one is read), so that many pages asked for
	// together cost one read of the store. Zero: a fresh view per call.
	ListMaxAge time.Duration
	// WriteGap spaces the writes that changes ask for, so that a burst
	// of arrivals is written a few times rather than once per arrival
	// (default 100ms, at most Interval).
	WriteGap time.Duration
	Logger   *slog.Logger
	// OnChange reports this node's users' changes (to broadcast to the
	// whole cluster); OnVanish reports users of a node that died (to tell
	// this node's clients); OnReturn reports users OnVanish reported who
	// are online again (their node had not died, or the store lost its data),
	// to tell this node's clients too (default OnVanish).
	OnChange, OnVanish, OnReturn func(Change)
}

// NewClusterOn starts a cluster tracker whose nodes share nodes; Close
// stops it.
func NewClusterOn(nodes Nodes, o ClusterOptions) *Cluster {
	if o.TTL <= 0 {
		o.TTL = 15 * time.Second
	}
	if o.Interval <= 0 {
		o.Interval = o.TTL / 3
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.OnReturn == nil {
		o.OnReturn = o.OnVanish
	}
	if o.WriteGap <= 0 {
		o.WriteGap = 100 * time.Millisecond
	}
	o.WriteGap = min(o.WriteGap, o.Interval)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	c := &Cluster{nodes: nodes, key: hex.EncodeToString(b), ttl: o.TTL, interval: o.Interval,
		log: o.Logger, onChange: o.OnChange, onVanish: o.OnVanish, onReturn: o.OnReturn, kick: make(chan struct{}, 1),
		gap: o.WriteGap, maxAge: o.ListMaxAge,
		known: map[string]Entry{}, vanished: map[string]time.Time{}, done: make(chan struct{})}
	c.local = NewLocal(o.Grace, c.localChange)
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.run(ctx)
	return c
}

// localChange reports a change of this node's users. The record is written
// by the goroutine; only an offline user waits for the store (on the grace
// timer's goroutine), to learn whether another node still has them: from
// a view read after the user went offline here, which the users going
// offline together share.
func (c *Cluster) localChange(ch Change) {
	select {
	case c.kick <- struct{}{}:
	default:
	}
	if ch.Status == Offline && !c.down.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		nodes, err := c.views.after(ctx, time.Now(), c.readNodes)
		cancel()
		if _, online := merge(nodes, c.key)[ch.UserID]; online && err == nil {
			return // still online on another node
		}
	}
	c.mu.Lock()
	if ch.Status == Offline {
		delete(c.known, ch.UserID)
	} else {
		c.known[ch.UserID] = ch.Entry
	}
	c.mu.Unlock()
	c.onChange(ch)
}

// readNodes reads every live node's users: node → users.
func (c *Cluster) readNodes(ctx context.Context) (map[string]map[string]Entry, error) {
	nodes, err := c.nodes.Read(ctx)
	if err != nil {
		c.down.Store(true)
	}
	return nodes, err
}

// merge returns the users online on any node but skip's; a user on
// several nodes has the best status of them and all their rooms.
func merge(nodes map[string]map[string]Entry, skip string) map[string]Entry {
	out := map[string]Entry{}
	for key, users := range nodes {
		if key == skip {
			continue
		}
		for id, e := range users {
			if old, ok := out[id]; ok {
				e = combine(old, e)
			}
			out[id] = e
		}
	}
	return out
}

// combine is a user online on two nodes: the better status, and the
// rooms of both.
func combine(a, b Entry) Entry {
	rooms := a.Rooms
	if len(b.Rooms) > 0 {
		rooms = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(a.Rooms), b.Rooms...))))
	}
	if rank(b.Status) < rank(a.Status) {
		a = b
	}
	a.Rooms = rooms
	return a
}

// viewCache shares reads of the node records between callers: one read at a
// time, whose result serves every caller that asked before it started.
type viewCache struct {
	mu       sync.Mutex
	nodes    map[string]map[string]Entry
	readAt   time.Time     // when the kept read started
	inflight chan struct{} // closed when the current read ends
	started  time.Time     // when it started
	remote   []Entry       // the other nodes' users, sorted, for List; nil until asked
}

// after returns a read that started at or after t, waiting for one.
func (v *viewCache) after(ctx context.Context, t time.Time, read func(context.Context) (map[string]map[string]Entry, error)) (map[string]map[string]Entry, error) {
	for {
		v.mu.Lock()
		if v.nodes != nil && !v.readAt.Before(t) {
			nodes := v.nodes
			v.mu.Unlock()
			return nodes, nil
		}
		if ch := v.inflight; ch != nil {
			v.mu.Unlock()
			select {
			case <-ch: // then use it, or start one late enough
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			continue
		}
		ch := make(chan struct{})
		start := time.Now()
		v.inflight, v.started = ch, start
		v.mu.Unlock()
		nodes, err := read(ctx)
		v.mu.Lock()
		if err == nil {
			v.nodes, v.readAt, v.remote = nodes, start, nil
		}
		v.inflight = nil
		close(ch)
		v.mu.Unlock()
		return nodes, err
	}
}

// recent returns the other nodes' users, sorted, from a read less than
// maxAge old, or one less than ten times that while a newer is being read;
// it reports false when there is none, and the caller reads.
func (v *viewCache) recent(maxAge time.Duration, self string) ([]Entry, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	age := time.Since(v.readAt)
	if v.nodes == nil || age >= maxAge && (v.inflight == nil || age >= 10*maxAge) {
		return nil, false
	}
	if v.remote == nil {
		v.remote = sorted(merge(v.nodes, self))
	}
	return v.remote, true
}

// rank orders statuses: online wins over away over busy when a user is on
// several nodes.
func rank(s string) int {
	switch s {
	case Online:
		return 0
	case Away:
		return 1
	case Busy:
		return 2
	}
	return 3
}

func (c *Cluster) run(ctx context.Context) {
	defer close(c.done)
	t := time.NewTicker(c.interval)
	defer t.Stop()
	var last time.Time
	for {
		sweep := false
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
			// A change is written at once, unless one was written less
			// than a gap ago: then the burst it belongs to gathers, and one
			// write carries it.
			if wait := c.gap - time.Since(last); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		case <-t.C:
			sweep = true
		}
		last = time.Now()
		cx, cancel := context.WithTimeout(ctx, c.interval)
		lost, err := c.write(cx)
		if sweep && err == nil {
			c.sweep(cx, lost)
		}
		cancel()
	}
}

// write replaces this node's record with its users, atomically, and
// reports whether the record had vanished although it held users (the store
// lost its data, or was away past the TTL).
func (c *Cluster) write(ctx context.Context) (lost bool, err error) {
	users := c.local.List()
	existed, err := c.nodes.Write(ctx, c.key, users, c.ttl)
	if err != nil {
		if !c.down.Swap(true) {
			c.log.Warn("presence: shared store unavailable; the cluster's view is kept as it was", "err", err)
		}
		return false, err
	}
	if c.down.Swap(false) {
		c.log.Info("presence: shared store is back")
	}
	c.mu.Lock()
	lost = c.wrote && !existed
	c.wrote = len(users) > 0
	c.mu.Unlock()
	return lost, nil
}

// sweep reads the cluster's view and reports the users that vanished
// from it and those back after vanishing. After lost, vanished users are
// not reported for two intervals, while the other nodes write again.
func (c *Cluster) sweep(ctx context.Context, lost bool) {
	nodes, err := c.views.after(ctx, time.Now(), c.readNodes)
	if err != nil {
		return // no verdict without a view
	}
	view := merge(nodes, "")
	now := time.Now()
	var gone, back []Change
	c.mu.Lock()
	if lost {
		c.settle = now.Add(2 * c.interval)
	}
	for id, e := range c.known {
		if _, ok := view[id]; ok {
			continue
		}
		if now.Before(c.settle) {
			view[id] = e // kept until the others had time to write
			continue
		}
		ch := Change{Entry: e, Was: e.Status}
		ch.Status, ch.LastSeen = Offline, now.UTC()
		gone = append(gone, ch)
		c.vanished[id] = now
	}
	for id, at := range c.vanished {
		if e, ok := view[id]; ok {
			back = append(back, Change{Entry: e, Was: Offline})
			delete(c.vanished, id)
		} else if now.Sub(at) > 10*c.ttl {
			delete(c.vanished, id) // gone for good: their node died
		}
	}
	c.known = view
	c.mu.Unlock()
	for _, e := range gone {
		c.onVanish(e)
	}
	for _, e := range back {
		c.onReturn(e)
	}
}

// Connect implements Tracker.Connect for this node's users.
func (c *Cluster) Connect(userID, name string, rooms []string) bool {
	return c.local.Connect(userID, name, rooms)
}

// Disconnect implements Tracker.Disconnect.
func (c *Cluster) Disconnect(userID string) { c.local.Disconnect(userID) }

// SetStatus implements Tracker.SetStatus.
func (c *Cluster) SetStatus(userID, status string) bool {
	return c.local.SetStatus(userID, status)
}

// Join implements Tracker.Join.
func (c *Cluster) Join(userID string, rooms ...string) { c.local.Join(userID, rooms...) }

// List returns the users online anywhere in the cluster; while the store is
// away, those of the last view and this node's. With ListMaxAge, the other
// nodes' users may come from a read that old (or a little older while a
// new one is read), and this node's are always current.
func (c *Cluster) List() []Entry {
	local := c.local.List()
	if c.down.Load() {
		c.mu.Lock()
		view := maps.Clone(c.known)
		c.mu.Unlock()
		for _, e := range local { // this node's own are always known
			view[e.UserID] = e
		}
		return sorted(view)
	}
	if c.maxAge > 0 {
		if remote, ok := c.views.recent(c.maxAge, c.key); ok {
			return mergeSorted(remote, local)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	nodes, err := c.views.after(ctx, time.Now(), c.readNodes)
	cancel()
	if err != nil {
		c.mu.Lock()
		nodes = map[string]map[string]Entry{"": maps.Clone(c.known)}
		c.mu.Unlock()
	}
	return mergeSorted(sorted(merge(nodes, c.key)), local)
}

// sorted returns the entries of m ordered by user id.
func sorted(m map[string]Entry) []Entry {
	out := make([]Entry, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
	return out
}

// mergeSorted merges two lists ordered by user id; a user in both has the
// better status and the rooms of both.
func mergeSorted(a, b []Entry) []Entry {
	out := make([]Entry, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		switch {
		case a[0].UserID < b[0].UserID:
			out, a = append(out, a[0]), a[1:]
		case a[0].UserID > b[0].UserID:
			out, b = append(out, b[0]), b[1:]
		default:
			out = append(out, combine(a[0], b[0]))
			a, b = a[1:], b[1:]
		}
	}
	return append(append(out, a...), b...)
}

// Close stops the tracker. This node's users leave the cluster an
// Interval and a half later: their record is written a last time to
// expire then, so that every other node's sweep sees them once more and
// then reports them offline. Removed at once, a user who arrived here
// since another node's last sweep would never be reported offline there.
func (c *Cluster) Close() {
	c.cancel()
	<-c.done
	users := c.local.List()
	c.local.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _ = c.nodes.Write(ctx, c.key, users, c.interval*3/2)
}

// Abandon stops the tracker as a crash would: its users stay in the
// shared store until their record expires. For tests of node failure.
func (c *Cluster) Abandon() {
	c.cancel()
	<-c.done
	c.local.Close()
}
