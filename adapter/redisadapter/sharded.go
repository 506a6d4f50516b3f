package redisadapter

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/heraldio/herald/adapter/cluster"
	"github.com/heraldio/herald/adapter/internal/redisbus"
	"github.com/heraldio/herald/adapter/internal/wire"
	"github.com/heraldio/herald/socketio"
)

// NewSharded returns an AdapterFactory for Redis 7 sharded pub/sub
// (SPUBLISH, SSUBSCRIBE), compatible with Node's createShardedAdapter in
// its default "dynamic" subscription mode: messages {type, data, uid, nsp}
// (JSON, or msgpack when they carry binary) on "<key>#<nsp>#", on
// "<key>#<nsp>#<room>#" for a broadcast to one room (each node subscribes
// to the rooms its sockets are in), answers on "<key>#<nsp>#<uid>#". The
// number of nodes is PUBSUB SHARDNUMSUB. client publishes and subscribes.
func NewSharded(client redis.UniversalClient, opts *Options) socketio.AdapterFactory {
	return NewShardedWithSubscriber(client, client, opts)
}

// NewShardedWithSubscriber is NewSharded with a separate client for the
// subscriptions.
func NewShardedWithSubscriber(pub, sub redis.UniversalClient, opts *Options) socketio.AdapterFactory {
	o := optionsOrZero(opts)
	return func(nsp *socketio.Namespace) socketio.Adapter { return newSharded(nsp, pub, sub, o) }
}

var _ socketio.Adapter = (*Sharded)(nil)

// Sharded is the sharded adapter of one namespace: a cluster.Cluster over
// sharded pub/sub.
type Sharded struct {
	*cluster.Cluster
	bus  *shardedBus
	opts Options
	sub  *redisbus.Subscription

	mu    sync.Mutex
	rooms map[string]int // room → local sockets, for room channel subscriptions
}

// shardedBus is the cluster.Transport of a Sharded adapter.
type shardedBus struct {
	pub    redis.UniversalClient
	prefix string // "<key>#<nsp>#"
	opts   Options
	out    *redisbus.Outbox
}

var (
	_ cluster.ServerCounter = (*shardedBus)(nil)
	_ cluster.Reachability  = (*shardedBus)(nil)
)

func newSharded(nsp *socketio.Namespace, pub, sub redis.UniversalClient, o Options) *Sharded {
	b := &shardedBus{pub: pub, prefix: o.Key + "#" + nsp.Name() + "#", opts: o}
	// After an outage the queue waits (a little) for the nodes it counted
	// to subscribe again: pub/sub keeps nothing for them.
	b.out = redisbus.NewOutbox(pub, nsp.Name(), o.QueueSize, o.RequestsTimeout, o.Logger, b.ServerCount)
	a := &Sharded{bus: b, opts: o, rooms: map[string]int{},
		Cluster: cluster.New(nsp, b, &cluster.Options{RequestsTimeout: o.RequestsTimeout})}
	ctx, cancel := context.WithTimeout(context.Background(), o.RequestsTimeout)
	defer cancel()
	ps := sub.SSubscribe(ctx, b.prefix, b.prefix+a.UID()+"#")
	a.sub = redisbus.Subscribe(ps, 2, o.RequestsTimeout, o.Logger, a.onMessage)
	return a
}

func (a *Sharded) onMessage(m *redis.Message) {
	if msg, ok := redisbus.DecodeMessage(a.opts.Parser, []byte(m.Payload)); ok {
		a.Handle("", msg)
	}
}

// Publish implements cluster.Transport: SPUBLISH on the namespace's, a
// room's or a node's channel, queued.
func (b *shardedBus) Publish(ctx context.Context, m *cluster.Message) error {
	ch := b.prefix
	switch {
	case m.To != "":
		ch += m.To + "#"
	case m.Room != "":
		ch += m.Room + "#"
	}
	msg, err := redisbus.EncodeMessage(b.opts.Parser, m, false)
	if err != nil {
		b.opts.Logger.Warn("redisadapter: encode", "nsp", m.Nsp, "type", m.Type, "err", err)
		return err
	}
	return b.out.Push(b.out.ItemFor(m, []any{"spublish", ch, msg}))
}

// ServerCount implements cluster.ServerCounter with PUBSUB SHARDNUMSUB.
func (b *shardedBus) ServerCount(ctx context.Context) (int, error) {
	res, err := b.pub.PubSubShardNumSub(ctx, b.prefix).Result()
	if err != nil {
		return 1, err
	}
	n := int(res[b.prefix])
	if n < 1 {
		n = 1
	}
	return n, nil
}

// Reachable implements cluster.Reachability: false while Redis is known
// to be away.
func (b *shardedBus) Reachable() bool { return !b.out.Down() }

// Stats returns the counts of the messages sent to Redis.
func (a *Sharded) Stats() Stats { return Stats(a.bus.out.Stats()) }

// Close stops the subscription, ends waiting requests, then sends what is
// still queued (if Redis answers within RequestsTimeout, whatever ctx)
// and stops the sending goroutine.
func (a *Sharded) Close(ctx context.Context) error {
	err := a.sub.Close()
	_ = a.Cluster.Close(ctx)
	a.bus.out.Close()
	return err
}

// AddAll joins rooms and subscribes to the channels of rooms new here.
func (a *Sharded) AddAll(id string, rooms []string) {
	a.MemoryAdapter.AddAll(id, rooms)
	var subs []string
	a.mu.Lock()
	for _, r := range rooms {
		if r == id || wire.IsSocketID(r) {
			continue
		}
		if a.rooms[r]++; a.rooms[r] == 1 {
			subs = append(subs, a.bus.prefix+r+"#")
		}
	}
	a.mu.Unlock()
	if len(subs) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), a.opts.RequestsTimeout)
		defer cancel()
		if err := a.sub.PubSub.SSubscribe(ctx, subs...); err != nil {
			a.opts.Logger.Warn("redisadapter: ssubscribe room", "err", err)
		}
	}
}

// Del leaves a room, unsubscribing when no local socket is left in it.
func (a *Sharded) Del(id, room string) {
	before := len(a.MemoryAdapter.SocketRooms(id))
	a.MemoryAdapter.Del(id, room)
	if len(a.MemoryAdapter.SocketRooms(id)) < before {
		a.release([]string{room}, id)
	}
}

// DelAll leaves every room.
func (a *Sharded) DelAll(id string) {
	rooms := a.MemoryAdapter.SocketRooms(id)
	a.MemoryAdapter.DelAll(id)
	a.release(rooms, id)
}

func (a *Sharded) release(rooms []string, id string) {
	var unsubs []string
	a.mu.Lock()
	for _, r := range rooms {
		if r == id || a.rooms[r] == 0 {
			continue
		}
		if a.rooms[r]--; a.rooms[r] == 0 {
			delete(a.rooms, r)
			unsubs = append(unsubs, a.bus.prefix+r+"#")
		}
	}
	a.mu.Unlock()
	if len(unsubs) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), a.opts.RequestsTimeout)
		defer cancel()
		_ = a.sub.PubSub.SUnsubscribe(ctx, unsubs...)
	}
}
