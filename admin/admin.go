package admin

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/socketio"
	"golang.org/x/crypto/bcrypt"
)

// Sentinel errors of Instrument.
var (
	// ErrNoAuth is returned when Options has neither Auth nor NoAuth.
	ErrNoAuth = errors.New("admin: Auth must be set, or NoAuth explicitly")
	// ErrBadHash is returned for a password hash that is not bcrypt's.
	ErrBadHash = errors.New("admin: the password hash must be a bcrypt hash")
)

// BasicAuth is the user name and password the UI logs in with.
type BasicAuth struct {
	Username string
	// PasswordHash is a bcrypt hash of the password ($2a$, $2b$ or $2y$),
	// as the npm package's auth.password takes.
	PasswordHash string
}

// Options configures Instrument. Zero fields mean the documented defaults.
type Options struct {
	// Namespace is the admin namespace. Default "/admin".
	Namespace string
	// Auth is the login the UI must give; with nil, NoAuth must be set.
	Auth *BasicAuth
	// NoAuth lets anyone who reaches the server use the admin namespace,
	// actions included unless ReadOnly.
	NoAuth bool
	// ReadOnly refuses the actions (join, leave, disconnect, emit); the UI
	// shows their buttons disabled.
	ReadOnly bool
	// ServerID names this node in the UI. Default the host name.
	ServerID string
	// Production sends only server_stats: no sockets, rooms or events
	// (the npm package's mode "production"), which costs the server
	// nothing per socket.
	Production bool
	// SessionKey signs the session ids given at login. Nodes that share
	// it (and the same Auth) accept each other's sessions. Default random:
	// a session is good on this node only, until it restarts.
	SessionKey []byte
	// SessionTTL is how long a session id is good. Default 24 hours.
	SessionTTL time.Duration
	// StatsInterval is how often server_stats is sent. Default 2 s.
	StatsInterval time.Duration
	// QueueSize bounds the notifications waiting to be sent; past it they
	// are dropped (Stats.Dropped). Default 10,000.
	QueueSize int
	// Logger receives what has no caller to return to. Default
	// slog.Default().
	Logger *slog.Logger
}

// The features the UI knows (typed-events.ts of the npm package).
const (
	featureEmit             = "EMIT"
	featureJoin             = "JOIN"
	featureLeave            = "LEAVE"
	featureDisconnect       = "DISCONNECT"
	featureMJoin            = "MJOIN"
	featureMLeave           = "MLEAVE"
	featureMDisconnect      = "MDISCONNECT"
	featureAggregatedEvents = "AGGREGATED_EVENTS"
	featureAllEvents        = "ALL_EVENTS"
)

// maxLogins is how many bcrypt comparisons run at once.
const maxLogins = 4

// Admin is the admin namespace of one server. Its methods are safe for
// concurrent use.
type Admin struct {
	io       *socketio.Server
	nsp      *socketio.Namespace
	opts     Options
	log      *slog.Logger
	features []string
	serverID string
	hostname string
	started  time.Time
	key      []byte // session signing key, bound to Auth

	remove  func() // the monitor
	traffic func() // stops the engine's traffic counts
	queue   chan note
	logins  chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closed  atomic.Bool

	dropped atomic.Uint64
	sent    atomic.Uint64

	mu          sync.Mutex
	conns       map[*engineio.Conn]*connState
	events      eventBuffer
	lastTraffic engineio.Traffic // at the last stats
}

// connState is what the admin tracks of an Engine.IO connection: its
// transport when last looked at, and its sockets (not in Production).
type connState struct {
	transport string
	sockets   []*socketio.Socket
}

// note is one event for the UI.
type note struct {
	event string
	args  []any
}

// Stats describes the notifications an Admin has sent, for metrics.
type Stats struct {
	// Sent counts the notifications broadcast to the admin namespace;
	// Dropped those that found the queue full.
	Sent, Dropped uint64
}

// Instrument serves the admin UI's protocol on io's admin namespace. It
// fails on options the UI could not be served with: no Auth without
// NoAuth, a password hash that is not bcrypt's.
func Instrument(io *socketio.Server, opts Options) (*Admin, error) {
	if opts.Auth == nil && !opts.NoAuth {
		return nil, ErrNoAuth
	}
	if opts.Auth != nil {
		if _, err := bcrypt.Cost([]byte(opts.Auth.PasswordHash)); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadHash, err)
		}
		if opts.Auth.Username == "" {
			return nil, errors.New("admin: Auth.Username is empty")
		}
	}
	if opts.Namespace == "" {
		opts.Namespace = "/admin"
	}
	if !strings.HasPrefix(opts.Namespace, "/") {
		opts.Namespace = "/" + opts.Namespace
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 24 * time.Hour
	}
	if opts.StatsInterval <= 0 {
		opts.StatsInterval = 2 * time.Second
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 10000
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	host, _ := os.Hostname()
	a := &Admin{
		io:       io,
		opts:     opts,
		log:      opts.Logger,
		serverID: opts.ServerID,
		hostname: host,
		started:  time.Now(),
		queue:    make(chan note, opts.QueueSize),
		logins:   make(chan struct{}, maxLogins),
		conns:    make(map[*engineio.Conn]*connState),
	}
	if a.serverID == "" {
		a.serverID = host
	}
	secret := opts.SessionKey
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	}
	a.key = sessionKey(secret, opts.Auth)
	if !opts.ReadOnly {
		a.features = []string{featureEmit, featureJoin, featureLeave, featureDisconnect,
			featureMJoin, featureMLeave, featureMDisconnect}
	}
	a.features = append(a.features, featureAggregatedEvents)
	if !opts.Production {
		a.features = append(a.features, featureAllEvents)
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())

	a.nsp = io.Of(opts.Namespace)
	a.nsp.Use(a.authenticate)
	a.nsp.OnConnection(a.onConnection)
	a.remove = io.AddMonitor(a.monitor())
	a.traffic = io.Engine().CountTraffic()
	// Sockets connected before Instrument are tracked too.
	for _, n := range io.Namespaces() {
		for _, s := range n.Sockets() {
			a.track(s)
		}
	}
	a.wg.Add(1)
	go a.run()
	return a, nil
}

// Namespace returns the admin namespace.
func (a *Admin) Namespace() *socketio.Namespace { return a.nsp }

// Stats returns the notification counts.
func (a *Admin) Stats() Stats { return Stats{Sent: a.sent.Load(), Dropped: a.dropped.Load()} }

// Close stops the admin: logins are refused from now on, the admin
// sockets of this node are disconnected, the monitor is removed, and
// Close waits for the admin's goroutines or ctx.
func (a *Admin) Close(ctx context.Context) error {
	if a.closed.Swap(true) {
		return nil
	}
	a.remove()
	a.traffic()
	a.cancel()
	_ = a.nsp.Local().DisconnectSockets(false)
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run sends the queued notifications and the stats until Close.
func (a *Admin) run() {
	defer a.wg.Done()
	t := time.NewTicker(a.opts.StatsInterval)
	defer t.Stop()
	a.emitStats()
	for {
		select {
		case <-a.ctx.Done():
			return
		case n := <-a.queue:
			a.emit(n.event, n.args...)
		case <-t.C:
			a.checkTransports()
			a.emitStats()
		}
	}
}

func (a *Admin) emit(event string, args ...any) {
	if err := a.nsp.Emit(event, args...); err != nil {
		a.log.Warn("admin: notification not sent to every node", "event", event, "err", err)
	}
	a.sent.Add(1)
}

// enqueue hands a notification to run, or drops it when the queue is
// full: a UI that cannot keep up must not slow the server.
func (a *Admin) enqueue(event string, args ...any) {
	select {
	case a.queue <- note{event, args}:
	default:
		a.dropped.Add(1)
	}
}

// monitor is what the admin is told by the server. In Production only
// the connections are counted.
func (a *Admin) monitor() *socketio.Monitor {
	m := &socketio.Monitor{
		ConnOpened: func(c *engineio.Conn) {
			a.mu.Lock()
			a.conns[c] = &connState{transport: c.Transport()}
			a.events.push("rawConnection", "", 1)
			a.mu.Unlock()
		},
		ConnClosed: func(c *engineio.Conn, reason socketio.Reason) {
			a.mu.Lock()
			delete(a.conns, c)
			a.events.push("rawDisconnection", string(reason), 1)
			a.mu.Unlock()
		},
	}
	if a.opts.Production {
		return m
	}
	m.Connected = func(s *socketio.Socket) {
		a.track(s)
		a.enqueue("socket_connected", serializeSocket(s), now())
	}
	m.Disconnected = func(s *socketio.Socket, reason socketio.Reason) {
		a.mu.Lock()
		if cs := a.conns[s.Conn()]; cs != nil {
			cs.sockets = slices.DeleteFunc(cs.sockets, func(x *socketio.Socket) bool { return x == s })
		}
		a.mu.Unlock()
		a.enqueue("socket_disconnected", s.Namespace().Name(), s.ID(), string(reason), now())
	}
	m.Joined = func(s *socketio.Socket, room string) {
		a.enqueue("room_joined", s.Namespace().Name(), room, s.ID(), now())
	}
	m.Left = func(s *socketio.Socket, room string) {
		a.enqueue("room_left", s.Namespace().Name(), room, s.ID(), now())
	}
	m.Received = func(e *socketio.Event) {
		if e.Socket.Namespace() == a.nsp {
			return
		}
		a.enqueue("event_received", e.Socket.Namespace().Name(), e.Socket.ID(), eventArgs(e), now())
	}
	m.Sent = func(e *socketio.Event) {
		if e.Socket.Namespace() == a.nsp {
			return
		}
		a.enqueue("event_sent", e.Socket.Namespace().Name(), e.Socket.ID(), eventArgs(e), now())
	}
	return m
}

// track records a socket's connection and, unless in Production, gives
// the socket the _admin data the UI reads its client id and transport
// from (carried to other nodes by FetchSockets, as with the npm package).
func (a *Admin) track(s *socketio.Socket) {
	c := s.Conn()
	transport := c.Transport()
	a.mu.Lock()
	cs := a.conns[c]
	if cs == nil {
		cs = &connState{transport: transport}
		a.conns[c] = cs
	}
	if !a.opts.Production && !slices.Contains(cs.sockets, s) {
		cs.sockets = append(cs.sockets, s)
	}
	a.mu.Unlock()
	if !a.opts.Production {
		s.Set(adminKey, adminData(c, transport))
	}
}

// checkTransports tells the UI of the connections that changed
// transport since the last look (an upgrade from polling).
func (a *Admin) checkTransports() {
	type change struct {
		c       *engineio.Conn
		to      string
		sockets []*socketio.Socket
	}
	var changes []change
	a.mu.Lock()
	for c, cs := range a.conns {
		if t := c.Transport(); t != cs.transport {
			cs.transport = t
			changes = append(changes, change{c, t, slices.Clone(cs.sockets)})
		}
	}
	a.mu.Unlock()
	for _, ch := range changes {
		for _, s := range ch.sockets {
			s.Set(adminKey, adminData(ch.c, ch.to))
			a.emit("socket_updated", map[string]any{"id": s.ID(), "nsp": s.Namespace().Name(), "transport": ch.to})
		}
	}
}

// emitStats sends this node's server_stats.
func (a *Admin) emitStats() {
	polling := 0
	a.mu.Lock()
	for c := range a.conns {
		if c.Transport() == engineio.TransportPolling {
			polling++
		}
	}
	a.pushTrafficLocked()
	events := a.events.take()
	a.mu.Unlock()
	nsps := a.io.Namespaces()
	slices.SortFunc(nsps, func(x, y *socketio.Namespace) int { return strings.Compare(x.Name(), y.Name()) })
	details := make([]namespaceDetails, 0, len(nsps))
	for _, n := range nsps {
		details = append(details, namespaceDetails{Name: n.Name(), SocketsCount: len(n.Sockets())})
	}
	a.emit("server_stats", serverStats{
		ServerID:            a.serverID,
		Hostname:            a.hostname,
		PID:                 os.Getpid(),
		Uptime:              time.Since(a.started).Seconds(),
		ClientsCount:        a.io.Engine().ClientsCount(),
		PollingClientsCount: polling,
		AggregatedEvents:    events,
		Namespaces:          details,
	})
}

// pushTrafficLocked counts the engine's packets and bytes since the last
// stats, in the UI's aggregated events (the npm package's packetsIn,
// bytesIn, packetsOut, bytesOut).
func (a *Admin) pushTrafficLocked() {
	t := a.io.Engine().Traffic()
	last := a.lastTraffic
	a.lastTraffic = t
	for _, c := range []struct {
		typ       string
		now, then uint64
	}{
		{"packetsIn", t.PacketsIn, last.PacketsIn},
		{"bytesIn", t.BytesIn, last.BytesIn},
		{"packetsOut", t.PacketsOut, last.PacketsOut},
		{"bytesOut", t.BytesOut, last.BytesOut},
	} {
		if c.now > c.then {
			a.events.push(c.typ, "", int(c.now-c.then))
		}
	}
}

type serverStats struct {
	ServerID            string             `json:"serverId"`
	Hostname            string             `json:"hostname"`
	PID                 int                `json:"pid"`
	Uptime              float64            `json:"uptime"`
	ClientsCount        int                `json:"clientsCount"`
	PollingClientsCount int                `json:"pollingClientsCount"`
	AggregatedEvents    []aggregatedEvent  `json:"aggregatedEvents"`
	Namespaces          []namespaceDetails `json:"namespaces"`
}

type namespaceDetails struct {
	Name         string `json:"name"`
	SocketsCount int    `json:"socketsCount"`
}

type aggregatedEvent struct {
	Timestamp int64  `json:"timestamp"`
	Type      string `json:"type"`
	SubType   string `json:"subType,omitempty"`
	Count     int    `json:"count"`
}

type eventKey struct {
	second       int64
	typ, subType string
}

// eventBuffer counts events per second until the next stats take them.
// Its keys are seconds of one interval times a few types and reasons.
type eventBuffer struct {
	counts map[eventKey]int
	order  []eventKey
}

func (b *eventBuffer) push(typ, subType string, n int) {
	k := eventKey{time.Now().Unix() * 1000, typ, subType}
	if b.counts == nil {
		b.counts = make(map[eventKey]int)
	}
	if _, ok := b.counts[k]; !ok {
		b.order = append(b.order, k)
	}
	b.counts[k] += n
}

func (b *eventBuffer) take() []aggregatedEvent {
	out := make([]aggregatedEvent, 0, len(b.order))
	for _, k := range b.order {
		out = append(out, aggregatedEvent{Timestamp: k.second, Type: k.typ, SubType: k.subType, Count: b.counts[k]})
	}
	clear(b.counts)
	b.order = b.order[:0]
	return out
}

// now is a timestamp as the npm package sends a Date: JSON's ISO form.
func now() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000Z") }
