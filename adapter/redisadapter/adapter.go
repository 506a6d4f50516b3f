// Package redisadapter is a socketio.Adapter that spans several nodes over
// Redis pub/sub, wire-compatible with Node's @socket.io/redis-adapter (v8,
// classic mode): Go and Node servers can share one cluster.
//
// # Wire
//
// Broadcasts are published on "<key>#<nsp>#" (or "<key>#<nsp>#<room>#" for
// exactly one room) as msgpack [uid, packet, {rooms, except, flags}], the
// packet in socket.io-parser form with binary as msgpack bin. Requests
// between nodes (fetchSockets, socketsJoin/Leave, disconnectSockets,
// serverSideEmit, broadcasts with acks) go on "<key>-request#<nsp>#" and
// their answers on "<key>-response#<nsp>#", JSON except for broadcasts with
// acks (msgpack). The number of nodes is PUBSUB NUMSUB of the request
// channel: every node answers every request it counts in.
//
// # Failures
//
// A request waits for every other node's answer until its context is done
// or RequestsTimeout passes, then returns what arrived with
// ErrRequestTimeout. When Redis goes away, local delivery goes on; the
// subscription reconnects on its own and cross-node delivery resumes.
//
// # Goroutines
//
// Each namespace's adapter runs one goroutine reading its subscription;
// Close stops it.
package redisadapter

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/heraldio/herald/socketio"
)

// ErrRequestTimeout is returned with partial results when some node did not
// answer a request in time.
var ErrRequestTimeout = errors.New("redisadapter: request timed out: some nodes did not answer")

// Options configures the adapter. Zero fields mean the defaults.
type Options struct {
	// Key prefixes the channels. Default "socket.io".
	Key string
	// RequestsTimeout bounds a request to the other nodes when its context
	// has no deadline. Default 5s.
	RequestsTimeout time.Duration
	Logger          *slog.Logger
}

// New returns an AdapterFactory: each namespace gets an Adapter that
// publishes with client and subscribes with its own connection.
func New(client redis.UniversalClient, opts *Options) socketio.AdapterFactory {
	var o Options
	if opts != nil {
		o = *opts
	}
	o = o.withDefaults()
	return func(nsp *socketio.Namespace) socketio.Adapter { return newAdapter(nsp, client, o) }
}

var _ socketio.Adapter = (*Adapter)(nil)

// Adapter is the adapter of one namespace.
type Adapter struct {
	*socketio.MemoryAdapter
	nsp  *socketio.Namespace
	rdb  redis.UniversalClient
	opts Options
	uid  string

	channel, reqChannel, resChannel string

	sub *subscription

	mu      sync.Mutex
	pending map[string]*pending
}

// pending collects the answers to one request.
type pending struct {
	typ      int
	expected int
	got      int
	answers  []json.RawMessage // JSON answers (fetch, rooms, server-side emit)
	onCount  func(int)         // broadcast with acks
	onAck    func(socketio.Args)
	done     chan struct{}
	closed   bool
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

func newAdapter(nsp *socketio.Namespace, rdb redis.UniversalClient, o Options) *Adapter {
	name := nsp.Name()
	a := &Adapter{
		MemoryAdapter: socketio.NewMemoryAdapter(nsp),
		nsp:           nsp, rdb: rdb, opts: o, uid: randomID(6),
		channel:    o.Key + "#" + name + "#",
		reqChannel: o.Key + "-request#" + name + "#",
		resChannel: o.Key + "-response#" + name + "#",
		pending:    make(map[string]*pending),
	}
	ctx, cancel := context.WithCancel(context.Background())
	ps := rdb.Subscribe(ctx, a.reqChannel, a.resChannel)
	if err := ps.PSubscribe(ctx, a.channel+"*"); err != nil {
		o.Logger.Warn("redisadapter: subscribe", "nsp", name, "err", err)
	}
	a.sub = subscribe(ps, cancel, 3, o.Logger, a.onMessage) // two channels and one pattern
	return a
}

// Close stops the subscription and fails pending requests.
func (a *Adapter) Close() error {
	err := a.sub.close()
	failAll(&a.mu, a.pending)
	return err
}

func (a *Adapter) publish(ctx context.Context, channel string, payload []byte) {
	if err := a.rdb.Publish(ctx, channel, payload).Err(); err != nil {
		a.opts.Logger.Warn("redisadapter: publish failed; local delivery goes on", "channel", channel, "err", err)
	}
}

func (a *Adapter) onMessage(m *redis.Message) {
	payload := []byte(m.Payload)
	switch {
	case m.Channel == a.reqChannel:
		a.onRequest(payload)
	case m.Channel == a.resChannel:
		a.onResponse(payload)
	case strings.HasPrefix(m.Channel, a.channel):
		a.onBroadcast(payload)
	}
}

// Broadcast publishes p for the other nodes, then delivers it here.
func (a *Adapter) Broadcast(p *socketio.Packet, opts *socketio.BroadcastOptions) {
	if !opts.Flags.Local {
		msg, err := encodeMsgpack([]any{a.uid, toWirePacket(p), toWireOpts(opts, true)})
		if err == nil {
			ch := a.channel
			if len(opts.Rooms) == 1 {
				ch += opts.Rooms[0] + "#"
			}
			ctx, cancel := context.WithTimeout(context.Background(), a.opts.RequestsTimeout)
			a.publish(ctx, ch, msg)
			cancel()
		}
	}
	a.MemoryAdapter.Broadcast(p, opts)
}

func (a *Adapter) onBroadcast(payload []byte) {
	var parts []msgpack.RawMessage
	if err := msgpack.Unmarshal(payload, &parts); err != nil || len(parts) < 3 {
		return
	}
	var uid string
	if msgpack.Unmarshal(parts[0], &uid) != nil || uid == a.uid {
		return
	}
	var wp wirePacket
	var wo wireOpts
	if msgpack.Unmarshal(parts[1], &wp) != nil || msgpack.Unmarshal(parts[2], &wo) != nil {
		return
	}
	if wp.Nsp != "" && wp.Nsp != a.nsp.Name() {
		return
	}
	p, err := wp.packet(a.nsp.Name())
	if err != nil {
		a.opts.Logger.Debug("redisadapter: ignored packet", "err", err)
		return
	}
	o := wo.options()
	o.Flags.Local = true
	a.MemoryAdapter.Broadcast(p, o)
}

// request is the JSON form of a request.
type request struct {
	UID       string          `json:"uid,omitempty"`
	RequestID string          `json:"requestId,omitempty"`
	Type      int             `json:"type"`
	Opts      *wireOpts       `json:"opts,omitempty"`
	Rooms     []string        `json:"rooms,omitempty"`
	Close     bool            `json:"close,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
	Sid       string          `json:"sid,omitempty"`
	Room      string          `json:"room,omitempty"`
}

// broadcastRequest is the msgpack form of a broadcast with acks.
type broadcastRequest struct {
	UID       string     `msgpack:"uid"`
	RequestID string     `msgpack:"requestId"`
	Type      int        `msgpack:"type"`
	Packet    wirePacket `msgpack:"packet"`
	Opts      wireOpts   `msgpack:"opts"`
}

func (a *Adapter) onRequest(payload []byte) {
	if len(payload) > 0 && payload[0] != '{' {
		var br broadcastRequest
		if msgpack.Unmarshal(payload, &br) != nil || br.UID == a.uid || br.Type != reqBroadcast {
			return
		}
		a.serveBroadcastWithAck(br)
		return
	}
	var r request
	if json.Unmarshal(payload, &r) != nil || r.UID == a.uid {
		return
	}
	opts := &socketio.BroadcastOptions{}
	if r.Opts != nil {
		opts = r.Opts.options()
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.RequestsTimeout)
	defer cancel()
	switch r.Type {
	case reqSockets:
		a.respond(ctx, map[string]any{"requestId": r.RequestID, "sockets": nonNil(a.MemoryAdapter.Sockets(opts.Rooms))})
	case reqAllRooms:
		a.respond(ctx, map[string]any{"requestId": r.RequestID, "rooms": nonNil(a.MemoryAdapter.Rooms())})
	case reqRemoteJoin:
		if r.Opts == nil && r.Sid != "" {
			opts.Rooms = []string{r.Sid}
			r.Rooms = []string{r.Room}
		}
		a.MemoryAdapter.AddSockets(opts, r.Rooms)
	case reqRemoteLeave:
		if r.Opts == nil && r.Sid != "" {
			opts.Rooms = []string{r.Sid}
			r.Rooms = []string{r.Room}
		}
		a.MemoryAdapter.DelSockets(opts, r.Rooms)
	case reqRemoteDisconnect:
		a.MemoryAdapter.DisconnectSockets(opts, r.Close)
	case reqRemoteFetch:
		local, _ := a.MemoryAdapter.FetchSockets(ctx, opts)
		out := make([]remoteSocket, 0, len(local))
		for _, s := range local {
			out = append(out, toRemote(s))
		}
		a.respond(ctx, map[string]any{"requestId": r.RequestID, "sockets": out})
	case reqServerSideEmit:
		var data []json.RawMessage
		if json.Unmarshal(r.Data, &data) != nil || len(data) == 0 {
			return
		}
		var event string
		if json.Unmarshal(data[0], &event) != nil {
			return
		}
		args := socketio.NewArgs(data[1:], nil)
		var ack func(...any)
		if r.RequestID != "" {
			var once sync.Once
			ack = func(v ...any) {
				once.Do(func() {
					var arg any
					if len(v) > 0 {
						arg = v[0]
					}
					c, cancel := context.WithTimeout(context.Background(), a.opts.RequestsTimeout)
					defer cancel()
					a.respond(c, map[string]any{"type": reqServerSideEmit, "requestId": r.RequestID, "data": arg})
				})
			}
		}
		a.nsp.HandleServerSideEmit(event, args, ack)
	}
}

func (a *Adapter) serveBroadcastWithAck(br broadcastRequest) {
	p, err := br.Packet.packet(a.nsp.Name())
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.RequestsTimeout)
	defer cancel()
	opts := br.Opts.options()
	a.MemoryAdapter.BroadcastWithAck(p, opts, func(n int) {
		a.respond(ctx, map[string]any{"type": resBroadcastCount, "requestId": br.RequestID, "clientCount": n})
	}, func(args socketio.Args) {
		var first any
		if v := args.Values(); len(v) > 0 {
			first = normalizeValue(v[0])
		}
		msg, err := encodeMsgpack(map[string]any{"type": resBroadcastAck, "requestId": br.RequestID, "packet": first})
		if err == nil {
			c, cancel := context.WithTimeout(context.Background(), a.opts.RequestsTimeout)
			a.publish(c, a.resChannel, msg)
			cancel()
		}
	})
}

func (a *Adapter) respond(ctx context.Context, v any) {
	b, err := json.Marshal(v)
	if err == nil {
		a.publish(ctx, a.resChannel, b)
	}
}

func (a *Adapter) onResponse(payload []byte) {
	var head struct {
		Type      int    `json:"type" msgpack:"type"`
		RequestID string `json:"requestId" msgpack:"requestId"`
	}
	if decodeAny(payload, &head) != nil || head.RequestID == "" {
		return
	}
	a.mu.Lock()
	p := a.pending[head.RequestID]
	a.mu.Unlock()
	if p == nil {
		return
	}
	switch {
	case p.typ == reqBroadcast && head.Type == resBroadcastCount:
		var r struct {
			ClientCount int `json:"clientCount" msgpack:"clientCount"`
		}
		if decodeAny(payload, &r) == nil {
			p.onCount(r.ClientCount)
		}
	case p.typ == reqBroadcast && head.Type == resBroadcastAck:
		var r struct {
			Packet any `msgpack:"packet" json:"packet"`
		}
		if decodeAny(payload, &r) == nil {
			if pk, err := socketio.EventPacket(a.nsp.Name(), "ack", fixValue(r.Packet)); err == nil {
				p.onAck(pk.Args())
			}
		}
	default:
		a.mu.Lock()
		if !p.closed {
			p.answers = append(p.answers, payload)
			p.got++
			if p.got >= p.expected {
				p.finish()
			}
		}
		a.mu.Unlock()
	}
}

func (p *pending) finish() {
	if !p.closed {
		p.closed = true
		close(p.done)
	}
}

// ServerCount returns the number of nodes subscribed to this namespace.
func (a *Adapter) ServerCount(ctx context.Context) (int, error) {
	res, err := a.rdb.PubSubNumSub(ctx, a.reqChannel).Result()
	if err != nil {
		return 1, err
	}
	n := int(res[a.reqChannel])
	if n < 1 {
		n = 1
	}
	return n, nil
}

// request publishes r and waits for the answers of every other node.
func (a *Adapter) request(ctx context.Context, r request) ([]json.RawMessage, error) {
	n, err := a.ServerCount(ctx)
	if err != nil {
		return nil, err
	}
	if n <= 1 {
		return nil, nil
	}
	r.UID, r.RequestID = a.uid, randomID(8)
	p := &pending{typ: r.Type, expected: n - 1, done: make(chan struct{})}
	a.mu.Lock()
	a.pending[r.RequestID] = p
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.pending, r.RequestID)
		a.mu.Unlock()
	}()
	b, _ := json.Marshal(r)
	a.publish(ctx, a.reqChannel, b)
	ctx, cancel := a.bound(ctx)
	defer cancel()
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

func (a *Adapter) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, a.opts.RequestsTimeout)
}

// FetchSockets returns the matching sockets of every node.
func (a *Adapter) FetchSockets(ctx context.Context, opts *socketio.BroadcastOptions) ([]socketio.SocketInfo, error) {
	local, _ := a.MemoryAdapter.FetchSockets(ctx, opts)
	if opts.Flags.Local {
		return local, nil
	}
	wo := toWireOpts(opts, false)
	answers, err := a.request(ctx, request{Type: reqRemoteFetch, Opts: &wo})
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

func (a *Adapter) fire(r request) {
	r.UID = a.uid
	b, _ := json.Marshal(r)
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.RequestsTimeout)
	a.publish(ctx, a.reqChannel, b)
	cancel()
}

// AddSockets makes the matching sockets of every node join rooms.
func (a *Adapter) AddSockets(opts *socketio.BroadcastOptions, rooms []string) {
	if !opts.Flags.Local {
		wo := toWireOpts(opts, false)
		a.fire(request{Type: reqRemoteJoin, Opts: &wo, Rooms: rooms})
	}
	a.MemoryAdapter.AddSockets(opts, rooms)
}

// DelSockets makes the matching sockets of every node leave rooms.
func (a *Adapter) DelSockets(opts *socketio.BroadcastOptions, rooms []string) {
	if !opts.Flags.Local {
		wo := toWireOpts(opts, false)
		a.fire(request{Type: reqRemoteLeave, Opts: &wo, Rooms: rooms})
	}
	a.MemoryAdapter.DelSockets(opts, rooms)
}

// DisconnectSockets disconnects the matching sockets of every node.
func (a *Adapter) DisconnectSockets(opts *socketio.BroadcastOptions, close bool) {
	if !opts.Flags.Local {
		wo := toWireOpts(opts, false)
		a.fire(request{Type: reqRemoteDisconnect, Opts: &wo, Close: close})
	}
	a.MemoryAdapter.DisconnectSockets(opts, close)
}

// ServerSideEmit sends an event to the namespace on the other nodes.
func (a *Adapter) ServerSideEmit(ctx context.Context, event string, args []any, wantAck bool) ([]socketio.Args, error) {
	p, err := socketio.EventPacket(a.nsp.Name(), event, args...)
	if err != nil {
		return nil, err
	}
	data, _ := json.Marshal(toWirePacket(p).Data)
	r := request{Type: reqServerSideEmit, Data: data}
	if !wantAck {
		a.fire(r)
		return nil, nil
	}
	answers, err := a.request(ctx, r)
	out := make([]socketio.Args, 0, len(answers))
	for _, ans := range answers {
		var resp struct {
			Data json.RawMessage `json:"data"`
		}
		if json.Unmarshal(ans, &resp) == nil {
			out = append(out, socketio.NewArgs([]json.RawMessage{resp.Data}, nil))
		}
	}
	return out, err
}

// BroadcastWithAck sends p to the matching sockets of every node; each
// node reports how many sockets it reached, then their acks.
func (a *Adapter) BroadcastWithAck(p *socketio.Packet, opts *socketio.BroadcastOptions, clientCount func(int), ack func(socketio.Args)) {
	if !opts.Flags.Local {
		id := randomID(8)
		pd := &pending{typ: reqBroadcast, onCount: clientCount, onAck: ack, done: make(chan struct{})}
		a.mu.Lock()
		a.pending[id] = pd
		a.mu.Unlock()
		timeout := opts.Flags.Timeout
		if timeout <= 0 {
			timeout = a.opts.RequestsTimeout
		}
		time.AfterFunc(timeout+time.Second, func() {
			a.mu.Lock()
			delete(a.pending, id)
			a.mu.Unlock()
		})
		msg, err := encodeMsgpack(broadcastRequest{UID: a.uid, RequestID: id, Type: reqBroadcast,
			Packet: toWirePacket(p), Opts: toWireOpts(opts, true)})
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), a.opts.RequestsTimeout)
			a.publish(ctx, a.reqChannel, msg)
			cancel()
		}
	}
	a.MemoryAdapter.BroadcastWithAck(p, opts, clientCount, ack)
}
