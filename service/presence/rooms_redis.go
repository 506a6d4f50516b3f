package presence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
//
// A user whose last socket in a room lapsed (its node died) left without
// an Exit: every Interval each node sweeps the sets due to lapse, and the
// one whose sweep empties a set is told (OnLapse), so that exactly one
// node tells the room. An index, a sorted set of the (room, user) pairs
// scored with the time their last socket lapses, finds them; Enter,
// renewals and sweeps keep it, an Exit that is the last drops the pair.
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

	onLapse atomic.Pointer[func([]Lapse)]

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

// defaults fills in the zero fields both cluster stores share.
func (o *ClusterRoomsOptions) defaults() {
	if o.TTL <= 0 {
		o.TTL = 15 * time.Second
	}
	if o.Interval <= 0 || o.Interval > o.TTL {
		o.Interval = o.TTL / 3
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// NewClusterRooms starts a ClusterRooms; Close stops it.
func NewClusterRooms(rdb redis.UniversalClient, o ClusterRoomsOptions) *ClusterRooms {
	if o.Prefix == "" {
		o.Prefix = "herald:rooms"
	}
	o.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	r := &ClusterRooms{rdb: rdb, prefix: o.Prefix, ttl: o.TTL, interval: o.Interval, log: o.Logger,
		socks: make(map[roomUser]map[string]struct{}), cancel: cancel, done: make(chan struct{})}
	go r.run(ctx)
	return r
}

// key is the sorted set of (room, user).
func (r *ClusterRooms) key(k roomUser) string { return r.prefix + ":" + member(k) }

// member is (room, user) in the index, and its set's key after the
// prefix; the room's length keeps ids with colons apart.
func member(k roomUser) string { return strconv.Itoa(len(k.room)) + ":" + k.room + ":" + k.user }

// parseMember is the inverse of member.
func parseMember(m string) (roomUser, bool) {
	n, rest, ok := strings.Cut(m, ":")
	l, err := strconv.Atoi(n)
	if !ok || err != nil || l < 0 || len(rest) < l+1 || rest[l] != ':' {
		return roomUser{}, false
	}
	return roomUser{room: rest[:l], user: rest[l+1:]}, true
}

// index is the sorted set of the (room, user) pairs with sockets, each
// scored with the time the last of them lapses. (The name cannot be a
// set's key: those have a digit after the prefix.)
func (r *ClusterRooms) index() string { return r.prefix + ":lapses" }

// enterScript adds ARGV[1] (lapsing at ARGV[3]) to the set KEYS[1], with
// the sockets lapsed by ARGV[2] dropped, and the pair ARGV[5] to the
// index KEYS[2]; 1 if it is the only one there.
var enterScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local added = redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], 'GT', ARGV[3], ARGV[5])
if added == 1 and redis.call('ZCARD', KEYS[1]) == 1 then return 1 end
return 0
`)

// exitScript removes ARGV[1] from the set KEYS[1], with the sockets
// lapsed by ARGV[2] dropped; 1 if it was there (or ARGV[3] is 1: this node
// had entered it, and Redis lost it) and none is left; then the pair
// ARGV[4] leaves the index KEYS[2] (its departure is told).
var exitScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
if (removed == 1 or ARGV[3] == '1') and redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[4])
  return 1
end
return 0
`)

// sweepScript drops the sockets lapsed by ARGV[1] from the sets of up to
// ARGV[3] pairs of the index KEYS[1] due by then (their set's key is
// ARGV[2], the prefix, and the pair), and returns the pairs whose set is
// empty, which leave the index; a pair with a socket left is scored
// again with its last one.
var sweepScript = redis.NewScript(`
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local gone = {}
for _, m in ipairs(due) do
  local key = ARGV[2] .. ':' .. m
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[1])
  local top = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if top[1] then
    redis.call('ZADD', KEYS[1], top[2], m)
  else
    redis.call('ZREM', KEYS[1], m)
    gone[#gone + 1] = m
  end
end
return gone
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
	n, err := enterScript.Run(ctx, r.rdb, []string{r.key(k), r.index()},
		sid, ms(now), ms(now.Add(r.ttl)), r.ttl.Milliseconds(), member(k)).Int()
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
	n, err := exitScript.Run(ctx, r.rdb, []string{r.key(k), r.index()}, sid, ms(time.Now()), flag, member(k)).Int()
	return n == 1, err
}

func (r *ClusterRooms) run(ctx context.Context) {
	renewEvery(ctx, r.done, r.interval, r.renewAndSweep, r.log)
}

// renewAndSweep writes this node's sockets again, then sweeps the lapsed.
func (r *ClusterRooms) renewAndSweep(ctx context.Context) error {
	err := r.renew(ctx)
	if serr := r.sweep(ctx); serr != nil {
		err = errors.Join(err, fmt.Errorf("sweeping lapsed sockets: %w", serr))
	}
	return err
}

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
		pipe.ZAddGT(ctx, r.index(), redis.Z{Score: lapse, Member: member(k)})
	}
	r.mu.Unlock()
	if pipe.Len() == 0 {
		return nil
	}
	_, err := pipe.Exec(ctx)
	return err
}

// OnLapse implements Lapsing: it sets fn to be told, on the ClusterRooms' goroutine, of the users
// whose last socket in a room lapsed since the last sweep, as this node's
// sweep found them (no other node is told of them). fn must not block: a
// sweep comes with the renewals.
func (r *ClusterRooms) OnLapse(fn func([]Lapse)) { r.onLapse.Store(&fn) }

// sweepBatch is how many pairs one sweep looks at, at most.
const sweepBatch = 500

// sweep drops the lapsed sockets of the pairs due and tells OnLapse of the
// pairs it emptied.
func (r *ClusterRooms) sweep(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.interval)
	defer cancel()
	gone, err := sweepScript.Run(ctx, r.rdb, []string{r.index()}, ms(time.Now()), r.prefix, sweepBatch).StringSlice()
	if err != nil || len(gone) == 0 {
		return err
	}
	lapsed := make([]Lapse, 0, len(gone))
	for _, m := range gone {
		if k, ok := parseMember(m); ok {
			lapsed = append(lapsed, Lapse{Room: k.room, User: k.user})
		}
	}
	if fn := r.onLapse.Load(); fn != nil && len(lapsed) > 0 {
		(*fn)(lapsed)
	}
	return nil
}

// Close stops the renewals and sweeps. The sets are left to lapse (the
// sockets have left by then, each with its Exit).
func (r *ClusterRooms) Close() {
	r.cancel()
	<-r.done
}
