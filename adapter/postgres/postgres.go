// Package postgres is a socketio.Adapter over PostgreSQL's LISTEN/NOTIFY,
// wire-compatible with Node's @socket.io/postgres-adapter and
// @socket.io/postgres-emitter: a cluster needs no broker besides the
// database it already has.
//
// Each namespace's messages ({uid, nsp, type, data}, Node's
// ClusterAdapter messages, as in adapter/cluster) are sent with
// pg_notify on the channel "<prefix>#<nsp>". A message that carries binary
// or whose JSON reaches PayloadThreshold bytes (NOTIFY takes at most
// 8,000) is written msgpack-encoded into the attachments table, and the
// notification carries only {uid, type, attachmentId}; the receivers read
// it from there. Rows older than CleanupInterval are deleted. The nodes
// are counted by heartbeats. Connection state recovery is not supported
// (neither is it by Node's adapter).
//
// One connection per factory listens, taken from the pool for good; it
// is dialled again after a failure, and a namespace created later is
// listened to from the next connection on (the listener reconnects for
// it), so a message sent in that gap is missed, as one sent while the
// connection is down. Messages for the other nodes go through a bounded
// queue sent in order by a goroutine of the factory: a slow or
// unreachable database never holds an emitting handler.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldio/herald/adapter/cluster"
	"github.com/heraldio/herald/adapter/internal/wire"
	"github.com/heraldio/herald/internal/msgpackjson"
	"github.com/heraldio/herald/socketio"
)

// Options configures the adapter; zero fields mean the defaults, which
// are Node's.
type Options struct {
	// ChannelPrefix prefixes the notification channels. Default "socket.io".
	ChannelPrefix string
	// TableName is the table of large or binary payloads, made if missing;
	// "schema.table" names one outside the search path. Default
	// "socket_io_attachments".
	TableName string
	// PayloadThreshold is the JSON size from which a message goes through
	// the table. Default 8000.
	PayloadThreshold int
	// CleanupInterval is how often rows are deleted, and how old they
	// must be. Default 30s.
	CleanupInterval time.Duration
	// HeartbeatInterval and HeartbeatTimeout: how often a node announces
	// itself, and how long a silent one is still counted. Defaults 5s and
	// 10s.
	HeartbeatInterval, HeartbeatTimeout time.Duration
	// RequestsTimeout bounds requests to the other nodes (fetchSockets,
	// serverSideEmit with acks) and each database call. Default 5s.
	RequestsTimeout time.Duration
	// QueueSize bounds the messages waiting to be sent; past it they are
	// dropped (Stats) and the emit returns ErrQueueFull. Default 4096.
	QueueSize int
	// Logger receives the adapter's warnings. Default slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.ChannelPrefix == "" {
		o.ChannelPrefix = "socket.io"
	}
	if o.TableName == "" {
		o.TableName = "socket_io_attachments"
	}
	if o.PayloadThreshold <= 0 {
		o.PayloadThreshold = 8000
	}
	if o.CleanupInterval <= 0 {
		o.CleanupInterval = 30 * time.Second
	}
	if o.RequestsTimeout <= 0 {
		o.RequestsTimeout = 5 * time.Second
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 4096
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// ErrQueueFull is returned by an emit whose message for the other nodes
// was dropped because the queue to the database is full.
var ErrQueueFull = errors.New("postgres adapter: queue to the database full: message for the other nodes dropped")

// Stats counts the messages for the other nodes.
type Stats struct {
	Queued   int    // waiting to be sent
	Sent     uint64 // sent (NOTIFY done)
	Dropped  uint64 // never sent: the queue was full, or the database refused them
	Received uint64 // from the other nodes
}

// New returns an AdapterFactory whose namespaces share pool's database
// with the other nodes. The factory's goroutines (listener, sender,
// cleanup) start with its first namespace and stop when its last adapter
// is closed.
func New(pool *pgxpool.Pool, opts *Options) socketio.AdapterFactory {
	var o Options
	if opts != nil {
		o = *opts
	}
	b := &bus{pool: pool, opts: o.withDefaults(), nsps: map[string]*Adapter{}}
	return func(nsp *socketio.Namespace) socketio.Adapter { return b.add(nsp) }
}

// Adapter is the adapter of one namespace: a cluster.Cluster whose
// messages travel through the factory's bus.
type Adapter struct {
	*cluster.Cluster
	bus  *bus
	name string
}

// Stats returns the counts of the factory's bus, shared by its namespaces.
func (a *Adapter) Stats() Stats { return a.bus.stats() }

// transport is the namespace's cluster.Transport: only Publish, so the
// nodes are counted by heartbeats (the Adapter itself, through Cluster,
// has the methods of the optional transport interfaces).
type transport struct{ bus *bus }

// Publish implements cluster.Transport.
func (t transport) Publish(_ context.Context, m *cluster.Message) error { return t.bus.push(m) }

// Close closes the namespace's cluster part; the last one stops the bus.
func (a *Adapter) Close(ctx context.Context) error {
	err := a.Cluster.Close(ctx)
	a.bus.remove(a)
	return err
}

// bus is the factory's connection to the other nodes: one listener, one
// sender, shared by its namespaces.
type bus struct {
	pool *pgxpool.Pool
	opts Options

	mu         sync.Mutex
	nsps       map[string]*Adapter // by namespace name
	queue      chan *cluster.Message
	stop       context.CancelFunc
	done       sync.WaitGroup // every goroutine of the bus
	senderDone sync.WaitGroup // the sender
	relisten   chan struct{}  // a namespace was added: listen again

	sent, dropped, received atomic.Uint64
}

func (b *bus) add(nsp *socketio.Namespace) *Adapter {
	a := &Adapter{bus: b, name: nsp.Name()}
	a.Cluster = cluster.New(nsp, transport{b}, &cluster.Options{RequestsTimeout: b.opts.RequestsTimeout,
		HeartbeatInterval: b.opts.HeartbeatInterval, HeartbeatTimeout: b.opts.HeartbeatTimeout})
	b.mu.Lock()
	b.nsps[a.name] = a
	if b.stop == nil {
		ctx, stop := context.WithCancel(context.Background())
		b.stop, b.queue, b.relisten = stop, make(chan *cluster.Message, b.opts.QueueSize), make(chan struct{}, 1)
		b.done.Add(3)
		b.senderDone.Add(1)
		go b.send(ctx, b.queue)
		go b.listen(ctx, b.relisten)
		go b.cleanup(ctx)
	} else {
		select {
		case b.relisten <- struct{}{}:
		default:
		}
	}
	b.mu.Unlock()
	return a // started by the listener once it listens to the namespace's channel
}

func (b *bus) remove(a *Adapter) {
	b.mu.Lock()
	if b.nsps[a.name] == a {
		delete(b.nsps, a.name)
	}
	var stop context.CancelFunc
	if len(b.nsps) == 0 && b.stop != nil {
		stop, b.stop = b.stop, nil
		close(b.queue) // the sender sends what is queued, then returns
	}
	b.mu.Unlock()
	if stop != nil {
		b.waitSender(stop)
	}
}

// waitSender lets the sender finish what is queued for at most
// RequestsTimeout, then stops every goroutine and waits for them.
func (b *bus) waitSender(stop context.CancelFunc) {
	t := time.AfterFunc(b.opts.RequestsTimeout, stop)
	defer t.Stop()
	b.senderDone.Wait()
	stop()
	b.done.Wait()
}

func (b *bus) stats() Stats {
	b.mu.Lock()
	q := 0
	if b.queue != nil {
		q = len(b.queue)
	}
	b.mu.Unlock()
	return Stats{Queued: q, Sent: b.sent.Load(), Dropped: b.dropped.Load(), Received: b.received.Load()}
}

// push queues m without waiting.
func (b *bus) push(m *cluster.Message) (err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stop == nil {
		return errors.New("postgres adapter: closed")
	}
	select {
	case b.queue <- m:
		return nil
	default:
		if b.dropped.Add(1) == 1 || b.dropped.Load()%1000 == 0 {
			b.opts.Logger.Warn("postgres adapter: queue to the database full; dropping messages for the other nodes",
				"dropped_total", b.dropped.Load())
		}
		return ErrQueueFull
	}
}

func (b *bus) channel(nsp string) string { return b.opts.ChannelPrefix + "#" + nsp }

// send sends the queued messages in order until the queue is closed
// (then what it holds) or ctx ends.
func (b *bus) send(ctx context.Context, q chan *cluster.Message) {
	defer b.done.Done()
	defer b.senderDone.Done()
	for m := range q {
		if ctx.Err() != nil {
			b.dropped.Add(1)
			continue
		}
		if err := b.publish(ctx, m); err != nil {
			b.dropped.Add(1)
			b.opts.Logger.Warn("postgres adapter: message for the other nodes not sent", "nsp", m.Nsp, "type", m.Type, "err", err)
			continue
		}
		b.sent.Add(1)
	}
}

// encode is m as Node's adapter sends it whole: JSON {uid, nsp, type,
// data}, without data when it has none (heartbeats).
func encode(m *cluster.Message) []byte {
	o := wire.NewObject().Str("uid", m.UID).Str("nsp", m.Nsp).Raw("type", strconv.AppendInt(nil, int64(m.Type), 10))
	if len(m.Data) > 0 {
		o.Raw("data", m.Data)
	}
	return o.Done()
}

// publish sends m: NOTIFY with its JSON, or through the table when it
// carries binary or is too large for a notification.
func (b *bus) publish(ctx context.Context, m *cluster.Message) error {
	ctx, cancel := context.WithTimeout(ctx, b.opts.RequestsTimeout)
	defer cancel()
	msg := encode(m)
	if len(m.Attachments) == 0 && len(msg) < b.opts.PayloadThreshold {
		_, err := b.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, b.channel(m.Nsp), string(msg))
		return err
	}
	payload, err := msgpackjson.Encode(msg, m.Attachments)
	if err != nil {
		return err
	}
	var id int64
	if err := b.pool.QueryRow(ctx, `INSERT INTO `+b.table()+` (payload) VALUES ($1) RETURNING id`, payload).Scan(&id); err != nil {
		return err
	}
	// Node's header: the id as node-postgres gives a bigint, a string.
	head := wire.NewObject().Str("uid", m.UID).Raw("type", strconv.AppendInt(nil, int64(m.Type), 10)).
		Str("attachmentId", strconv.FormatInt(id, 10)).Done()
	_, err = b.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, b.channel(m.Nsp), string(head))
	return err
}

// table is TableName quoted; a dot separates a schema from the table.
func (b *bus) table() string { return pgx.Identifier(strings.Split(b.opts.TableName, ".")).Sanitize() }

// ensureTable makes the attachments table as Node's README does. Nodes
// starting together race to create it: the loser's CREATE fails on the
// catalog's unique index, and finds the table the second time.
func (b *bus) ensureTable(ctx context.Context) error {
	var err error
	for range 2 {
		if _, err = b.pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+b.table()+` (
			id bigserial UNIQUE, created_at timestamptz DEFAULT NOW(), payload bytea)`); err == nil {
			break
		}
	}
	return err
}

// cleanup deletes old rows every CleanupInterval.
func (b *bus) cleanup(ctx context.Context) {
	defer b.done.Done()
	t := time.NewTicker(b.opts.CleanupInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, b.opts.RequestsTimeout)
		_, err := b.pool.Exec(cctx, `DELETE FROM `+b.table()+` WHERE created_at < now() - $1::interval`,
			fmt.Sprintf("%d milliseconds", b.opts.CleanupInterval.Milliseconds()))
		cancel()
		if err != nil && ctx.Err() == nil {
			b.opts.Logger.Warn("postgres adapter: cleanup of old payloads failed", "err", err)
		}
	}
}

// listen receives the notifications of every namespace's channel, on a
// connection of its own, dialled again (after a pause) when it fails or
// when a namespace is added.
func (b *bus) listen(ctx context.Context, relisten chan struct{}) {
	defer b.done.Done()
	for pause := time.Duration(0); ; {
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		err := b.listenOnce(ctx, relisten)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			b.opts.Logger.Warn("postgres adapter: listening failed; trying again", "err", err)
			pause = time.Second
		} else {
			pause = 0
		}
	}
}

// listenOnce listens on one connection until it fails, ctx ends or a
// namespace is added (nil error).
func (b *bus) listenOnce(ctx context.Context, relisten chan struct{}) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	setup, scancel := context.WithTimeout(ctx, b.opts.RequestsTimeout)
	defer scancel()
	if err := b.ensureTable(setup); err != nil {
		return err
	}
	pc, err := b.pool.Acquire(setup)
	if err != nil {
		return err
	}
	conn := pc.Hijack() // ours until closed: a listening connection goes back to no pool
	defer conn.Close(context.Background())
	b.mu.Lock()
	var chans []string
	var adapters []*Adapter
	for name, a := range b.nsps {
		chans = append(chans, b.channel(name))
		adapters = append(adapters, a)
	}
	b.mu.Unlock()
	for _, ch := range chans {
		if _, err := conn.Exec(setup, `LISTEN `+pgx.Identifier{ch}.Sanitize()); err != nil {
			return err
		}
	}
	// Announced once listening, so that the other nodes' answers to the
	// initial heartbeat are heard (Start is once per adapter).
	for _, a := range adapters {
		a.Start()
	}
	go func() {
		select {
		case <-relisten:
			cancel() // the wait below ends; the connection is dialled again
		case <-ctx.Done():
		}
	}()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		b.receive(ctx, strings.TrimPrefix(n.Channel, b.opts.ChannelPrefix+"#"), []byte(n.Payload))
	}
}

// header is what a notification holds: a whole message, or the id of one
// in the table.
type header struct {
	UID          string              `json:"uid"`
	Type         cluster.MessageType `json:"type"`
	Data         json.RawMessage     `json:"data"`
	AttachmentID json.RawMessage     `json:"attachmentId"` // a string from Node, a number would do
}

// receive hands a notification's message to the namespace of its channel
// (Node's emitter leaves nsp out of its messages), reading it from the
// table first when it was too large or binary.
func (b *bus) receive(ctx context.Context, nsp string, payload []byte) {
	var h header
	if json.Unmarshal(payload, &h) != nil {
		b.opts.Logger.Warn("postgres adapter: malformed notification ignored", "bytes", len(payload))
		return
	}
	var att [][]byte
	if len(h.AttachmentID) > 0 && string(h.AttachmentID) != "null" {
		if b.ours(h.UID) {
			return
		}
		id, err := strconv.ParseInt(string(trimQuotes(h.AttachmentID)), 10, 64)
		if err != nil {
			b.opts.Logger.Warn("postgres adapter: malformed attachment id ignored", "id", string(h.AttachmentID))
			return
		}
		rctx, cancel := context.WithTimeout(ctx, b.opts.RequestsTimeout)
		var raw []byte
		err = b.pool.QueryRow(rctx, `SELECT payload FROM `+b.table()+` WHERE id = $1`, id).Scan(&raw)
		cancel()
		if err != nil {
			b.opts.Logger.Warn("postgres adapter: payload not read", "id", id, "err", err)
			return
		}
		msg, a, err := msgpackjson.Decode(raw)
		if err != nil || json.Unmarshal(msg, &h) != nil {
			b.opts.Logger.Warn("postgres adapter: malformed payload ignored", "id", id)
			return
		}
		att = a
	}
	b.mu.Lock()
	a := b.nsps[nsp]
	b.mu.Unlock()
	if a == nil || h.UID == a.UID() {
		return
	}
	b.received.Add(1)
	a.Handle("", &cluster.Message{UID: h.UID, Nsp: nsp, Type: h.Type, Data: h.Data, Attachments: att})
}

// ours reports whether uid is one of this factory's namespaces.
func (b *bus) ours(uid string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, a := range b.nsps {
		if a.UID() == uid {
			return true
		}
	}
	return false
}

func trimQuotes(v []byte) []byte {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}
