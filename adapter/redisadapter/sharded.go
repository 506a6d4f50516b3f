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
// each of its subscription modes (Options.SubscriptionMode): messages
// {type, data, uid, nsp} (JSON, or msgpack when they carry binary) on
// "<key>#<nsp>#", on "<key>#<nsp>#<room>#" for a broadcast to one room in
// the dynamic modes (each node subscribes to the rooms its sockets are
// in), answers on "<key>#<nsp>#<uid>#". The number of nodes is PUBSUB
// SHARDNUMSUB. client publishes and subscribes. An unknown mode panics
// when the first namespace is made.
func NewSharded(client redis.UniversalClient, opts *Options) socketio.AdapterFactory {
	return NewShardedWithSubscriber(client, client, opts)
}

// NewShardedWithSubscriber is NewSharded with a separate client for the
// subscriptions.
func NewShardedWithSubscriber(pub, sub redis.UniversalClient, opts *Options) socketio.AdapterFactory {
	o := optionsOrZero(opts)
	if !o.SubscriptionMode.valid() {
		panic("redisadapter: unknown SubscriptionMode " + string(o.SubscriptionMode))
	}
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
	subs *roomSubs

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
	a.subs = newRoomSubs(a)
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
	case b.roomChannel(m.Room):
		ch += m.Room + "#"
	}
	msg, err := redisbus.EncodeMessage(b.opts.Parser, m, false)
	if err != nil {
		b.opts.Logger.Warn("redisadapter: encode", "nsp", m.Nsp, "type", m.Type, "err", err)
		return err
	}
	return b.out.Push(b.out.ItemFor(m, []any{"spublish", ch, msg}))
}

// roomChannel reports whether a broadcast to room alone travels on the
// room's channel, as Node's computeChannel decides: never in Static, for
// every room in DynamicPrivate, for rooms that do not look like a socket
// id (20 characters) in Dynamic.
func (b *shardedBus) roomChannel(room string) bool {
	switch {
	case room == "" || b.opts.SubscriptionMode == Static:
		return false
	case b.opts.SubscriptionMode == DynamicPrivate:
		return true
	}
	return !wire.IsSocketID(room)
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
	a.subs.close()
	err := a.sub.Close()
	_ = a.Cluster.Close(ctx)
	a.bus.out.Close()
	return err
}

// AddAll joins rooms; the channels of rooms new here are subscribed to
// in the background (see roomSubs).
func (a *Sharded) AddAll(id string, rooms []string) {
	a.MemoryAdapter.AddAll(id, rooms)
	if a.opts.SubscriptionMode == Static {
		return
	}
	changed := false
	a.mu.Lock()
	for _, r := range rooms {
		if !a.ownChannel(id, r) {
			continue
		}
		if a.rooms[r]++; a.rooms[r] == 1 {
			changed = true
		}
	}
	a.mu.Unlock()
	if changed {
		a.subs.wake()
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

// ownChannel reports whether socket id's room r has a channel this node
// subscribes to: in DynamicPrivate every room (its own too, as Node
// subscribes to a private room's channel), in Dynamic rooms that are not
// socket ids (they travel on the namespace's channel).
func (a *Sharded) ownChannel(id, r string) bool {
	switch a.opts.SubscriptionMode {
	case DynamicPrivate:
		return true
	case Dynamic:
		return r != id && !wire.IsSocketID(r)
	}
	return false
}

func (a *Sharded) release(rooms []string, id string) {
	changed := false
	a.mu.Lock()
	for _, r := range rooms {
		if !a.ownChannel(id, r) || a.rooms[r] == 0 {
			continue
		}
		if a.rooms[r]--; a.rooms[r] == 0 {
			delete(a.rooms, r)
			changed = true
		}
	}
	a.mu.Unlock()
	if changed {
		a.subs.wake()
	}
}

// roomSubs keeps the room channel subscriptions in step with the rooms
// that have local sockets, on a goroutine of its own: a Join or Leave
// (a handler's call) only marks the change and never waits on Redis,
// which may be hung. The goroutine SSUBSCRIBEs and SUNSUBSCRIBEs the
// difference between what is wanted and what it has sent, each command
// bounded by RequestsTimeout. go-redis keeps the channels it was asked
// for and subscribes to them again after a reconnection, so a command
// that failed is not repeated. The trade-off, as with Node's sharded
// adapter (which does not wait for sSubscribe either): a broadcast
// another node sends to a room before this node's subscription to it
// is in place does not reach the sockets that just joined it.
type roomSubs struct {
	a    *Sharded
	have map[string]bool // rooms subscribed to; the goroutine's
	kick chan struct{}   // a change to apply, or stop
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func newRoomSubs(a *Sharded) *roomSubs {
	r := &roomSubs{a: a, have: map[string]bool{}, kick: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	return r
}

// wake makes the goroutine apply what changed; it never blocks.
func (r *roomSubs) wake() {
	select {
	case r.kick <- struct{}{}:
	default: // a wake is pending: it will see this change too
	}
}

// close stops the goroutine and waits for it.
func (r *roomSubs) close() {
	r.once.Do(func() { close(r.stop) })
	<-r.done
}

func (r *roomSubs) run() {
	defer close(r.done)
	for {
		select {
		case <-r.stop:
			return
		case <-r.kick:
			r.apply()
		}
	}
}

// apply subscribes to the rooms wanted and not yet subscribed, and
// unsubscribes from those no longer wanted.
func (r *roomSubs) apply() {
	a := r.a
	var subs, unsubs []string
	a.mu.Lock()
	for room := range a.rooms {
		if !r.have[room] {
			r.have[room] = true
			subs = append(subs, a.bus.prefix+room+"#")
		}
	}
	for room := range r.have {
		if a.rooms[room] == 0 {
			delete(r.have, room)
			unsubs = append(unsubs, a.bus.prefix+room+"#")
		}
	}
	a.mu.Unlock()
	ps := a.sub.PubSub
	if len(subs) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), a.opts.RequestsTimeout)
		if err := ps.SSubscribe(ctx, subs...); err != nil {
			a.opts.Logger.Warn("redisadapter: ssubscribe room", "err", err)
		}
		cancel()
	}
	if len(unsubs) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), a.opts.RequestsTimeout)
		if err := ps.SUnsubscribe(ctx, unsubs...); err != nil {
			a.opts.Logger.Warn("redisadapter: sunsubscribe room", "err", err)
		}
		cancel()
	}
}
