package socketio

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/internal/jsonstr"
)

// Handshake is what a socket's connection carried: the auth payload of its
// CONNECT packet and the HTTP request's details.
type Handshake struct {
	// Headers are the handshake request's headers (see
	// engineio.Request for what is kept).
	Headers http.Header `json:"headers"`
	// Time is when the handshake came, as an HTTP date; Issued the same
	// in Unix milliseconds.
	Time string `json:"time"`
	// Address is the client's address, host:port.
	Address string `json:"address"`
	// XDomain is whether the request came with an Origin header; Secure
	// whether it came over TLS.
	XDomain bool  `json:"xdomain"`
	Secure  bool  `json:"secure"`
	Issued  int64 `json:"issued"`
	// URL is the request URI; Query its query parameters.
	URL   string     `json:"url"`
	Query url.Values `json:"query"`
	// Auth is the raw JSON auth object ("{}" when none was sent).
	Auth json.RawMessage `json:"auth"`
}

// BindAuth decodes the auth payload into v.
func (h *Handshake) BindAuth(v any) error { return json.Unmarshal(h.Auth, v) }

// Event is one event received from a client.
type Event struct {
	// Socket is the socket it came on, Name the event's name, Args its
	// arguments.
	Socket *Socket
	Name   string
	Args   Args
	ackID  uint64
	hasAck bool
	acked  bool
}

// HasAck reports whether the client waits for an answer.
func (e *Event) HasAck() bool { return e.hasAck }

// Ack answers the event with args; only the first call counts.
func (e *Event) Ack(args ...any) error {
	if !e.hasAck || e.acked {
		return nil
	}
	e.acked = true
	enc, err := e.Socket.client.srv.encodeDirect(PacketAck, e.Socket.nsp.name, e.ackID, true, nil, args)
	if err != nil {
		return err
	}
	return e.Socket.client.write(enc, false)
}

// EventHandler handles an event.
type EventHandler func(e *Event)

type socketHooks struct {
	any           []EventHandler
	disconnecting []func(reason Reason)
	disconnect    []func(reason Reason)
}

func (s *Socket) hooksLocked() *socketHooks {
	if s.hooks == nil {
		s.hooks = new(socketHooks)
	}
	return s.hooks
}

type namedHandler struct {
	event string
	h     EventHandler
}

// Socket is a client's connection to one namespace. Its methods are safe
// for concurrent use.
type Socket struct {
	id     string
	pid    string
	nsp    *Namespace
	client *client
	auth   string // the CONNECT payload; the rest of the handshake is built on demand

	mu        sync.Mutex
	connected bool
	recovered bool
	kept      bool           // connection handlers done: room changes go to a SessionKeeper
	handlers  []namedHandler // few per socket: a slice is smaller than a map
	hooks     *socketHooks   // allocated on first use: most sockets have none
	acks      map[uint64]func(Args, error)
	data      map[string]any
}

// ID returns the socket id, also the name of its personal room.
func (s *Socket) ID() string { return s.id }

// Namespace returns the socket's namespace.
func (s *Socket) Namespace() *Namespace { return s.nsp }

// Handshake returns the connection's handshake details. It is built on
// each call (sockets keep only what it is made of, to stay small).
func (s *Socket) Handshake() *Handshake {
	return newHandshake(s.client.conn, json.RawMessage(s.auth))
}

// Conn returns the underlying Engine.IO connection.
func (s *Socket) Conn() *engineio.Conn { return s.client.conn }

// Recovered reports whether the socket's state was restored by
// connection state recovery.
func (s *Socket) Recovered() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recovered
}

// Connected reports whether the socket is still connected.
func (s *Socket) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connected
}

// Set stores a value in the socket's data, which fetchSockets and
// connection state recovery carry along.
func (s *Socket) Set(key string, v any) {
	s.mu.Lock()
	if s.data == nil {
		s.data = make(map[string]any)
	}
	s.data[key] = v
	s.mu.Unlock()
}

// Get returns a value stored with Set.
func (s *Socket) Get(key string) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.data[key]
	return v, ok
}

// Data returns a copy of what Set stored (nil when nothing was).
func (s *Socket) Data() map[string]any { return s.dataCopy() }

func (s *Socket) dataCopy() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.data == nil {
		return nil
	}
	m := make(map[string]any, len(s.data))
	for k, v := range s.data {
		m[k] = v
	}
	return m
}

// On adds a handler for event.
func (s *Socket) On(event string, h EventHandler) {
	s.mu.Lock()
	s.handlers = append(s.handlers, namedHandler{event, h})
	s.mu.Unlock()
}

// Off removes every handler of event.
func (s *Socket) Off(event string) {
	s.mu.Lock()
	kept := s.handlers[:0]
	for _, nh := range s.handlers {
		if nh.event != event {
			kept = append(kept, nh)
		}
	}
	clear(s.handlers[len(kept):])
	s.handlers = kept
	s.mu.Unlock()
}

// OnAny adds a handler for every event, called before the named ones.
func (s *Socket) OnAny(h EventHandler) {
	s.mu.Lock()
	hk := s.hooksLocked()
	hk.any = append(hk.any, h)
	s.mu.Unlock()
}

// OnDisconnecting adds a handler called when the socket is about to
// disconnect, while its rooms are still known.
func (s *Socket) OnDisconnecting(h func(reason Reason)) {
	s.mu.Lock()
	hk := s.hooksLocked()
	hk.disconnecting = append(hk.disconnecting, h)
	s.mu.Unlock()
}

// OnDisconnect adds a handler called once the socket has disconnected.
func (s *Socket) OnDisconnect(h func(reason Reason)) {
	s.mu.Lock()
	hk := s.hooksLocked()
	hk.disconnect = append(hk.disconnect, h)
	s.mu.Unlock()
}

// Join adds the socket to rooms.
func (s *Socket) Join(rooms ...string) {
	ms := s.nsp.server.loadMonitors()
	watched := watchRooms(ms, func(m *Monitor) bool { return m.Joined != nil })
	var before []string
	if watched {
		before = s.Rooms()
	}
	s.nsp.adapter.AddAll(s.id, rooms)
	s.keep()
	if watched && s.Connected() {
		for i, r := range rooms {
			if !slices.Contains(before, r) && !slices.Contains(rooms[:i], r) {
				notify(ms, func(m *Monitor) { callRoom(m.Joined, s, r) })
			}
		}
	}
}

// Leave removes the socket from rooms.
func (s *Socket) Leave(rooms ...string) {
	ms := s.nsp.server.loadMonitors()
	var before []string
	if watchRooms(ms, func(m *Monitor) bool { return m.Left != nil }) {
		before = s.Rooms()
	}
	for _, r := range rooms {
		s.nsp.adapter.Del(s.id, r)
	}
	s.keep()
	for i, r := range rooms {
		if slices.Contains(before, r) && !slices.Contains(rooms[:i], r) {
			notify(ms, func(m *Monitor) { callRoom(m.Left, s, r) })
		}
	}
}

// watchRooms reports whether a monitor wants room changes: only then are
// the socket's rooms looked up around one.
func watchRooms(ms []*Monitor, wants func(*Monitor) bool) bool {
	for _, m := range ms {
		if wants(m) {
			return true
		}
	}
	return false
}

// notify calls f for each monitor.
func notify(ms []*Monitor, f func(m *Monitor)) {
	for _, m := range ms {
		f(m)
	}
}

func callRoom(f func(*Socket, string), s *Socket, room string) {
	if f != nil {
		f(s, room)
	}
}

// Rooms returns the socket's rooms (its own id included).
func (s *Socket) Rooms() []string { return s.nsp.adapter.SocketRooms(s.id) }

// Emit sends an event to this client. []byte arguments travel as binary
// attachments, json.RawMessage verbatim, an Args value spliced in as
// received; anything else is encoded with encoding/json.
func (s *Socket) Emit(event string, args ...any) error {
	if s.nsp.server.opts.Recovery != nil {
		// As the reference does: through the adapter, so that the packet
		// gets an offset and is replayed if the transport is already gone.
		p, err := eventPacket(s.nsp.name, event, args)
		if err != nil {
			return err
		}
		s.notifySent(p, event, args)
		return s.nsp.adapter.Broadcast(adapterContext(), p, &BroadcastOptions{Rooms: []string{s.id}})
	}
	return s.emitDirect(event, args, false)
}

// emitDirect encodes an event for this client alone and writes it.
func (s *Socket) emitDirect(event string, args []any, volatile bool) error {
	enc, err := s.client.srv.encodeDirect(PacketEvent, s.nsp.name, 0, false, &event, args)
	if err != nil {
		return err
	}
	s.notifySent(nil, event, args)
	return s.client.write(enc, volatile)
}

// notifySent tells the monitors that want it of an event this socket
// sends; p is the event's packet if already made. Without such a monitor
// it costs one atomic load.
func (s *Socket) notifySent(p *Packet, event string, args []any) {
	ms := s.nsp.server.loadMonitors()
	if !slices.ContainsFunc(ms, func(m *Monitor) bool { return m.Sent != nil }) {
		return
	}
	if p == nil {
		var err error
		if p, err = eventPacket(s.nsp.name, event, args); err != nil {
			return
		}
	}
	e := &Event{Socket: s, Name: event, Args: argsFromArray(p.Data, p.Attachments, 1), ackID: p.ID, hasAck: p.HasID, acked: true}
	for _, m := range ms {
		if m.Sent != nil {
			m.Sent(e)
		}
	}
}

// EmitTransient sends an event to this client that connection state
// recovery never keeps: for a snapshot the client gets afresh whenever it
// connects (a presence list, a room's state), which Emit would keep for
// the whole recovery window. It is not dropped, as VolatileEmit may be.
func (s *Socket) EmitTransient(event string, args ...any) error {
	return s.emitDirect(event, args, false)
}

// VolatileEmit sends an event that may be dropped if the client is not
// ready to receive it.
func (s *Socket) VolatileEmit(event string, args ...any) error {
	return s.emitDirect(event, args, true)
}

// EmitWithAck sends an event and waits for the client's answer or ctx.
// It must not be called from a handler of this socket's own events
// without a goroutine: the answer is read on the same path.
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) (Args, error) {
	p, err := eventPacket(s.nsp.name, event, args)
	if err != nil {
		return Args{}, err
	}
	p.ID, p.HasID = s.nsp.nextAckID(), true
	type result struct {
		a   Args
		err error
	}
	ch := make(chan result, 1)
	s.registerAck(p.ID, func(a Args, err error) { ch <- result{a, err} })
	s.notifySent(p, event, args)
	if err := s.client.write(s.client.srv.encode(p), false); err != nil {
		s.dropAck(p.ID)
		return Args{}, err
	}
	select {
	case r := <-ch:
		return r.a, r.err
	case <-ctx.Done():
		s.dropAck(p.ID)
		return Args{}, ErrAckTimeout
	}
}

func (s *Socket) registerAck(id uint64, fn func(Args, error)) {
	s.mu.Lock()
	if !s.connected {
		s.mu.Unlock()
		fn(Args{}, ErrDisconnected)
		return
	}
	if s.acks == nil {
		s.acks = make(map[uint64]func(Args, error))
	}
	s.acks[id] = fn
	s.mu.Unlock()
}

func (s *Socket) dropAck(id uint64) {
	s.mu.Lock()
	delete(s.acks, id)
	s.mu.Unlock()
}

// To selects rooms for a broadcast that excludes this socket.
func (s *Socket) To(rooms ...string) BroadcastOperator {
	return s.nsp.op().Except(s.id).To(rooms...)
}

// In is To.
func (s *Socket) In(rooms ...string) BroadcastOperator { return s.To(rooms...) }

// Broadcast returns a broadcast to every socket of the namespace but this
// one.
func (s *Socket) Broadcast() BroadcastOperator { return s.nsp.op().Except(s.id) }

// Disconnect disconnects the socket from its namespace; with closeConn,
// the whole connection (every namespace) is closed.
func (s *Socket) Disconnect(closeConn bool) {
	if closeConn {
		s.client.disconnectAll()
		return
	}
	s.mu.Lock()
	connected := s.connected
	s.mu.Unlock()
	if !connected {
		return
	}
	s.client.write(s.client.srv.encode(&Packet{Type: PacketDisconnect, Nsp: s.nsp.name}), false)
	s.onClose(ReasonServerNamespaceDisconnect)
}

// onConnect joins the personal room, restores a session's state and
// answers the CONNECT.
func (s *Socket) onConnect(session *Session) {
	s.mu.Lock()
	s.connected = true
	s.mu.Unlock()
	s.Join(s.id)
	if session != nil {
		if len(session.Rooms) > 0 {
			s.Join(session.Rooms...)
		}
		for _, p := range session.MissedPackets {
			cp := *p
			cp.Nsp = s.nsp.name
			s.client.write(s.client.srv.encode(&cp), false)
		}
	}
	if s.client.v3 { // a v2 client knows its id: the CONNECT carries nothing
		s.client.write(s.client.srv.encode(&Packet{Type: PacketConnect, Nsp: s.nsp.name}), false)
		return
	}
	e := encoder{}
	e.buf = append(e.buf, `{"sid":`...)
	e.buf = jsonstr.Append(e.buf, s.id)
	if s.pid != "" {
		e.buf = append(e.buf, `,"pid":`...)
		e.buf = jsonstr.Append(e.buf, s.pid)
	}
	e.buf = append(e.buf, '}')
	s.client.write(s.client.srv.encode(&Packet{Type: PacketConnect, Nsp: s.nsp.name, Data: e.buf}), false)
}

// onPacket handles a packet the client sent to this namespace.
func (s *Socket) onPacket(p *Packet) {
	switch p.Type {
	case PacketEvent, PacketBinaryEvent:
		s.onEvent(p)
	case PacketAck, PacketBinaryAck:
		s.mu.Lock()
		fn := s.acks[p.ID]
		delete(s.acks, p.ID)
		s.mu.Unlock()
		if fn != nil {
			fn(p.Args(), nil)
		}
	case PacketDisconnect:
		s.onClose(ReasonClientNamespaceDisconnect)
	}
}

func (s *Socket) onEvent(p *Packet) {
	e := &Event{Socket: s, Name: p.EventName(), Args: p.Args(), ackID: p.ID, hasAck: p.HasID}
	s.mu.Lock()
	var anys []EventHandler
	if s.hooks != nil {
		anys = s.hooks.any
	}
	var own []EventHandler
	for _, nh := range s.handlers {
		if nh.event == e.Name {
			own = append(own, nh.h)
		}
	}
	s.mu.Unlock()
	srv := s.nsp.server
	for _, m := range srv.loadMonitors() {
		if m.Received != nil {
			m.Received(e)
		}
	}
	for _, h := range anys {
		srv.safeCall(func() { h(e) })
	}
	for _, h := range s.nsp.eventHandlers(e.Name) {
		srv.safeCall(func() { h(e) })
	}
	for _, h := range own {
		srv.safeCall(func() { h(e) })
	}
}

// onClose disconnects the socket for reason, once.
func (s *Socket) onClose(reason Reason) {
	s.mu.Lock()
	if !s.connected {
		s.mu.Unlock()
		return
	}
	var before []func(Reason)
	if s.hooks != nil {
		before = s.hooks.disconnecting
	}
	s.mu.Unlock()
	srv := s.nsp.server
	for _, h := range before {
		srv.safeCall(func() { h(reason) })
	}
	if sa, ok := s.nsp.adapter.(SessionAwareAdapter); ok && srv.opts.Recovery != nil && s.pid != "" {
		var err error
		if recoverable[reason] {
			err = sa.PersistSession(adapterContext(), s.session())
		} else if k, ok := sa.(SessionKeeper); ok {
			err = k.ForgetSession(adapterContext(), s.session())
		}
		if err != nil {
			srv.log.Warn("socketio: session not kept", "nsp", s.nsp.name, "err", err)
		}
	}
	ms := srv.loadMonitors()
	var rooms []string
	if watchRooms(ms, func(m *Monitor) bool { return m.Left != nil }) {
		rooms = s.Rooms()
	}
	s.nsp.adapter.DelAll(s.id)
	s.nsp.remove(s)
	s.client.removeSocket(s)
	s.mu.Lock()
	s.connected = false
	acks := s.acks
	s.acks = nil
	var after []func(Reason)
	if s.hooks != nil {
		after = s.hooks.disconnect
	}
	s.mu.Unlock()
	for _, r := range rooms {
		notify(ms, func(m *Monitor) { callRoom(m.Left, s, r) })
	}
	notify(ms, func(m *Monitor) {
		if m.Disconnected != nil {
			m.Disconnected(s, reason)
		}
	})
	if len(acks) > 0 {
		err := &CloseError{Reason: reason, Err: ErrDisconnected}
		for _, fn := range acks {
			fn(Args{}, err)
		}
	}
	for _, h := range after {
		srv.safeCall(func() { h(reason) })
	}
}

func (s *Socket) info() SocketInfo {
	return SocketInfo{ID: s.id, Handshake: *s.Handshake(), Rooms: s.Rooms(), Data: s.dataCopy()}
}

func newHandshake(conn *engineio.Conn, auth json.RawMessage) *Handshake {
	r := conn.Request()
	if len(auth) == 0 {
		auth = json.RawMessage("{}")
	}
	h := r.Header()
	return &Handshake{
		Headers: h,
		Time:    time.UnixMilli(r.Issued).UTC().Format(time.RFC1123),
		Address: r.RemoteAddr,
		XDomain: h.Get("Origin") != "",
		Secure:  r.TLS,
		Issued:  r.Issued,
		URL:     r.RequestURI,
		Query:   r.Query(),
		Auth:    auth,
	}
}

// session is the socket's session as it is now: its rooms but its own.
func (s *Socket) session() *Session {
	rooms := s.Rooms()
	kept := rooms[:0]
	for _, r := range rooms {
		if r != s.id {
			kept = append(kept, r)
		}
	}
	return &Session{SID: s.id, PID: s.pid, Rooms: kept, Data: s.dataCopy()}
}

// keep hands a SessionKeeper adapter the session of a connected socket,
// once it has connected and after each room change.
func (s *Socket) keep() {
	k, ok := s.nsp.adapter.(SessionKeeper)
	if !ok || s.pid == "" || s.nsp.server.opts.Recovery == nil {
		return
	}
	s.mu.Lock()
	live := s.connected && s.kept
	s.mu.Unlock()
	if !live {
		return
	}
	if err := k.KeepSession(adapterContext(), s.session()); err != nil {
		s.nsp.server.log.Warn("socketio: session not kept", "nsp", s.nsp.name, "err", err)
	}
}
