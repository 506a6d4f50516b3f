package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/heraldio/herald/adapter/postgres"
	"github.com/heraldio/herald/adapter/redisadapter"
	"github.com/heraldio/herald/adapter/redisstreams"
	"github.com/heraldio/herald/admin"
	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/internal/gctune"
	"github.com/heraldio/herald/service/api"
	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/service/chat"
	"github.com/heraldio/herald/service/notify"
	"github.com/heraldio/herald/service/presence"
	"github.com/heraldio/herald/service/proxy"
	"github.com/heraldio/herald/service/ratelimit"
	"github.com/heraldio/herald/service/store"
	"github.com/heraldio/herald/socketio"
)

// PublicRoom is the chat room created at first start, so a new user has
// somewhere to talk.
const PublicRoom = "general"

// Service is one Herald node: the built-in namespaces ("/" and "/chat"),
// the server API and the web app, over a store and an authenticator. Its
// methods are safe for concurrent use.
type Service struct {
	cfg      Config
	log      *slog.Logger
	store    store.Store
	verifier Authenticator
	ownStore bool            // opened by New, so closed by Shutdown
	custom   map[string]bool // namespaces Namespace set up
	io       *socketio.Server
	admin    *admin.Admin // the admin UI's namespace, when configured
	chat     *chat.Chat
	presence presence.Tracker
	notifier *notify.Notifier
	api      *api.API
	events   *ratelimit.EventLimiter
	conns    *ratelimit.ConnLimiter
	metrics  *metrics
	handler  http.Handler
	redis    *redis.Client
	shared   *ratelimit.Shared // per user across the cluster

	node           string // this node's id, on every socket's data
	revoked        *revocations
	stop           chan struct{} // closed by Shutdown: ends the service's own goroutines
	loops          sync.WaitGroup
	stopOnce       sync.Once
	presencePrefix string
	rooms          clusterRooms // nil on a single node
	pres           presenceState
	away           *awayTracker
	statusLimit    *ratelimit.Limiter // presence:status changes per user
	hooks          hooks              // webhooks and proxies (hooks.go)
	fwd            *forwarder         // requests for other nodes' sessions, on a cluster (forward.go)
	marks          presenceMarks      // on a cluster: who reported a user's presence to the webhooks (hooks.go)
	presenceNodes  presence.Nodes     // on a cluster without Redis: the nodes' users (presence.go)
	pg             *pgxpool.Pool      // the cluster's, with HERALD_CLUSTER=postgres (pgcluster.go)

	mu       sync.Mutex
	http     *http.Server
	listener net.Listener
}

// New builds the service from cfg (checked first, see Config): it opens
// the store and applies its migrations, unless WithStore gives one, and
// sets up the namespaces, the API and the metrics. Nothing listens yet:
// use Run, or Listen and Serve, or mount Handler on a server of your own.
func New(ctx context.Context, cfg Config, opts ...Option) (*Service, error) {
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	log := o.log
	if log == nil {
		log = slog.Default()
	}
	if err := cfg.finish(); err != nil {
		return nil, err
	}
	st, own := o.store, false
	if st == nil {
		var err error
		if st, err = store.Open(ctx, cfg.DatabaseURL); err != nil {
			return nil, err
		}
		own = true
	}
	s := &Service{cfg: cfg, log: log, store: st, ownStore: own, metrics: newMetrics(), node: newNodeID(),
		revoked: &revocations{at: map[string]time.Time{}}, stop: make(chan struct{}), custom: map[string]bool{}}
	fail := func(err error) (*Service, error) {
		if s.rooms != nil {
			s.rooms.Close()
		}
		if s.pg != nil {
			s.pg.Close()
		}
		if own {
			st.Close()
		}
		return nil, err
	}

	if o.auth != nil {
		s.verifier = o.auth
	} else {
		vo := auth.Options{Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, JWKS: cfg.JWKS}
		if cfg.JWTSecret != "" {
			vo.HS256Secret = []byte(cfg.JWTSecret)
		}
		if cfg.JWTPublicKeys != "" {
			pem, err := os.ReadFile(cfg.JWTPublicKeys)
			if err != nil {
				return fail(fmt.Errorf("service: public keys: %w", err))
			}
			vo.PublicKeysPEM = pem
		}
		v, err := auth.NewVerifier(ctx, vo)
		if err != nil {
			return fail(err)
		}
		s.verifier = v
	}
	rules, err := cfg.EventRules()
	if err != nil {
		return fail(err)
	}
	if s.events, err = ratelimit.NewEventLimiter(rules, nil); err != nil {
		return fail(err)
	}
	if s.conns, err = ratelimit.NewConnLimiter(cfg.ConnPerMinute, nil); err != nil {
		return fail(err)
	}
	// Every status change goes to every other client: a few per user.
	if s.statusLimit, err = ratelimit.New(ratelimit.PerSecond(1, 3), nil); err != nil {
		return fail(err)
	}
	s.away = newAwayTracker(cfg.PresenceGrace)
	if _, err := st.EnsureRoom(ctx, store.Room{ID: PublicRoom, Name: "General", Public: true}); err != nil {
		return fail(fmt.Errorf("service: public room: %w", err))
	}

	var adapter socketio.AdapterFactory
	switch cfg.ClusterMode() {
	case "postgres":
		if adapter, err = s.setupPostgres(ctx); err != nil {
			return fail(err)
		}
	case "redis":
		opt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return fail(fmt.Errorf("service: redis url: %w", err))
		}
		// Without ContextTimeoutEnabled go-redis ignores a context's
		// deadline, and a hung Redis holds every caller for its socket
		// timeouts; short read/write timeouts bound the rest.
		opt.ContextTimeoutEnabled = true
		for _, d := range []*time.Duration{&opt.ReadTimeout, &opt.WriteTimeout, &opt.DialTimeout} {
			if *d == 0 {
				*d = time.Second
			}
		}
		s.redis = redis.NewClient(opt)
		ro := redisadapter.Options{Logger: log, SubscriptionMode: redisadapter.SubscriptionMode(cfg.RedisSubscriptionMode)}
		so := redisstreams.Options{StreamName: "herald", StreamsOnly: cfg.RedisAdapter == "streams-only", Logger: log}
		rlPrefix, presencePrefix := "herald:ratelimit", ""
		if p := cfg.RedisPrefix; p != "" {
			ro.Key, so.StreamName, so.ChannelPrefix, so.SessionKeyPrefix = p, p, p, p+":session:"
			rlPrefix, presencePrefix = p+":ratelimit", p+":presence"
		}
		switch cfg.RedisAdapter {
		case "sharded":
			adapter = redisadapter.NewSharded(s.redis, &ro)
		case "streams", "streams-only":
			adapter = redisstreams.New(s.redis, &so)
		default:
			adapter = redisadapter.New(s.redis, &ro)
		}
		// A user's messages are limited across nodes too: many tabs on
		// many nodes do not multiply the budget.
		n, window, err := cfg.userMessageRate()
		if err != nil {
			return fail(err)
		}
		s.shared = ratelimit.NewShared(s.redis, rlPrefix, n, window)
		s.presencePrefix = presencePrefix
		s.fwd = newForwarder(newRedisRoutes(s.redis, cfg.RedisPrefix), cfg, s.metrics.reg)
		s.marks = newRedisMarks(s.redis, cfg.RedisPrefix)
	}
	var cors *engineio.CORS
	if cfg.CORSOrigins == "*" {
		// Any origin may read, none with the user's cookies.
		cors = &engineio.CORS{Origins: []string{"*"}}
	} else if origins := splitList(cfg.CORSOrigins); len(origins) > 0 || cfg.Admin.Enabled && cfg.Admin.Origins != "" {
		if cfg.Admin.Enabled {
			// The admin UI connects with credentials, from its own origin.
			origins = append(origins, splitList(cfg.Admin.Origins)...)
		}
		cors = &engineio.CORS{Origins: origins, Credentials: true}
	}
	var generateID func() string
	var forward func(http.ResponseWriter, *http.Request, string) bool
	if s.fwd != nil {
		generateID, forward = s.fwd.newID(engineio.NewID), s.fwd.forward
	}
	s.io = socketio.NewServer(&socketio.Options{
		Engine: engineio.Options{
			PingInterval:     cfg.PingInterval,
			PingTimeout:      cfg.PingTimeout,
			MaxPayload:       cfg.MaxPayload,
			CORS:             cors,
			AllowRequest:     s.allowConnection,
			ReadTimeout:      cfg.ReadTimeout,
			MaxQueuedPackets: cfg.MaxQueued,
			CoalesceWindow:   coalesceWindow(cfg.CoalesceWindow),
			MaxHeaderBytes:   cfg.MaxHeaderBytes,
			GenerateID:       generateID,
			Forward:          forward,
			AllowEIO3:        cfg.AllowEIO3,
		},
		// A recovered session passes authentication again: its token is
		// verified (an expired or forged one is refused) and its user
		// re-derived from it, whatever form the adapter kept its data in.
		Recovery: &socketio.RecoveryOptions{MaxDisconnectionDuration: cfg.RecoveryWindow, RunMiddlewares: true,
			MaxBufferBytes: cfg.RecoveryBytes},
		Adapter: adapter,
		Logger:  log,
		Parser:  parserOf(cfg.Parser),
	})
	if cfg.Admin.Enabled {
		o := cfg.Admin.options(&cfg)
		o.Logger = log
		if s.admin, err = admin.Instrument(s.io, o); err != nil {
			return fail(err)
		}
		if o.NoAuth {
			log.Warn("admin UI without a login: anyone who reaches the server may use it", "namespace", s.admin.Namespace().Name())
		}
	}
	main, chatNsp := s.io.Of("/"), s.io.Of("/chat")
	for _, n := range []*socketio.Namespace{main, chatNsp} {
		n.Use(s.authenticate)
		n.OnConnection(s.onConnection)
	}

	if err := s.setupHooks(map[string]*socketio.Namespace{"/": main, "/chat": chatNsp}); err != nil {
		return fail(err)
	}
	var onJoin func(*socketio.Socket, string)
	if cfg.PresenceScope == "rooms" {
		onJoin = s.presenceJoined
	}
	var rooms presence.Rooms = presence.NewLocalRooms()
	if s.redis != nil {
		prefix := "herald:rooms"
		if p := cfg.RedisPrefix; p != "" {
			prefix = p + ":rooms"
		}
		s.rooms = presence.NewClusterRooms(s.redis, presence.ClusterRoomsOptions{Prefix: prefix, TTL: cfg.roomPresenceTTL, Logger: log})
		rooms = s.rooms
	}
	if s.pg != nil {
		pr, err := presence.NewPostgresRooms(ctx, s.pg, s.postgresTable("rooms"), presence.ClusterRoomsOptions{TTL: cfg.roomPresenceTTL, Logger: log})
		if err != nil {
			return fail(fmt.Errorf("service: postgres cluster: %w", err))
		}
		s.rooms, rooms = pr, pr
	}
	s.chat = chat.New(chatNsp, chat.Options{
		Rooms: rooms,
		Store: st, MaxLength: cfg.MaxMessageLen, TypingTimeout: cfg.TypingTimeout, Logger: log,
		MaxRoomsPerUser: cfg.MaxRoomsPerUser, MaxSyncRooms: cfg.MaxSyncRooms, StoreTimeout: cfg.StoreTimeout,
		OnPersist:      func(d time.Duration) { s.metrics.persist.Observe(d.Seconds()) },
		OnEmit:         func(ev string) { s.metrics.eventsOut.WithLabelValues(ev).Inc() },
		OnJoin:         onJoin,
		Hooks:          s.chatHooks(),
		NoReadReceipts: cfg.ReadReceipts == "off",
		Notify: func(ctx context.Context, userID, kind, title, message string) {
			_, _ = s.notifier.Send(ctx, notify.Target{UserID: userID}, notify.Content{Type: kind, Title: title, Message: message})
		},
	})

	for name, h := range s.chat.Handlers() {
		chatNsp.On(name, s.guard(h))
	}

	s.setupPresence(main)
	s.notifier = &notify.Notifier{Store: st, Main: main, Chat: chatNsp,
		OnEmit: func(ev string) { s.metrics.eventsOut.WithLabelValues(ev).Inc() }}
	if s.hooks.webhooks != nil {
		s.notifier.OnRead = s.notificationsRead
	}
	s.api = api.New(api.Options{
		APIKey:     cfg.APIKey,
		Namespaces: map[string]*socketio.Namespace{"/": main, "/chat": chatNsp},
		Store:      st,
		Chat:       s.chat,
		Notifier:   s.notifier,
		Revoke:     s.Revoke,
		Presence:   s.presence,
		Timeout:    max(5*time.Second, cfg.StoreTimeout),
		Logger:     log,
	})
	main.OnServerSideEmit(revokedEvent, s.onRevoked)
	if err := s.loadRevocations(ctx); err != nil {
		return fail(fmt.Errorf("service: revocations: %w", err))
	}
	s.loops.Add(1)
	go func() { defer s.loops.Done(); s.reloadRevocations(s.stop) }()
	main.On("notifications:list", s.guard(s.onNotificationsList))
	main.On("notifications:read", s.guard(s.onNotificationRead))
	main.On("notifications:read-all", s.guard(s.onNotificationsReadAll))

	s.metrics.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "herald_rooms", Help: "Chat rooms with at least one connected socket on this node.",
	}, func() float64 {
		n := 0
		for _, r := range chatNsp.Adapter().Rooms() {
			if strings.HasPrefix(r, "room:") {
				n++
			}
		}
		return float64(n)
	}))
	s.registerLibraryMetrics(main, chatNsp)
	s.handler = s.routes()
	return s, nil
}

// coalesceWindow maps the setting's 0 (every frame at once) to the
// engine's negative (its 0 is its default).
func coalesceWindow(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// parserOf returns the parser the setting names (validated: json or
// msgpack).
func parserOf(name string) socketio.Parser {
	if name == "msgpack" {
		return socketio.MsgpackParser
	}
	return socketio.JSONParser
}

// Handler returns the service's HTTP handler.
func (s *Service) Handler() http.Handler { return s.handler }

// Notifier returns the notifications: Send stores and delivers them as
// POST /api/v1/notifications does, List and MarkRead read and change a
// user's.
func (s *Service) Notifier() *notify.Notifier { return s.notifier }

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

func (s *Service) allowConnection(r *http.Request) error {
	if !s.conns.Allow(s.clientIP(r)) {
		s.metrics.rateLimited.WithLabelValues("connect").Inc()
		return errTooManyConnections
	}
	return nil
}

// errTooManyConnections is what a client over its connection budget
// reads.
var errTooManyConnections = refusal("Too many connections")

// refusal is an error whose text the client sees.
type refusal string

func (r refusal) Error() string { return string(r) }

// authenticate is the middleware of every namespace: a JWT in auth.token,
// and the connect proxy when configured (hookUser).
func (s *Service) authenticate(sock *socketio.Socket) error {
	u, err := s.hookUser(sock)
	if err != nil {
		return err
	}
	// Sockets already in the user's room on this node; a recovered socket
	// is not back in it yet, so it does not count itself.
	if n := len(sock.Namespace().Adapter().Sockets([]string{"user:" + u.ID})); n >= s.cfg.MaxConnsPerUser {
		s.metrics.rateLimited.WithLabelValues("connect_user").Inc()
		return &socketio.ConnectError{Message: "Too many connections"}
	}
	auth.Attach(sock, u)
	sock.Set(api.NodeKey, s.node)
	return nil
}

// tokenUser verifies the JWT in auth.token.
func (s *Service) tokenUser(sock *socketio.Socket) (auth.User, error) {
	var a struct {
		Token any `json:"token"`
	}
	h := sock.Handshake()
	_ = h.BindAuth(&a)
	if a.Token == nil && sock.Conn().Protocol() == 3 {
		// A Socket.IO v2 client has no auth payload on "/": its token is
		// in the query (io(url, {query: {token}})), which it also sends
		// to other namespaces as their auth.
		if t := h.Query.Get("token"); t != "" {
			a.Token = t
		}
	}
	token, _ := a.Token.(string)
	if a.Token == nil || token == "" {
		s.metrics.errors.WithLabelValues("auth_missing").Inc()
		return auth.User{}, &socketio.ConnectError{Message: "Authentication required"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u, err := s.verifier.Verify(ctx, token)
	if err == nil && s.revoked.revoked(u) {
		s.metrics.errors.WithLabelValues("auth_revoked").Inc()
		return auth.User{}, &socketio.ConnectError{Message: "Invalid token", Data: map[string]any{"reason": "revoked"}}
	}
	if err != nil {
		s.metrics.errors.WithLabelValues("auth_invalid").Inc()
		s.log.Debug("auth refused", "err", err, "addr", sock.Handshake().Address)
		return auth.User{}, &socketio.ConnectError{Message: "Invalid token"}
	}
	return u, nil
}

// newNodeID names this node for the API's socket listings: the host name
// and a random suffix (several nodes may share a host).
func newNodeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "herald"
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

// NodeID returns the id this node gives its sockets.
func (s *Service) NodeID() string { return s.node }

func (s *Service) onConnection(sock *socketio.Socket) {
	u, _ := auth.UserOf(sock)
	rooms := []string{"user:" + u.ID}
	for _, r := range u.Roles {
		rooms = append(rooms, "role:"+r)
	}
	sock.Join(append(rooms, proxy.Rooms(sock)...)...)
	s.attachRPC(sock)
	s.metrics.connections.Inc()
	expiry := s.enforceExpiry(sock, u)
	sock.OnDisconnect(func(socketio.Reason) {
		s.metrics.connections.Dec()
		s.events.Forget(sock.ID())
		expiry.stop()
	})
	if sock.Namespace().Name() != "/" {
		return
	}
	came := s.presenceConnect(sock, u)
	awaySince, reloaded := s.away.opened(u.ID)
	sock.OnDisconnect(func(socketio.Reason) {
		s.presence.Disconnect(u.ID)
		s.away.closed(u.ID)
	})
	switch {
	case sock.Recovered(): // its missed packets are replayed
	case reloaded:
		s.deliverMissed(sock, u, awaySince)
	case came:
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.StoreTimeout)
		seen, err := s.store.LastSeen(ctx, []string{u.ID})
		cancel()
		if err == nil {
			s.deliverMissed(sock, u, seen[u.ID].At)
		}
	}
}

// deliverMissed sends the unread notifications created since a time:
// when the user was last seen (coming online), or when their last tab
// closed (a reload within the presence grace).
func (s *Service) deliverMissed(sock *socketio.Socket, u auth.User, since time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.StoreTimeout)
	defer cancel()
	list, err := s.store.ListNotifications(ctx, u.ID, store.MaxLimit)
	if err != nil {
		return
	}
	for i := len(list) - 1; i >= 0; i-- { // oldest first
		n := list[i]
		if !n.Read && !n.CreatedAt.Before(since) {
			_ = sock.Emit("notification", notify.Wire(n))
		}
	}
}

// guard wraps a handler with the rate limit and metrics. A denied event
// gets an error; a client that keeps flooding is disconnected.
func (s *Service) guard(h socketio.EventHandler) socketio.EventHandler {
	return func(e *socketio.Event) {
		s.metrics.eventsIn.WithLabelValues(eventLabel(e)).Inc()
		d := s.events.Allow(e.Socket.ID(), e.Name)
		if d.Allowed && s.shared != nil && e.Name == "send-message" {
			if u, ok := auth.UserOf(e.Socket); ok {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				d.Allowed = s.shared.Allow(ctx, u.ID+":"+e.Name)
				cancel()
			}
		}
		if !d.Allowed {
			s.metrics.rateLimited.WithLabelValues(eventLabel(e)).Inc()
			s.metrics.eventsOut.WithLabelValues("error").Inc()
			_ = e.Socket.Emit("error", map[string]any{"message": "Rate limit exceeded", "event": e.Name})
			_ = e.Ack(map[string]any{"error": "Rate limit exceeded"})
			if d.Disconnect {
				s.log.Warn("disconnecting a flooding client", "socket", e.Socket.ID(), "event", e.Name)
				e.Socket.Disconnect(true)
			}
			return
		}
		h(e)
	}
}

var knownEvents = map[string]bool{}

func init() {
	for _, n := range []string{"join-room", "leave-room", "send-message", "typing-start", "typing-stop", "history",
		"sync-state", "rooms:list", "create-room", "presence:status", "presence:list", "notifications:list", "notifications:read",
		"notifications:read-all"} {
		knownEvents[n] = true
	}
}

// eventLabel keeps metric cardinality bounded whatever clients send: an
// event is named when the service knows it or a handler of its namespace
// takes it (the program's own, the chat's newer events), "other" else.
func eventLabel(e *socketio.Event) string {
	if knownEvents[e.Name] || e.Socket.Namespace().Handles(e.Name) {
		return e.Name
	}
	return "other"
}

func (s *Service) onPresenceStatus(e *socketio.Event) {
	status, ok := e.Args.String(0)
	if !ok {
		var v struct{ Status string }
		_ = e.Args.Decode(0, &v)
		status = v.Status
	}
	u, _ := auth.UserOf(e.Socket)
	if presence.ValidStatus(status) && !s.statusLimit.Allow(u.ID) {
		s.metrics.rateLimited.WithLabelValues(e.Name).Inc()
		_ = e.Socket.Emit("error", map[string]any{"message": "Rate limit exceeded", "event": e.Name})
		_ = e.Ack(map[string]any{"error": "Rate limit exceeded"})
		return
	}
	if !presence.ValidStatus(status) || !s.presence.SetStatus(u.ID, status) {
		_ = e.Socket.Emit("error", map[string]any{"message": "Invalid status", "event": e.Name})
		_ = e.Ack(map[string]any{"error": "Invalid status"})
		return
	}
	_ = e.Ack(map[string]any{"ok": true})
}

func (s *Service) onNotificationsList(e *socketio.Event) {
	u, _ := auth.UserOf(e.Socket)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.StoreTimeout)
	defer cancel()
	list, unread, err := s.notifier.List(ctx, u.ID)
	if err != nil {
		_ = e.Ack(map[string]any{"error": "Internal error"})
		return
	}
	_ = e.Ack(map[string]any{"notifications": list, "unreadCount": unread})
}

func (s *Service) onNotificationRead(e *socketio.Event) {
	id, ok := e.Args.String(0)
	if !ok {
		var v struct{ ID string }
		_ = e.Args.Decode(0, &v)
		id = v.ID
	}
	u, _ := auth.UserOf(e.Socket)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.StoreTimeout)
	defer cancel()
	if id == "" {
		_ = e.Ack(map[string]any{"error": "Invalid payload"})
		return
	}
	if err := s.notifier.MarkRead(ctx, u.ID, id); err != nil {
		msg := "Internal error"
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
			msg = "Notification not found"
		}
		_ = e.Ack(map[string]any{"error": msg})
		return
	}
	_ = e.Ack(map[string]any{"ok": true})
}

func (s *Service) onNotificationsReadAll(e *socketio.Event) {
	u, _ := auth.UserOf(e.Socket)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.StoreTimeout)
	defer cancel()
	if _, err := s.notifier.MarkAllRead(ctx, u.ID); err != nil {
		_ = e.Ack(map[string]any{"error": "Internal error"})
		return
	}
	_ = e.Ack(map[string]any{"ok": true})
}

func (s *Service) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", s.originGuard(s.io))
	mux.Handle("/api/notifications", s.notifier.Handler(s.cfg.APIKey))
	mux.Handle(api.Prefix+"/", s.api)
	mux.Handle(api.DocumentPath, s.api)
	mux.HandleFunc("/api/dev/token", s.devToken)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := s.store.LastSeen(ctx, []string{"readyz"}); err != nil {
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	mux.Handle("/metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	mux.Handle("/", webHandler())
	return mux
}

var nameRe = regexp.MustCompile(`^[\p{L}\p{N} ._-]{1,32}$`)

// devToken mints a development token for a display name (dev mode only).
func (s *Service) devToken(w http.ResponseWriter, r *http.Request) {
	if !s.cfg.Dev {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		jsonError(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	var body struct {
		Name  string   `json:"name"`
		Roles []string `json:"roles"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body); err != nil {
		jsonError(w, http.StatusBadRequest, "invalid JSON body")
		return
	}
	body.Name = strings.TrimSpace(body.Name)
	if !nameRe.MatchString(body.Name) {
		jsonError(w, http.StatusBadRequest, "name: 1 to 32 letters, digits, spaces, . _ -")
		return
	}
	u := auth.User{ID: UserID(body.Name), Name: body.Name, Roles: []string{"user"}}
	for _, role := range body.Roles {
		if role == "admin" || role == "user" {
			if role != "user" {
				u.Roles = append(u.Roles, role)
			}
		}
	}
	tok, err := auth.Mint([]byte(s.cfg.JWTSecret), u, 24*time.Hour)
	if err != nil {
		jsonError(w, http.StatusInternalServerError, "cannot mint")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"token": tok, "user": map[string]any{"id": u.ID, "name": u.Name, "roles": u.Roles}})
}

// UserID derives a stable development user id from a display name.
func UserID(name string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(name))))
	return "u-" + hex.EncodeToString(sum[:6])
}

func jsonError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// Listen binds the configured address (Config.Addr).
func (s *Service) Listen() (net.Addr, error) {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.listener = ln
	s.http = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: s.cfg.MaxHeaderBytes}
	s.mu.Unlock()
	if s.fwd != nil {
		u := advertisedURL(s.cfg.NodeURL, ln.Addr())
		s.log.Info("cluster node", "node", s.node, "route", s.fwd.route, "url", u)
		// Published before the first session: no node finds its id unknown.
		err := s.fwd.publish(u)
		s.loops.Add(1)
		go func() { defer s.loops.Done(); s.fwd.register(s.stop, u, err, s.log) }()
	}
	return ln.Addr(), nil
}

// Addr returns the address Listen bound, nil before.
func (s *Service) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener == nil {
		return nil
	}
	return s.listener.Addr()
}

// Serve serves what Listen bound until Shutdown; it returns nil after a
// graceful stop.
func (s *Service) Serve() error {
	s.mu.Lock()
	srv, ln := s.http, s.listener
	s.mu.Unlock()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go gctune.ReleaseAfterChurn(ctx, 5*time.Second, 1000, s.io.Engine().ClientsCount)
	go s.logSlowClients(ctx, 10*time.Second)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// logSlowClients says, at most once per interval, how many clients were
// dropped for falling behind: a count, not a line per client, so a storm
// cannot flood the log.
func (s *Service) logSlowClients(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	last := s.io.Engine().WriteStats().SlowClients
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n := s.io.Engine().WriteStats().SlowClients
		if n > last {
			s.log.Info("slow clients disconnected (their outbound queue was full)", "count", n-last,
				"interval", every, "max_queued_packets", s.cfg.MaxQueued)
		}
		last = n
	}
}

// Shutdown tells every client (they reconnect, to this node when it
// comes back or to another), drains, and closes the store.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv := s.http
	s.mu.Unlock()
	var errs []error
	if srv != nil {
		// Stop accepting first, then let the sockets go.
		go func() { _ = srv.Shutdown(ctx) }()
	}
	// Remember who was here: after the restart, they get only what is new.
	now := time.Now().UTC()
	for _, sock := range s.io.Of("/").Sockets() {
		if u, ok := auth.UserOf(sock); ok {
			_ = s.store.SetLastSeen(ctx, u.ID, u.Name, now)
		}
	}
	if s.admin != nil {
		if err := s.admin.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.io.Shutdown(ctx); err != nil && !errors.Is(err, socketio.ErrServerClosed) {
		errs = append(errs, err)
	}
	if srv != nil {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	s.stopOnce.Do(func() { close(s.stop) })
	s.loops.Wait()
	if s.fwd != nil {
		s.fwd.transport.CloseIdleConnections()
	}
	if s.rooms != nil {
		s.rooms.Close() // before the chat: no lapse told after its Close
	}
	s.chat.Close()
	s.closePresence()
	if err := s.closeHooks(ctx); err != nil {
		errs = append(errs, fmt.Errorf("service: webhooks: %w", err))
	}
	if s.ownStore {
		if err := s.store.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.redis != nil {
		_ = s.redis.Close()
	}
	if s.pg != nil {
		s.pg.Close()
	}
	return errors.Join(errs...)
}

// registerLibraryMetrics exports the counts the library and the store
// keep of their bounded buffers: what recovery keeps and drops, what
// unfinished binary packets hold, the queue to Redis, the store's group
// commits, slow clients and coalesced writes.
func (s *Service) registerLibraryMetrics(nsps ...*socketio.Namespace) {
	type metric struct {
		name, help string
		gauge      bool
		value      func() float64
	}
	ms := []metric{
		{"herald_slow_clients_total", "Clients disconnected because their outbound queue reached HERALD_MAX_QUEUED_PACKETS.", false,
			func() float64 { return float64(s.io.Engine().WriteStats().SlowClients) }},
		{"herald_coalesced_writes_total", "Writes that carried what a busy connection was sent during one coalescing window.", false,
			func() float64 { return float64(s.io.Engine().WriteStats().Flushes) }},
		{"herald_coalesced_packets_total", "Packets carried by coalesced writes.", false,
			func() float64 { return float64(s.io.Engine().WriteStats().Packets) }},
		{"herald_recovery_buffer_bytes", "Bytes of packets kept in memory for connection state recovery.", true,
			adapterSum(nsps, recoveryStats, func(r socketio.RecoveryStats) float64 { return float64(r.Bytes) })},
		{"herald_recovery_dropped_total", "Packets dropped from the recovery buffer before their time, to stay under its byte bound.", false,
			adapterSum(nsps, recoveryStats, func(r socketio.RecoveryStats) float64 { return float64(r.Dropped) })},
		{"herald_pending_attachment_bytes", "Bytes held by binary packets waiting for their attachments.", true,
			func() float64 { return float64(s.io.AttachmentStats().PendingBytes) }},
		{"herald_attachment_overflow_total", "Connections closed for holding too many attachment bytes, or for too long.", false,
			func() float64 { return float64(s.io.AttachmentStats().Closed) }},
	}
	if s.shared != nil {
		ms = append(ms, metric{"herald_user_limit_local_total", "Cluster-wide per-user decisions taken locally because the shared store (Redis, PostgreSQL) was down or slow.", false,
			func() float64 { return float64(s.shared.Stats().Local) }})
	}
	if s.pg != nil {
		ms = append(ms,
			metric{"herald_postgres_queued", "Messages for the other nodes waiting to be sent to PostgreSQL.", true,
				adapterSum(nsps, pgStats, func(st postgres.Stats) float64 { return float64(st.Queued) })},
			metric{"herald_postgres_sent_total", "Messages sent to PostgreSQL (NOTIFY) for the other nodes.", false,
				adapterSum(nsps, pgStats, func(st postgres.Stats) float64 { return float64(st.Sent) })},
			metric{"herald_postgres_dropped_total", "Messages for the other nodes dropped: queue full, or PostgreSQL refused them.", false,
				adapterSum(nsps, pgStats, func(st postgres.Stats) float64 { return float64(st.Dropped) })},
		)
	}
	if s.redis != nil {
		ms = append(ms,
			metric{"herald_redis_queued", "Messages for the other nodes waiting to be sent to Redis.", true,
				adapterSum(nsps, outboxStats, func(st redisadapter.Stats) float64 { return float64(st.Queued) })},
			metric{"herald_redis_sent_total", "Messages sent to Redis for the other nodes.", false,
				adapterSum(nsps, outboxStats, func(st redisadapter.Stats) float64 { return float64(st.Sent) })},
			metric{"herald_redis_dropped_total", "Messages for the other nodes dropped: queue full, or Redis away too long.", false,
				adapterSum(nsps, outboxStats, func(st redisadapter.Stats) float64 { return float64(st.Dropped) })},
			metric{"herald_redis_failures_total", "Failed sends to Redis (each retried until the message is dropped).", false,
				adapterSum(nsps, outboxStats, func(st redisadapter.Stats) float64 { return float64(st.Failures) })},
		)
	}
	if w, ok := s.store.(interface{ WriterStats() store.WriterStats }); ok {
		ms = append(ms,
			metric{"herald_store_message_commits_total", "Transactions that stored chat messages (one per group of messages that arrived together).", false,
				func() float64 { return float64(w.WriterStats().Commits) }},
			metric{"herald_store_messages_committed_total", "Chat messages committed.", false,
				func() float64 { return float64(w.WriterStats().Messages) }},
			metric{"herald_store_write_queue_full_total", "Messages that waited for room in the store's write queue.", false,
				func() float64 { return float64(w.WriterStats().QueueFull) }},
		)
	}
	for _, m := range ms {
		if m.gauge {
			s.metrics.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: m.name, Help: m.help}, m.value))
		} else {
			s.metrics.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: m.name, Help: m.help}, m.value))
		}
	}
}

// adapterSum adds up f over the namespaces whose adapter has stats.
func adapterSum[S any](nsps []*socketio.Namespace, stats func(socketio.Adapter) (S, bool), f func(S) float64) func() float64 {
	return func() float64 {
		t := 0.0
		for _, n := range nsps {
			if st, ok := stats(n.Adapter()); ok {
				t += f(st)
			}
		}
		return t
	}
}

func recoveryStats(a socketio.Adapter) (socketio.RecoveryStats, bool) {
	r, ok := a.(interface{ RecoveryStats() socketio.RecoveryStats })
	if !ok {
		return socketio.RecoveryStats{}, false
	}
	return r.RecoveryStats(), true
}

func outboxStats(a socketio.Adapter) (redisadapter.Stats, bool) {
	o, ok := a.(interface{ Stats() redisadapter.Stats })
	if !ok {
		return redisadapter.Stats{}, false
	}
	return o.Stats(), true
}

// metrics are the service's Prometheus collectors.
type metrics struct {
	reg         *prometheus.Registry
	connections prometheus.Gauge
	eventsIn    *prometheus.CounterVec
	eventsOut   *prometheus.CounterVec
	rateLimited *prometheus.CounterVec
	errors      *prometheus.CounterVec
	persist     prometheus.Histogram
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.connections = prometheus.NewGauge(prometheus.GaugeOpts{Name: "herald_connections", Help: "Connected sockets, all namespaces."})
	m.eventsIn = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_events_in_total", Help: "Events received from clients."}, []string{"event"})
	m.eventsOut = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_events_out_total", Help: "Events the service emitted (a room broadcast counts once)."}, []string{"event"})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_rate_limited_total", Help: "Events and connections refused by rate limits."}, []string{"event"})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_errors_total", Help: "Errors by kind."}, []string{"kind"})
	m.persist = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "herald_message_persist_seconds", Help: "Time to store a chat message.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)})
	m.reg.MustRegister(m.connections, m.eventsIn, m.eventsOut, m.rateLimited, m.errors, m.persist,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
