package socketio

import (
	"context"
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
	closed       bool
	connectTimer *time.Timer

	// A binary packet waiting for its attachments; only the read path
	// touches it.
	pending   *Packet
	remaining int
}

func newClient(s *Server, conn *engineio.Conn) *client {
	c := &client{srv: s, conn: conn}
	c.connectTimer = time.AfterFunc(s.opts.ConnectTimeout, func() {
		c.mu.Lock()
		idle := len(c.sockets) == 0 && !c.closed
		c.mu.Unlock()
		if idle {
			_ = conn.Close()
		}
	})
	return c
}

func (c *client) write(pkts []*engineio.Packet, volatile bool) error {
	if volatile {
		c.conn.SendVolatile(pkts...)
		return nil
	}
	return c.conn.Send(pkts...)
}

func (c *client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// OnMessage implements engineio.Handler.
func (c *client) OnMessage(data []byte, binary bool) {
	if binary {
		if c.pending == nil {
			c.parseError()
			return
		}
		c.pending.Attachments = append(c.pending.Attachments, data)
		c.remaining--
		if c.remaining == 0 {
			p := c.pending
			c.pending = nil
			c.dispatch(p)
		}
		return
	}
	if c.pending != nil {
		c.parseError()
		return
	}
	p, n, err := Decode(data)
	if err != nil {
		c.parseError()
		return
	}
	if n > 0 {
		c.pending, c.remaining = p, n
		return
	}
	c.dispatch(p)
}

func (c *client) parseError() {
	c.pending = nil
	c.conn.CloseWithReason(ReasonParseError)
}

func (c *client) dispatch(p *Packet) {
	if p.Type == PacketConnect {
		c.connect(p)
		return
	}
	if s := c.socketOf(p.Nsp); s != nil {
		s.onPacket(p)
	}
}

func (c *client) connect(p *Packet) {
	if c.socketOf(p.Nsp) != nil {
		return
	}
	nsp := c.srv.lookupNamespace(p.Nsp, p.Data)
	if nsp == nil {
		c.write((&Packet{Type: PacketConnectError, Nsp: p.Nsp, Data: json.RawMessage(`{"message":"Invalid namespace"}`)}).Encode(), false)
		return
	}
	s := &Socket{nsp: nsp, client: c}
	if len(p.Data) > 0 {
		s.auth = append(json.RawMessage(nil), p.Data...) // p.Data pins the whole frame
	}
	var session *Session
	if c.srv.opts.Recovery != nil {
		var r struct {
			PID    string `json:"pid"`
			Offset string `json:"offset"`
		}
		if len(p.Data) > 0 && json.Unmarshal(p.Data, &r) == nil && r.PID != "" {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			var err error
			session, err = nsp.adapter.RestoreSession(ctx, r.PID, r.Offset)
			cancel()
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
	if s.id == "" {
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
	c.write((&Packet{Type: PacketConnectError, Nsp: nsp, Data: connectErrorData(err)}).Encode(), false)
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
func (c *client) OnClose(reason string, err error) {
	c.mu.Lock()
	c.closed = true
	if c.connectTimer != nil {
		c.connectTimer.Stop()
		c.connectTimer = nil
	}
	c.mu.Unlock()
	for _, s := range c.socketList() {
		s.onClose(reason)
	}
	c.srv.removeClient(c)
}
