package cluster

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/heraldio/herald/adapter/internal/requests"
	"github.com/heraldio/herald/adapter/internal/wire"
	"github.com/heraldio/herald/internal/jsonstr"
	"github.com/heraldio/herald/socketio"
)

// ErrRequestTimeout is returned with partial results when some node did
// not answer a request in time.
var ErrRequestTimeout = requests.ErrTimeout

// ErrClosed is returned by requests that were waiting when the adapter
// closed.
var ErrClosed = requests.ErrClosed

// ErrUnavailable is returned, with the local results, by requests made
// while the transport knows the other nodes are out of reach (see
// Reachability): they fail at once instead of waiting. It matches
// ErrRequestTimeout too.
var ErrUnavailable = requests.ErrUnavailable

// ErrBinaryServerSideEmit is returned by ServerSideEmit for binary
// arguments: the reference sends server-side events as JSON.
var ErrBinaryServerSideEmit = wire.ErrBinaryServerSideEmit

// Options configures a Cluster. Zero fields mean the defaults.
type Options struct {
	// RequestsTimeout bounds a request to the other nodes (fetchSockets,
	// serverSideEmit with acks) when its context has no deadline, and
	// how long a broadcast with acks waits for late answers. Default 5s.
	RequestsTimeout time.Duration
	// HeartbeatInterval is how often a node tells the others it is
	// alive, when the transport does not count the nodes itself (it is
	// no ServerCounter). Default 5s.
	HeartbeatInterval time.Duration
	// HeartbeatTimeout is how long a silent node is still counted.
	// Default 10s.
	HeartbeatTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.RequestsTimeout <= 0 {
		o.RequestsTimeout = 5 * time.Second
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = 5 * time.Second
	}
	if o.HeartbeatTimeout <= 0 {
		o.HeartbeatTimeout = 10 * time.Second
	}
	return o
}

// emitterUID marks the messages of an emitter, which is no node.
const emitterUID = "emitter"

var _ socketio.Adapter = (*Cluster)(nil)

// Cluster is the transport-agnostic part of a cluster adapter, Node's
// ClusterAdapter (with heartbeats, ClusterAdapterWithHeartbeat): it turns
// adapter operations into cluster messages for a Transport, and the
// messages of other nodes into local operations on its embedded
// MemoryAdapter. An adapter embeds it, gives it a Transport, calls Start
// once its transport receives, Handle with what it receives, and Close
// from its own Close.
type Cluster struct {
	*socketio.MemoryAdapter
	nsp     *socketio.Namespace
	opts    Options
	uid     string
	tr      Transport
	offsets OffsetTransport // when the transport has offsets
	counter ServerCounter   // nil: the nodes are counted by heartbeats
	reach   Reachability    // nil: assumed reachable

	reqs   *requests.Table
	worker *requests.Worker

	nmu   sync.Mutex
	nodes map[string]time.Time // other nodes by last message, with heartbeats

	stop      chan struct{} // ends the heartbeats
	beating   sync.WaitGroup
	startOnce sync.Once
	closeOnce sync.Once
}

// New returns the cluster part of an adapter for nsp over tr, with a new
// node id. What tr implements besides Transport decides how the nodes are
// counted (ServerCounter, or heartbeats), whether broadcasts carry the
// transport's offsets (OffsetTransport) and whether requests fail fast
// (Reachability).
func New(nsp *socketio.Namespace, tr Transport, opts *Options) *Cluster {
	var o Options
	if opts != nil {
		o = *opts
	}
	c := &Cluster{MemoryAdapter: socketio.NewMemoryAdapter(nsp), nsp: nsp, opts: o.withDefaults(),
		uid: wire.RandomID(16), tr: tr, reqs: requests.NewTable(), worker: requests.NewWorker(),
		nodes: map[string]time.Time{}, stop: make(chan struct{})}
	c.offsets, _ = tr.(OffsetTransport)
	c.counter, _ = tr.(ServerCounter)
	c.reach, _ = tr.(Reachability)
	return c
}

// UID returns this node's id.
func (c *Cluster) UID() string { return c.uid }

// Start announces this node and starts its heartbeats, when the nodes are
// counted by heartbeats; the adapter calls it once its transport
// receives, so that it hears the answers.
func (c *Cluster) Start() {
	if c.counter != nil {
		return
	}
	c.startOnce.Do(func() {
		c.beating.Add(1)
		go c.beat()
		c.notify(&Message{Type: MsgInitialHeartbeat})
	})
}

func (c *Cluster) beat() {
	defer c.beating.Done()
	t := time.NewTicker(c.opts.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.notify(&Message{Type: MsgHeartbeat})
		case <-c.stop:
			return
		}
	}
}

// Close stops the heartbeats and tells the other nodes this one leaves
// (with heartbeats), stops the handler goroutine and ends the requests
// still waiting with ErrClosed. It does not wait for the network. The
// adapter's Close calls it, then stops its transport.
func (c *Cluster) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		close(c.stop)
		c.beating.Wait()
		if c.counter == nil {
			_ = c.send(ctx, &Message{Type: MsgAdapterClose})
		}
		c.worker.Close()
		c.reqs.Close()
	})
	return nil
}

// ServerCount returns the number of nodes: the transport's count, or this
// node and those heard from within HeartbeatTimeout.
func (c *Cluster) ServerCount(ctx context.Context) (int, error) {
	if c.counter != nil {
		return c.counter.ServerCount(ctx)
	}
	c.nmu.Lock()
	defer c.nmu.Unlock()
	n := 1
	for uid, at := range c.nodes {
		if time.Since(at) < c.opts.HeartbeatTimeout {
			n++
		} else {
			delete(c.nodes, uid)
		}
	}
	return n, nil
}

// send hands m to the transport for the other nodes.
func (c *Cluster) send(ctx context.Context, m *Message) error {
	m.UID, m.Nsp = c.uid, c.nsp.Name()
	return c.tr.Publish(ctx, m)
}

// notify sends what no caller waits for (heartbeats, answers): what
// becomes of it the transport counts and logs.
func (c *Cluster) notify(m *Message) { _ = c.send(context.Background(), m) }

// Broadcast sends p to the other nodes, then delivers it here, and
// returns the transport's error. With an OffsetTransport, the message's
// offset is appended for recovery: its own when it comes in time, else
// the latest the transport knows (a client that recovers from it gets
// this broadcast again, once it is written).
func (c *Cluster) Broadcast(ctx context.Context, p *socketio.Packet, opts *socketio.BroadcastOptions) error {
	off := ""
	var err error
	if !opts.Flags.Local {
		m := &Message{Type: MsgBroadcast, Attachments: p.Attachments,
			Data: wire.NewObject().Raw("packet", wire.AppendPacket(nil, p, false)).Raw("opts", wire.AppendOpts(nil, opts, true)).Done()}
		if len(opts.Rooms) == 1 {
			m.Room = opts.Rooms[0]
		}
		if c.offsets != nil && c.MemoryAdapter.KeepsForRecovery(p, opts) {
			m.UID, m.Nsp = c.uid, c.nsp.Name()
			off, err = c.offsets.PublishOffset(ctx, m)
		} else {
			err = c.send(ctx, m)
		}
	}
	c.deliver(ctx, p, opts, off)
	return err
}

// deliver delivers p to the local sockets: with transport offsets, with
// off appended; else through the MemoryAdapter's own recovery.
func (c *Cluster) deliver(ctx context.Context, p *socketio.Packet, opts *socketio.BroadcastOptions, off string) {
	if c.offsets == nil {
		_ = c.MemoryAdapter.Broadcast(ctx, p, opts)
		return
	}
	c.MemoryAdapter.Deliver(p, opts, off)
}

// BroadcastWithAck sends p across nodes; they answer with client counts
// and acks addressed to this node. It returns the transport's error.
func (c *Cluster) BroadcastWithAck(ctx context.Context, p *socketio.Packet, opts *socketio.BroadcastOptions, clientCount func(int), ack func(socketio.Args)) error {
	var err error
	if !opts.Flags.Local {
		if id, ok := c.reqs.AddBroadcast(opts.Flags.Timeout, c.opts.RequestsTimeout, clientCount, ack); ok {
			err = c.send(ctx, &Message{Type: MsgBroadcast, Attachments: p.Attachments, Ephemeral: true,
				Data: wire.NewObject().Raw("packet", wire.AppendPacket(nil, p, false)).Str("requestId", id).Raw("opts", wire.AppendOpts(nil, opts, true)).Done()})
		}
	}
	_ = c.MemoryAdapter.BroadcastWithAck(ctx, p, opts, clientCount, ack)
	return err
}

// data is the data of any received cluster message.
type data struct {
	RequestID   string              `json:"requestId"`
	Packet      json.RawMessage     `json:"packet"`
	Opts        *wire.Opts          `json:"opts"`
	Rooms       []string            `json:"rooms"`
	Close       bool                `json:"close"`
	ClientCount int                 `json:"clientCount"`
	Sockets     []wire.RemoteSocket `json:"sockets"`
}

// BroadcastPacket returns the packet of a broadcast without acks that m
// carries and its options, as the other nodes deliver it; ok is false for
// any other message. A transport that keeps messages (a stream) reads
// the broadcasts a recovering client missed with it.
func BroadcastPacket(m *Message) (p *socketio.Packet, opts *socketio.BroadcastOptions, ok bool) {
	if m.Type != MsgBroadcast {
		return nil, nil, false
	}
	var d data
	if json.Unmarshal(m.Data, &d) != nil || d.RequestID != "" {
		return nil, nil, false
	}
	var wp wire.Packet
	if json.Unmarshal(d.Packet, &wp) != nil {
		return nil, nil, false
	}
	p, err := wp.Decode(m.Nsp, m.Attachments)
	if err != nil {
		return nil, nil, false
	}
	return p, d.Opts.Options(), true
}

// Handle processes m, a message of another node, with offset its
// transport offset (a stream entry id, or ""). Messages of this node or
// of other namespaces are ignored. It is safe for concurrent use (a
// transport may read a stream and a subscription) and does not block on
// the network.
func (c *Cluster) Handle(offset string, m *Message) {
	if m.UID == c.uid || m.UID == "" || m.Nsp != c.nsp.Name() {
		return
	}
	if c.counter == nil && !c.heard(m) {
		return
	}
	var d data
	if len(m.Data) > 0 && json.Unmarshal(m.Data, &d) != nil {
		return
	}
	respond := func(t MessageType, o *wire.Object, att [][]byte) {
		c.notify(&Message{Type: t, Data: o.Done(), Attachments: att, To: m.UID})
	}
	opts := d.Opts.Options()
	ctx := context.Background() // local operations: nothing to wait for
	switch m.Type {
	case MsgBroadcast:
		var wp wire.Packet
		if json.Unmarshal(d.Packet, &wp) != nil {
			return
		}
		p, err := wp.Decode(c.nsp.Name(), m.Attachments)
		if err != nil {
			return
		}
		if d.RequestID == "" {
			opts.Flags.Local = true
			c.deliver(ctx, p, opts, offset)
			return
		}
		_ = c.MemoryAdapter.BroadcastWithAck(ctx, p, opts, func(n int) {
			respond(MsgBroadcastClientCount, wire.NewObject().Str("requestId", d.RequestID).Raw("clientCount", strconv.AppendInt(nil, int64(n), 10)), nil)
		}, func(args socketio.Args) {
			raw, att := wire.FirstArg(args)
			respond(MsgBroadcastAck, wire.NewObject().Str("requestId", d.RequestID).Raw("packet", raw), att)
		})
	case MsgSocketsJoin:
		_ = c.MemoryAdapter.AddSockets(ctx, opts, d.Rooms)
	case MsgSocketsLeave:
		_ = c.MemoryAdapter.DelSockets(ctx, opts, d.Rooms)
	case MsgDisconnectSockets:
		_ = c.MemoryAdapter.DisconnectSockets(ctx, opts, d.Close)
	case MsgFetchSockets:
		local, _ := c.MemoryAdapter.FetchSockets(ctx, opts)
		b, err := json.Marshal(wire.FetchResponse(local))
		if err == nil {
			respond(MsgFetchSocketsResponse, wire.NewObject().Str("requestId", d.RequestID).Raw("sockets", b), nil)
		}
	case MsgServerSideEmit:
		event, args, ok := wire.ServerSideEvent(d.Packet)
		if !ok {
			return
		}
		var ack func(...any)
		if d.RequestID != "" {
			ack = wire.AnswerOnce(func(raw json.RawMessage, att [][]byte) {
				respond(MsgServerSideEmitResponse, wire.NewObject().Str("requestId", d.RequestID).Raw("packet", raw), att)
			})
		}
		c.worker.Do(func() { c.MemoryAdapter.HandleServerSideEmit(event, args, ack) })
	case MsgBroadcastClientCount, MsgBroadcastAck, MsgFetchSocketsResponse, MsgServerSideEmitResponse:
		p := c.reqs.Get(d.RequestID)
		if p == nil {
			return
		}
		switch {
		case m.Type == MsgBroadcastClientCount && p.OnCount != nil:
			p.OnCount(d.ClientCount)
		case m.Type == MsgBroadcastAck && p.OnAck != nil:
			p.OnAck(wire.Arg(d.Packet, m.Attachments))
		case p.OnCount == nil:
			c.reqs.Answer(d.RequestID, requests.Answer{Msg: m.Data, Att: m.Attachments})
		}
	}
}

// heard counts the sender of m as alive (any message proves it, as in
// Node's adapter) and handles the heartbeat messages; it reports whether
// m is for Handle to process further.
func (c *Cluster) heard(m *Message) bool {
	c.nmu.Lock()
	if m.UID != emitterUID {
		c.nodes[m.UID] = time.Now()
	}
	if m.Type == MsgAdapterClose {
		delete(c.nodes, m.UID)
	}
	c.nmu.Unlock()
	switch m.Type {
	case MsgInitialHeartbeat:
		c.notify(&Message{Type: MsgHeartbeat})
		return false
	case MsgHeartbeat, MsgAdapterClose:
		return false
	}
	return true
}

// ask sends a request and waits for the answers of every other node; it
// fails at once while the transport knows they are out of reach.
func (c *Cluster) ask(ctx context.Context, typ MessageType, o *wire.Object) ([]requests.Answer, error) {
	if c.reach != nil && !c.reach.Reachable() {
		return nil, ErrUnavailable
	}
	n, err := c.ServerCount(ctx)
	if err != nil || n <= 1 {
		return nil, err
	}
	id := wire.RandomID(16)
	p := &requests.Pending{Expected: n - 1}
	if !c.reqs.Add(id, p) {
		return nil, ErrClosed
	}
	if err := c.send(ctx, &Message{Type: typ, Data: o.Str("requestId", id).Done(), Ephemeral: true}); err != nil {
		c.reqs.Remove(id)
		return nil, err
	}
	return c.reqs.Wait(ctx, id, p, c.opts.RequestsTimeout)
}

// FetchSockets returns the matching sockets of every node; with some node
// silent, those that arrived and ErrRequestTimeout.
func (c *Cluster) FetchSockets(ctx context.Context, opts *socketio.BroadcastOptions) ([]socketio.SocketInfo, error) {
	local, _ := c.MemoryAdapter.FetchSockets(ctx, opts)
	if opts.Flags.Local {
		return local, nil
	}
	answers, err := c.ask(ctx, MsgFetchSockets, wire.NewObject().Raw("opts", wire.AppendOpts(nil, opts, true)))
	return requests.SocketsOf(local, answers), err
}

// roomsMessage returns the message that makes the sockets of opts join or
// leave rooms.
func roomsMessage(t MessageType, opts *socketio.BroadcastOptions, rooms []string) *Message {
	return &Message{Type: t, Data: wire.NewObject().Raw("opts", wire.AppendOpts(nil, opts, true)).Raw("rooms", jsonstr.AppendStrings(nil, rooms)).Done()}
}

// AddSockets makes the matching sockets of every node join rooms; it
// returns the transport's error.
func (c *Cluster) AddSockets(ctx context.Context, opts *socketio.BroadcastOptions, rooms []string) error {
	var err error
	if !opts.Flags.Local {
		err = c.send(ctx, roomsMessage(MsgSocketsJoin, opts, rooms))
	}
	_ = c.MemoryAdapter.AddSockets(ctx, opts, rooms)
	return err
}

// DelSockets makes the matching sockets of every node leave rooms; it
// returns the transport's error.
func (c *Cluster) DelSockets(ctx context.Context, opts *socketio.BroadcastOptions, rooms []string) error {
	var err error
	if !opts.Flags.Local {
		err = c.send(ctx, roomsMessage(MsgSocketsLeave, opts, rooms))
	}
	_ = c.MemoryAdapter.DelSockets(ctx, opts, rooms)
	return err
}

// DisconnectSockets disconnects the matching sockets of every node; it
// returns the transport's error.
func (c *Cluster) DisconnectSockets(ctx context.Context, opts *socketio.BroadcastOptions, closeConn bool) error {
	var err error
	if !opts.Flags.Local {
		err = c.send(ctx, &Message{Type: MsgDisconnectSockets, Data: wire.NewObject().Raw("opts", wire.AppendOpts(nil, opts, true)).Raw("close", strconv.AppendBool(nil, closeConn)).Done()})
	}
	_ = c.MemoryAdapter.DisconnectSockets(ctx, opts, closeConn)
	return err
}

// ServerSideEmit sends an event to the namespace on the other nodes; with
// wantAck it returns each node's answer.
func (c *Cluster) ServerSideEmit(ctx context.Context, event string, args []any, wantAck bool) ([]socketio.Args, error) {
	d, err := wire.ServerSideEmitData(c.nsp.Name(), event, args)
	if err != nil {
		return nil, err
	}
	if !wantAck {
		return nil, c.send(ctx, &Message{Type: MsgServerSideEmit, Data: wire.NewObject().Raw("packet", d).Done(), Ephemeral: true})
	}
	answers, err := c.ask(ctx, MsgServerSideEmit, wire.NewObject().Raw("packet", d))
	return requests.ArgsOf(answers, "packet"), err
}
