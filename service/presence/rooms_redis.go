package presence

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClusterRooms is the Rooms of a node in a cluster, over Redis. Each
// (room, user) is a sorted set of the user's sockets there, each scored
// with the time it lapses; a Lua script adds or removes one socket and
// counts the others in one step, so two nodes cannot both see the other's
// socket, or neither.
//
// Each node also keeps the sockets it entered and writes them again every
// Interval, to live another TTL: the sockets of a node that died lapse
// after TTL, and when Redis loses its data (a restart) every node's
// sockets are back within an Interval. Until then a departure is told if
// the user has no socket left there that Redis knows of (two sockets
// leaving in that moment may both be told the last).
type ClusterRooms struct {
	rdb      redis.UniversalClient
	prefix   string
	ttl      time.Duration
	interval time.Duration
	log      *slog.Logger

	// gate keeps a renewal from writing a socket again after its Exit:
	// Enter and Exit hold it shared across their call to Redis, a
	// renewal exclusively across each of its writes.
	gate  sync.RWMutex
	mu    sync.Mutex
	socks map[roomUser]map[string]struct{} // this node's sockets

	cancel context.CancelFunc
	done   chan struct{}
}

// ClusterRoomsOptions configures ClusterRooms.
type ClusterRoomsOptions struct {
	Prefix   string        // key prefix, default "herald:rooms"
	TTL      time.Duration // a dead node's sockets lapse after this (default 15s)
	Interval time.Duration // between renewals (default TTL/3)
	Logger   *slog.Logger
}

// NewClusterRooms starts a ClusterRooms; Close stops it.
func NewClusterRooms(rdb redis.UniversalClient, o ClusterRoomsOptions) *ClusterRooms {
	if o.Prefix == "" {
		o.Prefix = "herald:rooms"
	}
	if o.TTL <= 0 {
		o.TTL = 15 * time.Second
	}
	if o.Interval <= 0 || o.Interval > o.TTL {
		o.Interval = o.TTL / 3
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &ClusterRooms{rdb: rdb, prefix: o.Prefix, ttl: o.TTL, interval: o.Interval, log: o.Logger,
		socks: make(map[roomUser]map[string]struct{}), cancel: cancel, done: make(chan struct{})}
	go r.run(ctx)
	return r
}

// key is the sorted set of (room, user); the room's length keeps ids
// with colons apart.
func (r *ClusterRooms) key(k roomUser) string {
	return r.prefix + ":" + strconv.Itoa(len(k.room)) + ":" + k.room + ":" + k.user
}

// enterScript adds ARGV[1] (lapsing at ARGV[3]) to the set KEYS[1], with
// the sockets lapsed by ARGV[2] dropped; 1 if it is the only one there.
var enterScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local added = redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if added == 1 and redis.call('ZCARD', KEYS[1]) == 1 then return 1 end
return 0
`)

// exitScript removes ARGV[1] from the set KEYS[1], with the sockets
// lapsed by ARGV[2] dropped; 1 if it was there (or ARGV[3] is 1: this node
// had entered it, and Redis lost it) and none is left.
var exitScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
if (removed == 1 or ARGV[3] == '1') and redis.call('ZCARD', KEYS[1]) == 0 then return 1 end
return 0
`)

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// Enter implements Rooms.
func (r *ClusterRooms) Enter(ctx context.Context, room, user, sid string) (bool, error) {
	k := roomUser{room, user}
	r.gate.RLock()
	defer r.gate.RUnlock()
	r.mu.Lock()
	addSocket(r.socks, k, sid) // written again by the next renewal if Redis fails now
	r.mu.Unlock()
	now := time.Now()
	n, err := enterScript.Run(ctx, r.rdb, []string{r.key(k)}, sid, ms(now), ms(now.Add(r.ttl)), r.ttl.Milliseconds()).Int()
	return n == 1, err
}

// Exit implements Rooms.
func (r *ClusterRooms) Exit(ctx context.Context, room, user, sid string) (bool, error) {
	k := roomUser{room, user}
	r.gate.RLock()
	defer r.gate.RUnlock()
	r.mu.Lock()
	_, known := r.socks[k][sid]
	removeSocket(r.socks, k, sid)
	r.mu.Unlock()
	flag := "0"
	if known {
		flag = "1"
	}
	n, err := exitScript.Run(ctx, r.rdb, []string{r.key(k)}, sid, ms(time.Now()), flag).Int()
	return n == 1, err
}

func (r *ClusterRooms) run(ctx context.Context) { renewEvery(ctx, r.done, r.interval, r.renew, r.log) }

// renewBatch is how many sets one write of a renewal renews.
const renewBatch = 500

// renew writes this node's sockets again, to lapse a TTL from now.
func (r *ClusterRooms) renew(ctx context.Context) error {
	r.mu.Lock()
	keys := make([]roomUser, 0, len(r.socks))
	for k := range r.socks {
		keys = append(keys, k)
	}
	r.mu.Unlock()
	for len(keys) > 0 {
		n := min(len(keys), renewBatch)
		if err := r.renewSome(ctx, keys[:n]); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

func (r *ClusterRooms) renewSome(ctx context.Context, keys []roomUser) error {
	r.gate.Lock()
	defer r.gate.Unlock()
	ctx, cancel := context.WithTimeout(ctx, r.interval)
	defer cancel()
	pipe := r.rdb.Pipeline()
	now := time.Now()
	lapse := float64(now.Add(r.ttl).UnixMilli())
	r.mu.Lock()
	for _, k := range keys {
		set := r.socks[k]
		if len(set) == 0 {
			continue // gone since the keys were listed
		}
		members := make([]redis.Z, 0, len(set))
		for sid := range set {
			members = append(members, redis.Z{Score: lapse, Member: sid})
		}
		key := r.key(k)
		pipe.ZRemRangeByScore(ctx, key, "-inf", ms(now))
		pipe.ZAdd(ctx, key, members...)
		pipe.PExpire(ctx, key, r.ttl)
	}
	r.mu.Unlock()
	if pipe.Len() == 0 {
		return nil
	}
	_, err := pipe.Exec(ctx)
	return err
}

// Close stops the renewals. The sets are left to lapse (the sockets have
// left by then, each with its Exit).
func (r *ClusterRooms) Close() {
	r.cancel()
	<-r.done
}
