package socketio

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldio/herald/internal/jsonstr"
	"github.com/heraldio/herald/internal/shrink"
)

// BroadcastFlags modify how a broadcast is delivered.
type BroadcastFlags struct {
	// Volatile packets are dropped for a client that is not ready to
	// receive them, and are never replayed by connection state recovery.
	Volatile bool
	// Local broadcasts reach only this node's sockets.
	Local bool
	// NoCompress disables permessage-deflate for this packet.
	NoCompress bool
	// Timeout bounds a broadcast with acks across nodes.
	Timeout time.Duration
}

// BroadcastOptions select the sockets a broadcast or a server-side
// utility applies to: sockets in any of Rooms (all sockets when empty),
// minus those in any of Except.
type BroadcastOptions struct {
	Rooms  []string
	Except []string
	// Flags are the broadcast's flags (volatile, local, ...).
	Flags BroadcastFlags
}

// SocketInfo describes a socket, local or on another node, as returned by
// FetchSockets.
type SocketInfo struct {
	// ID is the socket's id; Rooms the rooms it is in (its id's among
	// them); Data what Socket.Set stored.
	ID        string         `json:"id"`
	Handshake Handshake      `json:"handshake"`
	Rooms     []string       `json:"rooms"`
	Data      map[string]any `json:"data"`
}

// Session is what connection state recovery keeps of a disconnected
// socket, and, when restored, the packets it missed.
type Session struct {
	// SID is the socket's id, PID the private id the client presents to
	// be restored.
	SID string `json:"sid"`
	PID string `json:"pid"`
	// Rooms are the socket's rooms but its own id's; Data what
	// Socket.Set stored.
	Rooms []string       `json:"rooms"`
	Data  map[string]any `json:"data"`
	// MissedPackets are what a restored session replays, in order.
	MissedPackets []*Packet `json:"-"`
}

// Adapter keeps the rooms of one namespace and delivers its broadcasts.
// The in-memory MemoryAdapter serves one node; a cluster adapter (see
// package adapter/cluster) implements the same operations across nodes,
// usually by embedding a MemoryAdapter for the local part. Methods must be
// safe for concurrent use and must not block on slow clients.
//
// The room bookkeeping of local sockets (AddAll to Rooms) does no network
// I/O that a caller waits for. The other methods may reach the other
// nodes: they take a context that bounds what they wait for, and return
// an error when the operation may not reach every node (the local part is
// done all the same). The library passes the caller's context where its
// API takes one (FetchSockets, EmitWithAck, ServerSideEmit), and else one
// that ends within 5 seconds (Emit, SocketsJoin, SocketsLeave,
// DisconnectSockets, and what it does on its own: Socket.Emit with
// recovery, keeping a session).
//
// Optional capabilities are found by type assertion: SessionAwareAdapter
// for connection state recovery, AdapterCloser for resources to release.
type Adapter interface {
	// AddAll adds socket id to rooms.
	AddAll(id string, rooms []string)
	// Del removes socket id from room.
	Del(id, room string)
	// DelAll removes socket id from every room.
	DelAll(id string)
	// SocketRooms returns the rooms of a local socket.
	SocketRooms(id string) []string
	// Sockets returns the ids of local sockets in any of rooms (all when
	// rooms is empty).
	Sockets(rooms []string) []string
	// Rooms returns the local rooms.
	Rooms() []string

	// Broadcast sends p to the matching sockets, on every node unless
	// opts.Flags.Local.
	Broadcast(ctx context.Context, p *Packet, opts *BroadcastOptions) error
	// BroadcastWithAck sends p to the matching sockets with an ack id;
	// clientCount is called with the number of sockets reached (once per
	// node), ack with each answer.
	BroadcastWithAck(ctx context.Context, p *Packet, opts *BroadcastOptions, clientCount func(int), ack func(Args)) error

	// FetchSockets returns the matching sockets of every node.
	FetchSockets(ctx context.Context, opts *BroadcastOptions) ([]SocketInfo, error)
	// AddSockets makes the matching sockets join rooms.
	AddSockets(ctx context.Context, opts *BroadcastOptions, rooms []string) error
	// DelSockets makes the matching sockets leave rooms.
	DelSockets(ctx context.Context, opts *BroadcastOptions, rooms []string) error
	// DisconnectSockets disconnects the matching sockets; with closeConn,
	// their whole connections.
	DisconnectSockets(ctx context.Context, opts *BroadcastOptions, closeConn bool) error
	// ServerSideEmit sends an event to the other nodes' namespace; with
	// wantAck it collects their answers until ctx is done.
	ServerSideEmit(ctx context.Context, event string, args []any, wantAck bool) ([]Args, error)
	// ServerCount returns the number of nodes.
	ServerCount(ctx context.Context) (int, error)
}

// SessionAwareAdapter is an Adapter that keeps the sessions of
// connection state recovery (Options.Recovery), as socket.io's
// SessionAwareAdapter. With another Adapter, sockets are never recovered.
type SessionAwareAdapter interface {
	Adapter
	// PersistSession keeps a disconnected socket's session for recovery.
	PersistSession(ctx context.Context, s *Session) error
	// RestoreSession returns the session pid and the packets broadcast
	// after offset that it missed, or nil if it cannot be restored.
	RestoreSession(ctx context.Context, pid, offset string) (*Session, error)
}

// SessionKeeper is a SessionAwareAdapter that also keeps the sessions of
// connected sockets, so that a client whose node dies without seeing it
// leave (killed, or cut off) can be restored on another node: the server
// calls KeepSession once a socket has connected (after the connection
// handlers) and after each room change, PersistSession when it leaves
// recoverably, and ForgetSession when it leaves for good. The adapter
// keeps a kept session restorable for at least MaxDisconnectionDuration
// after its node last kept it alive. Neither may wait for the network.
type SessionKeeper interface {
	SessionAwareAdapter
	KeepSession(ctx context.Context, s *Session) error
	ForgetSession(ctx context.Context, s *Session) error
}

// AdapterCloser is an Adapter with resources to release: the server
// closes it on Shutdown (with Shutdown's context), and closes the adapter
// of a namespace it built in vain.
type AdapterCloser interface {
	// Close releases the adapter's resources, waiting at most until ctx
	// is done.
	Close(ctx context.Context) error
}

// adapterTimeout bounds the adapter calls made without a caller's context.
const adapterTimeout = 5 * time.Second

// boundedCtx is the context of adapter calls made without a caller's
// context: it ends adapterTimeout after it was made. One serves the calls
// of a second (the next is made on the first call after its staleness
// timer fired), so each handed out has 4 seconds left at least, and a
// call costs no allocation, timer or clock read.
type boundedCtx struct {
	ctx    context.Context
	cancel context.CancelFunc // never called: the deadline ends it
	stale  atomic.Bool
}

var currentCtx atomic.Pointer[boundedCtx]

// adapterContext returns the context of an adapter call made without a
// caller's context.
func adapterContext() context.Context {
	if c := currentCtx.Load(); c != nil && !c.stale.Load() {
		return c.ctx
	}
	c := &boundedCtx{}
	c.ctx, c.cancel = context.WithTimeout(context.Background(), adapterTimeout)
	time.AfterFunc(adapterTimeout-4*time.Second, func() { c.stale.Store(true) })
	currentCtx.Store(c)
	return c.ctx
}

// AdapterFactory creates the adapter of a namespace.
type AdapterFactory func(nsp *Namespace) Adapter

var _ SessionAwareAdapter = (*MemoryAdapter)(nil)

// MemoryAdapter is the single-node Adapter. With connection state
// recovery enabled on the server it also keeps recent broadcasts and
// disconnected sessions in memory.
//
// A socket's personal room (its id) is implicit: it costs nothing to
// store, so a socket that joined no other room has no entry at all.
//
// Deliver, KeepsForRecovery, Recovery and HandleServerSideEmit are for
// adapters that embed it (see "Writing an adapter" in the package doc).
type MemoryAdapter struct {
	nsp *Namespace

	mu                  sync.RWMutex
	rooms               map[string]map[string]struct{} // room → socket ids
	sids                map[string][]string            // socket id → rooms joined, besides its own
	leftSelf            map[string]struct{}            // sockets that left their personal room
	roomsPeak, sidsPeak int                            // for shrink.Map

	// Connection state recovery. Packets are numbered in the order they
	// are kept, so packets holds consecutive numbers and everything older
	// than its first one was dropped.
	recovery     *RecoveryOptions
	rmu          sync.Mutex
	sessions     map[string]*storedSession
	sessionsScan time.Time // last sweep of expired sessions
	packets      []storedPacket
	bytes        int64  // size of packets
	seq          uint64 // number of the newest packet
	dropped      uint64
	offsetPfx    string
}

type storedSession struct {
	s   *Session
	at  time.Time
	seq uint64 // the newest packet when the socket disconnected
}

type storedPacket struct {
	seq    uint64
	offset string
	at     time.Time
	p      *Packet
	opts   BroadcastOptions
	size   int64
}

// storedOverhead approximates what a kept packet costs besides its bytes:
// its storedPacket, Packet, offset string and slice headers.
const storedOverhead = 256

func (sp *storedPacket) measure() {
	n := storedOverhead + len(sp.p.Data) + len(sp.offset)
	for _, b := range sp.p.Attachments {
		n += len(b)
	}
	for _, r := range sp.opts.Rooms {
		n += len(r) + 16
	}
	for _, r := range sp.opts.Except {
		n += len(r) + 16
	}
	sp.size = int64(n)
}

// NewMemoryAdapter returns the in-memory adapter of nsp.
func NewMemoryAdapter(nsp *Namespace) *MemoryAdapter {
	a := &MemoryAdapter{
		nsp:   nsp,
		rooms: make(map[string]map[string]struct{}),
		sids:  make(map[string][]string),
	}
	if nsp != nil && nsp.server != nil {
		a.recovery = nsp.server.opts.Recovery
	}
	if a.recovery != nil {
		a.sessions = make(map[string]*storedSession)
		a.offsetPfx = strconv.FormatInt(time.Now().UnixMilli(), 36) + "-"
	}
	return a
}

// AddAll adds socket id to rooms.
func (a *MemoryAdapter) AddAll(id string, rooms []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range rooms {
		if r == id {
			delete(a.leftSelf, id)
			continue
		}
		m := a.rooms[r]
		if m == nil {
			m = make(map[string]struct{}, 1)
			a.rooms[r] = m
		}
		if _, ok := m[id]; ok {
			continue
		}
		m[id] = struct{}{}
		a.sids[id] = append(a.sids[id], r)
	}
}

// Del removes socket id from room.
func (a *MemoryAdapter) Del(id, room string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if room == id {
		if a.leftSelf == nil {
			a.leftSelf = make(map[string]struct{})
		}
		a.leftSelf[id] = struct{}{}
		return
	}
	rs := a.sids[id]
	for i, r := range rs {
		if r == room {
			rs = append(rs[:i], rs[i+1:]...)
			break
		}
	}
	if len(rs) == 0 {
		delete(a.sids, id)
		a.sids = shrink.Map(a.sids, &a.sidsPeak)
	} else {
		a.sids[id] = rs
	}
	a.delFromRoom(id, room)
}

func (a *MemoryAdapter) delFromRoom(id, room string) {
	if m := a.rooms[room]; m != nil {
		delete(m, id)
		if len(m) == 0 {
			delete(a.rooms, room)
			a.rooms = shrink.Map(a.rooms, &a.roomsPeak)
		}
	}
}

// DelAll removes socket id from every room.
func (a *MemoryAdapter) DelAll(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.sids[id] {
		a.delFromRoom(id, r)
	}
	delete(a.sids, id)
	a.sids = shrink.Map(a.sids, &a.sidsPeak)
	delete(a.leftSelf, id)
}

// SocketRooms returns the rooms of a local socket, its own id included.
func (a *MemoryAdapter) SocketRooms(id string) []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	rs := a.sids[id]
	out := make([]string, 0, len(rs)+1)
	if _, left := a.leftSelf[id]; !left && a.nsp.Socket(id) != nil {
		out = append(out, id)
	}
	return append(out, rs...)
}

// Sockets returns the ids of local sockets in any of rooms (all when
// rooms is empty).
func (a *MemoryAdapter) Sockets(rooms []string) []string {
	var out []string
	a.apply(&BroadcastOptions{Rooms: rooms}, func(s *Socket) { out = append(out, s.id) })
	return out
}

// Rooms returns the local rooms, personal rooms included.
func (a *MemoryAdapter) Rooms() []string {
	a.mu.RLock()
	out := make([]string, 0, len(a.rooms))
	for r := range a.rooms {
		out = append(out, r)
	}
	a.mu.RUnlock()
	for _, s := range a.nsp.Sockets() {
		out = append(out, s.id)
	}
	return out
}

// apply calls fn for each local socket matching opts. fn runs without the
// adapter's lock held.
func (a *MemoryAdapter) apply(opts *BroadcastOptions, fn func(*Socket)) {
	for _, s := range a.match(opts) {
		fn(s)
	}
}

// members calls fn with each local socket id in room, the personal room
// included. Called with a.mu held.
func (a *MemoryAdapter) members(room string, fn func(id string)) {
	for id := range a.rooms[room] {
		fn(id)
	}
	// Socket ids are 20 characters, but for v2 clients' (see v2.go):
	// the lookup is spared for other rooms unless the server takes those.
	if _, left := a.leftSelf[room]; !left && (len(room) == 20 || a.nsp.server.opts.Engine.AllowEIO3) && a.nsp.Socket(room) != nil {
		fn(room)
	}
}

// match returns the local sockets matching opts.
func (a *MemoryAdapter) match(opts *BroadcastOptions) []*Socket { return a.matchInto(nil, opts) }

// Scratch slices of broadcasts, so that a broadcast to many sockets
// allocates nothing in proportion to them.
var (
	idsPool     = sync.Pool{New: func() any { return new([]string) }}
	socketsPool = sync.Pool{New: func() any { return new([]*Socket) }}
)

// matchInto appends the local sockets matching opts to out.
func (a *MemoryAdapter) matchInto(out []*Socket, opts *BroadcastOptions) []*Socket {
	a.mu.RLock()
	var except map[string]struct{}
	if len(opts.Except) > 0 {
		except = make(map[string]struct{})
		for _, r := range opts.Except {
			a.members(r, func(id string) { except[id] = struct{}{} })
		}
	}
	if len(opts.Rooms) > 0 {
		ip := idsPool.Get().(*[]string)
		ids := (*ip)[:0]
		var seen map[string]struct{}
		if len(opts.Rooms) > 1 {
			seen = make(map[string]struct{})
		}
		for _, r := range opts.Rooms {
			a.members(r, func(id string) {
				if _, ok := except[id]; ok {
					return
				}
				if seen != nil {
					if _, ok := seen[id]; ok {
						return
					}
					seen[id] = struct{}{}
				}
				ids = append(ids, id)
			})
		}
		a.mu.RUnlock()
		out = a.nsp.lookup(out, ids)
		clear(ids)
		*ip = ids[:0]
		idsPool.Put(ip)
		return out
	}
	a.mu.RUnlock()
	return a.nsp.allSockets(out, except)
}

// Broadcast encodes p once and queues the same bytes on every matching
// socket; with recovery on, it keeps p for replay, with an offset of this
// adapter's. It returns no error.
func (a *MemoryAdapter) Broadcast(ctx context.Context, p *Packet, opts *BroadcastOptions) error {
	if a.KeepsForRecovery(p, opts) {
		a.storeForRecovery(p, opts)
	}
	a.deliver(p, opts)
	return nil
}

func (a *MemoryAdapter) deliver(p *Packet, opts *BroadcastOptions) int {
	enc := a.nsp.server.encode(p)
	if opts.Flags.NoCompress {
		for _, e := range enc {
			e.NoCompress = true
		}
	}
	sp := socketsPool.Get().(*[]*Socket)
	socks := a.matchInto((*sp)[:0], opts)
	for _, s := range socks {
		s.client.write(enc, opts.Flags.Volatile)
	}
	n := len(socks)
	clear(socks)
	*sp = socks[:0]
	socketsPool.Put(sp)
	return n
}

// BroadcastWithAck gives p an ack id of this node (the same for every
// recipient: the counter is shared by the namespace) and sends it. It
// returns no error.
func (a *MemoryAdapter) BroadcastWithAck(ctx context.Context, p *Packet, opts *BroadcastOptions, clientCount func(int), ack func(Args)) error {
	p.ID, p.HasID = a.nsp.nextAckID(), true
	enc := a.nsp.server.encode(p)
	socks := a.match(opts)
	for _, s := range socks {
		s.registerAck(p.ID, func(args Args, err error) {
			if err == nil {
				ack(args)
			}
		})
	}
	clientCount(len(socks))
	for _, s := range socks {
		s.client.write(enc, opts.Flags.Volatile)
	}
	return nil
}

// FetchSockets returns the matching local sockets.
func (a *MemoryAdapter) FetchSockets(ctx context.Context, opts *BroadcastOptions) ([]SocketInfo, error) {
	socks := a.match(opts)
	out := make([]SocketInfo, 0, len(socks))
	for _, s := range socks {
		out = append(out, s.info())
	}
	return out, nil
}

// AddSockets makes the matching local sockets join rooms.
func (a *MemoryAdapter) AddSockets(ctx context.Context, opts *BroadcastOptions, rooms []string) error {
	a.apply(opts, func(s *Socket) { s.Join(rooms...) })
	return nil
}

// DelSockets makes the matching local sockets leave rooms.
func (a *MemoryAdapter) DelSockets(ctx context.Context, opts *BroadcastOptions, rooms []string) error {
	a.apply(opts, func(s *Socket) { s.Leave(rooms...) })
	return nil
}

// DisconnectSockets disconnects the matching local sockets.
func (a *MemoryAdapter) DisconnectSockets(ctx context.Context, opts *BroadcastOptions, closeConn bool) error {
	a.apply(opts, func(s *Socket) { s.Disconnect(closeConn) })
	return nil
}

// ServerSideEmit does nothing: a single node has no one to tell.
func (a *MemoryAdapter) ServerSideEmit(ctx context.Context, event string, args []any, wantAck bool) ([]Args, error) {
	return nil, nil
}

// ServerCount returns 1.
func (a *MemoryAdapter) ServerCount(ctx context.Context) (int, error) { return 1, nil }

// For adapter authors. A cluster adapter embeds a MemoryAdapter for its
// local part, and uses these to deliver what other nodes send and to
// replay what a transport keeps (see the package doc, "Writing an
// adapter").

// Namespace returns the adapter's namespace.
func (a *MemoryAdapter) Namespace() *Namespace { return a.nsp }

// Recovery returns the server's recovery options (nil when off).
func (a *MemoryAdapter) Recovery() *RecoveryOptions { return a.recovery }

// KeepsForRecovery reports whether recovery is on and a broadcast of p
// with opts is of what it keeps for replay: an event without ack, not
// volatile (as the reference).
func (a *MemoryAdapter) KeepsForRecovery(p *Packet, opts *BroadcastOptions) bool {
	return a.recovery != nil && p.Type == PacketEvent && !p.HasID && !opts.Flags.Volatile
}

// Deliver sends p to the matching local sockets, whatever opts.Flags.Local
// says, and keeps nothing for recovery: for the broadcasts of other
// nodes, and for adapters that keep their own history (a Redis stream).
// A non-empty offset, when KeepsForRecovery, is appended to p as its
// recovery offset (the history's, such as a stream entry id).
func (a *MemoryAdapter) Deliver(p *Packet, opts *BroadcastOptions, offset string) {
	if offset != "" && a.KeepsForRecovery(p, opts) {
		p.Data = appendOffset(p.Data, offset)
	}
	a.deliver(p, opts)
}

// HandleServerSideEmit delivers an event that another node sent with
// ServerSideEmit to the namespace's OnServerSideEmit handler; ack, when
// not nil, answers it.
func (a *MemoryAdapter) HandleServerSideEmit(event string, args Args, ack func(...any)) {
	a.nsp.handleServerSideEmit(event, args, ack)
}

// AddMissed adds p, broadcast with opts, to the packets the session
// replays when the socket it describes was among the targets, with
// offset appended as p's recovery offset; it reports whether it did.
// Adapters that restore sessions from their own history use it.
func (s *Session) AddMissed(p *Packet, opts *BroadcastOptions, offset string) bool {
	if opts.Flags.Volatile || !targets(opts.Rooms, opts.Except, s.inRoom()) {
		return false
	}
	p.Data = appendOffset(p.Data, offset)
	s.MissedPackets = append(s.MissedPackets, p)
	return true
}

// inRoom returns whether the session's socket is in a room: its rooms
// and its own id's, which Rooms leaves out.
func (s *Session) inRoom() func(room string) bool {
	if len(s.Rooms) <= 8 {
		return func(r string) bool { return r == s.SID || slices.Contains(s.Rooms, r) }
	}
	rooms := make(map[string]struct{}, len(s.Rooms)+1)
	rooms[s.SID] = struct{}{}
	for _, r := range s.Rooms {
		rooms[r] = struct{}{}
	}
	return func(r string) bool { _, ok := rooms[r]; return ok }
}

// storeForRecovery appends an offset to p and keeps it for replay,
// dropping the oldest packets past MaxBufferBytes.
func (a *MemoryAdapter) storeForRecovery(p *Packet, opts *BroadcastOptions) {
	sp := storedPacket{opts: BroadcastOptions{
		Rooms: append([]string(nil), opts.Rooms...), Except: append([]string(nil), opts.Except...),
	}}
	a.rmu.Lock()
	defer a.rmu.Unlock()
	// Numbered under the lock, so that packets stays in order.
	a.seq++
	sp.seq, sp.at, sp.p = a.seq, time.Now(), p
	sp.offset = a.offsetPfx + strconv.FormatUint(a.seq, 36)
	p.Data = appendOffset(p.Data, sp.offset)
	sp.measure()
	a.pruneLocked(sp.at)
	a.packets = append(a.packets, sp)
	a.bytes += sp.size
	n := 0
	for n < len(a.packets) && a.bytes > a.recovery.MaxBufferBytes {
		a.bytes -= a.packets[n].size
		n++
	}
	a.dropped += uint64(n)
	a.dropLocked(n)
}

// appendOffset appends a recovery offset as the last element of the JSON
// array data.
func appendOffset(data json.RawMessage, offset string) json.RawMessage {
	out := make([]byte, 0, len(data)+len(offset)+4)
	out = append(out, data[:len(data)-1]...)
	if len(data) > 2 {
		out = append(out, ',')
	}
	out = jsonstr.Append(out, offset)
	return append(out, ']')
}

// dropLocked forgets the n oldest packets.
func (a *MemoryAdapter) dropLocked(n int) {
	if n > 0 {
		clear(a.packets[:n])
		a.packets = a.packets[n:]
	}
}

// pruneLocked drops the packets and sessions older than
// MaxDisconnectionDuration; sessions are swept at most once a second, as
// a broadcast calls it.
func (a *MemoryAdapter) pruneLocked(now time.Time) {
	max := a.recovery.MaxDisconnectionDuration
	i := 0
	for i < len(a.packets) && now.Sub(a.packets[i].at) > max {
		a.bytes -= a.packets[i].size
		i++
	}
	a.dropLocked(i)
	if now.Sub(a.sessionsScan) < time.Second {
		return
	}
	a.sessionsScan = now
	for pid, s := range a.sessions {
		if now.Sub(s.at) > max {
			delete(a.sessions, pid)
		}
	}
}

// PersistSession keeps a disconnected socket's session for
// MaxDisconnectionDuration. It returns no error.
func (a *MemoryAdapter) PersistSession(ctx context.Context, s *Session) error {
	if a.recovery == nil {
		return nil
	}
	a.rmu.Lock()
	defer a.rmu.Unlock()
	now := time.Now()
	a.pruneLocked(now)
	a.sessions[s.PID] = &storedSession{s: s, at: now, seq: a.seq}
	return nil
}

// RestoreSession returns the session pid with the packets it missed:
// those after offset, or, without an offset (the client saw no packet),
// those after its disconnection. It returns nil, and the client starts
// afresh, when any of them was dropped, or when offset is not one of
// this adapter's.
func (a *MemoryAdapter) RestoreSession(ctx context.Context, pid, offset string) (*Session, error) {
	if a.recovery == nil || pid == "" {
		return nil, nil
	}
	a.rmu.Lock()
	defer a.rmu.Unlock()
	now := time.Now()
	a.pruneLocked(now)
	st := a.sessions[pid]
	if st == nil {
		return nil, nil
	}
	delete(a.sessions, pid)
	if now.Sub(st.at) > a.recovery.MaxDisconnectionDuration {
		return nil, nil
	}
	seen := st.seq
	if offset != "" {
		n, ok := a.offsetSeq(offset)
		if !ok {
			return nil, nil
		}
		seen = n
	}
	oldest := a.seq + 1 // of the packets kept
	if len(a.packets) > 0 {
		oldest = a.packets[0].seq
	}
	if seen+1 < oldest {
		return nil, nil // a packet it missed was dropped
	}
	s := *st.s
	in := s.inRoom()
	for _, sp := range a.packets[seen+1-oldest:] {
		if targets(sp.opts.Rooms, sp.opts.Except, in) {
			s.MissedPackets = append(s.MissedPackets, sp.p)
		}
	}
	return &s, nil
}

// offsetSeq returns the number of a packet from its offset.
func (a *MemoryAdapter) offsetSeq(offset string) (uint64, bool) {
	rest, ok := strings.CutPrefix(offset, a.offsetPfx)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 36, 64)
	return n, err == nil && n <= a.seq
}

// targets reports whether a socket in the rooms for which in is true is
// a target of a broadcast to include, excluding except.
func targets(include, except []string, in func(room string) bool) bool {
	for _, r := range except {
		if in(r) {
			return false
		}
	}
	if len(include) == 0 {
		return true
	}
	for _, r := range include {
		if in(r) {
			return true
		}
	}
	return false
}

// RecoveryStats describes what a MemoryAdapter keeps for connection state
// recovery, for metrics.
type RecoveryStats struct {
	// Packets and Bytes are the packets kept for replay and their size,
	// as counted against RecoveryOptions.MaxBufferBytes.
	Packets int
	Bytes   int64
	// Dropped counts the packets dropped before MaxDisconnectionDuration
	// to stay under MaxBufferBytes.
	Dropped uint64
	// Sessions is the number of disconnected sessions kept.
	Sessions int
}

// RecoveryStats returns the current recovery figures.
func (a *MemoryAdapter) RecoveryStats() RecoveryStats {
	a.rmu.Lock()
	defer a.rmu.Unlock()
	return RecoveryStats{Packets: len(a.packets), Bytes: a.bytes, Dropped: a.dropped, Sessions: len(a.sessions)}
}
