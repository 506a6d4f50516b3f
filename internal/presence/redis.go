package presence

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is the Tracker of a node in a cluster: each node counts its own
// connections (with a Local tracker, tabs and grace included) and keeps
// the users it has online in a Redis hash of its own, which expires unless
// the node refreshes it. A user is online while any live node has them.
// When a node dies its hash expires, and every other node reports its
// users offline to its own clients (onVanish) within about TTL+Interval.
type Cluster struct {
	rdb      redis.UniversalClient
	key      string // this node's hash
	prefix   string
	ttl      time.Duration
	log      *slog.Logger
	local    *Local
	onChange func(Entry)
	onVanish func(Entry)

	mu    sync.Mutex
	known map[string]Entry // the cluster's online users at the last sweep

	cancel context.CancelFunc
	done   chan struct{}
}

// ClusterOptions configures a Cluster tracker.
type ClusterOptions struct {
	Prefix   string        // key prefix, default "herald:presence"
	Grace    time.Duration // as for Local
	TTL      time.Duration // a dead node's users go offline after this (default 15s)
	Interval time.Duration // refresh and sweep period (default TTL/3)
	Logger   *slog.Logger
	// OnChange reports this node's users' changes (to broadcast to the
	// whole cluster); OnVanish reports users of a node that died (to tell
	// this node's clients).
	OnChange, OnVanish func(Entry)
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
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	c := &Cluster{rdb: rdb, prefix: o.Prefix, key: o.Prefix + ":node:" + hex.EncodeToString(b), ttl: o.TTL,
		log: o.Logger, onChange: o.OnChange, onVanish: o.OnVanish, known: map[string]Entry{}, done: make(chan struct{})}
	c.local = NewLocal(o.Grace, c.localChange)
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.run(ctx, o.Interval)
	return c
}

func (c *Cluster) localChange(e Entry) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if e.Status == Offline {
		c.rdb.HDel(ctx, c.key, e.UserID)
		if _, online := c.clusterView(ctx)[e.UserID]; online {
			return // still online on another node
		}
	} else {
		b, _ := json.Marshal(e)
		pipe := c.rdb.TxPipeline()
		pipe.HSet(ctx, c.key, e.UserID, b)
		pipe.Expire(ctx, c.key, c.ttl)
		if _, err := pipe.Exec(ctx); err != nil {
			c.log.Warn("presence: redis", "err", err)
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

// clusterView returns the users online on any live node.
func (c *Cluster) clusterView(ctx context.Context) map[string]Entry {
	out := map[string]Entry{}
	iter := c.rdb.Scan(ctx, 0, c.prefix+":node:*", 100).Iterator()
	for iter.Next(ctx) {
		m, err := c.rdb.HGetAll(ctx, iter.Val()).Result()
		if err != nil {
			continue
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
	return out
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

func (c *Cluster) run(ctx context.Context, every time.Duration) {
	defer close(c.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cx, cancel := context.WithTimeout(ctx, every)
		c.rdb.Expire(cx, c.key, c.ttl)
		view := c.clusterView(cx)
		cancel()
		c.mu.Lock()
		var gone []Entry
		for id, e := range c.known {
			if _, ok := view[id]; !ok {
				e.Status, e.LastSeen = Offline, time.Now().UTC()
				gone = append(gone, e)
			}
		}
		c.known = view
		c.mu.Unlock()
		for _, e := range gone {
			c.onVanish(e)
		}
	}
}

func (c *Cluster) Connect(userID, name string) bool { return c.local.Connect(userID, name) }
func (c *Cluster) Disconnect(userID string)         { c.local.Disconnect(userID) }
func (c *Cluster) SetStatus(userID, status string) bool {
	return c.local.SetStatus(userID, status)
}

// List returns the users online anywhere in the cluster.
func (c *Cluster) List() []Entry {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	view := c.clusterView(ctx)
	for _, e := range c.local.List() { // in case Redis is away
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
