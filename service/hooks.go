package service

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/service/chat"
	"github.com/heraldio/herald/service/presence"
	"github.com/heraldio/herald/service/proxy"
	"github.com/heraldio/herald/service/store"
	"github.com/heraldio/herald/service/webhook"
	"github.com/heraldio/herald/socketio"
)

// hooks are the backend hooks in use (nil when off).
type hooks struct {
	webhooks *webhook.Dispatcher
	rpc      *proxy.RPC
	connect  *proxy.Connect
	// presence transitions waiting for their cluster-wide check
	transitions chan []presence.Change
	done        chan struct{}
	closeOnce   sync.Once
}

// hookClient is the one HTTP client of every hook: bounded dials and
// handshakes, no redirects followed (a signed body goes where it was
// configured to), each call bounded by its own timeout.
func hookClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// setupHooks builds the hooks the configuration turns on.
func (s *Service) setupHooks(nsps map[string]*socketio.Namespace) error {
	h, cfg := &s.hooks, s.cfg.Hooks
	client := hookClient()
	secret := []byte(cfg.WebhookSecret)
	var err error
	if len(cfg.endpoints) > 0 {
		h.webhooks, err = webhook.New(webhook.Options{Endpoints: cfg.endpoints, Secret: secret, Client: client,
			Timeout: cfg.WebhookTimeout, Attempts: cfg.WebhookAttempts, Backoff: cfg.WebhookBackoff,
			QueueSize: cfg.WebhookQueue, Logger: s.log})
		if err != nil {
			return err
		}
		h.transitions, h.done = make(chan []presence.Change, 256), make(chan struct{})
		go s.runTransitions()
		s.registerHookMetrics([]hookMetric{
			{"herald_webhook_queued", "Webhook events waiting or in delivery.", true, func() float64 { return float64(h.webhooks.Stats().Queued) }},
			{"herald_webhook_delivered_total", "Webhook deliveries accepted by a receiver.", false, func() float64 { return float64(h.webhooks.Stats().Delivered) }},
			{"herald_webhook_retried_total", "Webhook delivery attempts after a failed one.", false, func() float64 { return float64(h.webhooks.Stats().Retried) }},
			{"herald_webhook_dropped_total", "Webhook events given up: queue full, attempts used up, refused or shut down.", false, func() float64 { return float64(h.webhooks.Stats().Dropped) }},
		})
	}
	if cfg.RPCURL != "" {
		h.rpc, err = proxy.NewRPC(proxy.RPCOptions{URL: cfg.RPCURL, Events: cfg.rpcEvents, Client: client,
			Timeout: cfg.RPCTimeout, MaxPerSocket: cfg.RPCMaxPerConn, MaxTotal: cfg.RPCMaxTotal, Secret: secret,
			Namespaces: nsps, Logger: s.log})
		if err != nil {
			return err
		}
		s.registerHookMetrics([]hookMetric{
			{"herald_rpc_in_flight", "Event proxy calls in flight.", true, func() float64 { return float64(h.rpc.Stats().InFlight) }},
			{"herald_rpc_calls_total", "Event proxy calls made.", false, func() float64 { return float64(h.rpc.Stats().Calls) }},
			{"herald_rpc_failed_total", "Event proxy calls that timed out, failed or got an invalid answer.", false, func() float64 { return float64(h.rpc.Stats().Failed) }},
			{"herald_rpc_refused_total", "Events refused because too many event proxy calls were in flight.", false, func() float64 { return float64(h.rpc.Stats().Refused) }},
		})
	}
	if cfg.ConnectURL != "" {
		h.connect, err = proxy.NewConnect(proxy.ConnectOptions{URL: cfg.ConnectURL, Headers: splitList(cfg.ConnectHeaders),
			Client: client, Timeout: cfg.ConnectTimeout, Secret: secret, Logger: s.log})
		if err != nil {
			return err
		}
	}
	return nil
}

type hookMetric struct {
	name, help string
	gauge      bool
	value      func() float64
}

func (s *Service) registerHookMetrics(ms []hookMetric) {
	for _, m := range ms {
		if m.gauge {
			s.metrics.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: m.name, Help: m.help}, m.value))
		} else {
			s.metrics.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: m.name, Help: m.help}, m.value))
		}
	}
}

// chatHooks turn the chat's events into webhooks.
func (s *Service) chatHooks() chat.Hooks {
	w := s.hooks.webhooks
	if w == nil {
		return chat.Hooks{}
	}
	member := func(t string) func(string, chat.Author) {
		return func(roomID string, u chat.Author) {
			w.Send(t, "room:"+roomID, map[string]any{"roomId": roomID, "user": u})
		}
	}
	return chat.Hooks{
		MessageCreated: func(m chat.Message) { w.Send(webhook.MessageCreated, "room:"+m.RoomID, m) },
		RoomCreated: func(r store.Room) {
			w.Send(webhook.RoomCreated, "room:"+r.ID, map[string]any{"id": r.ID, "name": r.Name, "public": r.Public,
				"createdBy": r.CreatedBy, "createdAt": r.CreatedAt})
		},
		MemberJoined: member(webhook.MemberJoined),
		MemberLeft:   member(webhook.MemberLeft),
	}
}

// notificationsRead is the notification.read webhook.
func (s *Service) notificationsRead(userID string, ids []string) {
	data := map[string]any{"userId": userID, "all": ids == nil}
	if ids != nil {
		data["ids"] = ids
	}
	s.hooks.webhooks.Send(webhook.NotificationRead, "user:"+userID, data)
}

// presenceHooks takes a tick's presence changes for user.online and
// user.offline. Offline changes come only when no node has the user
// (after the grace); a user arriving on two nodes is online on both, so
// on a cluster a mark per user decides which node tells (runTransitions).
func (s *Service) presenceHooks(cs []presence.Change) {
	h := &s.hooks
	if h.webhooks == nil {
		return
	}
	var moved []presence.Change
	for _, c := range cs {
		if (c.Was == presence.Offline) != (c.Status == presence.Offline) {
			moved = append(moved, c)
		}
	}
	if len(moved) == 0 {
		return
	}
	if s.marks == nil {
		s.sendTransitions(moved)
		return
	}
	select {
	case h.transitions <- moved:
	default:
		s.log.Warn("webhook: presence transitions dropped (cluster check backlog)", "count", len(moved))
	}
}

// runTransitions checks, one tick's batch at a time (in order), which
// transitions are news to the cluster (s.marks). With the shared store
// away every transition is sent (at least once rather than never).
func (s *Service) runTransitions() {
	defer close(s.hooks.done)
	for batch := range s.hooks.transitions {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		news := s.marks.news(ctx, batch)
		cancel()
		s.sendTransitions(news)
	}
}

// presenceMarks keep, per user, the last presence state a node reported
// to the webhooks (online or offline): news returns the changes of batch
// that differ from it, and records them. A change it cannot check is news.
type presenceMarks interface {
	news(ctx context.Context, batch []presence.Change) []presence.Change
}

// redisMarks are the marks in Redis: SET … GET on the user's key (24 h)
// tells whether another node already reported the same state.
type redisMarks struct {
	rdb    *redis.Client
	prefix string
}

func newRedisMarks(rdb *redis.Client, prefix string) redisMarks {
	if prefix == "" {
		return redisMarks{rdb, "herald:webhook:presence:"}
	}
	return redisMarks{rdb, prefix + ":webhook:presence:"}
}

func (m redisMarks) news(ctx context.Context, batch []presence.Change) []presence.Change {
	pipe := m.rdb.Pipeline()
	cmds := make([]*redis.StatusCmd, len(batch))
	for i, c := range batch {
		cmds[i] = pipe.SetArgs(ctx, m.prefix+c.UserID, c.Status == presence.Offline, redis.SetArgs{Get: true, TTL: 24 * time.Hour})
	}
	_, _ = pipe.Exec(ctx)
	news := batch[:0]
	for i, c := range batch {
		old, err := cmds[i].Result()
		offline := "0"
		if c.Status == presence.Offline {
			offline = "1"
		}
		if err != nil && err != redis.Nil || old != offline {
			news = append(news, c)
		}
	}
	return news
}

func (s *Service) sendTransitions(cs []presence.Change) {
	for _, c := range cs {
		if c.Status == presence.Offline {
			s.hooks.webhooks.Send(webhook.UserOffline, "user:"+c.UserID,
				map[string]any{"userId": c.UserID, "name": c.Name, "lastSeen": c.LastSeen})
		} else {
			s.hooks.webhooks.Send(webhook.UserOnline, "user:"+c.UserID,
				map[string]any{"userId": c.UserID, "name": c.Name, "status": c.Status, "at": c.LastSeen})
		}
	}
}

// hookUser authenticates a socket with the JWT, the connect proxy or
// both, as configured.
func (s *Service) hookUser(sock *socketio.Socket) (auth.User, error) {
	c := s.hooks.connect
	if c != nil && s.cfg.Hooks.ConnectMode == "replace" {
		return s.proxyUser(sock, nil)
	}
	u, err := s.tokenUser(sock)
	if err != nil || c == nil {
		return u, err
	}
	return s.proxyUser(sock, &u)
}

func (s *Service) proxyUser(sock *socketio.Socket, token *auth.User) (auth.User, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Hooks.ConnectTimeout+time.Second)
	defer cancel()
	u, err := s.hooks.connect.Authorize(ctx, sock, token)
	if err != nil {
		s.metrics.errors.WithLabelValues("connect_proxy").Inc()
	}
	return u, err
}

// attachRPC sends the socket's events that the event proxy takes, and no
// handler of the namespace does (built-in or an embedder's), to the
// backend, through the rate limits.
func (s *Service) attachRPC(sock *socketio.Socket) {
	r := s.hooks.rpc
	if r == nil {
		return
	}
	nsp := sock.Namespace()
	handle := s.guard(r.Handle)
	sock.OnAny(func(e *socketio.Event) {
		if !knownEvents[e.Name] && !nsp.Handles(e.Name) && r.Match(nsp.Name(), e.Name) {
			handle(e)
		}
	})
}

// closeHooks waits for the calls in flight and delivers the queued
// webhooks until ctx is done.
func (s *Service) closeHooks(ctx context.Context) error {
	h := &s.hooks
	if h.rpc != nil {
		h.rpc.Wait()
	}
	if h.webhooks == nil {
		return nil
	}
	h.closeOnce.Do(func() { close(h.transitions) })
	<-h.done
	return h.webhooks.Close(ctx)
}
