package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Polling without affinity: every Engine.IO session id starts with its
// node's route ("<route>.<random>"), and each node publishes the URL the
// others reach it at in a registry (Redis, or a PostgreSQL table). A node given a request for a session it
// does not hold looks the route up and reverse-proxies the request to
// that node (polling GET and POST, and the WebSocket upgrade of a polling
// session, which then stays proxied). The target comes only from the
// registry; the client's sid only picks among registered nodes.

// forwardedHeader marks a forwarded request: its receiver never forwards
// it again (a stale registry cannot make a loop).
const forwardedHeader = "X-Herald-Forwarded"

const (
	routeLen        = 8 // hex characters
	registryTTL     = 15 * time.Second
	registryRefresh = 5 * time.Second
	routeCacheTTL   = 5 * time.Second
	unknownCacheTTL = time.Second // a node just starting is found soon
	routeCacheMax   = 1024
	lookupTimeout   = time.Second
)

// forwarder routes requests for other nodes' sessions.
type forwarder struct {
	route     string // this node's, the prefix of its session ids
	routes    routeRegistry
	proxy     *httputil.ReverseProxy
	transport *http.Transport
	maxBody   int64

	requests *prometheus.CounterVec // by transport
	errors   *prometheus.CounterVec // by kind
	latency  *prometheus.HistogramVec

	mu    sync.Mutex
	cache map[string]cachedRoute
}

type cachedRoute struct {
	target *url.URL // nil: not registered
	until  time.Time
}

type targetKey struct{}

// routeRegistry is where the nodes publish their URLs, by route; a
// publication lives ttl unless published again.
type routeRegistry interface {
	lookup(ctx context.Context, route string) (url string, err error) // "" for none
	publish(ctx context.Context, route, url string, ttl time.Duration) error
	remove(ctx context.Context, route string) error
}

// redisRoutes is the registry in Redis: key+route → URL.
type redisRoutes struct {
	rdb *redis.Client
	key string
}

func newRedisRoutes(rdb *redis.Client, prefix string) redisRoutes {
	if prefix == "" {
		prefix = "herald"
	}
	return redisRoutes{rdb, prefix + ":node:"}
}

func (r redisRoutes) lookup(ctx context.Context, route string) (string, error) {
	v, err := r.rdb.Get(ctx, r.key+route).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, err
}

func (r redisRoutes) publish(ctx context.Context, route, url string, ttl time.Duration) error {
	return r.rdb.Set(ctx, r.key+route, url, ttl).Err()
}

func (r redisRoutes) remove(ctx context.Context, route string) error {
	return r.rdb.Del(ctx, r.key+route).Err()
}

func newForwarder(routes routeRegistry, cfg Config, reg prometheus.Registerer) *forwarder {
	var b [routeLen / 2]byte
	_, _ = rand.Read(b[:])
	f := &forwarder{route: hex.EncodeToString(b[:]), routes: routes, maxBody: cfg.MaxPayload,
		cache: map[string]cachedRoute{}}
	f.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_forwarded_requests_total",
		Help: "Requests for another node's session proxied to it, by transport."}, []string{"transport"})
	f.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_forward_errors_total",
		Help: "Requests for another node's session that could not be forwarded: unknown node, owner unreachable, body too large."}, []string{"kind"})
	f.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "herald_forward_seconds",
		Help:    "Time to answer a forwarded polling request (a GET includes the long-poll wait).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18)}, []string{"method"})
	reg.MustRegister(f.requests, f.errors, f.latency)
	// A long-polling GET is answered within a ping interval; the
	// timeouts bound only what the owner takes beyond that.
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ResponseHeaderTimeout: cfg.PingInterval + cfg.PingTimeout + 10*time.Second,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       90 * time.Second,
	}
	f.transport = tr
	f.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(pr.In.Context().Value(targetKey{}).(*url.URL))
			pr.Out.Host = pr.In.Host // the owner sees what the client asked for
			pr.Out.Header.Set(forwardedHeader, f.route)
		},
		Transport:     tr,
		FlushInterval: -1, // polling answers go out as they come
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.As(err, new(*http.MaxBytesError)) {
				f.errors.WithLabelValues("body_too_large").Inc()
				http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
				return
			}
			f.errors.WithLabelValues("owner_unreachable").Inc()
			http.Error(w, "session owner unreachable", http.StatusBadGateway)
		},
	}
	return f
}

// newID makes a session id that names this node.
func (f *forwarder) newID(random func() string) func() string {
	return func() string { return f.route + "." + random() }
}

// forward proxies a request for a session held by another registered
// node; false leaves the engine's "Session ID unknown".
func (f *forwarder) forward(w http.ResponseWriter, r *http.Request, sid string) bool {
	route, _, ok := strings.Cut(sid, ".")
	if !ok || route == f.route || !validRoute(route) || r.Header.Get(forwardedHeader) != "" {
		return false
	}
	target := f.lookup(r.Context(), route)
	if target == nil {
		f.errors.WithLabelValues("unknown_node").Inc()
		return false
	}
	transport := "polling"
	if r.Header.Get("Upgrade") != "" {
		transport = "websocket"
	}
	f.requests.WithLabelValues(transport).Inc()
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, f.maxBody)
	}
	start := time.Now()
	f.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), targetKey{}, target)))
	if transport == "polling" {
		f.latency.WithLabelValues(r.Method).Observe(time.Since(start).Seconds())
	}
	return true
}

func validRoute(s string) bool {
	if len(s) != routeLen {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// lookup returns the URL a route is registered at, nil for none; answers,
// both ways, are kept for a few seconds.
func (f *forwarder) lookup(ctx context.Context, route string) *url.URL {
	now := time.Now()
	f.mu.Lock()
	c, ok := f.cache[route]
	f.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.target
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	v, err := f.routes.lookup(ctx, route)
	if err != nil {
		return c.target // the registry away: the last known answer, if any
	}
	var target *url.URL
	if u, err := url.Parse(v); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		target = &url.URL{Scheme: u.Scheme, Host: u.Host}
	}
	f.mu.Lock()
	if len(f.cache) >= routeCacheMax {
		clear(f.cache) // garbage routes cannot grow it
	}
	ttl := routeCacheTTL
	if target == nil {
		ttl = unknownCacheTTL
	}
	f.cache[route] = cachedRoute{target, now.Add(ttl)}
	f.mu.Unlock()
	return target
}

// publish writes this node's URL to the registry.
func (f *forwarder) publish(nodeURL string) error {
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	return f.routes.publish(ctx, f.route, nodeURL, registryTTL)
}

// register keeps this node's URL published until stop is closed, then
// removes it. err is the first publication's result.
func (f *forwarder) register(stop <-chan struct{}, nodeURL string, err error, log interface{ Warn(string, ...any) }) {
	t := time.NewTicker(registryRefresh)
	defer t.Stop()
	failing := false
	for {
		if err != nil && !failing {
			log.Warn("cannot publish this node's address for forwarded requests", "err", err)
		}
		failing = err != nil
		select {
		case <-stop:
			ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
			_ = f.routes.remove(ctx, f.route)
			cancel()
			return
		case <-t.C:
		}
		err = f.publish(nodeURL)
	}
}

// advertisedURL is the configured node URL, or one made of the listen
// address (the host name when it listens on every interface).
func advertisedURL(configured string, addr net.Addr) string {
	if configured != "" {
		return configured
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil && h != "" {
			host = h
		}
	}
	if p, err := strconv.Atoi(port); err != nil || p == 0 {
		return ""
	}
	return "http://" + net.JoinHostPort(host, port)
}
