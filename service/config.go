package service

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/heraldio/herald/service/ratelimit"
)

// Config is the service's configuration. Every field has a flag and a
// HERALD_* environment variable (the flag wins); see Flags.
type Config struct {
	Addr            string        // HERALD_ADDR, -addr: listen address (":8080")
	DataDir         string        // HERALD_DATA_DIR, -data-dir: SQLite file and generated secrets (".")
	DatabaseURL     string        // HERALD_DATABASE_URL, -database-url: "postgres://..." or a SQLite path (<data-dir>/herald.db)
	RedisURL        string        // HERALD_REDIS_URL, -redis-url: join a cluster through the Redis adapter ("" = single node)
	RedisAdapter    string        // HERALD_REDIS_ADAPTER, -redis-adapter: pubsub, sharded (Redis 7 SPUBLISH), streams (recovery across nodes) or streams-only (streams without pub/sub)
	JWTSecret       string        // HERALD_JWT_SECRET, -jwt-secret: HS256 secret; generated and kept in the data dir when empty (dev mode)
	JWTPublicKeys   string        // HERALD_JWT_PUBLIC_KEYS, -jwt-public-keys: PEM file of RS256/ES256 public keys
	JWKS            string        // HERALD_JWKS, -jwks: JWKS file path or URL
	JWTIssuer       string        // HERALD_JWT_ISSUER, -jwt-issuer
	JWTAudience     string        // HERALD_JWT_AUDIENCE, -jwt-audience
	APIKey          string        // HERALD_API_KEY, -api-key: key of the notifications API; generated in dev mode
	Dev             bool          // HERALD_DEV, -dev: dev token endpoint on (default: on when the JWT secret was generated)
	CORSOrigins     string        // HERALD_CORS_ORIGINS, -cors-origins: comma-separated allowed origins ("" = same origin only, "*" = any)
	PingInterval    time.Duration // HERALD_PING_INTERVAL (25s)
	PingTimeout     time.Duration // HERALD_PING_TIMEOUT (20s)
	MaxPayload      int64         // HERALD_MAX_PAYLOAD bytes (1000000)
	MaxMessageLen   int           // HERALD_MAX_MESSAGE_LENGTH characters (4000)
	TypingTimeout   time.Duration // HERALD_TYPING_TIMEOUT (5s)
	PresenceGrace   time.Duration // HERALD_PRESENCE_GRACE (3s)
	PresenceTick    time.Duration // HERALD_PRESENCE_TICK: presence changes are sent together once per tick (100ms; 0: each at once)
	PresenceScope   string        // HERALD_PRESENCE_AUDIENCE: who sees a user's presence, all or rooms (users sharing a chat room) (all)
	PresenceList    int           // HERALD_PRESENCE_LIST_LIMIT: most users in the presence:list sent on connect, and in one page (1000)
	ConnPerMinute   int           // HERALD_CONN_PER_IP_PER_MINUTE: new connections per client IP (60)
	RecoveryWindow  time.Duration // HERALD_RECOVERY_WINDOW: connection state recovery (2m)
	ShutdownGrace   time.Duration // HERALD_SHUTDOWN_TIMEOUT (10s)
	LogFormat       string        // HERALD_LOG_FORMAT: text or json (text)
	LogLevel        string        // HERALD_LOG_LEVEL: debug, info, warn, error (info)
	RedisPrefix     string        // HERALD_REDIS_PREFIX: prefix of every Redis key and channel ("" = the defaults, compatible with Node's adapters)
	DevAllowRemote  bool          // HERALD_DEV_ALLOW_REMOTE: let dev mode listen beyond loopback (off)
	TrustedProxies  string        // HERALD_TRUSTED_PROXIES: comma-separated CIDRs whose X-Forwarded-For / Forwarded is believed ("" = none)
	MaxHeaderBytes  int           // HERALD_MAX_HEADER_BYTES: largest request header block (16384)
	MaxConnsPerUser int           // HERALD_MAX_CONNECTIONS_PER_USER: sockets of one user on this node, per namespace (20)
	MaxRoomsPerUser int           // HERALD_MAX_ROOMS_PER_USER: rooms one user may create (100)
	MaxSyncRooms    int
	RateLimits      string        // HERALD_RATE_LIMITS: per-socket event limits, "event=rate:burst,…" ("default" for the others); unset events keep the built-in limits
	UserMessageRate string        // HERALD_USER_MESSAGE_RATE: send-message per user across the cluster, "count/window" ("30/10s")
	StoreTimeout    time.Duration // HERALD_STORE_TIMEOUT: longest one store call of an event may take before the client gets an error (1s)
	ReadTimeout     time.Duration // HERALD_READ_TIMEOUT: longest a client may take to send one started message or polling body (max(ping timeout, 10s))
	DebugAddr       string        // HERALD_DEBUG_ADDR: where Go's profiler (net/http/pprof) listens; off when empty
	CoalesceWindow  time.Duration // HERALD_COALESCE_WINDOW: frames sent to a busy client within this leave in one write (10ms)
	MaxQueued       int           // HERALD_MAX_QUEUED_PACKETS: a client whose outbound queue reaches this is disconnected (4096)
	RecoveryBytes   int64         // HERALD_RECOVERY_BUFFER_BYTES: packets kept for recovery per namespace, oldest dropped past it (32 MiB)           // HERALD_MAX_SYNC_ROOMS: rooms one sync-state call re-joins and re-syncs (200)

	trustedNets []*net.IPNet

	generatedSecret bool
	// revocationReload is how often revocations are read from the store
	// (defaultRevocationReload when zero); tests shorten it.
	revocationReload time.Duration
}

// Flags binds the configuration to a flag set, with defaults from the
// environment.
func (c *Config) Flags(fs *flag.FlagSet, env func(string) string) {
	str := func(p *string, name, envName, def, usage string) {
		if v := env(envName); v != "" {
			def = v
		}
		fs.StringVar(p, name, def, usage+" ("+envName+")")
	}
	dur := func(p *time.Duration, name, envName string, def time.Duration, usage string) {
		if v, err := time.ParseDuration(env(envName)); err == nil {
			def = v
		}
		fs.DurationVar(p, name, def, usage+" ("+envName+")")
	}
	num := func(p *int, name, envName string, def int, usage string) {
		if v, err := strconv.Atoi(env(envName)); err == nil {
			def = v
		}
		fs.IntVar(p, name, def, usage+" ("+envName+")")
	}
	str(&c.Addr, "addr", "HERALD_ADDR", ":8080", "listen address")
	str(&c.DataDir, "data-dir", "HERALD_DATA_DIR", ".", "directory of the SQLite file and generated secrets")
	str(&c.DatabaseURL, "database-url", "HERALD_DATABASE_URL", "", "postgres:// URL or SQLite path (default <data-dir>/herald.db)")
	str(&c.RedisURL, "redis-url", "HERALD_REDIS_URL", "", "redis:// URL: run as a cluster node")
	str(&c.RedisAdapter, "redis-adapter", "HERALD_REDIS_ADAPTER", "streams", "pubsub, sharded, streams or streams-only")
	str(&c.JWTSecret, "jwt-secret", "HERALD_JWT_SECRET", "", "HS256 secret (generated in dev mode when empty)")
	str(&c.JWTPublicKeys, "jwt-public-keys", "HERALD_JWT_PUBLIC_KEYS", "", "PEM file with RS256/ES256 public keys")
	str(&c.JWKS, "jwks", "HERALD_JWKS", "", "JWKS file or URL")
	str(&c.JWTIssuer, "jwt-issuer", "HERALD_JWT_ISSUER", "", "required token issuer")
	str(&c.JWTAudience, "jwt-audience", "HERALD_JWT_AUDIENCE", "", "required token audience")
	str(&c.APIKey, "api-key", "HERALD_API_KEY", "", "API key of the notifications API (generated in dev mode)")
	str(&c.CORSOrigins, "cors-origins", "HERALD_CORS_ORIGINS", "", "allowed origins, comma-separated; * for any")
	str(&c.LogFormat, "log-format", "HERALD_LOG_FORMAT", "text", "text or json")
	str(&c.LogLevel, "log-level", "HERALD_LOG_LEVEL", "info", "debug, info, warn or error")
	str(&c.RedisPrefix, "redis-prefix", "HERALD_REDIS_PREFIX", "", "prefix of Redis keys and channels (default: Node's adapter names)")
	str(&c.RateLimits, "rate-limits", "HERALD_RATE_LIMITS", "", "per-socket event limits: event=rate:burst,... (default=... for other events)")
	str(&c.UserMessageRate, "user-message-rate", "HERALD_USER_MESSAGE_RATE", "30/10s", "send-message per user across the cluster: count/window")
	str(&c.DebugAddr, "debug-addr", "HERALD_DEBUG_ADDR", "", "address of a separate listener for Go's profiler under /debug/pprof/ (keep it on loopback; off when empty)")
	str(&c.TrustedProxies, "trusted-proxies", "HERALD_TRUSTED_PROXIES", "", "CIDRs of reverse proxies whose X-Forwarded-For is believed, comma-separated")
	devRemote := env("HERALD_DEV_ALLOW_REMOTE")
	fs.BoolVar(&c.DevAllowRemote, "dev-allow-remote", devRemote == "1" || devRemote == "true", "let dev mode (anyone can mint tokens) listen beyond loopback (HERALD_DEV_ALLOW_REMOTE)")
	num(&c.MaxHeaderBytes, "max-header-bytes", "HERALD_MAX_HEADER_BYTES", 16<<10, "largest HTTP request header block in bytes")
	num(&c.MaxConnsPerUser, "max-connections-per-user", "HERALD_MAX_CONNECTIONS_PER_USER", 20, "sockets of one user on this node, per namespace")
	num(&c.MaxRoomsPerUser, "max-rooms-per-user", "HERALD_MAX_ROOMS_PER_USER", 100, "rooms one user may create")
	num(&c.MaxQueued, "max-queued-packets", "HERALD_MAX_QUEUED_PACKETS", 4096, "outbound packets queued for one client before it is dropped as too slow")
	num(&c.MaxSyncRooms, "max-sync-rooms", "HERALD_MAX_SYNC_ROOMS", 200, "rooms one sync-state call re-syncs")
	dev := env("HERALD_DEV")
	fs.BoolVar(&c.Dev, "dev", dev == "1" || dev == "true", "dev mode: /api/dev/token on (HERALD_DEV; default on with a generated secret)")
	dur(&c.PingInterval, "ping-interval", "HERALD_PING_INTERVAL", 25*time.Second, "heartbeat interval")
	dur(&c.PingTimeout, "ping-timeout", "HERALD_PING_TIMEOUT", 20*time.Second, "heartbeat timeout")
	dur(&c.TypingTimeout, "typing-timeout", "HERALD_TYPING_TIMEOUT", 5*time.Second, "typing indicator expiry")
	dur(&c.PresenceGrace, "presence-grace", "HERALD_PRESENCE_GRACE", 3*time.Second, "delay before a user without connections goes offline")
	dur(&c.PresenceTick, "presence-tick", "HERALD_PRESENCE_TICK", 100*time.Millisecond, "presence changes are sent together once per tick (0: each at once)")
	str(&c.PresenceScope, "presence-audience", "HERALD_PRESENCE_AUDIENCE", "all", "who sees a user's presence: all, or rooms (the users who share a chat room)")
	num(&c.PresenceList, "presence-list-limit", "HERALD_PRESENCE_LIST_LIMIT", 1000, "most users in the presence:list sent on connect, and in one page")
	dur(&c.RecoveryWindow, "recovery-window", "HERALD_RECOVERY_WINDOW", 2*time.Minute, "connection state recovery window")
	dur(&c.StoreTimeout, "store-timeout", "HERALD_STORE_TIMEOUT", time.Second, "longest a store call of an event may take")
	dur(&c.ReadTimeout, "read-timeout", "HERALD_READ_TIMEOUT", 0, "longest a client may take to send one started message (0: max(ping timeout, 10s))")
	dur(&c.CoalesceWindow, "coalesce-window", "HERALD_COALESCE_WINDOW", 10*time.Millisecond, "frames sent to a busy client within this window leave in one write (added latency at most this; a quiet client is written at once)")
	dur(&c.ShutdownGrace, "shutdown-timeout", "HERALD_SHUTDOWN_TIMEOUT", 10*time.Second, "graceful shutdown deadline")
	num(&c.MaxMessageLen, "max-message-length", "HERALD_MAX_MESSAGE_LENGTH", 4000, "longest chat message in characters")
	num(&c.ConnPerMinute, "conn-per-minute", "HERALD_CONN_PER_IP_PER_MINUTE", 60, "new connections per client IP per minute")
	payload := int64(1_000_000)
	if v, err := strconv.ParseInt(env("HERALD_MAX_PAYLOAD"), 10, 64); err == nil {
		payload = v
	}
	fs.Int64Var(&c.MaxPayload, "max-payload", payload, "largest client message in bytes (HERALD_MAX_PAYLOAD)")
	recovery := int64(32 << 20)
	if v, err := strconv.ParseInt(env("HERALD_RECOVERY_BUFFER_BYTES"), 10, 64); err == nil {
		recovery = v
	}
	fs.Int64Var(&c.RecoveryBytes, "recovery-buffer-bytes", recovery, "bytes of packets kept for recovery per namespace (HERALD_RECOVERY_BUFFER_BYTES)")
}

// Load parses args (without the program name) with the environment and
// fills the generated values.
func Load(args []string, env func(string) string) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("herald", flag.ContinueOnError)
	c.Flags(fs, env)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	return c, c.finish(env)
}

func (c *Config) finish(env func(string) string) error {
	if c.PingInterval <= 0 || c.PingTimeout <= 0 || c.MaxPayload <= 0 || c.MaxMessageLen <= 0 ||
		c.TypingTimeout <= 0 || c.PresenceGrace < 0 || c.ConnPerMinute <= 0 || c.RecoveryWindow <= 0 ||
		c.MaxHeaderBytes <= 0 || c.MaxConnsPerUser <= 0 || c.MaxRoomsPerUser < 0 || c.MaxSyncRooms <= 0 || c.RecoveryBytes <= 0 || c.StoreTimeout <= 0 || c.MaxQueued <= 0 {
		return errors.New("config: durations, sizes and limits must be positive")
	}
	if c.PresenceTick < 0 || c.PresenceList <= 0 {
		return errors.New("config: presence tick must not be negative, presence list limit must be positive")
	}
	if c.PresenceScope != "all" && c.PresenceScope != "rooms" {
		return fmt.Errorf("config: presence audience %q: want all or rooms", c.PresenceScope)
	}
	switch c.RedisAdapter {
	case "pubsub", "sharded", "streams", "streams-only":
	default:
		return fmt.Errorf("config: redis adapter %q: want pubsub, sharded, streams or streams-only", c.RedisAdapter)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("config: log format %q: want text or json", c.LogFormat)
	}
	if _, err := c.EventRules(); err != nil {
		return err
	}
	if _, _, err := c.userMessageRate(); err != nil {
		return err
	}
	for _, cidr := range strings.Split(c.TrustedProxies, ",") {
		if cidr = strings.TrimSpace(cidr); cidr == "" {
			continue
		}
		if !strings.Contains(cidr, "/") { // a single address
			if ip := net.ParseIP(cidr); ip != nil && ip.To4() != nil {
				cidr += "/32"
			} else {
				cidr += "/128"
			}
		}
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			return fmt.Errorf("config: trusted proxies: %w", err)
		}
		c.trustedNets = append(c.trustedNets, n)
	}
	for _, o := range strings.Split(c.CORSOrigins, ",") {
		if o = strings.TrimSpace(o); o == "*" && strings.Contains(c.CORSOrigins, ",") {
			return errors.New("config: cors origins: \"*\" stands alone")
		}
	}
	if err := os.MkdirAll(c.DataDir, 0o755); err != nil {
		return fmt.Errorf("config: data dir: %w", err)
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = filepath.Join(c.DataDir, "herald.db")
	}
	if c.JWTSecret == "" && c.JWTPublicKeys == "" && c.JWKS == "" {
		s, err := secretFile(filepath.Join(c.DataDir, "jwt-secret"))
		if err != nil {
			return err
		}
		c.JWTSecret, c.generatedSecret = s, true
		if env("HERALD_DEV") == "" {
			c.Dev = true
		}
	}
	if c.Dev && !c.DevAllowRemote {
		// Dev mode lets anyone mint a token for any user, admin included:
		// keep it to this machine unless told otherwise.
		host, port, err := net.SplitHostPort(c.Addr)
		if err != nil {
			return fmt.Errorf("config: addr: %w", err)
		}
		switch ip := net.ParseIP(host); {
		case host == "":
			c.Addr = net.JoinHostPort("127.0.0.1", port)
		case host == "localhost" || (ip != nil && ip.IsLoopback()):
		default:
			return fmt.Errorf("config: dev mode (anyone can mint tokens) listens only on loopback, not %s: "+
				"configure HERALD_JWT_SECRET or keys for a real deployment, or set HERALD_DEV_ALLOW_REMOTE=1", c.Addr)
		}
	}
	if c.APIKey == "" && c.Dev {
		s, err := secretFile(filepath.Join(c.DataDir, "api-key"))
		if err != nil {
			return err
		}
		c.APIKey = s
	}
	return nil
}

// EventRules returns the per-socket event limits: the built-in ones with
// RateLimits applied over them.
func (c *Config) EventRules() (ratelimit.Rules, error) {
	r := ratelimit.DefaultRules()
	for _, item := range strings.Split(c.RateLimits, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		name, spec, ok := strings.Cut(item, "=")
		rate, burst, ok2 := strings.Cut(spec, ":")
		n, err1 := strconv.ParseFloat(rate, 64)
		b, err2 := strconv.Atoi(burst)
		if !ok || !ok2 || name == "" || err1 != nil || err2 != nil || n <= 0 || b <= 0 {
			return r, fmt.Errorf("config: rate limits: %q: want event=rate:burst with positive numbers", item)
		}
		if name == "default" {
			r.Default = ratelimit.PerSecond(n, b)
		} else {
			r.Events[name] = ratelimit.PerSecond(n, b)
		}
	}
	return r, nil
}

// userMessageRate parses UserMessageRate, "count/window".
func (c *Config) userMessageRate() (int, time.Duration, error) {
	count, window, ok := strings.Cut(c.UserMessageRate, "/")
	n, err1 := strconv.Atoi(count)
	d, err2 := time.ParseDuration(window)
	if !ok || err1 != nil || err2 != nil || n <= 0 || d <= 0 {
		return 0, 0, fmt.Errorf("config: user message rate %q: want count/window such as 30/10s", c.UserMessageRate)
	}
	return n, d, nil
}

// secretFile reads a secret kept in path, creating it on first use.
func secretFile(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return strings.TrimSpace(string(b)), nil
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	s := hex.EncodeToString(b[:])
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("config: keep secret: %w", err)
	}
	return s, nil
}
