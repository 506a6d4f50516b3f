package socketio

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldio/herald/engineio"
)

// Sentinel errors.
var (
	// ErrAckTimeout is returned when acks did not all arrive before the
	// context was done.
	ErrAckTimeout = errors.New("socketio: operation has timed out")
	// ErrDisconnected is returned for an ack awaited from a socket that
	// is not connected; one that disconnected while it was awaited fails
	// with a *CloseError that wraps ErrDisconnected and says why.
	ErrDisconnected = errors.New("socketio: socket disconnected")
	// ErrServerClosed is returned by Shutdown when called twice.
	ErrServerClosed = errors.New("socketio: server closed")
)

// RecoveryOptions enable connection state recovery: a client that lost
// its connection gets back its id, rooms and data, and the broadcasts it
// missed, if it returns within MaxDisconnectionDuration.
type RecoveryOptions struct {
	// MaxDisconnectionDuration defaults to 2 minutes.
	MaxDisconnectionDuration time.Duration
	// RunMiddlewares makes a recovered socket go through the namespace
	// middlewares again (the reference skips them by default). They see
	// the restored id and data, and Recovered reports true; the rooms are
	// joined once they pass. An error refuses the connection with
	// CONNECT_ERROR, and the session is gone.
	RunMiddlewares bool
	// MaxBufferBytes bounds the memory each namespace's MemoryAdapter
	// keeps for replay (packet bytes plus a fixed overhead per packet),
	// Socket.Emit's packets included. Past it the oldest packets are
	// dropped, and a client that missed a dropped packet gets a fresh
	// session (Recovered false, a new id) instead of an incomplete
	// recovery. MemoryAdapter.RecoveryStats reports the size and the
	// drops. Default 32 MB.
	MaxBufferBytes int64
}

// Options configures a Server. Zero fields mean the documented defaults.
type Options struct {
	// Engine configures the Engine.IO layer (heartbeats, payload limit,
	// transports, CORS, compression).
	Engine engineio.Options
	// Path the server answers on. Default "/socket.io/".
	Path string
	// ConnectTimeout closes a connection that joins no namespace in time.
	// Default 45s.
	ConnectTimeout time.Duration
	// Adapter creates each namespace's adapter. Default NewMemoryAdapter.
	Adapter AdapterFactory
	// Recovery, when set, enables connection state recovery.
	Recovery *RecoveryOptions
	// MaxAttachmentBytes bounds the binary attachments one connection's
	// unfinished packet may hold. Default the engine's MaxPayload, so that
	// a WebSocket client can send no more than a polling one could.
	MaxAttachmentBytes int64
	// AttachmentTimeout bounds how long a binary packet may wait for its
	// attachments. Default the engine's PingTimeout.
	AttachmentTimeout time.Duration
	// MaxPendingAttachmentBytes bounds the attachments held by unfinished
	// packets across all connections. Default 64 MB.
	//
	// A connection that goes past any of these three bounds is closed
	// with reason "parse error" and what it held is released.
	MaxPendingAttachmentBytes int64
	// Logger receives errors that have no caller to return to, such as a
	// handler's panic. Default slog.Default().
	Logger *slog.Logger
	// Parser is the wire format of every client of the server: JSONParser
	// (the default, socket.io-parser) or MsgpackParser
	// (socket.io-msgpack-parser; its clients must use it too). A client
	// that sends anything else is closed with reason "parse error".
	Parser Parser
}

// Server is a Socket.IO v5 server and an http.Handler. Its methods are
// safe for concurrent use.
//
// Goroutines: the server runs none per idle connection. Handlers run on
// the connection's read path, one at a time per connection, so they see a
// client's events in order; a handler that waits for the same client (for
// example EmitWithAck to it) must do so in its own goroutine.
type Server struct {
	opts Options
	eio  *engineio.Server
	log  *slog.Logger

	mu      sync.RWMutex
	nsps    map[string]*Namespace
	parents []*ParentNamespace
	closed  bool

	// Attachments of unfinished packets, across connections.
	maxAttachmentBytes int64
	maxPendingBytes    int64
	attachmentTimeout  time.Duration
	pendingBytes       atomic.Int64
	pendingDrops       atomic.Uint64

	monitors atomic.Pointer[[]*Monitor] // copied on change (AddMonitor)
}

// NewServer returns a Server with the main namespace "/" ready.
func NewServer(opts *Options) *Server {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Path == "" {
		o.Path = "/socket.io/"
	}
	if !strings.HasSuffix(o.Path, "/") {
		o.Path += "/"
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 45 * time.Second
	}
	if o.Adapter == nil {
		o.Adapter = func(n *Namespace) Adapter { return NewMemoryAdapter(n) }
	}
	if o.Recovery != nil {
		r := *o.Recovery
		if r.MaxDisconnectionDuration <= 0 {
			r.MaxDisconnectionDuration = 2 * time.Minute
		}
		if r.MaxBufferBytes <= 0 {
			r.MaxBufferBytes = 32 << 20
		}
		o.Recovery = &r
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Server{opts: o, log: o.Logger, nsps: make(map[string]*Namespace)}
	s.eio = engineio.NewServer(&o.Engine, s.onEngineConn)
	eo := s.eio.Options() // with the engine's defaults
	s.maxAttachmentBytes = cmp.Or(max(o.MaxAttachmentBytes, 0), eo.MaxPayload)
	s.attachmentTimeout = cmp.Or(max(o.AttachmentTimeout, 0), eo.PingTimeout)
	s.maxPendingBytes = cmp.Or(max(o.MaxPendingAttachmentBytes, 0), 64<<20)
	s.Of("/")
	return s
}

// Engine returns the underlying Engine.IO server.
func (s *Server) Engine() *engineio.Server { return s.eio }

// Path returns the path the server answers on.
func (s *Server) Path() string { return s.opts.Path }

// ServeHTTP serves requests under the server's path.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, s.opts.Path) && r.URL.Path+"/" != s.opts.Path {
		http.NotFound(w, r)
		return
	}
	s.eio.ServeHTTP(w, r)
}

// Of returns the namespace name, creating it if needed.
func (s *Server) Of(name string) *Namespace {
	if name == "" || name[0] != '/' {
		name = "/" + name
	}
	s.mu.RLock()
	n := s.nsps[name]
	s.mu.RUnlock()
	if n != nil {
		return n
	}
	return s.addNamespace(name, nil)
}

// addNamespace creates namespace name, unless another goroutine does so
// first. The adapter factory may do network I/O (a cluster adapter
// subscribes), so it runs without s.mu: a slow one delays only the
// clients of this namespace. The adapter of a namespace built in vain is
// closed.
func (s *Server) addNamespace(name string, parent *ParentNamespace) *Namespace {
	n := newNamespace(s, name, parent)
	s.mu.Lock()
	cur := s.nsps[name]
	if cur == nil {
		s.nsps[name] = n
		if parent != nil {
			parent.mu.Lock()
			parent.children[name] = n
			parent.mu.Unlock()
		}
	}
	closed := s.closed
	s.mu.Unlock()
	if cur != nil {
		s.closeAdapter(n)
		return cur
	}
	if closed {
		s.closeAdapter(n) // Shutdown has closed the others already
	}
	return n
}

func (s *Server) closeAdapter(n *Namespace) {
	if err := closeAdapter(adapterContext(), n.adapter); err != nil {
		s.log.Warn("socketio: closing an adapter", "nsp", n.name, "err", err)
	}
}

// closeAdapter closes a, if it is an AdapterCloser.
func closeAdapter(ctx context.Context, a Adapter) error {
	if c, ok := a.(AdapterCloser); ok {
		return c.Close(ctx)
	}
	return nil
}

// OfMatch returns a parent namespace: a client connecting to a name for
// which match returns true gets a child namespace of that name, with the
// parent's middlewares and connection handlers.
func (s *Server) OfMatch(match func(name string, auth []byte) bool) *ParentNamespace {
	p := &ParentNamespace{server: s, match: match, children: make(map[string]*Namespace)}
	s.mu.Lock()
	s.parents = append(s.parents, p)
	s.mu.Unlock()
	return p
}

// OfRegexp returns a parent namespace for names matching re.
func (s *Server) OfRegexp(re *regexp.Regexp) *ParentNamespace {
	return s.OfMatch(func(name string, _ []byte) bool { return re.MatchString(name) })
}

// lookupNamespace finds or creates (for a dynamic match) the namespace a
// client asked for.
func (s *Server) lookupNamespace(name string, auth []byte) *Namespace {
	s.mu.RLock()
	n := s.nsps[name]
	parents := s.parents
	s.mu.RUnlock()
	if n != nil {
		return n
	}
	for _, p := range parents {
		if p.match(name, auth) {
			return p.child(name)
		}
	}
	return nil
}

// Sockets returns the local sockets of the main namespace.
func (s *Server) Sockets() []*Socket { return s.Of("/").Sockets() }

// Use adds a middleware to the main namespace.
func (s *Server) Use(m Middleware) { s.Of("/").Use(m) }

// OnConnection adds a connection handler to the main namespace.
func (s *Server) OnConnection(h func(*Socket)) { s.Of("/").OnConnection(h) }

// On adds an event handler for every socket of the main namespace.
func (s *Server) On(event string, h EventHandler) { s.Of("/").On(event, h) }

// Emit broadcasts to every socket of the main namespace.
func (s *Server) Emit(event string, args ...any) error { return s.Of("/").Emit(event, args...) }

// To selects rooms of the main namespace.
func (s *Server) To(rooms ...string) BroadcastOperator { return s.Of("/").To(rooms...) }

// onEngineConn gives a new connection its client. The engine's Conn holds
// it, so the server keeps no set of its own.
func (s *Server) onEngineConn(conn *engineio.Conn) engineio.Handler {
	c := newClient(s, conn)
	if c.v3 {
		// A v2 client sends no CONNECT for "/": the server connects it, as
		// the reference does for protocol 3, before the open packet goes
		// out, so that the CONNECT answer follows it.
		c.connect(&Packet{Type: PacketConnect, Nsp: "/"})
	}
	return c
}

// Shutdown stops accepting connections, disconnects every socket with
// reason "server shutting down" (their sessions are kept for recovery),
// closes the adapters (those that are AdapterClosers, with ctx) and waits
// for the connections to close or ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.closed = true
	nsps := make([]*Namespace, 0, len(s.nsps))
	for _, n := range s.nsps { // children of parent namespaces included
		nsps = append(nsps, n)
	}
	s.mu.Unlock()
	for _, n := range nsps {
		for _, sock := range n.Sockets() {
			sock.onClose(ReasonServerShuttingDown)
		}
	}
	err := s.eio.Shutdown(ctx)
	for _, n := range nsps {
		if e := closeAdapter(ctx, n.adapter); e != nil && err == nil {
			err = e
		}
	}
	return err
}

// In is To.
func (s *Server) In(rooms ...string) BroadcastOperator { return s.Of("/").To(rooms...) }

// Except excludes rooms of the main namespace from a broadcast.
func (s *Server) Except(rooms ...string) BroadcastOperator { return s.Of("/").Except(rooms...) }

// Volatile returns a volatile broadcast on the main namespace.
func (s *Server) Volatile() BroadcastOperator { return s.Of("/").Volatile() }

// FetchSockets returns the sockets of the main namespace on every node.
func (s *Server) FetchSockets(ctx context.Context) ([]SocketInfo, error) {
	return s.Of("/").FetchSockets(ctx)
}

// AttachmentStats describes the binary attachments held by unfinished
// packets, for metrics.
type AttachmentStats struct {
	// PendingBytes is what unfinished packets hold now, on every
	// connection.
	PendingBytes int64
	// Closed counts the connections closed for going past a bound.
	Closed uint64
}

// holdAttachment counts n more bytes of attachments held, unless that
// would go past MaxPendingAttachmentBytes.
func (s *Server) holdAttachment(n int64) bool {
	for {
		cur := s.pendingBytes.Load()
		if cur+n > s.maxPendingBytes {
			return false
		}
		if s.pendingBytes.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

// AttachmentStats returns the current attachment figures.
func (s *Server) AttachmentStats() AttachmentStats {
	return AttachmentStats{PendingBytes: s.pendingBytes.Load(), Closed: s.pendingDrops.Load()}
}
