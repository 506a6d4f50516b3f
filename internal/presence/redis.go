package presence

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"maps"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is the Tracker of a node in a cluster: each node counts its own
// connections (with a Local tracker, tabs and grace included) and keeps
// the users it has online in a Redis hash of its own, which expires unless
// the node writes it again. A user is online while any live node has them.
// When a node dies its hash expires, and every other node reports its
// users offline to its own clients (onVanish) within about TTL+Interval.
//
// Each node writes its whole state (the hash replaced, with its TTL) every
// Interval and soon after each change of its users, on its own goroutine:
// Connect never waits for Redis, and when Redis loses its data (a restart)
// the cluster's view is whole again within an Interval. A node that finds
// its own hash gone holds off reporting vanished users for two Intervals,
// so the others have time to write theirs again; a user reported offline
// who then comes back is reported again (OnReturn). While Redis is away no
// one is reported offline, and List answers from the last view.
type Cluster struct {
	rdb      redis.UniversalClient
	key      string // this node's hash
	prefix   string
	ttl      time.Duration
	interval time.Duration
	log      *slog.Logger
	local    *Local
	onChange func(Entry)
	onVanish func(Entry)
	onReturn func(Entry)
	kick     chan struct{} // a change to write now
	down     atomic.Bool   // the last Redis call failed

	mu       sync.Mutex
	known    map[string]Entry     // the cluster's online users at the last sweep
	vanished map[string]time.Time // users reported offline by a sweep, and when
	wrote    bool                 // the last write left users in the hash
	settle   time.Time            // no vanish reported before then

	cancel context.CancelFunc
	done   chan struct{}
}

// ClusterOptions configures a Cluster tracker.
type ClusterOptions struct {
	Prefix   string        // key prefix, default "herald:presence"
	Grace    time.Duration // as for Local
	TTL      time.Duration // a dead node's users go offline after this (default 15s)
	Interval time.Duration // write and sweep period (default TTL/3)
	Logger   *slog.Logger
	// OnChange reports this node's users' changes (to broadcast to the
	// whole cluster); OnVanish reports users of a node that died (to tell
	// this node's clients); OnReturn reports users OnVanish reported who
	// are online again (their node had not died, or Redis lost its data),
	// to tell this node's clients too (default OnVanish).
	OnChange, OnVanish, OnReturn func(Entry)
}

// NewCluster starts a cluster tracker; Close stops it.
func NewCluster(rdb redis.UniversalClient, o ClusterOptions) *Cluster {
	if o.Prefix == "" {
		o.Prefix = "herald:presence"
	}
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
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	c := &Cluster{rdb: rdb, prefix: o.Prefix, key: o.Prefix + ":node:" + hex.EncodeToString(b), ttl: o.TTL, interval: o.Interval,
		log: o.Logger, onChange: o.OnChange, onVanish: o.OnVanish, onReturn: o.OnReturn, kick: make(chan struct{}, 1),
		known: map[string]Entry{}, vanished: map[string]time.Time{}, done: make(chan struct{})}
	c.local = NewLocal(o.Grace, c.localChange)
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.run(ctx)
	return c
}

// localChange reports a change of this node's users. The hash is written
// by the goroutine; only an offline user waits for Redis (on the grace
// timer's goroutine), to learn whether another node still has them.
func (c *Cluster) localChange(e Entry) {
	select {
	case c.kick <- struct{}{}:
	default:
	}
	if e.Status == Offline && !c.down.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		view, err := c.clusterView(ctx, c.key)
		cancel()
		if _, online := view[e.UserID]; online && err == nil {
			return // still online on another node
		}
	}
	c.mu.Lock()
	if e.Status == Offline {
		delete(c.known, e.UserID)
	} else {
		c.known[e.UserID] = e
	}
	c.mu.Unlock()
	c.onChange(e)
}

// clusterView returns the users online on any live node but skip's.
func (c *Cluster) clusterView(ctx context.Context, skip string) (map[string]Entry, error) {
	out := map[string]Entry{}
	iter := c.rdb.Scan(ctx, 0, c.prefix+":node:*", 100).Iterator()
	for iter.Next(ctx) {
		if iter.Val() == skip {
			continue
		}
		m, err := c.rdb.HGetAll(ctx, iter.Val()).Result()
		if err != nil {
			c.down.Store(true)
			return out, err
		}
		for id, v := range m {
			var e Entry
			if json.Unmarshal([]byte(v), &e) == nil {
				if old, ok := out[id]; !ok || rank(e.Status) < rank(old.Status) {
					out[id] = e
				}
			}
		}
	}
	if err := iter.Err(); err != nil {
		c.down.Store(true)
		return out, err
	}
	return out, nil
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
	for {
		sweep := false
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		case <-t.C:
			sweep = true
		}
		cx, cancel := context.WithTimeout(ctx, c.interval)
		lost, err := c.write(cx)
		if sweep && err == nil {
			c.sweep(cx, lost)
		}
		cancel()
	}
}

// write replaces this node's hash with its users, atomically, and
// reports whether the hash had vanished although it held users (Redis
// lost its data, or was away past the TTL).
func (c *Cluster) write(ctx context.Context) (lost bool, err error) {
	users := c.local.List()
	pipe := c.rdb.TxPipeline()
	exists := pipe.Exists(ctx, c.key)
	pipe.Del(ctx, c.key)
	if len(users) > 0 {
		fields := make([]any, 0, 2*len(users))
		for _, e := range users {
			b, _ := json.Marshal(e)
			fields = append(fields, e.UserID, b)
		}
		pipe.HSet(ctx, c.key, fields...)
		pipe.PExpire(ctx, c.key, c.ttl)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		if !c.down.Swap(true) {
			c.log.Warn("presence: redis unavailable; the cluster's view is kept as it was", "err", err)
		}
		return false, err
	}
	if c.down.Swap(false) {
		c.log.Info("presence: redis is back")
	}
	c.mu.Lock()
	lost = c.wrote && exists.Val() == 0
	c.wrote = len(users) > 0
	c.mu.Unlock()
	return lost, nil
}

// sweep reads the cluster's view and reports the users that vanished
// from it and those back after vanishing. After lost, vanished users are
// not reported for two intervals, while the other nodes write again.
func (c *Cluster) sweep(ctx context.Context, lost bool) {
	view, err := c.clusterView(ctx, "")
	if err != nil {
		return // no verdict without a view
	}
	now := time.Now()
	var gone, back []Entry
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
		e.Status, e.LastSeen = Offline, now.UTC()
		gone = append(gone, e)
		c.vanished[id] = now
	}
	for id, at := range c.vanished {
		if e, ok := view[id]; ok {
			back = append(back, e)
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

func (c *Cluster) Connect(userID, name string) bool { return c.local.Connect(userID, name) }
func (c *Cluster) Disconnect(userID string)         { c.local.Disconnect(userID) }
func (c *Cluster) SetStatus(userID, status string) bool {
	return c.local.SetStatus(userID, status)
}

// List returns the users online anywhere in the cluster; while Redis is
// away, those of the last view and this node's.
func (c *Cluster) List() []Entry {
	var view map[string]Entry
	var err error
	if !c.down.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		view, err = c.clusterView(ctx, "")
		cancel()
	}
	if view == nil || err != nil {
		c.mu.Lock()
		view = maps.Clone(c.known)
		c.mu.Unlock()
	}
	for _, e := range c.local.List() { // this node's own are always known
		if _, ok := view[e.UserID]; !ok {
			view[e.UserID] = e
		}
	}
	out := make([]Entry, 0, len(view))
	for _, e := range view {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
	return out
}

// Close stops the tracker and removes this node's users from the cluster.
func (c *Cluster) Close() {
	c.cancel()
	<-c.done
	c.local.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c.rdb.Del(ctx, c.key)
}

// Abandon stops the tracker as a crash would: its users stay in Redis
// until their hash expires. For tests of node failure.
func (c *Cluster) Abandon() {
	c.cancel()
	<-c.done
	c.local.Close()
}
