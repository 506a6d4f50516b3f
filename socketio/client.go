package socketio

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/heraldio/herald/engineio"
)

// client is the Socket.IO side of one Engine.IO connection: it decodes
// packets and routes them to the connection's sockets, one per namespace.
type client struct {
	srv  *Server
	conn *engineio.Conn

	mu           sync.Mutex
	sockets      []*Socket // one per namespace; few, so a slice beats a map
	connectTimer *time.Timer

	// The decoder of binary packets and the one it awaits, made with the
	// first (most connections never send one, and a client is kept for
	// every connection): the read path feeds it; the attachment timer and
	// OnClose release it from other goroutines, hence pmu.
	pmu sync.Mutex
	bin *binaryWait

	closed bool // guarded by mu
	done   bool // guarded by pmu: a parse error or OnClose, read nothing more
	// v3 is a Socket.IO v2 client (Engine.IO v3, Socket.IO protocol 4):
	// connected to "/" by the server, namespaces with a query, ids and
	// errors of that protocol (see v2.go).
	v3 bool
}

// binaryWait is the decoder of a client that sent a binary packet, and
// the bounds of the packet it awaits.
type binaryWait struct {
	dec   Decoder
	held  int64     // attachment bytes of the awaited packet, counted in srv.pendingBytes
	since time.Time // when the awaited packet began
	timer *time.Timer
}

func newClient(s *Server, conn *engineio.Conn) *client {
	c := &client{srv: s, conn: conn, v3: conn.Protocol() == 3}
	c.connectTimer = time.AfterFunc(s.opts.ConnectTimeout, func() {
		c.mu.Lock()
		idle := len(c.sockets) == 0 && !c.closed
		c.mu.Unlock()
		if idle {
			_ = conn.Close()
		}
	})
	for _, m := range s.loadMonitors() {
		if m.ConnOpened != nil {
			m.ConnOpened(conn)
		}
	}
	return c
}

func (c *client) write(pkts []*engineio.Packet, volatile bool) error {
	if volatile {
		c.conn.SendVolatile(pkts...)
		return nil
	}
	return c.conn.Send(pkts...)
}

// OnMessage implements engineio.Handler.
func (c *client) OnMessage(data []byte, binary bool) {
	if c.srv.opts.Parser == MsgpackParser {
		c.onMsgpack(data, binary)
		return
	}
	c.pmu.Lock()
	if c.done {
		c.pmu.Unlock()
		return // the connection is closing: what it sends no longer counts
	}
	var scratch Decoder // what has no binary packet pending needs no state kept
	dec := &scratch
	if c.bin != nil {
		dec = &c.bin.dec
	}
	if binary && dec.Awaiting() != nil && !dec.Dropping() {
		n := int64(len(data))
		if c.bin.held+n > c.srv.maxAttachmentBytes || !c.srv.holdAttachment(n) {
			c.pmu.Unlock()
			c.refuseAttachments()
			return
		}
		c.bin.held += n
	}
	p, err := dec.Feed(data, binary)
	switch {
	case err != nil:
		c.pmu.Unlock()
		c.parseError()
		return
	case !binary && p == nil:
		if c.bin == nil {
			c.bin = &binaryWait{dec: scratch}
		}
		c.awaitLocked()
	case binary && dec.Awaiting() == nil:
		c.releaseLocked()
	}
	c.pmu.Unlock()
	if p != nil {
		c.dispatch(p)
	}
}

// onMsgpack reads a message of a msgpack client: each is one whole
// packet, in a binary message; a text message is a parse error, as for
// the reference's parser.
func (c *client) onMsgpack(data []byte, binary bool) {
	c.pmu.Lock()
	done := c.done
	c.pmu.Unlock()
	if done {
		return
	}
	var p *Packet
	err := ErrBadPacket
	if binary {
		p, err = decodeMsgpackPacket(data)
	}
	if err != nil {
		c.parseError()
		return
	}
	c.dispatch(p)
}

// awaitLocked starts the attachment timeout of the packet the decoder
// awaits. A packet for a namespace this client has not joined would be
// dropped once complete, so its attachments are dropped as they come
// instead of being held. Called with pmu held.
func (c *client) awaitLocked() {
	b := c.bin
	if c.socketOf(b.dec.Awaiting().Nsp) == nil {
		b.dec.Drop()
	}
	b.since = time.Now()
	if b.timer == nil {
		b.timer = time.AfterFunc(c.srv.attachmentTimeout, c.onAttachmentTimer)
	} else {
		b.timer.Reset(c.srv.attachmentTimeout)
	}
}

// onAttachmentTimer closes the connection if its pending packet is still
// incomplete after the attachment timeout. The timer may fire late for a
// packet that completed meanwhile: since tells.
func (c *client) onAttachmentTimer() {
	c.pmu.Lock()
	b := c.bin
	late := b != nil && b.dec.Awaiting() != nil && time.Since(b.since) >= c.srv.attachmentTimeout
	c.pmu.Unlock()
	if late {
		c.refuseAttachments()
	}
}

// refuseAttachments closes a connection that went past a bound of
// attachments, releasing what it held at once.
func (c *client) refuseAttachments() {
	c.srv.pendingDrops.Add(1)
	c.parseError()
}

// releaseLocked forgets the awaited packet and what it counted. Called
// with pmu held.
func (c *client) releaseLocked() {
	b := c.bin
	if b == nil {
		return
	}
	c.srv.pendingBytes.Add(-b.held)
	b.dec.Reset()
	b.held = 0
	if b.timer != nil {
		b.timer.Stop()
	}
}

func (c *client) parseError() {
	c.pmu.Lock()
	c.releaseLocked()
	c.done = true
	c.pmu.Unlock()
	c.conn.CloseWithReason(ReasonParseError)
}

func (c *client) dispatch(p *Packet) {
	if c.v3 {
		v2Namespace(p)
	}
	s := c.socketOf(p.Nsp)
	switch {
	case p.Type == PacketConnect && s == nil:
		c.connect(p)
	case p.Type == PacketConnect || p.Type == PacketConnectError:
		// A second CONNECT for a namespace the client is in, or a
		// CONNECT_ERROR, which only a server sends: as the reference, the
		// server closes the connection, and its sockets get "forced
		// server close". (A packet for a namespace the client is not in
		// is dropped, where the reference closes too: an ack or event in
		// flight as the server disconnects the namespace would otherwise
		// end the whole connection.)
		c.conn.CloseWithReason(ReasonForcedServerClose)
	case s != nil:
		s.onPacket(p)
	}
}

func (c *client) connect(p *Packet) {
	nsp := c.srv.lookupNamespace(p.Nsp, p.Data)
	if nsp == nil {
		c.connectError(p.Nsp, errInvalidNamespace)
		return
	}
	s := &Socket{nsp: nsp, client: c}
	if len(p.Data) > 0 {
		s.auth = string(p.Data) // a copy: p.Data pins the whole frame
	}
	var session *Session
	if c.srv.opts.Recovery != nil {
		var r struct {
			PID    string `json:"pid"`
			Offset string `json:"offset"`
		}
		sa, aware := nsp.adapter.(SessionAwareAdapter)
		if aware && len(p.Data) > 0 && json.Unmarshal(p.Data, &r) == nil && r.PID != "" {
			var err error
			session, err = sa.RestoreSession(adapterContext(), r.PID, r.Offset)
			if err != nil {
				c.srv.log.Warn("socketio: session not restored", "nsp", nsp.name, "err", err)
			}
		}
		if session != nil {
			s.id, s.pid, s.recovered = session.SID, session.PID, true
			if session.Data != nil {
				s.data = session.Data
			}
		} else {
			s.pid = engineio.NewID()
		}
	}
	if s.id == "" && c.v3 {
		s.id = v2SocketID(nsp.name, c.conn.ID())
	} else if s.id == "" {
		s.id = engineio.NewID()
	}
	nsp.connect(s, session)
}

// addSocket registers a socket that passed its middlewares.
func (c *client) addSocket(s *Socket) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.sockets = append(c.sockets, s)
	if c.connectTimer != nil {
		c.connectTimer.Stop()
		c.connectTimer = nil
	}
	return true
}

func (c *client) socketOf(nsp string) *Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.sockets {
		if s.nsp.name == nsp {
			return s
		}
	}
	return nil
}

func (c *client) removeSocket(s *Socket) {
	c.mu.Lock()
	for i, x := range c.sockets {
		if x == s {
			c.sockets = append(c.sockets[:i], c.sockets[i+1:]...)
			if len(c.sockets) == 0 {
				c.sockets = nil
			}
			break
		}
	}
	c.mu.Unlock()
}

func (c *client) connectError(nsp string, err error) {
	data := connectErrorData(err)
	if c.v3 {
		data = v2ErrorData(err)
	}
	c.write(c.srv.encode(&Packet{Type: PacketConnectError, Nsp: nsp, Data: data}), false)
}

func (c *client) socketList() []*Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Socket(nil), c.sockets...)
}

// disconnectAll disconnects every socket of the connection, then closes
// it once what is queued is written.
func (c *client) disconnectAll() {
	for _, s := range c.socketList() {
		s.Disconnect(false)
	}
	_ = c.conn.Close()
}

// OnClose implements engineio.Handler.
func (c *client) OnClose(reason Reason, err error) {
	c.mu.Lock()
	c.closed = true
	if c.connectTimer != nil {
		c.connectTimer.Stop()
		c.connectTimer = nil
	}
	c.mu.Unlock()
	c.pmu.Lock()
	c.releaseLocked()
	c.done = true
	c.pmu.Unlock()
	for _, s := range c.socketList() {
		s.onClose(reason)
	}
	for _, m := range c.srv.loadMonitors() {
		if m.ConnClosed != nil {
			m.ConnClosed(c.conn, reason)
		}
	}
}
