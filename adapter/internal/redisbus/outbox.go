// Package redisbus is the Redis plumbing the Redis adapters share: the
// Outbox that sends an adapter's messages in order on its own goroutine,
// the subscription reader, and the whole-message form of cluster messages
// on pub/sub.
package redisbus

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldio/herald/adapter/cluster"
	"github.com/heraldio/herald/adapter/internal/requests"
)

// Stats counts an outbox's messages, for metrics (redisadapter.Stats has
// the same fields).
type Stats struct {
	// Queued is the number of messages accepted and not yet sent or
	// dropped.
	Queued int
	// Sent counts the messages Redis took.
	Sent uint64
	// Dropped counts the messages never sent: the queue was full, they
	// were requests or answers that outlived RequestsTimeout while Redis
	// was away, or the adapter closed with Redis away.
	Dropped uint64
	// Failures counts the send attempts that failed (each is retried
	// once Redis answers a PING again).
	Failures uint64
}

// maxBatch bounds the commands of one pipeline.
const maxBatch = 128

// Item is one message for Redis: its command, built by the caller.
type Item struct {
	Args []any
	// Expires, when set, is when the message is of no use any more
	// (requests, answers, heartbeats): it is dropped if not sent by then.
	Expires time.Time
	// Reply, when set, receives the command's reply as text ("" when the
	// message was dropped or Redis refused it).
	Reply chan string
}

// Outbox sends an adapter's messages to Redis on its own goroutine, in
// the order they were queued, pipelined in batches, so that no emitting
// goroutine waits for Redis. Its queue is bounded: when full, new messages
// are dropped (counted, with a log line). A batch that fails is kept and
// sent again, in order, once Redis answers a PING: after a hang, the batch
// in flight may reach the other nodes twice (at-least-once).
type Outbox struct {
	rdb     redis.UniversalClient
	log     *slog.Logger
	name    string
	timeout time.Duration

	queue chan *Item
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once

	// down is set by a failed send, or by a caller that gave up waiting
	// for a reply, and cleared by a successful send: while set, callers
	// do not wait for Redis.
	down     atomic.Bool
	dropping atomic.Bool // a drop was logged since the last successful send

	// The goroutine's own:
	failing bool // the last attempt failed
	// peers, when set, counts the nodes subscribed to the adapter's
	// channels; after an outage the queue waits a little for as many as
	// were counted before it (peersN), since pub/sub messages published
	// before a node subscribes again never reach it.
	peers    func(context.Context) (int, error)
	peersN   int
	peersAt  time.Time
	pending  atomic.Int64
	sent     atomic.Uint64
	dropped  atomic.Uint64
	failures atomic.Uint64
}

// NewOutbox starts the Outbox of adapter name; peers, if not nil, counts
// the nodes subscribed to its pub/sub channels.
func NewOutbox(rdb redis.UniversalClient, name string, size int, timeout time.Duration, log *slog.Logger,
	peers func(context.Context) (int, error)) *Outbox {
	o := &Outbox{rdb: rdb, log: log, name: name, timeout: timeout, peers: peers,
		queue: make(chan *Item, size), stop: make(chan struct{}), done: make(chan struct{})}
	go o.run()
	return o
}

// ItemFor returns the item of command args, which carries m: one that
// expires after the timeout unless m is lasting.
func (o *Outbox) ItemFor(m *cluster.Message, args []any) *Item {
	it := &Item{Args: args}
	if !m.Lasting() {
		it.Expires = time.Now().Add(o.timeout)
	}
	return it
}

// ErrQueueFull is returned for a message dropped because the queue to
// Redis is full (Redis has been away for long).
var ErrQueueFull = errors.New("redis adapter: queue to Redis full: message for the other nodes dropped")

// Push queues it, or drops it when the queue is full (ErrQueueFull) or
// the outbox closed (requests.ErrClosed).
func (o *Outbox) Push(it *Item) error {
	select {
	case <-o.stop:
		o.discard(it)
		return requests.ErrClosed
	default:
	}
	select {
	case o.queue <- it:
		o.pending.Add(1)
		return nil
	default:
	}
	if !o.dropping.Swap(true) {
		o.log.Warn("redis adapter: queue to Redis full; dropping messages for the other nodes", "adapter", o.name, "queued", cap(o.queue))
	}
	o.discard(it)
	return ErrQueueFull
}

// discard counts it as dropped.
func (o *Outbox) discard(it *Item) {
	o.dropped.Add(1)
	if it.Reply != nil {
		it.Reply <- ""
	}
}

// Stats returns the counts.
func (o *Outbox) Stats() Stats {
	return Stats{Queued: int(o.pending.Load()), Sent: o.sent.Load(), Dropped: o.dropped.Load(), Failures: o.failures.Load()}
}

// Down reports whether Redis is known to be away: callers then do not
// wait for it.
func (o *Outbox) Down() bool { return o.down.Load() }

// MarkDown records that a caller gave up waiting for a reply: the next
// callers do not wait until a send succeeds.
func (o *Outbox) MarkDown() { o.down.Store(true) }

// Close sends what is queued if Redis answers within the timeout, drops
// the rest, and stops the goroutine.
func (o *Outbox) Close() {
	o.once.Do(func() { close(o.stop) })
	<-o.done
}

func (o *Outbox) run() {
	defer close(o.done)
	batch := make([]*Item, 0, maxBatch)
	for {
		select {
		case it := <-o.queue:
			batch = append(batch, it)
		case <-o.stop:
			o.flush(batch)
			return
		}
		batch = o.fill(batch)
		if !o.send(batch) {
			o.flush(nil)
			return
		}
		clear(batch)
		batch = batch[:0]
	}
}

// fill adds what else is queued to batch, up to maxBatch.
func (o *Outbox) fill(batch []*Item) []*Item {
	for len(batch) < maxBatch {
		select {
		case it := <-o.queue:
			batch = append(batch, it)
		default:
			return batch
		}
	}
	return batch
}

// slowExec is how long a pipeline takes when the client had to dial
// Redis again (go-redis retries a dial every 100ms).
const slowExec = 100 * time.Millisecond

// errPeersMissing fails a batch that went out while some nodes had not
// subscribed again after Redis came back.
var errPeersMissing = errors.New("redis adapter: sent before every node subscribed again")

// errUnsent marks a batch not even tried: Redis is known to be away.
var errUnsent = errors.New("redis adapter: redis known to be away")

// send sends batch until Redis takes it, waiting for Redis between
// attempts; it returns false if the Outbox closed meanwhile (the batch is
// then dropped).
func (o *Outbox) send(batch []*Item) bool {
	for {
		batch = o.expire(batch, time.Now())
		if len(batch) == 0 {
			return true
		}
		start := time.Now()
		cmds, err := o.exec(batch)
		if err == nil && time.Since(start) > slowExec && o.peersMissed(batch, cmds) {
			// The client reconnected: what lasts goes again once the
			// nodes are back; requests and answers are not sent twice.
			batch, err = o.keepLasting(batch, cmds), errPeersMissing
		}
		if err == nil {
			o.finish(batch, cmds)
			o.countPeers(cmds)
			return true
		}
		o.failures.Add(1)
		o.down.Store(true)
		if !o.failing {
			o.failing = true
			o.log.Warn("redis adapter: Redis unavailable; messages for the other nodes are queued", "adapter", o.name, "err", err)
		}
		if !o.waitForRedis() {
			o.discardAll(batch)
			return false
		}
	}
}

// keepLasting finishes the requests and answers of a batch Redis took
// and returns the rest.
func (o *Outbox) keepLasting(batch []*Item, cmds []*redis.Cmd) []*Item {
	keep := batch[:0]
	for i, it := range batch {
		if it.Expires.IsZero() {
			keep = append(keep, it)
		} else {
			o.record(batch[i:i+1], cmds[i:i+1])
		}
	}
	clear(batch[len(keep):])
	return keep
}

// discardAll drops batch.
func (o *Outbox) discardAll(batch []*Item) {
	for _, it := range batch {
		o.pending.Add(-1)
		o.discard(it)
	}
}

// expire drops the messages of batch that are of no use any more.
func (o *Outbox) expire(batch []*Item, now time.Time) []*Item {
	out := batch[:0]
	for _, it := range batch {
		if !it.Expires.IsZero() && now.After(it.Expires) {
			o.pending.Add(-1)
			o.discard(it)
			continue
		}
		out = append(out, it)
	}
	clear(batch[len(out):])
	return out
}

// exec sends batch in one pipeline. It returns an error only when Redis
// could not be reached.
func (o *Outbox) exec(batch []*Item) ([]*redis.Cmd, error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	cmds := make([]*redis.Cmd, len(batch))
	_, err := o.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, it := range batch {
			cmds[i] = p.Do(ctx, it.Args...)
		}
		return nil
	})
	// A failed dial sets no command's error: the pipeline's says it.
	var rerr redis.Error
	if err != nil && !errors.As(err, &rerr) {
		return nil, err
	}
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.As(err, &rerr) {
			return nil, err
		}
	}
	return cmds, nil
}

// finish records the replies of a batch Redis took, and that Redis is
// back.
func (o *Outbox) finish(batch []*Item, cmds []*redis.Cmd) {
	o.record(batch, cmds)
	o.down.Store(false)
	if o.failing {
		o.failing = false
		o.log.Info("redis adapter: Redis is back; queued messages sent", "adapter", o.name)
	}
	if o.dropping.Swap(false) {
		o.log.Warn("redis adapter: messages were dropped while Redis was away", "adapter", o.name, "dropped_total", o.dropped.Load())
	}
}

// record records the replies to batch; a command Redis refused is logged
// and counted as dropped.
func (o *Outbox) record(batch []*Item, cmds []*redis.Cmd) {
	for i, it := range batch {
		o.pending.Add(-1)
		reply, _ := cmds[i].Val().(string) // an entry id; publishes answer a count
		if err := cmds[i].Err(); err != nil {
			o.dropped.Add(1)
			o.log.Warn("redis adapter: Redis refused a message", "adapter", o.name, "command", it.Args[0], "err", err)
		} else {
			o.sent.Add(1)
		}
		if it.Reply != nil {
			it.Reply <- reply
		}
	}
}

// waitForRedis pings Redis, with a growing pause, until it answers; it
// returns false if the Outbox closes first. A ping, unlike the batch,
// does no harm when a hung Redis executes it late.
func (o *Outbox) waitForRedis() bool {
	pause := 50 * time.Millisecond
	for {
		t := time.NewTimer(pause)
		select {
		case <-o.stop:
			t.Stop()
			return false
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
		err := o.rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			return o.waitForPeers()
		}
		pause = min(2*pause, 2*time.Second)
	}
}

// peersWait bounds the wait for the other nodes to subscribe again.
const peersWait = 2 * time.Second

// countPeers counts the subscribed nodes: at least as many as a publish
// of cmds reached, and exactly at most once a second.
func (o *Outbox) countPeers(cmds []*redis.Cmd) {
	if o.peers == nil {
		return
	}
	for _, c := range cmds {
		if n, ok := c.Val().(int64); ok && int(n) > o.peersN {
			o.peersN = int(n)
		}
	}
	if time.Since(o.peersAt) < time.Second {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	if n, err := o.peers(ctx); err == nil {
		o.peersN, o.peersAt = n, time.Now()
	}
}

// peersMissed reports whether some node may have missed a batch: a
// lasting message (not a request or an answer) reached fewer subscribers
// than there were nodes before (a room's channel may have fewer: then it
// goes again needlessly), or fewer nodes are subscribed now.
func (o *Outbox) peersMissed(batch []*Item, cmds []*redis.Cmd) bool {
	if o.peers == nil {
		return false
	}
	for i, c := range cmds {
		if n, ok := c.Val().(int64); ok && batch[i].Expires.IsZero() && n < int64(o.peersN) {
			return true
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	n, err := o.peers(ctx)
	return err != nil || n < o.peersN
}

// waitForPeers waits, at most peersWait, until as many nodes are
// subscribed as before the outage; it returns false if the Outbox closes
// first.
func (o *Outbox) waitForPeers() bool {
	if o.peers == nil {
		return true
	}
	for deadline := time.Now().Add(peersWait); time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
		n, err := o.peers(ctx)
		cancel()
		if err == nil && n >= o.peersN {
			return true
		}
		select {
		case <-o.stop:
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return true
}

// flush sends batch and what is queued in one last attempt, if Redis is
// not known to be down, and drops what could not be sent.
func (o *Outbox) flush(batch []*Item) {
	for {
		batch = o.fill(batch)
		if len(batch) == 0 {
			return
		}
		var cmds []*redis.Cmd
		err := errUnsent
		if !o.down.Load() {
			cmds, err = o.exec(batch)
		}
		if err != nil {
			o.discardAll(batch)
			o.down.Store(true)
		} else {
			o.finish(batch, cmds)
		}
		clear(batch)
		batch = batch[:0]
	}
}
