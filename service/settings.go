package service

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// setting is one configuration value: its flag and config-file key, its
// environment variable, default, and the check of its range. Every way
// to configure the service goes through this one table.
type setting struct {
	key    string // flag name and config-file key
	env    string // HERALD_* variable
	def    string // default, in the flag's syntax
	usage  string
	val    flag.Value
	check  func() error // the value's range; nil when any parsed value goes
	secret bool         // masked by "herald config check"
	url    bool         // may hold a password: masked in place
}

// settings returns the table of c's settings, bound to c's fields.
func (c *Config) settings() []setting {
	return append([]setting{
		addr(&c.Addr, "addr", "HERALD_ADDR", ":8080", "listen address", false),
		text(&c.DataDir, "data-dir", "HERALD_DATA_DIR", ".", "directory of the SQLite file and generated secrets"),
		text(&c.DatabaseURL, "database-url", "HERALD_DATABASE_URL", "", "postgres:// URL or SQLite path (default <data-dir>/herald.db)").masked(false),
		text(&c.RedisURL, "redis-url", "HERALD_REDIS_URL", "", "redis:// URL: run as a cluster node").masked(false),
		choice(&c.RedisAdapter, "redis-adapter", "HERALD_REDIS_ADAPTER", "streams", "Redis transport", "pubsub", "sharded", "streams", "streams-only"),
		text(&c.Cluster, "cluster", "HERALD_CLUSTER", "", "how the nodes of a cluster meet: none, redis (HERALD_REDIS_URL), or postgres (the store's database, no Redis) (default redis with a Redis URL, else none)").
			checked(func() error {
				if c.Cluster != "" && !slices.Contains([]string{"none", "redis", "postgres"}, c.Cluster) {
					return fmt.Errorf("%q: want one of none, redis, postgres", c.Cluster)
				}
				return nil
			}),
		text(&c.PostgresPrefix, "postgres-prefix", "HERALD_POSTGRES_PREFIX", "", "with cluster postgres: prefix of the notification channels and the cluster's tables (default: Node's adapter names, herald_cluster_ tables)").
			checked(func() error { return checkPostgresPrefix(c.PostgresPrefix) }),
		choice(&c.RedisSubscriptionMode, "redis-subscription-mode", "HERALD_REDIS_SUBSCRIPTION_MODE", "dynamic", "channels of the sharded adapter, as Node's subscriptionMode", "dynamic", "static", "dynamic-private"),
		text(&c.NodeURL, "node-url", "HERALD_NODE_URL", "", "URL the other nodes reach this one at, to forward its sessions' requests (default http://<listen address>)").
			checked(func() error { return checkNodeURL(c.NodeURL) }),
		text(&c.RedisPrefix, "redis-prefix", "HERALD_REDIS_PREFIX", "", "prefix of Redis keys and channels (default: Node's adapter names)"),
		text(&c.JWTSecret, "jwt-secret", "HERALD_JWT_SECRET", "", "HS256 secret (generated in dev mode when empty)").masked(true),
		text(&c.JWTPublicKeys, "jwt-public-keys", "HERALD_JWT_PUBLIC_KEYS", "", "PEM file with RS256/ES256 public keys"),
		text(&c.JWKS, "jwks", "HERALD_JWKS", "", "JWKS file or URL"),
		text(&c.JWTIssuer, "jwt-issuer", "HERALD_JWT_ISSUER", "", "required token issuer"),
		text(&c.JWTAudience, "jwt-audience", "HERALD_JWT_AUDIENCE", "", "required token audience"),
		text(&c.APIKey, "api-key", "HERALD_API_KEY", "", "key of the server API (generated in dev mode)").masked(true),
		boolean(&c.Dev, "dev", "HERALD_DEV", "dev mode: /api/dev/token on (default on with a generated secret)"),
		boolean(&c.DevAllowRemote, "dev-allow-remote", "HERALD_DEV_ALLOW_REMOTE", "let dev mode (anyone can mint tokens) listen beyond loopback"),
		boolean(&c.AllowEIO3, "allow-eio3", "HERALD_ALLOW_EIO3", "accept socket.io-client 2.x (Engine.IO v3), whose token comes in the query"),
		text(&c.CORSOrigins, "cors-origins", "HERALD_CORS_ORIGINS", "", "allowed origins, comma-separated; * for any"),
		text(&c.TrustedProxies, "trusted-proxies", "HERALD_TRUSTED_PROXIES", "", "CIDRs of reverse proxies whose X-Forwarded-For is believed, comma-separated"),
		duration(&c.PingInterval, "ping-interval", "HERALD_PING_INTERVAL", "25s", 1, "heartbeat interval"),
		duration(&c.PingTimeout, "ping-timeout", "HERALD_PING_TIMEOUT", "20s", 1, "heartbeat timeout"),
		duration(&c.ReadTimeout, "read-timeout", "HERALD_READ_TIMEOUT", "0s", 0, "longest a client may take to send one started message (0: max(ping timeout, 10s))"),
		integer(&c.MaxPayload, "max-payload", "HERALD_MAX_PAYLOAD", "1000000", 1, "largest client message in bytes"),
		integer(&c.MaxHeaderBytes, "max-header-bytes", "HERALD_MAX_HEADER_BYTES", "16384", 1, "largest HTTP request header block in bytes"),
		choice(&c.Parser, "parser", "HERALD_PARSER", "json",
			"Socket.IO parser every client must use (msgpack: socket.io-msgpack-parser; the web demo and the React hooks speak json)", "json", "msgpack"),
		integer(&c.MaxQueued, "max-queued-packets", "HERALD_MAX_QUEUED_PACKETS", "4096", 1, "outbound packets queued for one client before it is dropped as too slow"),
		durationIn(&c.CoalesceWindow, "coalesce-window", "HERALD_COALESCE_WINDOW", "20ms", 0, time.Second,
			"frames sent to a busy client within this window leave in one write (added latency at most this; a quiet client is written at once; 0: every frame at once)"),
		integer(&c.MaxMessageLen, "max-message-length", "HERALD_MAX_MESSAGE_LENGTH", "4000", 1, "longest chat message in characters"),
		duration(&c.TypingTimeout, "typing-timeout", "HERALD_TYPING_TIMEOUT", "5s", 1, "typing indicator expiry"),
		integer(&c.MaxRoomsPerUser, "max-rooms-per-user", "HERALD_MAX_ROOMS_PER_USER", "100", 0, "rooms one user may create"),
		choice(&c.ReadReceipts, "read-receipts", "HERALD_READ_RECEIPTS", "on", "read-receipt events to the room's other members (off: only the user's own tabs hear of a read)", "on", "off"),
		integer(&c.MaxSyncRooms, "max-sync-rooms", "HERALD_MAX_SYNC_ROOMS", "200", 1, "rooms one sync-state call re-syncs"),
		duration(&c.StoreTimeout, "store-timeout", "HERALD_STORE_TIMEOUT", "1s", 1, "longest a store call of an event may take"),
		duration(&c.PresenceGrace, "presence-grace", "HERALD_PRESENCE_GRACE", "3s", 0, "delay before a user without connections goes offline"),
		duration(&c.PresenceTick, "presence-tick", "HERALD_PRESENCE_TICK", "100ms", 0, "presence changes are sent together once per tick (0: each at once)"),
		choice(&c.PresenceScope, "presence-audience", "HERALD_PRESENCE_AUDIENCE", "all", "who sees a user's presence: all, or rooms (the users who share a chat room)", "all", "rooms"),
		integer(&c.PresenceList, "presence-list-limit", "HERALD_PRESENCE_LIST_LIMIT", "1000", 1, "most users in the presence:list sent on connect, and in one page"),
		integer(&c.ConnPerMinute, "conn-per-minute", "HERALD_CONN_PER_IP_PER_MINUTE", "60", 1, "new connections per client IP per minute"),
		integer(&c.MaxConnsPerUser, "max-connections-per-user", "HERALD_MAX_CONNECTIONS_PER_USER", "20", 1, "sockets of one user on this node, per namespace"),
		text(&c.RateLimits, "rate-limits", "HERALD_RATE_LIMITS", "", "per-socket event limits: event=rate:burst,... (default=... for other events)").
			checked(func() error { _, err := c.EventRules(); return err }),
		text(&c.UserMessageRate, "user-message-rate", "HERALD_USER_MESSAGE_RATE", "30/10s", "send-message per user across the cluster: count/window").
			checked(func() error { _, _, err := c.userMessageRate(); return err }),
		duration(&c.RecoveryWindow, "recovery-window", "HERALD_RECOVERY_WINDOW", "2m", 1, "connection state recovery window"),
		integer(&c.RecoveryBytes, "recovery-buffer-bytes", "HERALD_RECOVERY_BUFFER_BYTES", "33554432", 1, "bytes of packets kept for recovery per namespace"),
		duration(&c.ShutdownGrace, "shutdown-timeout", "HERALD_SHUTDOWN_TIMEOUT", "10s", 1, "graceful shutdown deadline"),
		choice(&c.LogFormat, "log-format", "HERALD_LOG_FORMAT", "text", "log output", "text", "json"),
		choice(&c.LogLevel, "log-level", "HERALD_LOG_LEVEL", "info", "log level", "debug", "info", "warn", "error"),
		addr(&c.DebugAddr, "debug-addr", "HERALD_DEBUG_ADDR", "", "address of a separate listener for Go's profiler under /debug/pprof/ (keep it on loopback; off when empty)", true),
	}, append(c.Hooks.settings(), c.Admin.settings()...)...)
}

func (s setting) masked(secret bool) setting {
	s.secret, s.url = secret, !secret
	return s
}

func (s setting) checked(f func() error) setting {
	s.check = f
	return s
}

// value is a flag.Value over a field of the Config.
type value[T any] struct {
	p      *T
	parse  func(string) (T, error)
	format func(T) string
}

func (v value[T]) Set(s string) error {
	x, err := v.parse(s)
	if err != nil {
		return err
	}
	*v.p = x
	return nil
}

func (v value[T]) String() string {
	if v.p == nil {
		return ""
	}
	return v.format(*v.p)
}

// boolValue lets "-dev" stand without "=true".
type boolValue struct{ value[bool] }

func (boolValue) IsBoolFlag() bool { return true }

func text(p *string, key, env, def, usage string) setting {
	return setting{key: key, env: env, def: def, usage: usage,
		val: value[string]{p, func(s string) (string, error) { return s, nil }, func(s string) string { return s }}}
}

func choice(p *string, key, env, def, usage string, oneOf ...string) setting {
	s := text(p, key, env, def, usage+": "+strings.Join(oneOf, ", "))
	s.check = func() error {
		if !slices.Contains(oneOf, *p) {
			return fmt.Errorf("%q: want one of %s", *p, strings.Join(oneOf, ", "))
		}
		return nil
	}
	return s
}

// addr is a host:port; optional ones may be empty.
func addr(p *string, key, env, def, usage string, optional bool) setting {
	s := text(p, key, env, def, usage)
	s.check = func() error {
		if *p == "" && optional {
			return nil
		}
		_, port, err := net.SplitHostPort(*p)
		if n, perr := strconv.Atoi(port); err == nil && (perr != nil || n < 0 || n > 65535) {
			err = errors.New("bad port")
		}
		if err != nil {
			return fmt.Errorf("%q: want host:port (%v)", *p, err)
		}
		return nil
	}
	return s
}

func boolean(p *bool, key, env, usage string) setting {
	return setting{key: key, env: env, def: "false", usage: usage,
		val: boolValue{value[bool]{p, strconv.ParseBool, strconv.FormatBool}}}
}

func duration(p *time.Duration, key, env, def string, min time.Duration, usage string) setting {
	return durationIn(p, key, env, def, min, 0, usage)
}

// durationIn is a duration of at least min and, unless max is 0, at most max.
func durationIn(p *time.Duration, key, env, def string, min, max time.Duration, usage string) setting {
	return setting{key: key, env: env, def: def, usage: usage,
		val:   value[time.Duration]{p, time.ParseDuration, func(d time.Duration) string { return d.String() }},
		check: func() error { return inRange(*p, min, max) }}
}

func integer[T int | int64](p *T, key, env, def string, min T, usage string) setting {
	parse := func(s string) (T, error) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err == nil && int64(T(n)) != n {
			err = strconv.ErrRange
		}
		return T(n), err
	}
	return setting{key: key, env: env, def: def, usage: usage,
		val:   value[T]{p, parse, func(n T) string { return strconv.FormatInt(int64(n), 10) }},
		check: func() error { return inRange(*p, min, 0) }}
}

// inRange checks min <= v and, unless max is 0, v <= max.
func inRange[T int | int64 | time.Duration](v, min, max T) error {
	switch {
	case v < min && min == 1:
		return fmt.Errorf("%v: must be positive", v)
	case v < min && min == 0:
		return fmt.Errorf("%v: must not be negative", v)
	case v < min:
		return fmt.Errorf("%v: must be at least %v", v, min)
	case max != 0 && v > max:
		return fmt.Errorf("%v: must be at most %v", v, max)
	}
	return nil
}

func checkNodeURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil {
		return errors.New("want http://host:port or https://host:port")
	}
	return nil
}

// checkPostgresPrefix allows what makes plain identifiers: the prefix
// names tables and channels.
func checkPostgresPrefix(s string) error {
	if s == "" {
		return nil
	}
	if len(s) > 40 || !postgresPrefixRe.MatchString(s) {
		return errors.New("want up to 40 lower-case letters, digits and _, starting with a letter")
	}
	return nil
}

var postgresPrefixRe = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
