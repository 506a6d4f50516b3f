package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/heraldio/herald/internal/jsonstr"
	"github.com/heraldio/herald/internal/shrink"
)

// Middleware runs for each socket connecting to a namespace, before the
// connection handlers; an error refuses the connection. The client gets
// the error's text, or a *ConnectError's message and data.
type Middleware func(s *Socket) error

// ConnectError refuses a connection with a message and optional data,
// delivered to the client's connect_error handler.
type ConnectError struct {
	// Message is the error's message; Data, when not nil, is encoded as
	// the error's data.
	Message string
	Data    any
}

// Error returns the message.
func (e *ConnectError) Error() string { return e.Message }

// Namespace is a communication channel: its own sockets, rooms,
// middlewares and handlers over the shared connections.
type Namespace struct {
	name    string
	server  *Server
	adapter Adapter
	parent  *ParentNamespace

	mu           sync.RWMutex
	sockets      map[string]*Socket
	socketsPeak  int
	middlewares  []Middleware
	onConnection []func(*Socket)
	serverEvents map[string]func(args Args, ack func(...any))
	events       map[string][]EventHandler

	ackIDs atomic.Uint64
}

func newNamespace(s *Server, name string, parent *ParentNamespace) *Namespace {
	n := &Namespace{name: name, server: s, parent: parent, sockets: make(map[string]*Socket)}
	n.adapter = s.opts.Adapter(n)
	return n
}

// Name returns the namespace's name, such as "/" or "/chat".
func (n *Namespace) Name() string { return n.name }

// Server returns the server.
func (n *Namespace) Server() *Server { return n.server }

// Adapter returns the namespace's adapter.
func (n *Namespace) Adapter() Adapter { return n.adapter }

// Use adds a middleware.
func (n *Namespace) Use(m Middleware) {
	n.mu.Lock()
	n.middlewares = append(n.middlewares, m)
	n.mu.Unlock()
}

// OnConnection adds a handler called for each connected socket (also for
// a recovered one, with Recovered true).
func (n *Namespace) OnConnection(h func(*Socket)) {
	n.mu.Lock()
	n.onConnection = append(n.onConnection, h)
	n.mu.Unlock()
}

// On adds a handler for event, run for every socket of the namespace
// (e.Socket says which), before the socket's own handlers. It costs
// nothing per socket, unlike Socket.On in a connection handler.
func (n *Namespace) On(event string, h EventHandler) {
	n.mu.Lock()
	if n.events == nil {
		n.events = make(map[string][]EventHandler)
	}
	n.events[event] = append(n.events[event], h)
	n.mu.Unlock()
}

// Handles reports whether a handler added with On takes event: a
// fallback (a catch-all in Socket.OnAny) can leave such events alone.
func (n *Namespace) Handles(event string) bool { return len(n.eventHandlers(event)) > 0 }

func (n *Namespace) eventHandlers(event string) []EventHandler {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.events[event]
}

// Sockets returns the namespace's local sockets.
func (n *Namespace) Sockets() []*Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]*Socket, 0, len(n.sockets))
	for _, s := range n.sockets {
		out = append(out, s)
	}
	return out
}

// Socket returns the local socket id, or nil.
func (n *Namespace) Socket(id string) *Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.sockets[id]
}

// lookup returns the local sockets among ids.
// lookup appends the sockets with ids to out.
func (n *Namespace) lookup(out []*Socket, ids []string) []*Socket {
	n.mu.RLock()
	for _, id := range ids {
		if s := n.sockets[id]; s != nil {
			out = append(out, s)
		}
	}
	n.mu.RUnlock()
	return out
}

// allSockets appends the sockets not in except to out.
func (n *Namespace) allSockets(out []*Socket, except map[string]struct{}) []*Socket {
	n.mu.RLock()
	out = slices.Grow(out, len(n.sockets))
	for id, s := range n.sockets {
		if _, ok := except[id]; !ok {
			out = append(out, s)
		}
	}
	n.mu.RUnlock()
	return out
}

func (n *Namespace) nextAckID() uint64 { return n.ackIDs.Add(1) - 1 }

func (n *Namespace) op() BroadcastOperator { return BroadcastOperator{nsp: n} }

// To selects sockets in rooms for a broadcast.
func (n *Namespace) To(rooms ...string) BroadcastOperator { return n.op().To(rooms...) }

// In is To.
func (n *Namespace) In(rooms ...string) BroadcastOperator { return n.op().To(rooms...) }

// Except excludes sockets in rooms from a broadcast.
func (n *Namespace) Except(rooms ...string) BroadcastOperator { return n.op().Except(rooms...) }

// Volatile marks a broadcast as volatile.
func (n *Namespace) Volatile() BroadcastOperator { return n.op().Volatile() }

// Local restricts a broadcast to this node.
func (n *Namespace) Local() BroadcastOperator { return n.op().Local() }

// Emit broadcasts an event to every socket of the namespace.
func (n *Namespace) Emit(event string, args ...any) error { return n.op().Emit(event, args...) }

// EmitWithAck broadcasts an event to every socket and collects their
// answers until all have answered or ctx is done.
func (n *Namespace) EmitWithAck(ctx context.Context, event string, args ...any) ([]Args, error) {
	return n.op().EmitWithAck(ctx, event, args...)
}

// FetchSockets returns every socket of the namespace, on every node.
func (n *Namespace) FetchSockets(ctx context.Context) ([]SocketInfo, error) {
	return n.op().FetchSockets(ctx)
}

// SocketsJoin makes every socket join rooms, on every node.
func (n *Namespace) SocketsJoin(rooms ...string) error { return n.op().SocketsJoin(rooms...) }

// SocketsLeave makes every socket leave rooms, on every node.
func (n *Namespace) SocketsLeave(rooms ...string) error { return n.op().SocketsLeave(rooms...) }

// DisconnectSockets disconnects every socket, on every node; with
// closeConn, their whole connections.
func (n *Namespace) DisconnectSockets(closeConn bool) error {
	return n.op().DisconnectSockets(closeConn)
}

// ServerSideEmit sends an event to this namespace on the other nodes,
// whose OnServerSideEmit handlers receive it. ctx bounds the sending.
func (n *Namespace) ServerSideEmit(ctx context.Context, event string, args ...any) error {
	_, err := n.adapter.ServerSideEmit(ctx, event, args, false)
	return err
}

// ServerSideEmitWithAck is ServerSideEmit collecting the other nodes'
// answers (one Args per node that acked) until each answered or ctx is
// done; with some missing it returns what arrived and an error.
func (n *Namespace) ServerSideEmitWithAck(ctx context.Context, event string, args ...any) ([]Args, error) {
	return n.adapter.ServerSideEmit(ctx, event, args, true)
}

// OnServerSideEmit handles events sent by ServerSideEmit on other nodes.
func (n *Namespace) OnServerSideEmit(event string, h func(args Args, ack func(...any))) {
	n.mu.Lock()
	if n.serverEvents == nil {
		n.serverEvents = make(map[string]func(Args, func(...any)))
	}
	n.serverEvents[event] = h
	n.mu.Unlock()
}

// handleServerSideEmit delivers an event from another node to the
// OnServerSideEmit handler (MemoryAdapter.HandleServerSideEmit).
func (n *Namespace) handleServerSideEmit(event string, args Args, ack func(...any)) {
	n.mu.RLock()
	h := n.serverEvents[event]
	n.mu.RUnlock()
	if h != nil {
		h(args, ack)
	}
}

// connect runs the connection of socket s: middlewares, then the CONNECT
// answer and the connection handlers.
func (n *Namespace) connect(s *Socket, session *Session) {
	if session == nil || n.server.opts.Recovery.RunMiddlewares {
		n.mu.RLock()
		mws := n.middlewares
		n.mu.RUnlock()
		var parentMws []Middleware
		if n.parent != nil {
			n.parent.mu.Lock()
			parentMws = n.parent.middlewares
			n.parent.mu.Unlock()
		}
		for _, m := range append(append([]Middleware(nil), parentMws...), mws...) {
			if err := n.server.safeMiddleware(m, s); err != nil {
				s.client.connectError(n.name, err)
				return
			}
		}
	}
	if !s.client.addSocket(s) {
		return
	}
	n.mu.Lock()
	n.sockets[s.id] = s
	handlers := n.onConnection
	n.mu.Unlock()
	if n.parent != nil {
		n.parent.mu.Lock()
		handlers = append(append(make([]func(*Socket), 0, len(handlers)+len(n.parent.onConnection)), n.parent.onConnection...), handlers...)
		n.parent.mu.Unlock()
	}
	s.onConnect(session)
	for _, m := range n.server.loadMonitors() {
		if m.Connected != nil {
			m.Connected(s)
		}
	}
	for _, h := range handlers {
		n.server.safeCall(func() { h(s) })
	}
	// From now on its session is kept as it changes (SessionKeeper): once
	// the handlers have joined their rooms, not at each of their joins.
	s.mu.Lock()
	s.kept = true
	s.mu.Unlock()
	s.keep()
}

func (n *Namespace) remove(s *Socket) {
	n.mu.Lock()
	if n.sockets[s.id] == s {
		delete(n.sockets, s.id)
		n.sockets = shrink.Map(n.sockets, &n.socketsPeak)
	}
	n.mu.Unlock()
}

// ParentNamespace holds the middlewares and handlers shared by the child
// namespaces created for names it matches.
type ParentNamespace struct {
	server *Server
	match  func(name string, auth []byte) bool

	mu           sync.Mutex
	middlewares  []Middleware
	onConnection []func(*Socket)
	children     map[string]*Namespace
}

// Use adds a middleware run for every child namespace.
func (p *ParentNamespace) Use(m Middleware) {
	p.mu.Lock()
	p.middlewares = append(p.middlewares, m)
	p.mu.Unlock()
}

// OnConnection adds a connection handler for every child namespace.
func (p *ParentNamespace) OnConnection(h func(*Socket)) {
	p.mu.Lock()
	p.onConnection = append(p.onConnection, h)
	p.mu.Unlock()
}

// Emit broadcasts to every child namespace; it returns the errors of
// those that failed (see BroadcastOperator.Emit).
func (p *ParentNamespace) Emit(event string, args ...any) error {
	p.mu.Lock()
	kids := make([]*Namespace, 0, len(p.children))
	for _, n := range p.children {
		kids = append(kids, n)
	}
	p.mu.Unlock()
	var errs []error
	for _, n := range kids {
		if err := n.Emit(event, args...); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (p *ParentNamespace) child(name string) *Namespace {
	return p.server.addNamespace(name, p)
}

func (s *Server) safeMiddleware(m Middleware, sock *Socket) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("socketio: middleware panic", "nsp", sock.nsp.name, "panic", r)
			err = &ConnectError{Message: "Internal error"}
		}
	}()
	return m(sock)
}

func (s *Server) safeCall(f func()) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("socketio: handler panic", "panic", r)
		}
	}()
	f()
}

// connectErrorData encodes a refusal as the CONNECT_ERROR payload.
func connectErrorData(err error) json.RawMessage {
	msg := err.Error()
	var data any
	if ce, ok := err.(*ConnectError); ok {
		msg, data = ce.Message, ce.Data
	}
	e := encoder{}
	e.buf = append(e.buf, `{"message":`...)
	e.buf = jsonstr.Append(e.buf, msg)
	if data != nil {
		e.buf = append(e.buf, `,"data":`...)
		if e.appendValue(data) != nil {
			e.buf = append(e.buf, "null"...)
		}
	}
	e.buf = append(e.buf, '}')
	return e.buf
}
