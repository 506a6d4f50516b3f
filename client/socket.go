package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"

	"github.com/heraldio/herald/internal/jsonstr"
	"github.com/heraldio/herald/socketio"
)

// Socket is a connection to one namespace, over its Manager's Engine.IO
// connection. Its methods are safe for concurrent use. Handlers run one
// at a time on the Manager's handler goroutine, in the order the events
// arrived; a handler may emit, and may wait for an ack (EmitWithAck):
// acks are not delivered through the handler goroutine.
type Socket struct {
	m    *Manager
	nsp  string
	opts SocketOptions
	owns bool // made by NewSocket or Dial: Close closes the Manager too

	mu            sync.Mutex
	active        bool // wants to be connected
	connected     bool
	closed        bool
	everConnected bool
	id            string
	pid           string
	offset        string
	recovered     bool
	connectingOn  *engineConn // the session a CONNECT was sent on
	engine        *engineConn // the session the socket is connected on
	failErr       error       // why WaitConnected gives up
	lastErr       error
	stateCh       chan struct{} // closed and replaced at each state change

	handlers    map[string][]EventHandler
	anyHandlers []EventHandler
	onConnect   []func()
	onConnErr   []func(error)
	onDisc      []func(reason Reason)

	sendBuf      []*socketio.Packet
	recvBuf      []*socketio.Packet
	nextAck      uint64
	acks         map[uint64]*pendingAck
	resyncCancel context.CancelFunc
}

type pendingAck struct {
	ch   chan ackResult // cap 1
	sent bool
}

type ackResult struct {
	args socketio.Args
	err  error
}

// Event is an event received from the server.
type Event struct {
	// Socket is the socket it came on, Name the event's name, Args its
	// arguments.
	Socket *Socket
	Name   string
	Args   socketio.Args

	id     uint64
	hasAck bool
	eng    *engineConn
	acked  atomic.Bool
}

// EventHandler handles an event.
type EventHandler func(e *Event)

// HasAck reports whether the server waits for an answer.
func (e *Event) HasAck() bool { return e.hasAck }

// Ack answers the event with args, once. It returns ErrDisconnected when
// the connection the event came on is gone.
func (e *Event) Ack(args ...any) error {
	if !e.hasAck {
		return ErrNoAck
	}
	if e.acked.Swap(true) {
		return ErrAlreadyAcked
	}
	p, err := ackPacket(e.Socket.nsp, e.id, args)
	if err != nil {
		return err
	}
	s := e.Socket
	s.mu.Lock()
	ok := s.connected && s.engine == e.eng
	s.mu.Unlock()
	if !ok || e.eng.send(e.eng.cfg.encode(p)...) != nil {
		return ErrDisconnected
	}
	return nil
}

// ackPacket builds an ACK packet with socketio's encoder: it encodes an
// event named "" and drops the name from the array.
func ackPacket(nsp string, id uint64, args []any) (*socketio.Packet, error) {
	p, err := socketio.EventPacket(nsp, "", args...)
	if err != nil {
		return nil, err
	}
	const prefix = `[""`
	if !bytes.HasPrefix(p.Data, []byte(prefix)) {
		return nil, fmt.Errorf("client: unexpected encoding %q", p.Data)
	}
	rest := p.Data[len(prefix):]
	if len(rest) > 0 && rest[0] == ',' {
		rest = rest[1:]
	}
	data := make(json.RawMessage, 0, len(rest)+1)
	data = append(append(data, '['), rest...)
	p.Type, p.ID, p.HasID, p.Data = socketio.PacketAck, id, true, data
	return p, nil
}

func newSocket(m *Manager, nsp string, opts SocketOptions) *Socket {
	return &Socket{m: m, nsp: nsp, opts: opts, stateCh: make(chan struct{}), handlers: make(map[string][]EventHandler), acks: make(map[uint64]*pendingAck)}
}

// NewSocket returns a socket for the namespace named by rawURL's path
// ("/" when empty), on a Manager of its own that its Close closes. It is
// not connected: register handlers, then call Connect (and WaitConnected).
func NewSocket(rawURL string, opts *Options) (*Socket, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	m, err := NewManager(rawURL, opts)
	if err != nil {
		return nil, err
	}
	s := m.Socket(namespaceOf(u), nil)
	s.owns = true
	return s, nil
}

// Dial connects to the namespace named by rawURL's path ("/" when empty)
// of the server at rawURL, on a Manager of its own, and waits until the
// namespace is joined, the server refuses it (a *ConnectError), or ctx is
// done. The socket reconnects by itself when the connection is lost.
//
// Events the server emits at once on connection may arrive before
// handlers registered after Dial returns; for those, use NewSocket,
// register the handlers, then Connect.
func Dial(ctx context.Context, rawURL string, opts *Options) (*Socket, error) {
	s, err := NewSocket(rawURL, opts)
	if err != nil {
		return nil, err
	}
	s.Connect()
	if err := s.WaitConnected(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// Manager returns the socket's Manager.
func (s *Socket) Manager() *Manager { return s.m }

// Namespace returns the socket's namespace.
func (s *Socket) Namespace() string { return s.nsp }

// ID returns the id the server gave the socket, or "" when disconnected.
func (s *Socket) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// Connected reports whether the socket is connected to its namespace.
func (s *Socket) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connected
}

// Recovered reports whether the last connection restored the previous
// session (connection state recovery): same id, rooms, and the events
// missed meanwhile delivered.
func (s *Socket) Recovered() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recovered
}

// On adds a handler for event.
func (s *Socket) On(event string, h EventHandler) {
	s.mu.Lock()
	s.handlers[event] = append(s.handlers[event], h)
	s.mu.Unlock()
}

// Off removes the handlers of event.
func (s *Socket) Off(event string) {
	s.mu.Lock()
	delete(s.handlers, event)
	s.mu.Unlock()
}

// OnAny adds a handler for every event; it runs before the event's own.
func (s *Socket) OnAny(h EventHandler) {
	s.mu.Lock()
	s.anyHandlers = append(s.anyHandlers, h)
	s.mu.Unlock()
}

// OnConnect adds a handler called at each connection to the namespace,
// first and after reconnections.
func (s *Socket) OnConnect(h func()) {
	s.mu.Lock()
	s.onConnect = append(s.onConnect, h)
	s.mu.Unlock()
}

// OnConnectError adds a handler called when the server refuses the
// namespace (a *ConnectError with its message and data; the socket then
// stays disconnected until Connect), or when a connection attempt fails
// (the Manager retries).
func (s *Socket) OnConnectError(h func(err error)) {
	s.mu.Lock()
	s.onConnErr = append(s.onConnErr, h)
	s.mu.Unlock()
}

// OnDisconnect adds a handler called when the socket disconnects, with
// the reason (see the Reason constants). After ReasonIOServerDisconnect
// and ReasonIOClientDisconnect the socket stays disconnected; after the
// others the Manager reconnects.
func (s *Socket) OnDisconnect(h func(reason Reason)) {
	s.mu.Lock()
	s.onDisc = append(s.onDisc, h)
	s.mu.Unlock()
}

// changed wakes WaitConnected. Called with s.mu held.
func (s *Socket) changed() {
	close(s.stateCh)
	s.stateCh = make(chan struct{})
}

func (s *Socket) isActive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active && !s.closed
}

// Connect connects the socket: at once if the Manager's connection is
// open, when it opens otherwise. Use it after Disconnect, after the server
// disconnected the socket, or after a connect error.
func (s *Socket) Connect() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.active = true
	s.failErr = nil
	s.changed()
	s.mu.Unlock()
	if eng, _ := s.m.open(); eng != nil {
		s.sendConnect(eng)
	}
}

// WaitConnected waits until the socket is connected. It returns the
// *ConnectError of a refusal, an error wrapping ErrReconnectFailed when
// the Manager gave up, ErrDisconnected when the socket is not trying to
// connect, or ctx's error (with the last connection error).
func (s *Socket) WaitConnected(ctx context.Context) error {
	for {
		s.mu.Lock()
		connected, closed, active, fail, ch := s.connected, s.closed, s.active, s.failErr, s.stateCh
		s.mu.Unlock()
		switch {
		case connected:
			return nil
		case closed:
			return ErrClosed
		case fail != nil:
			return fail
		case !active:
			return ErrDisconnected
		}
		select {
		case <-ch:
		case <-ctx.Done():
			s.mu.Lock()
			last := s.lastErr
			s.mu.Unlock()
			if last != nil {
				return fmt.Errorf("%w (last error: %w)", ctx.Err(), last)
			}
			return ctx.Err()
		}
	}
}

// sendConnect sends the CONNECT packet on eng, once per session.
func (s *Socket) sendConnect(eng *engineConn) {
	s.mu.Lock()
	if s.closed || !s.active || s.connected || s.connectingOn == eng {
		s.mu.Unlock()
		return
	}
	s.connectingOn = eng
	pid, offset := s.pid, s.offset
	s.mu.Unlock()
	data, err := s.connectPayload(eng.ctx, pid, offset)
	if err != nil {
		s.onConnectError(err)
		return
	}
	_ = eng.send(eng.cfg.encode(&socketio.Packet{Type: socketio.PacketConnect, Nsp: s.nsp, Data: data})...)
}

// connectPayload returns the CONNECT data: the auth object, with the
// recovery pid and offset in front when there is a session to restore.
func (s *Socket) connectPayload(ctx context.Context, pid, offset string) (json.RawMessage, error) {
	auth := s.opts.Auth
	if s.opts.AuthFunc != nil {
		ctx, cancel := context.WithTimeout(ctx, s.m.opts.Timeout)
		var err error
		auth, err = s.opts.AuthFunc(ctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("client: auth: %w", err)
		}
	}
	var obj []byte
	switch a := auth.(type) {
	case nil:
	case json.RawMessage:
		obj = a
	case []byte:
		obj = a
	default:
		b, err := json.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("client: auth: %w", err)
		}
		obj = b
	}
	obj = bytes.TrimSpace(obj)
	if len(obj) == 0 || string(obj) == "null" {
		obj = nil
	} else if obj[0] != '{' || !json.Valid(obj) {
		return nil, fmt.Errorf("client: auth must be a JSON object, got %.40q", obj)
	}
	if pid == "" {
		return obj, nil
	}
	b := make([]byte, 0, len(obj)+64)
	b = append(b, `{"pid":`...)
	b = jsonstr.Append(b, pid)
	if offset != "" {
		b = append(b, `,"offset":`...)
		b = jsonstr.Append(b, offset)
	}
	if inner := bytes.TrimSpace(obj[min(1, len(obj)):max(len(obj)-1, 0)]); len(inner) > 0 {
		b = append(b, ',')
		b = append(b, inner...)
	}
	return append(b, '}'), nil
}

// onPacket handles a packet for the namespace; it runs on the session's
// reader.
func (s *Socket) onPacket(p *socketio.Packet) {
	switch p.Type {
	case socketio.PacketConnect:
		var r struct {
			SID string `json:"sid"`
			PID string `json:"pid"`
		}
		if json.Unmarshal(p.Data, &r) != nil || r.SID == "" {
			s.onConnectError(fmt.Errorf("client: bad CONNECT reply %q", p.Data))
			return
		}
		s.onConnected(r.SID, r.PID)
	case socketio.PacketConnectError:
		ce := &ConnectError{}
		var r struct {
			Message string          `json:"message"`
			Data    json.RawMessage `json:"data"`
		}
		if len(p.Data) > 0 && p.Data[0] == '"' {
			_ = json.Unmarshal(p.Data, &ce.Message)
		} else if json.Unmarshal(p.Data, &r) == nil {
			ce.Message, ce.Data = r.Message, r.Data
		}
		s.onConnectError(ce)
	case socketio.PacketEvent, socketio.PacketBinaryEvent:
		s.onEvent(p)
	case socketio.PacketAck, socketio.PacketBinaryAck:
		s.mu.Lock()
		a := s.acks[p.ID]
		delete(s.acks, p.ID)
		s.mu.Unlock()
		if a != nil {
			a.ch <- ackResult{args: p.Args()}
		}
	case socketio.PacketDisconnect:
		s.onServerDisconnect()
	}
}

func (s *Socket) onConnected(sid, pid string) {
	s.mu.Lock()
	eng := s.connectingOn
	if s.closed || !s.active || s.connected || eng == nil {
		s.mu.Unlock()
		if eng != nil {
			// Disconnected while the CONNECT was on its way.
			_ = eng.send(eng.cfg.encode(&socketio.Packet{Type: socketio.PacketDisconnect, Nsp: s.nsp})...)
		}
		return
	}
	reconnect := s.everConnected
	s.recovered = pid != "" && pid == s.pid
	s.pid = pid
	s.id = sid
	s.connected, s.everConnected = true, true
	s.engine = eng
	s.failErr, s.lastErr = nil, nil
	for _, p := range s.recvBuf {
		s.dispatchLocked(p, eng)
	}
	s.recvBuf = nil
	sent := 0
	for _, p := range s.sendBuf {
		if eng.send(eng.cfg.encode(p)...) != nil {
			break
		}
		if a := s.acks[p.ID]; p.HasID && a != nil {
			a.sent = true
		}
		sent++
	}
	clear(s.sendBuf[:sent])
	s.sendBuf = s.sendBuf[sent:]
	if len(s.sendBuf) == 0 {
		s.sendBuf = nil
	}
	var ctx context.Context
	if reconnect && s.opts.Resync != nil {
		ctx, s.resyncCancel = context.WithCancel(context.Background())
	}
	hs := s.onConnect
	s.changed()
	s.mu.Unlock()
	for _, h := range hs {
		s.m.disp.push(h)
	}
	if ctx != nil {
		s.m.disp.push(func() { s.opts.Resync(ctx, s) })
	}
}

// onConnectError ends the socket's attempt to connect: a refusal by the
// server, or an auth payload that could not be built.
func (s *Socket) onConnectError(err error) {
	s.mu.Lock()
	s.active = false
	s.connectingOn = nil
	s.failErr, s.lastErr = err, err
	s.changed()
	hs := s.onConnErr
	s.mu.Unlock()
	emit(s.m, hs, err)
	s.m.maybeIdle()
}

// onOpenError reports a failed connection attempt; the Manager retries.
func (s *Socket) onOpenError(err error) {
	s.mu.Lock()
	if !s.active || s.connected || s.closed {
		s.mu.Unlock()
		return
	}
	s.lastErr = err
	hs := s.onConnErr
	s.mu.Unlock()
	emit(s.m, hs, err)
}

// fail makes WaitConnected return err: the Manager stopped trying.
func (s *Socket) fail(err error) {
	s.mu.Lock()
	if s.active && !s.connected {
		s.failErr = err
		s.changed()
	}
	s.mu.Unlock()
}

func (s *Socket) onEvent(p *socketio.Packet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pid != "" && !p.HasID {
		args := p.Args()
		if off, ok := args.String(args.Len() - 1); ok {
			s.offset = off
		}
	}
	if !s.connected {
		// Before the CONNECT reply: the events a recovered session missed.
		s.recvBuf = append(s.recvBuf, p)
		return
	}
	s.dispatchLocked(p, s.engine)
}

// dispatchLocked queues the handlers of an event. Called with s.mu held.
func (s *Socket) dispatchLocked(p *socketio.Packet, eng *engineConn) {
	e := &Event{Socket: s, Name: p.EventName(), Args: p.Args(), id: p.ID, hasAck: p.HasID, eng: eng}
	s.m.disp.push(func() {
		s.mu.Lock()
		anys := s.anyHandlers
		hs := s.handlers[e.Name]
		s.mu.Unlock()
		for _, h := range anys {
			h(e)
		}
		for _, h := range hs {
			h(e)
		}
	})
}

// disconnectLocked marks the socket disconnected and returns the
// disconnect handlers to call, or nil if it was not connected. Called
// with s.mu held.
func (s *Socket) disconnectLocked() []func(Reason) {
	s.connectingOn = nil
	if !s.connected {
		return nil
	}
	s.connected = false
	s.id = ""
	s.engine = nil
	for id, a := range s.acks {
		if a.sent {
			delete(s.acks, id)
			a.ch <- ackResult{err: ErrDisconnected}
		}
	}
	if s.resyncCancel != nil {
		s.resyncCancel()
		s.resyncCancel = nil
	}
	s.changed()
	return s.onDisc
}

func (s *Socket) onServerDisconnect() {
	s.mu.Lock()
	s.active = false
	hs := s.disconnectLocked()
	s.mu.Unlock()
	emit(s.m, hs, ReasonIOServerDisconnect)
	s.m.maybeIdle()
}

// onEngineClose is called when session eng ended.
func (s *Socket) onEngineClose(eng *engineConn, reason Reason) {
	s.mu.Lock()
	if s.connectingOn == eng {
		s.connectingOn = nil
	}
	var hs []func(Reason)
	if s.engine == eng {
		hs = s.disconnectLocked()
	}
	s.mu.Unlock()
	emit(s.m, hs, reason)
}

// Disconnect leaves the namespace (reason "io client disconnect"); the
// socket does not reconnect until Connect. The Manager closes its
// connection when no socket is left on it.
func (s *Socket) Disconnect() {
	s.mu.Lock()
	eng := s.engine
	s.active = false
	hs := s.disconnectLocked()
	s.changed()
	s.mu.Unlock()
	if hs != nil || eng != nil {
		if eng != nil {
			_ = eng.send(eng.cfg.encode(&socketio.Packet{Type: socketio.PacketDisconnect, Nsp: s.nsp})...)
		}
		emit(s.m, hs, ReasonIOClientDisconnect)
	}
	s.m.maybeIdle()
}

// shutdown disconnects for good: the Manager is closing.
func (s *Socket) shutdown(eng *engineConn) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	connectedOn := s.engine
	s.closed, s.active = true, false
	for id, a := range s.acks {
		delete(s.acks, id)
		a.ch <- ackResult{err: ErrClosed}
	}
	hs := s.disconnectLocked()
	s.sendBuf, s.recvBuf = nil, nil
	s.changed()
	s.mu.Unlock()
	if connectedOn != nil && connectedOn == eng {
		_ = eng.send(eng.cfg.encode(&socketio.Packet{Type: socketio.PacketDisconnect, Nsp: s.nsp})...)
	}
	emit(s.m, hs, ReasonIOClientDisconnect)
}

// Close disconnects the socket for good. A socket made by NewSocket or
// Dial closes its Manager too, and waits for its goroutines.
func (s *Socket) Close() error {
	if s.owns {
		return s.m.Close()
	}
	s.m.mu.Lock()
	if s.m.sockets[s.nsp] == s {
		delete(s.m.sockets, s.nsp)
	}
	s.m.mu.Unlock()
	s.shutdown(s.m.current())
	s.m.maybeIdle()
	return nil
}

// Emit sends an event with args: Go values encoded as JSON, []byte (at
// any depth) as binary attachments, json.RawMessage verbatim. While the
// socket is disconnected the packet is buffered, up to
// MaxBufferedPackets, and sent when it connects again.
func (s *Socket) Emit(event string, args ...any) error {
	p, err := s.eventPacket(event, args)
	if err != nil {
		return err
	}
	return s.send(p, nil)
}

// VolatileEmit sends an event only if it can go at once: it is dropped
// while disconnected or when the connection has a backlog.
func (s *Socket) VolatileEmit(event string, args ...any) error {
	p, err := s.eventPacket(event, args)
	if err != nil {
		return err
	}
	s.mu.Lock()
	closed, eng := s.closed, s.engine
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if eng != nil {
		eng.sendVolatile(eng.cfg.encode(p)...)
	}
	return nil
}

// EmitWithAck sends an event and waits for the server's answer, or ctx.
// A packet buffered while disconnected waits to be sent; one sent on a
// connection that is then lost fails with ErrDisconnected; Close fails
// every pending ack with ErrClosed.
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) (socketio.Args, error) {
	p, err := s.eventPacket(event, args)
	if err != nil {
		return socketio.Args{}, err
	}
	a := &pendingAck{ch: make(chan ackResult, 1)}
	if err := s.send(p, a); err != nil {
		return socketio.Args{}, err
	}
	select {
	case r := <-a.ch:
		return r.args, r.err
	case <-ctx.Done():
		s.mu.Lock()
		delete(s.acks, p.ID)
		for i, q := range s.sendBuf {
			if q == p {
				s.sendBuf = append(s.sendBuf[:i], s.sendBuf[i+1:]...)
				break
			}
		}
		s.mu.Unlock()
		return socketio.Args{}, ctx.Err()
	}
}

func (s *Socket) eventPacket(event string, args []any) (*socketio.Packet, error) {
	if reservedEvents[event] {
		return nil, fmt.Errorf("%w: %q", ErrReservedEvent, event)
	}
	return socketio.EventPacket(s.nsp, event, args...)
}

// send sends p now if connected, else buffers it. With a, it registers
// the ack under a new id first.
func (s *Socket) send(p *socketio.Packet, a *pendingAck) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if a != nil {
		p.ID, p.HasID = s.nextAck, true
		s.nextAck++
		s.acks[p.ID] = a
	}
	if s.connected && s.engine.send(s.engine.cfg.encode(p)...) == nil {
		if a != nil {
			a.sent = true
		}
		return nil
	}
	if s.opts.MaxBufferedPackets < 0 || len(s.sendBuf) >= s.opts.MaxBufferedPackets {
		if a != nil {
			delete(s.acks, p.ID)
		}
		return ErrBufferFull
	}
	s.sendBuf = append(s.sendBuf, p)
	return nil
}
