package redisadapter

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldio/herald/adapter/internal/redisbus"
	"github.com/heraldio/herald/adapter/internal/requests"
	"github.com/heraldio/herald/adapter/internal/wire"
	"github.com/heraldio/herald/internal/jsonstr"
	"github.com/heraldio/herald/socketio"
)

// New returns the AdapterFactory of the classic adapter: each namespace
// gets an Adapter that publishes with client and subscribes with a
// connection of its own taken from client.
func New(client redis.UniversalClient, opts *Options) socketio.AdapterFactory {
	return NewWithSubscriber(client, client, opts)
}

// NewWithSubscriber is New with a separate client for the subscriptions,
// as Node's createAdapter(pubClient, subClient) takes.
func NewWithSubscriber(pub, sub redis.UniversalClient, opts *Options) socketio.AdapterFactory {
	o := optionsOrZero(opts)
	return func(nsp *socketio.Namespace) socketio.Adapter { return newAdapter(nsp, pub, sub, o) }
}

// Request and response types of the classic adapter, as Node's
// @socket.io/redis-adapter numbers them.
const (
	reqSockets          = 0
	reqAllRooms         = 1
	reqRemoteJoin       = 2
	reqRemoteLeave      = 3
	reqRemoteDisconnect = 4
	reqRemoteFetch      = 5
	reqServerSideEmit   = 6
	reqBroadcast        = 7
	resBroadcastCount   = 8
	resBroadcastAck     = 9
)

var _ socketio.Adapter = (*Adapter)(nil)

// Adapter is the classic adapter of one namespace. Its local part is an
// embedded MemoryAdapter.
type Adapter struct {
	*socketio.MemoryAdapter
	nsp  *socketio.Namespace
	pub  redis.UniversalClient
	opts Options
	uid  string

	channel, reqChannel, resChannel, ownResChannel string

	sub    *redisbus.Subscription
	out    *redisbus.Outbox
	reqs   *requests.Table
	worker *requests.Worker
	once   sync.Once
}

func newAdapter(nsp *socketio.Namespace, pub, sub redis.UniversalClient, o Options) *Adapter {
	name := nsp.Name()
	a := &Adapter{
		MemoryAdapter: socketio.NewMemoryAdapter(nsp),
		nsp:           nsp, pub: pub, opts: o, uid: wire.RandomID(6),
		channel:    o.Key + "#" + name + "#",
		reqChannel: o.Key + "-request#" + name + "#",
		resChannel: o.Key + "-response#" + name + "#",
		reqs:       requests.NewTable(),
		worker:     requests.NewWorker(),
	}
	a.out = redisbus.NewOutbox(pub, name, o.QueueSize, o.RequestsTimeout, o.Logger, a.ServerCount)
	a.ownResChannel = a.resChannel + a.uid + "#"
	ctx, cancel := context.WithTimeout(context.Background(), o.RequestsTimeout)
	defer cancel()
	ps := sub.Subscribe(ctx, a.reqChannel, a.resChannel, a.ownResChannel)
	if err := ps.PSubscribe(ctx, a.channel+"*"); err != nil {
		o.Logger.Warn("redisadapter: psubscribe", "nsp", name, "err", err)
	}
	a.sub = redisbus.Subscribe(ps, 4, o.RequestsTimeout, o.Logger, a.onMessage)
	return a
}

// UID returns the id of this node in its messages.
func (a *Adapter) UID() string { return a.uid }

// Close stops the subscription and the handler goroutine, ends the
// requests still waiting with ErrClosed, then sends what is still queued
// (if Redis answers within RequestsTimeout, whatever ctx) and stops the
// sending goroutine.
func (a *Adapter) Close(ctx context.Context) error {
	var err error
	a.once.Do(func() {
		err = a.sub.Close()
		a.worker.Close()
		a.reqs.Close()
		a.out.Close()
	})
	return err
}

// Stats returns the counts of the messages sent to Redis.
func (a *Adapter) Stats() Stats { return Stats(a.out.Stats()) }

// publish queues a message for the other nodes.
func (a *Adapter) publish(channel string, payload []byte) error {
	return a.out.Push(&redisbus.Item{Args: []any{"publish", channel, payload}})
}

// publishEphemeral queues a request or an answer, of use only within
// RequestsTimeout.
func (a *Adapter) publishEphemeral(channel string, payload []byte) error {
	return a.out.Push(&redisbus.Item{Args: []any{"publish", channel, payload}, Expires: time.Now().Add(a.opts.RequestsTimeout)})
}

func (a *Adapter) onMessage(m *redis.Message) {
	payload := []byte(m.Payload)
	switch {
	case m.Channel == a.reqChannel:
		a.onRequest(payload)
	case m.Channel == a.resChannel || m.Channel == a.ownResChannel:
		a.onResponse(payload)
	case strings.HasPrefix(m.Channel, a.channel):
		a.onBroadcast(m.Channel[len(a.channel):], payload)
	}
}

// decode turns a received message into JSON and attachments: JSON
// messages start with '{', the others are the parser's.
func (a *Adapter) decode(payload []byte) ([]byte, [][]byte, error) {
	if len(payload) > 0 && payload[0] == '{' {
		return payload, nil, nil
	}
	return a.opts.Parser.Decode(payload)
}

// encodeBroadcast returns the message [uid, packet, opts] of a broadcast.
func encodeBroadcast(parser Parser, uid string, p *socketio.Packet, opts *socketio.BroadcastOptions) ([]byte, error) {
	msg := make([]byte, 0, len(p.Data)+96)
	msg = append(msg, '[')
	msg = jsonstr.Append(msg, uid)
	msg = append(msg, ',')
	msg = wire.AppendPacket(msg, p, true)
	msg = append(msg, ',')
	msg = wire.AppendOpts(msg, opts, true)
	msg = append(msg, ']')
	return parser.Encode(msg, p.Attachments)
}

// broadcastChannel is where a broadcast to opts goes.
func (a *Adapter) broadcastChannel(opts *socketio.BroadcastOptions) string {
	if len(opts.Rooms) == 1 {
		return a.channel + opts.Rooms[0] + "#"
	}
	return a.channel
}

// Broadcast queues p for the other nodes, then delivers it here without
// waiting for Redis; it returns the error of the queueing.
func (a *Adapter) Broadcast(ctx context.Context, p *socketio.Packet, opts *socketio.BroadcastOptions) error {
	var err error
	if !opts.Flags.Local {
		var msg []byte
		if msg, err = encodeBroadcast(a.opts.Parser, a.uid, p, opts); err == nil {
			err = a.publish(a.broadcastChannel(opts), msg)
		} else {
			a.opts.Logger.Warn("redisadapter: encode broadcast", "err", err)
		}
	}
	_ = a.MemoryAdapter.Broadcast(ctx, p, opts)
	return err
}

// hasRoom reports whether a local socket may be in room.
func (a *Adapter) hasRoom(room string) bool {
	if a.nsp.Socket(room) != nil {
		return true
	}
	return len(a.MemoryAdapter.Sockets([]string{room})) > 0
}

func (a *Adapter) onBroadcast(room string, payload []byte) {
	if room = strings.TrimSuffix(room, "#"); room != "" && !a.hasRoom(room) {
		return
	}
	msg, att, err := a.decode(payload)
	if err != nil {
		a.opts.Logger.Debug("redisadapter: malformed broadcast", "err", err)
		return
	}
	var parts []json.RawMessage
	if json.Unmarshal(msg, &parts) != nil || len(parts) < 2 {
		return
	}
	var uid string
	if json.Unmarshal(parts[0], &uid) != nil || uid == a.uid {
		return
	}
	var wp wire.Packet
	if json.Unmarshal(parts[1], &wp) != nil {
		return
	}
	if wp.Nsp != nil && *wp.Nsp != a.nsp.Name() {
		return
	}
	var wo wire.Opts
	if len(parts) > 2 {
		_ = json.Unmarshal(parts[2], &wo)
	}
	p, err := wp.Decode(a.nsp.Name(), att)
	if err != nil {
		a.opts.Logger.Debug("redisadapter: ignored packet", "err", err)
		return
	}
	o := wo.Options()
	o.Flags.Local = true
	_ = a.MemoryAdapter.Broadcast(context.Background(), p, o)
}

// request is the JSON form of a request.
type request struct {
	UID       string          `json:"uid,omitempty"`
	RequestID string          `json:"requestId,omitempty"`
	Type      int             `json:"type"`
	Opts      *wire.Opts      `json:"opts,omitempty"`
	Rooms     []string        `json:"rooms,omitempty"`
	Close     bool            `json:"close,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
	Packet    *wire.Packet    `json:"packet,omitempty"`
	// The emitter's older join and leave requests.
	Sid  string `json:"sid,omitempty"`
	Room string `json:"room,omitempty"`
}

// outRequest is the JSON form of a request this node sends.
type outRequest struct {
	UID       string          `json:"uid"`
	RequestID string          `json:"requestId,omitempty"`
	Type      int             `json:"type"`
	Opts      json.RawMessage `json:"opts,omitempty"`
	Rooms     []string        `json:"rooms,omitempty"`
	Close     *bool           `json:"close,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
}

func (a *Adapter) onRequest(payload []byte) {
	msg, att, err := a.decode(payload)
	if err != nil {
		return
	}
	var r request
	if json.Unmarshal(msg, &r) != nil || r.UID == a.uid {
		return
	}
	opts := r.Opts.Options()
	ctx := context.Background() // local operations: nothing to wait for
	switch r.Type {
	case reqSockets:
		a.respond(r, map[string]any{"requestId": r.RequestID, "sockets": wire.NonNil(a.MemoryAdapter.Sockets(opts.Rooms))})
	case reqAllRooms:
		a.respond(r, map[string]any{"requestId": r.RequestID, "rooms": wire.NonNil(a.MemoryAdapter.Rooms())})
	case reqRemoteJoin, reqRemoteLeave:
		rooms := r.Rooms
		if r.Opts == nil && r.Sid != "" {
			opts.Rooms, rooms = []string{r.Sid}, []string{r.Room}
		}
		if r.Type == reqRemoteJoin {
			_ = a.MemoryAdapter.AddSockets(ctx, opts, rooms)
		} else {
			_ = a.MemoryAdapter.DelSockets(ctx, opts, rooms)
		}
	case reqRemoteDisconnect:
		_ = a.MemoryAdapter.DisconnectSockets(ctx, opts, r.Close)
	case reqRemoteFetch:
		local, _ := a.MemoryAdapter.FetchSockets(ctx, opts)
		a.respond(r, map[string]any{"requestId": r.RequestID, "sockets": wire.FetchResponse(local)})
	case reqServerSideEmit:
		event, args, ok := wire.ServerSideEvent(r.Data)
		if !ok {
			return
		}
		var ack func(...any)
		if r.RequestID != "" {
			ack = wire.AnswerOnce(func(raw json.RawMessage, _ [][]byte) {
				a.respond(r, map[string]any{"type": reqServerSideEmit, "requestId": r.RequestID, "data": raw})
			})
		}
		a.worker.Do(func() { a.MemoryAdapter.HandleServerSideEmit(event, args, ack) })
	case reqBroadcast:
		if r.Packet == nil {
			return
		}
		p, err := r.Packet.Decode(a.nsp.Name(), att)
		if err != nil {
			return
		}
		_ = a.MemoryAdapter.BroadcastWithAck(ctx, p, opts, func(n int) {
			a.respond(r, map[string]any{"type": resBroadcastCount, "requestId": r.RequestID, "clientCount": n})
		}, func(args socketio.Args) {
			raw, att := wire.FirstArg(args)
			msg := []byte(`{"type":9,"requestId":`)
			msg = jsonstr.Append(msg, r.RequestID)
			msg = append(msg, `,"packet":`...)
			msg = append(msg, raw...)
			msg = append(msg, '}')
			b, err := a.opts.Parser.Encode(msg, att)
			if err == nil {
				a.publishEphemeral(a.responseChannel(r), b)
			}
		})
	}
}

// responseChannel is where the answers to r go.
func (a *Adapter) responseChannel(r request) string {
	if a.opts.PublishOnSpecificResponseChannel && r.UID != "" {
		return a.resChannel + r.UID + "#"
	}
	return a.resChannel
}

func (a *Adapter) respond(r request, v any) {
	b, err := json.Marshal(v)
	if err == nil {
		a.publishEphemeral(a.responseChannel(r), b)
	}
}

func (a *Adapter) onResponse(payload []byte) {
	msg, att, err := a.decode(payload)
	if err != nil {
		return
	}
	var head struct {
		Type        int             `json:"type"`
		RequestID   string          `json:"requestId"`
		ClientCount int             `json:"clientCount"`
		Packet      json.RawMessage `json:"packet"`
	}
	if json.Unmarshal(msg, &head) != nil || head.RequestID == "" {
		return
	}
	p := a.reqs.Get(head.RequestID)
	if p == nil {
		return
	}
	switch {
	case p.OnCount != nil && head.Type == resBroadcastCount:
		p.OnCount(head.ClientCount)
	case p.OnAck != nil && head.Type == resBroadcastAck:
		p.OnAck(wire.Arg(head.Packet, att))
	case p.OnCount == nil:
		a.reqs.Answer(head.RequestID, requests.Answer{Msg: msg, Att: att})
	}
}

// ServerCount returns the number of nodes subscribed to this namespace
// (PUBSUB NUMSUB of the request channel).
func (a *Adapter) ServerCount(ctx context.Context) (int, error) {
	res, err := a.pub.PubSubNumSub(ctx, a.reqChannel).Result()
	if err != nil {
		return 1, err
	}
	n := int(res[a.reqChannel])
	if n < 1 {
		n = 1
	}
	return n, nil
}

// request publishes r and waits for the answers of every other node; it
// fails at once while Redis is known to be away.
func (a *Adapter) request(ctx context.Context, r outRequest) ([]requests.Answer, error) {
	if a.out.Down() {
		return nil, ErrUnavailable
	}
	n, err := a.ServerCount(ctx)
	if err != nil {
		return nil, err
	}
	if n <= 1 {
		return nil, nil
	}
	r.UID, r.RequestID = a.uid, wire.RandomID(16)
	p := &requests.Pending{Expected: n - 1}
	if !a.reqs.Add(r.RequestID, p) {
		return nil, ErrClosed
	}
	b, err := json.Marshal(r)
	if err != nil {
		a.reqs.Remove(r.RequestID)
		return nil, err
	}
	if err := a.publishEphemeral(a.reqChannel, b); err != nil {
		a.reqs.Remove(r.RequestID)
		return nil, err
	}
	return a.reqs.Wait(ctx, r.RequestID, p, a.opts.RequestsTimeout)
}

// fire publishes a request that expects no answer; a server-side event
// is only of use within RequestsTimeout.
func (a *Adapter) fire(r outRequest) error {
	r.UID = a.uid
	b, err := json.Marshal(r)
	switch {
	case err != nil:
		return err
	case r.Type == reqServerSideEmit:
		return a.publishEphemeral(a.reqChannel, b)
	default:
		return a.publish(a.reqChannel, b)
	}
}

// FetchSockets returns the matching sockets of every node; with some node
// silent, those that arrived and ErrRequestTimeout.
func (a *Adapter) FetchSockets(ctx context.Context, opts *socketio.BroadcastOptions) ([]socketio.SocketInfo, error) {
	local, _ := a.MemoryAdapter.FetchSockets(ctx, opts)
	if opts.Flags.Local {
		return local, nil
	}
	answers, err := a.request(ctx, outRequest{Type: reqRemoteFetch, Opts: wire.AppendOpts(nil, opts, false)})
	return requests.SocketsOf(local, answers), err
}

// AllRooms returns the rooms of every node, socket ids included, each
// once.
func (a *Adapter) AllRooms(ctx context.Context) ([]string, error) {
	rooms := a.MemoryAdapter.Rooms()
	answers, err := a.request(ctx, outRequest{Type: reqAllRooms})
	for _, ans := range answers {
		var r struct {
			Rooms []string `json:"rooms"`
		}
		if json.Unmarshal(ans.Msg, &r) == nil {
			rooms = append(rooms, r.Rooms...)
		}
	}
	return dedup(rooms), err
}

// AllSockets returns the ids of the sockets of every node in any of rooms
// (all when empty).
func (a *Adapter) AllSockets(ctx context.Context, rooms []string) ([]string, error) {
	ids := a.MemoryAdapter.Sockets(rooms)
	answers, err := a.request(ctx, outRequest{Type: reqSockets, Opts: wire.AppendOpts(nil, &socketio.BroadcastOptions{Rooms: rooms}, false)})
	for _, ans := range answers {
		var r struct {
			Sockets []string `json:"sockets"`
		}
		if json.Unmarshal(ans.Msg, &r) == nil {
			ids = append(ids, r.Sockets...)
		}
	}
	return dedup(ids), err
}

func dedup(s []string) []string {
	seen := make(map[string]struct{}, len(s))
	out := s[:0]
	for _, e := range s {
		if _, ok := seen[e]; !ok {
			seen[e] = struct{}{}
			out = append(out, e)
		}
	}
	return out
}

// AddSockets makes the matching sockets of every node join rooms; it
// returns the error of queueing the request.
func (a *Adapter) AddSockets(ctx context.Context, opts *socketio.BroadcastOptions, rooms []string) error {
	var err error
	if !opts.Flags.Local {
		err = a.fire(outRequest{Type: reqRemoteJoin, Opts: wire.AppendOpts(nil, opts, false), Rooms: wire.NonNil(rooms)})
	}
	_ = a.MemoryAdapter.AddSockets(ctx, opts, rooms)
	return err
}

// DelSockets makes the matching sockets of every node leave rooms; it
// returns the error of queueing the request.
func (a *Adapter) DelSockets(ctx context.Context, opts *socketio.BroadcastOptions, rooms []string) error {
	var err error
	if !opts.Flags.Local {
		err = a.fire(outRequest{Type: reqRemoteLeave, Opts: wire.AppendOpts(nil, opts, false), Rooms: wire.NonNil(rooms)})
	}
	_ = a.MemoryAdapter.DelSockets(ctx, opts, rooms)
	return err
}

// DisconnectSockets disconnects the matching sockets of every node; it
// returns the error of queueing the request.
func (a *Adapter) DisconnectSockets(ctx context.Context, opts *socketio.BroadcastOptions, closeConn bool) error {
	var err error
	if !opts.Flags.Local {
		err = a.fire(outRequest{Type: reqRemoteDisconnect, Opts: wire.AppendOpts(nil, opts, false), Close: &closeConn})
	}
	_ = a.MemoryAdapter.DisconnectSockets(ctx, opts, closeConn)
	return err
}

// ServerSideEmit sends an event to the namespace on the other nodes. With
// wantAck it returns each node's answer, waiting until every node answered
// or ctx is done (RequestsTimeout without a deadline).
func (a *Adapter) ServerSideEmit(ctx context.Context, event string, args []any, wantAck bool) ([]socketio.Args, error) {
	data, err := wire.ServerSideEmitData(a.nsp.Name(), event, args)
	if err != nil {
		return nil, err
	}
	r := outRequest{Type: reqServerSideEmit, Data: data}
	if !wantAck {
		return nil, a.fire(r)
	}
	answers, err := a.request(ctx, r)
	return requests.ArgsOf(answers, "data"), err
}

// BroadcastWithAck sends p to the matching sockets of every node; each
// node reports how many sockets it reached, then their acks. It returns
// the error of queueing the request.
func (a *Adapter) BroadcastWithAck(ctx context.Context, p *socketio.Packet, opts *socketio.BroadcastOptions, clientCount func(int), ack func(socketio.Args)) error {
	var err error
	if !opts.Flags.Local {
		if id, ok := a.reqs.AddBroadcast(opts.Flags.Timeout, a.opts.RequestsTimeout, clientCount, ack); ok {
			msg := []byte(`{"uid":`)
			msg = jsonstr.Append(msg, a.uid)
			msg = append(msg, `,"requestId":`...)
			msg = jsonstr.Append(msg, id)
			msg = append(msg, `,"type":7,"packet":`...)
			msg = wire.AppendPacket(msg, p, true)
			msg = append(msg, `,"opts":`...)
			msg = wire.AppendOpts(msg, opts, true)
			msg = append(msg, '}')
			var b []byte
			if b, err = a.opts.Parser.Encode(msg, p.Attachments); err == nil {
				err = a.publishEphemeral(a.reqChannel, b)
			}
		}
	}
	_ = a.MemoryAdapter.BroadcastWithAck(ctx, p, opts, clientCount, ack)
	return err
}
