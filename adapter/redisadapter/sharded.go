package redisadapter

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldio/herald/socketio"
)

// Message types of the sharded variant (those of Node's cluster adapter).
const (
	shBroadcast         = 3
	shSocketsJoin       = 4
	shSocketsLeave      = 5
	shDisconnectSockets = 6
	shFetchSockets      = 7
	shFetchResponse     = 8
	shServerSideEmit    = 9
	shServerSideEmitRes = 10
	shBroadcastCount    = 11
	shBroadcastAck      = 12
)

// NewSharded returns an AdapterFactory for Redis 7 sharded pub/sub
// (SPUBLISH/SSUBSCRIBE), compatible with Node's createShardedAdapter:
// messages {uid, nsp, type, data} (JSON, or msgpack when they carry
// binary) on "<key>#<nsp>#", "<key>#<nsp>#<room>#" for a broadcast to one
// room (each node subscribes to the rooms its sockets are in), and answers
// on "<key>#<nsp>#<uid>#". The number of nodes is PUBSUB SHARDNUMSUB.
func NewSharded(client redis.UniversalClient, opts *Options) socketio.AdapterFactory {
	var o Options
	if opts != nil {
		o = *opts
	}
	o = o.withDefaults()
	return func(nsp *socketio.Namespace) socketio.Adapter { return newSharded(nsp, client, o) }
}

var _ socketio.Adapter = (*Sharded)(nil)

// Sharded is the sharded adapter of one namespace.
type Sharded struct {
	*socketio.MemoryAdapter
	nsp    *socketio.Namespace
	rdb    redis.UniversalClient
	opts   Options
	uid    string
	prefix string // "<key>#<nsp>#"
	sub    *subscription

	mu      sync.Mutex
	pending map[string]*pending
	rooms   map[string]int // room → local sockets, for room channel subscriptions

	// send publishes a message; the streams adapter replaces it. It
	// returns the message's id where the transport has one.
	send func(ctx context.Context, channel string, typ int, data any, binary bool) (string, error)
	// onBroadcastID, when set, is told the id of each broadcast (the
	// streams adapter uses it as the recovery offset).
	streams bool
	nodes   map[string]time.Time // streams: other nodes by last heartbeat
}

type shMessage struct {
	UID  string          `json:"uid" msgpack:"uid"`
	Nsp  string          `json:"nsp" msgpack:"nsp"`
	Type int             `json:"type" msgpack:"type"`
	Data json.RawMessage `json:"data,omitempty" msgpack:"-"`
}

func newSharded(nsp *socketio.Namespace, rdb redis.UniversalClient, o Options) *Sharded {
	a := &Sharded{MemoryAdapter: socketio.NewMemoryAdapter(nsp), nsp: nsp, rdb: rdb, opts: o, uid: randomID(16),
		prefix: o.Key + "#" + nsp.Name() + "#", pending: map[string]*pending{}, rooms: map[string]int{}}
	a.send = func(ctx context.Context, channel string, typ int, data any, binary bool) (string, error) {
		msg := map[string]any{"uid": a.uid, "nsp": a.nsp.Name(), "type": typ, "data": data}
		var payload []byte
		var err error
		if binary {
			payload, err = encodeMsgpack(msg)
		} else {
			payload, err = json.Marshal(msg)
		}
		if err != nil {
			return "", err
		}
		return "", rdb.SPublish(ctx, channel, payload).Err()
	}
	ctx, cancel := context.WithCancel(context.Background())
	ps := rdb.SSubscribe(ctx, a.prefix, a.prefix+a.uid+"#")
	a.sub = subscribe(ps, cancel, 2, o.Logger, func(m *redis.Message) {
		var raw map[string]any
		if decodeAny([]byte(m.Payload), &raw) == nil {
			a.onMessage("", raw)
		}
	})
	return a
}

// Close stops the subscription.
func (a *Sharded) Close() error {
	err := a.sub.close()
	failAll(&a.mu, a.pending)
	return err
}

// isPrivate reports whether a room is a socket's own (not worth a channel).
func (a *Sharded) isPrivate(room string) bool { return len(room) == 20 && a.nsp.Socket(room) != nil }

// AddAll joins rooms and subscribes to the channels of rooms new here.
func (a *Sharded) AddAll(id string, rooms []string) {
	a.MemoryAdapter.AddAll(id, rooms)
	var subs []string
	a.mu.Lock()
	for _, r := range rooms {
		if r == id {
			continue
		}
		if a.rooms[r]++; a.rooms[r] == 1 {
			subs = append(subs, a.prefix+r+"#")
		}
	}
	a.mu.Unlock()
	if len(subs) > 0 {
		_ = a.sub.pubsub.SSubscribe(context.Background(), subs...)
	}
}

// Del leaves a room, unsubscribing when no local socket is left in it.
func (a *Sharded) Del(id, room string) {
	a.MemoryAdapter.Del(id, room)
	a.release([]string{room}, id)
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
			unsubs = append(unsubs, a.prefix+r+"#")
		}
	}
	a.mu.Unlock()
	if len(unsubs) > 0 {
		_ = a.sub.pubsub.SUnsubscribe(context.Background(), unsubs...)
	}
}

// publish sends a message; binary packets go as msgpack. It returns the
// transport's id of the message, if any.
func (a *Sharded) publish(channel string, typ int, data any) string {
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.RequestsTimeout)
	defer cancel()
	id, err := a.send(ctx, channel, typ, data, hasBinary(data))
	if err != nil {
		a.opts.Logger.Warn("redisadapter: publish failed; local delivery goes on", "channel", channel, "err", err)
	}
	return id
}

func hasBinary(v any) bool {
	switch t := v.(type) {
	case []byte:
		return true
	case map[string]any:
		for _, e := range t {
			if hasBinary(e) {
				return true
			}
		}
	case []any:
		for _, e := range t {
			if hasBinary(e) {
				return true
			}
		}
	case wirePacket:
		return hasBinary(t.Data)
	}
	return false
}

func shPacket(p *socketio.Packet) map[string]any {
	w := toWirePacket(p)
	return map[string]any{"type": 2, "data": w.Data}
}

func shOpts(o *socketio.BroadcastOptions) map[string]any {
	w := toWireOpts(o, true)
	return map[string]any{"rooms": w.Rooms, "except": w.Except, "flags": w.Flags}
}

// Broadcast publishes p for the other nodes, then delivers it here.
func (a *Sharded) Broadcast(p *socketio.Packet, opts *socketio.BroadcastOptions) {
	if a.streams {
		if opts.Flags.Local {
			a.MemoryAdapter.Deliver(p, opts)
			return
		}
		// The stream entry's id is the recovery offset, on every node.
		id := a.publish(a.prefix, shBroadcast, map[string]any{"packet": shPacket(p), "opts": shOpts(opts)})
		if id != "" && recordable(p, opts) && a.MemoryAdapter.Recovery() != nil {
			p.Data = socketio.AppendOffset(p.Data, id)
		}
		a.MemoryAdapter.Deliver(p, opts)
		return
	}
	if !opts.Flags.Local {
		ch := a.prefix
		if len(opts.Rooms) == 1 && !a.isPrivate(opts.Rooms[0]) {
			ch += opts.Rooms[0] + "#"
		}
		a.publish(ch, shBroadcast, map[string]any{"packet": shPacket(p), "opts": shOpts(opts)})
	}
	a.MemoryAdapter.Broadcast(p, opts)
}

// recordable reports whether a broadcast is kept for recovery (as the
// reference: events without ack, not volatile).
func recordable(p *socketio.Packet, opts *socketio.BroadcastOptions) bool {
	return p.Type == socketio.PacketEvent && !p.HasID && !opts.Flags.Volatile
}

// BroadcastWithAck sends p across nodes; they answer with client counts
// and acks on this node's channel.
func (a *Sharded) BroadcastWithAck(p *socketio.Packet, opts *socketio.BroadcastOptions, clientCount func(int), ack func(socketio.Args)) {
	if !opts.Flags.Local {
		id := randomID(16)
		a.mu.Lock()
		a.pending[id] = &pending{typ: shBroadcast, onCount: clientCount, onAck: ack, done: make(chan struct{})}
		a.mu.Unlock()
		timeout := opts.Flags.Timeout
		if timeout <= 0 {
			timeout = a.opts.RequestsTimeout
		}
		time.AfterFunc(timeout+time.Second, func() { a.mu.Lock(); delete(a.pending, id); a.mu.Unlock() })
		a.publish(a.prefix, shBroadcast, map[string]any{"packet": shPacket(p), "requestId": id, "opts": shOpts(opts)})
	}
	a.MemoryAdapter.BroadcastWithAck(p, opts, clientCount, ack)
}

// onMessage handles a message of another node; id is the stream entry's
// id (the recovery offset of a broadcast) with the streams adapter.
func (a *Sharded) onMessage(id string, raw map[string]any) {
	uid, _ := raw["uid"].(string)
	if uid == a.uid || uid == "" {
		return
	}
	if n, _ := raw["nsp"].(string); n != "" && n != a.nsp.Name() {
		return
	}
	typ := toInt(raw["type"])
	data, _ := raw["data"].(map[string]any)
	if data == nil {
		return
	}
	reqID, _ := data["requestId"].(string)
	respond := func(t int, d map[string]any) { a.publish(a.prefix+uid+"#", t, d) }
	opts := optsFrom(data["opts"])
	switch typ {
	case shBroadcast:
		p, err := packetFrom(a.nsp.Name(), data["packet"])
		if err != nil {
			return
		}
		if reqID == "" {
			o := *opts
			o.Flags.Local = true
			if a.streams {
				if id != "" && recordable(p, &o) && a.MemoryAdapter.Recovery() != nil {
					p.Data = socketio.AppendOffset(p.Data, id)
				}
				a.MemoryAdapter.Deliver(p, &o)
				return
			}
			a.MemoryAdapter.Broadcast(p, &o)
			return
		}
		a.MemoryAdapter.BroadcastWithAck(p, opts, func(n int) {
			respond(shBroadcastCount, map[string]any{"requestId": reqID, "clientCount": n})
		}, func(args socketio.Args) {
			var first any
			if v := args.Values(); len(v) > 0 {
				first = normalizeValue(v[0])
			}
			respond(shBroadcastAck, map[string]any{"requestId": reqID, "packet": first})
		})
	case shSocketsJoin:
		a.MemoryAdapter.AddSockets(opts, toStrings(data["rooms"]))
	case shSocketsLeave:
		a.MemoryAdapter.DelSockets(opts, toStrings(data["rooms"]))
	case shDisconnectSockets:
		c, _ := data["close"].(bool)
		a.MemoryAdapter.DisconnectSockets(opts, c)
	case shFetchSockets:
		local, _ := a.MemoryAdapter.FetchSockets(context.Background(), opts)
		out := make([]remoteSocket, 0, len(local))
		for _, s := range local {
			out = append(out, toRemote(s))
		}
		b, _ := json.Marshal(out)
		var generic []any
		_ = json.Unmarshal(b, &generic)
		respond(shFetchResponse, map[string]any{"requestId": reqID, "sockets": generic})
	case shServerSideEmit:
		pk, _ := data["packet"].([]any)
		if len(pk) == 0 {
			return
		}
		event, _ := pk[0].(string)
		b, _ := json.Marshal(pk[1:])
		var rawArgs []json.RawMessage
		_ = json.Unmarshal(b, &rawArgs)
		var ack func(...any)
		if reqID != "" {
			var once sync.Once
			ack = func(v ...any) {
				once.Do(func() {
					var arg any
					if len(v) > 0 {
						arg = v[0]
					}
					respond(shServerSideEmitRes, map[string]any{"requestId": reqID, "packet": arg})
				})
			}
		}
		a.nsp.HandleServerSideEmit(event, socketio.NewArgs(rawArgs, nil), ack)
	case shBroadcastCount, shBroadcastAck, shFetchResponse, shServerSideEmitRes:
		a.mu.Lock()
		p := a.pending[reqID]
		a.mu.Unlock()
		if p == nil {
			return
		}
		switch typ {
		case shBroadcastCount:
			p.onCount(toInt(data["clientCount"]))
		case shBroadcastAck:
			if pk, err := socketio.EventPacket(a.nsp.Name(), "ack", fixValue(data["packet"])); err == nil {
				p.onAck(pk.Args())
			}
		default:
			b, _ := json.Marshal(data)
			a.mu.Lock()
			if !p.closed {
				p.answers = append(p.answers, b)
				p.got++
				if p.got >= p.expected {
					p.finish()
				}
			}
			a.mu.Unlock()
		}
	}
}

func toInt(v any) int {
	switch t := v.(type) {
	case float64:
		return int(t)
	case int64:
		return int(t)
	case int8:
		return int(t)
	case uint8:
		return int(t)
	case int:
		return t
	}
	return -1
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func optsFrom(v any) *socketio.BroadcastOptions {
	m, _ := v.(map[string]any)
	w := wireOpts{Rooms: toStrings(m["rooms"]), Except: toStrings(m["except"])}
	w.Flags, _ = m["flags"].(map[string]any)
	return w.options()
}

func packetFrom(nsp string, v any) (*socketio.Packet, error) {
	m, _ := v.(map[string]any)
	data, _ := m["data"].([]any)
	return wirePacket{Type: toInt(m["type"]), Data: data}.packet(nsp)
}

// ServerCount returns the number of nodes subscribed to the namespace.
func (a *Sharded) ServerCount(ctx context.Context) (int, error) {
	if a.streams {
		a.mu.Lock()
		defer a.mu.Unlock()
		n := 1
		for uid, at := range a.nodes {
			if time.Since(at) < 2*heartbeatInterval+time.Second {
				n++
			} else {
				delete(a.nodes, uid)
			}
		}
		return n, nil
	}
	res, err := a.rdb.Do(ctx, "PUBSUB", "SHARDNUMSUB", a.prefix).Slice()
	if err != nil || len(res) < 2 {
		return 1, err
	}
	n := toInt(res[1])
	if n < 1 {
		n = 1
	}
	return n, nil
}

func (a *Sharded) ask(ctx context.Context, typ int, data map[string]any) ([]json.RawMessage, error) {
	n, err := a.ServerCount(ctx)
	if err != nil || n <= 1 {
		return nil, err
	}
	id := randomID(16)
	data["requestId"] = id
	p := &pending{typ: typ, expected: n - 1, done: make(chan struct{})}
	a.mu.Lock()
	a.pending[id] = p
	a.mu.Unlock()
	defer func() { a.mu.Lock(); delete(a.pending, id); a.mu.Unlock() }()
	a.publish(a.prefix, typ, data)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.opts.RequestsTimeout)
		defer cancel()
	}
	select {
	case <-p.done:
	case <-ctx.Done():
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	out := append([]json.RawMessage(nil), p.answers...)
	if p.got < p.expected {
		return out, ErrRequestTimeout
	}
	return out, nil
}

// FetchSockets returns the matching sockets of every node.
func (a *Sharded) FetchSockets(ctx context.Context, opts *socketio.BroadcastOptions) ([]socketio.SocketInfo, error) {
	local, _ := a.MemoryAdapter.FetchSockets(ctx, opts)
	if opts.Flags.Local {
		return local, nil
	}
	answers, err := a.ask(ctx, shFetchSockets, map[string]any{"opts": shOpts(opts)})
	for _, ans := range answers {
		var r struct {
			Sockets []remoteSocket `json:"sockets"`
		}
		if json.Unmarshal(ans, &r) == nil {
			for _, s := range r.Sockets {
				local = append(local, s.info())
			}
		}
	}
	return local, err
}

// AddSockets makes the matching sockets of every node join rooms.
func (a *Sharded) AddSockets(opts *socketio.BroadcastOptions, rooms []string) {
	if !opts.Flags.Local {
		a.publish(a.prefix, shSocketsJoin, map[string]any{"opts": shOpts(opts), "rooms": rooms})
	}
	a.MemoryAdapter.AddSockets(opts, rooms)
}

// DelSockets makes the matching sockets of every node leave rooms.
func (a *Sharded) DelSockets(opts *socketio.BroadcastOptions, rooms []string) {
	if !opts.Flags.Local {
		a.publish(a.prefix, shSocketsLeave, map[string]any{"opts": shOpts(opts), "rooms": rooms})
	}
	a.MemoryAdapter.DelSockets(opts, rooms)
}

// DisconnectSockets disconnects the matching sockets of every node.
func (a *Sharded) DisconnectSockets(opts *socketio.BroadcastOptions, close bool) {
	if !opts.Flags.Local {
		a.publish(a.prefix, shDisconnectSockets, map[string]any{"opts": shOpts(opts), "close": close})
	}
	a.MemoryAdapter.DisconnectSockets(opts, close)
}

// ServerSideEmit sends an event to the namespace on the other nodes.
func (a *Sharded) ServerSideEmit(ctx context.Context, event string, args []any, wantAck bool) ([]socketio.Args, error) {
	p, err := socketio.EventPacket(a.nsp.Name(), event, args...)
	if err != nil {
		return nil, err
	}
	data := map[string]any{"packet": toWirePacket(p).Data}
	if !wantAck {
		a.publish(a.prefix, shServerSideEmit, data)
		return nil, nil
	}
	answers, err := a.ask(ctx, shServerSideEmit, data)
	out := make([]socketio.Args, 0, len(answers))
	for _, ans := range answers {
		var r struct {
			Packet json.RawMessage `json:"packet"`
		}
		if json.Unmarshal(ans, &r) == nil {
			out = append(out, socketio.NewArgs([]json.RawMessage{r.Packet}, nil))
		}
	}
	return out, err
}
