package redisadapter

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldio/herald/socketio"
)

// Message types of Node's cluster adapter (socket.io-adapter), used by the
// sharded and streams variants.
const (
	MsgInitialHeartbeat       = 1
	MsgHeartbeat              = 2
	MsgBroadcast              = 3
	MsgSocketsJoin            = 4
	MsgSocketsLeave           = 5
	MsgDisconnectSockets      = 6
	MsgFetchSockets           = 7
	MsgFetchSocketsResponse   = 8
	MsgServerSideEmit         = 9
	MsgServerSideEmitResponse = 10
	MsgBroadcastClientCount   = 11
	MsgBroadcastAck           = 12
	MsgAdapterClose           = 13
)

// Message is one cluster-adapter message going out: Data is JSON whose
// placeholders refer to Attachments.
type Message struct {
	Type        int
	Data        json.RawMessage
	Attachments [][]byte
	// To is the node an answer is for ("" for every node).
	To string
	// Room is the one room a broadcast is for, when it may travel on that
	// room's channel.
	Room string
	// Ephemeral marks what is only of use to nodes alive now and has no
	// place in a stream: requests, server-side emits, broadcasts with
	// acks (Node's streams adapter sends these over pub/sub).
	Ephemeral bool
}

// Transport carries cluster-adapter messages between nodes: Redis sharded
// pub/sub or a Redis stream.
type Transport interface {
	// Command returns the Redis command that delivers m to the other
	// nodes (a PUBLISH, SPUBLISH or XADD), which the cluster's own
	// goroutine sends. Where the transport has offsets, the command's
	// reply is the message's offset (a stream entry id), used as the
	// recovery offset of a broadcast.
	Command(uid, nsp string, m *Message) ([]any, error)
	// ServerCount returns the number of nodes serving the namespace.
	ServerCount(ctx context.Context) (int, error)
}

// Cluster is the part of the sharded and streams adapters that is Node's
// ClusterAdapter: it turns adapter operations into cluster messages and
// the messages of other nodes into local operations, over a Transport.
// Its messages go to Redis through a bounded queue and a goroutine of its
// own (see Options.QueueSize), so no caller waits for Redis.
type Cluster struct {
	*socketio.MemoryAdapter
	nsp  *socketio.Namespace
	opts Options
	uid  string
	tr   Transport
	out  *outbox
	// offsetWait, when positive, makes the transport's offsets the
	// recovery offsets of broadcasts (the streams adapter) and bounds the
	// wait for them.
	offsetWait time.Duration

	omu  sync.Mutex
	last string // the latest offset this node knows

	reqs   *requests
	worker *worker
	once   sync.Once
}

// NewCluster returns the cluster part of an adapter for nsp with node id
// uid, sending the transport's commands with rdb. A positive offsetWait
// makes the transport's offsets the recovery offsets of broadcasts, each
// broadcast waiting that long at most for its own; without it the
// transport is pub/sub, and after an outage the queue waits (a little)
// for the nodes its ServerCount counted to subscribe again. The transport
// must call Handle with the other nodes' messages.
func NewCluster(nsp *socketio.Namespace, uid string, rdb redis.UniversalClient, tr Transport, opts *Options, offsetWait time.Duration) *Cluster {
	o := optionsOrZero(opts)
	var peers func(context.Context) (int, error)
	if offsetWait <= 0 {
		peers = tr.ServerCount
	}
	return &Cluster{MemoryAdapter: socketio.NewMemoryAdapter(nsp), nsp: nsp, opts: o, uid: uid, tr: tr,
		out: newOutbox(rdb, nsp.Name(), o.QueueSize, o.RequestsTimeout, o.Logger, peers), offsetWait: offsetWait,
		reqs: newRequests(), worker: newWorker()}
}

// UID returns this node's id.
func (c *Cluster) UID() string { return c.uid }

// Options returns the options with their defaults filled in.
func (c *Cluster) Options() Options { return c.opts }

// Namespace returns the namespace.
func (c *Cluster) Namespace() *socketio.Namespace { return c.nsp }

// Stats returns the counts of the messages sent to Redis.
func (c *Cluster) Stats() Stats { return c.out.stats() }

// CloseRequests ends the requests still waiting, stops the handler
// goroutine, then sends what is still queued (if Redis answers within
// RequestsTimeout) and stops the sending goroutine; the adapter's Close
// calls it.
func (c *Cluster) CloseRequests() {
	c.once.Do(func() {
		c.worker.close()
		c.reqs.close()
		c.out.close()
	})
}

// ServerCount returns the transport's count of nodes.
func (c *Cluster) ServerCount(ctx context.Context) (int, error) { return c.tr.ServerCount(ctx) }

// send queues m for the other nodes.
func (c *Cluster) send(m *Message) { c.queue(m, false) }

// queue queues m for the other nodes. With wait, it waits (at most
// offsetWait, and not while Redis is known to be away) for the message's
// offset; it returns "" when it has none.
func (c *Cluster) queue(m *Message, wait bool) string {
	args, err := c.tr.Command(c.uid, c.nsp.Name(), m)
	if err != nil {
		c.opts.Logger.Warn("redisadapter: encode", "nsp", c.nsp.Name(), "type", m.Type, "err", err)
		return ""
	}
	it := &outItem{args: args}
	if m.Ephemeral || m.To != "" || m.Type == MsgHeartbeat || m.Type == MsgInitialHeartbeat {
		it.expires = time.Now().Add(c.opts.RequestsTimeout)
	}
	wait = wait && c.offsetWait > 0 && !c.out.down.Load()
	if wait {
		it.reply = make(chan string, 1)
	}
	if !c.out.push(it) || !wait {
		return ""
	}
	t := time.NewTimer(c.offsetWait)
	defer t.Stop()
	select {
	case off := <-it.reply:
		c.noteOffset(off)
		return off
	case <-t.C:
		c.out.down.Store(true) // the next ones do not wait until a send succeeds
		return ""
	}
}

// noteOffset records off as the latest offset known if it is later.
func (c *Cluster) noteOffset(off string) {
	if off == "" {
		return
	}
	c.omu.Lock()
	if laterOffset(off, c.last) {
		c.last = off
	}
	c.omu.Unlock()
}

func (c *Cluster) lastOffset() string {
	c.omu.Lock()
	defer c.omu.Unlock()
	return c.last
}

// laterOffset reports whether stream id a ("<ms>-<seq>") comes after b.
func laterOffset(a, b string) bool {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	if len(am) != len(bm) {
		return len(am) > len(bm)
	}
	if am != bm {
		return am > bm
	}
	if len(as) != len(bs) {
		return len(as) > len(bs)
	}
	return as > bs
}

// LooksLikeSocketID reports whether a room is probably a socket's own
// room (20 characters), which gets no channel of its own.
func LooksLikeSocketID(room string) bool { return len(room) == 20 }

type jsonObject struct{ b []byte }

func newObject() *jsonObject { return &jsonObject{b: []byte{'{'}} }

func (o *jsonObject) raw(k string, v []byte) *jsonObject {
	if len(o.b) > 1 {
		o.b = append(o.b, ',')
	}
	o.b = appendJSONString(o.b, k)
	o.b = append(o.b, ':')
	o.b = append(o.b, v...)
	return o
}

func (o *jsonObject) str(k, v string) *jsonObject { return o.raw(k, appendJSONString(nil, v)) }

func (o *jsonObject) done() json.RawMessage { return append(o.b, '}') }

// Broadcast queues p for the other nodes, then delivers it here. With
// offsets, the message's offset is appended for recovery: its own when it
// comes within offsetWait, else the latest this node knows (a client that
// recovers from it gets this broadcast again, once it is in the stream).
func (c *Cluster) Broadcast(p *socketio.Packet, opts *socketio.BroadcastOptions) {
	off := ""
	if !opts.Flags.Local {
		m := &Message{Type: MsgBroadcast, Attachments: p.Attachments,
			Data: newObject().raw("packet", appendPacket(nil, p, false)).raw("opts", appendOpts(nil, opts, true)).done()}
		if len(opts.Rooms) == 1 && !LooksLikeSocketID(opts.Rooms[0]) {
			m.Room = opts.Rooms[0]
		}
		record := c.offsetWait > 0 && c.MemoryAdapter.Recovery() != nil && recordable(p, opts)
		if off = c.queue(m, record); off == "" && record {
			off = c.lastOffset()
		}
	}
	c.deliver(p, opts, off)
}

func (c *Cluster) deliver(p *socketio.Packet, opts *socketio.BroadcastOptions, off string) {
	if c.offsetWait <= 0 {
		c.MemoryAdapter.Broadcast(p, opts)
		return
	}
	if off != "" && c.MemoryAdapter.Recovery() != nil && recordable(p, opts) {
		p.Data = socketio.AppendOffset(p.Data, off)
	}
	c.MemoryAdapter.Deliver(p, opts)
}

// recordable reports whether a broadcast is kept for recovery (as the
// reference: events without ack, not volatile).
func recordable(p *socketio.Packet, opts *socketio.BroadcastOptions) bool {
	return p.Type == socketio.PacketEvent && !p.HasID && !opts.Flags.Volatile
}

// BroadcastWithAck sends p across nodes; they answer with client counts
// and acks addressed to this node.
func (c *Cluster) BroadcastWithAck(p *socketio.Packet, opts *socketio.BroadcastOptions, clientCount func(int), ack func(socketio.Args)) {
	if !opts.Flags.Local {
		id := randomID(16)
		if c.reqs.add(id, &pending{onCount: clientCount, onAck: ack}) {
			timeout := opts.Flags.Timeout
			if timeout <= 0 {
				timeout = c.opts.RequestsTimeout
			}
			c.reqs.removeAfter(id, timeout+c.opts.RequestsTimeout)
			c.send(&Message{Type: MsgBroadcast, Attachments: p.Attachments, Ephemeral: true,
				Data: newObject().raw("packet", appendPacket(nil, p, false)).str("requestId", id).raw("opts", appendOpts(nil, opts, true)).done()})
		}
	}
	c.MemoryAdapter.BroadcastWithAck(p, opts, clientCount, ack)
}

// clusterData is the data of any received cluster message.
type clusterData struct {
	RequestID   string          `json:"requestId"`
	Packet      json.RawMessage `json:"packet"`
	Opts        *wireOpts       `json:"opts"`
	Rooms       []string        `json:"rooms"`
	Close       bool            `json:"close"`
	ClientCount int             `json:"clientCount"`
	Sockets     []remoteSocket  `json:"sockets"`
}

// Handle processes a message of another node: offset is its transport
// offset (a stream entry id, or ""), data its JSON data whose placeholders
// refer to att. Messages of this node or other namespaces are ignored.
func (c *Cluster) Handle(offset, uid, nsp string, typ int, data json.RawMessage, att [][]byte) {
	if uid == c.uid || uid == "" || nsp != c.nsp.Name() {
		return
	}
	var d clusterData
	if len(data) > 0 && json.Unmarshal(data, &d) != nil {
		return
	}
	respond := func(t int, o *jsonObject, att [][]byte) {
		c.send(&Message{Type: t, Data: o.done(), Attachments: att, To: uid})
	}
	opts := d.Opts.options()
	switch typ {
	case MsgBroadcast:
		var wp wirePacket
		if json.Unmarshal(d.Packet, &wp) != nil {
			return
		}
		p, err := wp.packet(c.nsp.Name(), att)
		if err != nil {
			return
		}
		if d.RequestID == "" {
			opts.Flags.Local = true
			c.deliver(p, opts, offset)
			return
		}
		c.MemoryAdapter.BroadcastWithAck(p, opts, func(n int) {
			respond(MsgBroadcastClientCount, newObject().str("requestId", d.RequestID).raw("clientCount", strconv.AppendInt(nil, int64(n), 10)), nil)
		}, func(args socketio.Args) {
			raw, att := firstArg(args)
			respond(MsgBroadcastAck, newObject().str("requestId", d.RequestID).raw("packet", raw), att)
		})
	case MsgSocketsJoin:
		c.MemoryAdapter.AddSockets(opts, d.Rooms)
	case MsgSocketsLeave:
		c.MemoryAdapter.DelSockets(opts, d.Rooms)
	case MsgDisconnectSockets:
		c.MemoryAdapter.DisconnectSockets(opts, d.Close)
	case MsgFetchSockets:
		local, _ := c.MemoryAdapter.FetchSockets(context.Background(), opts)
		b, err := json.Marshal(fetchResponse(local))
		if err == nil {
			respond(MsgFetchSocketsResponse, newObject().str("requestId", d.RequestID).raw("sockets", b), nil)
		}
	case MsgServerSideEmit:
		event, args, ok := serverSideEvent(d.Packet)
		if !ok {
			return
		}
		var ack func(...any)
		if d.RequestID != "" {
			ack = answerOnce(func(raw json.RawMessage, att [][]byte) {
				respond(MsgServerSideEmitResponse, newObject().str("requestId", d.RequestID).raw("packet", raw), att)
			})
		}
		c.worker.do(func() { c.nsp.HandleServerSideEmit(event, args, ack) })
	case MsgBroadcastClientCount, MsgBroadcastAck, MsgFetchSocketsResponse, MsgServerSideEmitResponse:
		p := c.reqs.get(d.RequestID)
		if p == nil {
			return
		}
		switch {
		case typ == MsgBroadcastClientCount && p.onCount != nil:
			p.onCount(d.ClientCount)
		case typ == MsgBroadcastAck && p.onAck != nil:
			raw := d.Packet
			if len(raw) == 0 {
				raw = json.RawMessage("null")
			}
			p.onAck(socketio.NewArgs([]json.RawMessage{raw}, att))
		case p.onCount == nil:
			c.reqs.answer(d.RequestID, answer{msg: data, att: att})
		}
	}
}

// ask sends a request and waits for the answers of every other node; it
// fails at once while Redis is known to be away.
func (c *Cluster) ask(ctx context.Context, typ int, data *jsonObject) ([]answer, error) {
	if c.out.down.Load() {
		return nil, ErrUnavailable
	}
	n, err := c.tr.ServerCount(ctx)
	if err != nil || n <= 1 {
		return nil, err
	}
	id := randomID(16)
	p := &pending{expected: n - 1}
	if !c.reqs.add(id, p) {
		return nil, ErrClosed
	}
	c.send(&Message{Type: typ, Data: data.str("requestId", id).done(), Ephemeral: true})
	return c.reqs.wait(ctx, id, p, c.opts.RequestsTimeout)
}

// FetchSockets returns the matching sockets of every node; with some node
// silent, those that arrived and ErrRequestTimeout.
func (c *Cluster) FetchSockets(ctx context.Context, opts *socketio.BroadcastOptions) ([]socketio.SocketInfo, error) {
	local, _ := c.MemoryAdapter.FetchSockets(ctx, opts)
	if opts.Flags.Local {
		return local, nil
	}
	answers, err := c.ask(ctx, MsgFetchSockets, newObject().raw("opts", appendOpts(nil, opts, true)))
	for _, ans := range answers {
		var r struct {
			Sockets []remoteSocket `json:"sockets"`
		}
		if json.Unmarshal(ans.msg, &r) == nil {
			for _, s := range r.Sockets {
				local = append(local, s.info())
			}
		}
	}
	return local, err
}

// AddSockets makes the matching sockets of every node join rooms.
func (c *Cluster) AddSockets(opts *socketio.BroadcastOptions, rooms []string) {
	if !opts.Flags.Local {
		c.send(&Message{Type: MsgSocketsJoin, Data: newObject().raw("opts", appendOpts(nil, opts, true)).raw("rooms", appendStrings(nil, rooms)).done()})
	}
	c.MemoryAdapter.AddSockets(opts, rooms)
}

// DelSockets makes the matching sockets of every node leave rooms.
func (c *Cluster) DelSockets(opts *socketio.BroadcastOptions, rooms []string) {
	if !opts.Flags.Local {
		c.send(&Message{Type: MsgSocketsLeave, Data: newObject().raw("opts", appendOpts(nil, opts, true)).raw("rooms", appendStrings(nil, rooms)).done()})
	}
	c.MemoryAdapter.DelSockets(opts, rooms)
}

// DisconnectSockets disconnects the matching sockets of every node.
func (c *Cluster) DisconnectSockets(opts *socketio.BroadcastOptions, close bool) {
	if !opts.Flags.Local {
		c.send(&Message{Type: MsgDisconnectSockets, Data: newObject().raw("opts", appendOpts(nil, opts, true)).raw("close", strconv.AppendBool(nil, close)).done()})
	}
	c.MemoryAdapter.DisconnectSockets(opts, close)
}

// ServerSideEmit sends an event to the namespace on the other nodes; with
// wantAck it returns each node's answer.
func (c *Cluster) ServerSideEmit(ctx context.Context, event string, args []any, wantAck bool) ([]socketio.Args, error) {
	data, err := serverSideEmitData(c.nsp.Name(), event, args)
	if err != nil {
		return nil, err
	}
	if !wantAck {
		c.send(&Message{Type: MsgServerSideEmit, Data: newObject().raw("packet", data).done(), Ephemeral: true})
		return nil, nil
	}
	answers, err := c.ask(ctx, MsgServerSideEmit, newObject().raw("packet", data))
	out := make([]socketio.Args, 0, len(answers))
	for _, ans := range answers {
		var r struct {
			Packet json.RawMessage `json:"packet"`
		}
		if json.Unmarshal(ans.msg, &r) == nil {
			if len(r.Packet) == 0 {
				r.Packet = json.RawMessage("null")
			}
			out = append(out, socketio.NewArgs([]json.RawMessage{r.Packet}, ans.att))
		}
	}
	return out, err
}
