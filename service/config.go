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

// Config is the service's configuration. Every field is a setting with a
// flag, a HERALD_* environment variable and a key of the YAML config file
// (the flag's name); a flag wins over the environment, which wins over the
// file. Start from DefaultConfig, or from Load for what a command line and
// an environment say; New checks it.
type Config struct {
	Addr                  string        // addr, HERALD_ADDR: listen address (":8080")
	DataDir               string        // data-dir, HERALD_DATA_DIR: SQLite file and generated secrets (".")
	DatabaseURL           string        // database-url, HERALD_DATABASE_URL: "postgres://..." or a SQLite path (<data-dir>/herald.db)
	RedisURL              string        // redis-url, HERALD_REDIS_URL: join a cluster through the Redis adapter ("" = single node)
	RedisAdapter          string        // redis-adapter, HERALD_REDIS_ADAPTER: pubsub, sharded (Redis 7 SPUBLISH), streams (recovery across nodes) or streams-only (streams without pub/sub)
	RedisSubscriptionMode string        // redis-subscription-mode, HERALD_REDIS_SUBSCRIPTION_MODE: the sharded adapter's channels, as Node's subscriptionMode: dynamic, static or dynamic-private
	Cluster               string        // cluster, HERALD_CLUSTER: none, redis (through HERALD_REDIS_URL) or postgres (through the store's PostgreSQL, no Redis) ("" = redis when HERALD_REDIS_URL is set, else none)
	PostgresPrefix        string        // postgres-prefix, HERALD_POSTGRES_PREFIX: with HERALD_CLUSTER=postgres, prefix of the notification channels and the cluster's tables ("" = the adapter's as Node's, socket.io channels, and herald_cluster_ tables)
	JWTSecret             string        // jwt-secret, HERALD_JWT_SECRET: HS256 secret; generated and kept in the data dir when empty (dev mode)
	JWTPublicKeys         string        // jwt-public-keys, HERALD_JWT_PUBLIC_KEYS: PEM file of RS256/ES256 public keys
	JWKS                  string        // jwks, HERALD_JWKS: JWKS file path or URL
	JWTIssuer             string        // jwt-issuer, HERALD_JWT_ISSUER
	JWTAudience           string        // jwt-audience, HERALD_JWT_AUDIENCE
	APIKey                string        // api-key, HERALD_API_KEY: key of the server API; generated in dev mode
	Dev                   bool          // dev, HERALD_DEV: dev token endpoint on (default: on when the JWT secret was generated)
	CORSOrigins           string        // cors-origins, HERALD_CORS_ORIGINS: comma-separated allowed origins ("" = same origin only, "*" = any)
	PingInterval          time.Duration // ping-interval, HERALD_PING_INTERVAL (25s)
	PingTimeout           time.Duration // ping-timeout, HERALD_PING_TIMEOUT (20s)
	MaxPayload            int64         // max-payload, HERALD_MAX_PAYLOAD bytes (1000000)
	MaxMessageLen         int           // max-message-length, HERALD_MAX_MESSAGE_LENGTH characters (4000)
	TypingTimeout         time.Duration // typing-timeout, HERALD_TYPING_TIMEOUT (5s)
	PresenceGrace         time.Duration // presence-grace, HERALD_PRESENCE_GRACE (3s)
	PresenceTick          time.Duration // presence-tick, HERALD_PRESENCE_TICK: presence changes are sent together once per tick (100ms; 0: each at once)
	PresenceScope         string        // presence-audience, HERALD_PRESENCE_AUDIENCE: who sees a user's presence, all or rooms (users sharing a chat room) (all)
	PresenceList          int           // presence-list-limit, HERALD_PRESENCE_LIST_LIMIT: most users in the presence:list sent on connect, and in one page (1000)
	ConnPerMinute         int           // conn-per-minute, HERALD_CONN_PER_IP_PER_MINUTE: new connections per client IP (60)
	RecoveryWindow        time.Duration // recovery-window, HERALD_RECOVERY_WINDOW: connection state recovery (2m)
	ShutdownGrace         time.Duration // shutdown-timeout, HERALD_SHUTDOWN_TIMEOUT (10s)
	LogFormat             string        // log-format, HERALD_LOG_FORMAT: text or json (text)
	LogLevel              string        // log-level, HERALD_LOG_LEVEL: debug, info, warn, error (info)
	NodeURL               string        // node-url, HERALD_NODE_URL: the URL the other nodes reach this one at, for requests of its sessions sent to them ("" = http://<listen address>, the host name when listening on every interface)
	RedisPrefix           string        // redis-prefix, HERALD_REDIS_PREFIX: prefix of every Redis key and channel ("" = the defaults, compatible with Node's adapters)
	DevAllowRemote        bool          // dev-allow-remote, HERALD_DEV_ALLOW_REMOTE: let dev mode listen beyond loopback (off)
	AllowEIO3             bool          // allow-eio3, HERALD_ALLOW_EIO3: accept Socket.IO v2 clients (Engine.IO v3; their token in the query) (off)
	TrustedProxies        string        // trusted-proxies, HERALD_TRUSTED_PROXIES: comma-separated CIDRs whose X-Forwarded-For / Forwarded is believed ("" = none)
	MaxHeaderBytes        int           // max-header-bytes, HERALD_MAX_HEADER_BYTES: largest request header block (16384)
	MaxConnsPerUser       int           // max-connections-per-user, HERALD_MAX_CONNECTIONS_PER_USER: sockets of one user on this node, per namespace (20)
	MaxRoomsPerUser       int           // max-rooms-per-user, HERALD_MAX_ROOMS_PER_USER: rooms one user may create (100; 0: none)
	ReadReceipts          string        // read-receipts, HERALD_READ_RECEIPTS: on, or off (members are not told what the others read)
	MaxSyncRooms          int           // max-sync-rooms, HERALD_MAX_SYNC_ROOMS: rooms one sync-state call re-joins and re-syncs (200)
	RateLimits            string        // rate-limits, HERALD_RATE_LIMITS: per-socket event limits, "event=rate:burst,…" ("default" for the others); unset events keep the built-in limits
	UserMessageRate       string        // user-message-rate, HERALD_USER_MESSAGE_RATE: send-message per user across the cluster, "count/window" ("30/10s")
	StoreTimeout          time.Duration // store-timeout, HERALD_STORE_TIMEOUT: longest one store call of an event may take before the client gets an error (1s)
	ReadTimeout           time.Duration // read-timeout, HERALD_READ_TIMEOUT: longest a client may take to send one started message or polling body (0: max(ping timeout, 10s))
	DebugAddr             string        // debug-addr, HERALD_DEBUG_ADDR: where Go's profiler (net/http/pprof) listens; off when empty
	CoalesceWindow        time.Duration // coalesce-window, HERALD_COALESCE_WINDOW: frames sent to a busy client within this leave in one write (20ms; 0: every frame at once; at most 1s)
	MaxQueued             int           // max-queued-packets, HERALD_MAX_QUEUED_PACKETS: a client whose outbound queue reaches this is disconnected (4096)
	RecoveryBytes         int64         // recovery-buffer-bytes, HERALD_RECOVERY_BUFFER_BYTES: packets kept for recovery per namespace, oldest dropped past it (32 MiB)
	Parser                string        // parser, HERALD_PARSER: the Socket.IO wire format of every client, json (socket.io-parser) or msgpack (socket.io-msgpack-parser) (json)

	Hooks HooksConfig // webhooks, the event proxy and the connect proxy (config_hooks.go)
	Admin AdminConfig // the Socket.IO Admin UI's namespace (config_admin.go)

	sources     map[string]source // where each setting came from, by key; nil: the Go program set them
	trustedNets []*net.IPNet

	prepared        bool // finish ran: checked, secrets generated
	generatedSecret bool
	// revocationReload is how often revocations are read from the store
	// (defaultRevocationReload when zero); tests shorten it.
	revocationReload time.Duration
	// roomPresenceTTL is how long a node's room sockets live in Redis
	// unless written again (15s when zero); tests shorten it.
	roomPresenceTTL time.Duration
	// presenceTTL is how long a dead node's users stay online on a
	// cluster (presence.ClusterOptions.TTL, its default when zero); tests
	// shorten it.
	presenceTTL time.Duration
}

// source says where a setting's value came from.
type source struct {
	from string // "flag", "env", "file"; "" for the default
	file string
	line int
}

// DefaultConfig returns the configuration with every setting at its
// default, as "herald" runs with no flag, variable or file.
func DefaultConfig() Config {
	var c Config
	for _, s := range c.settings() {
		if err := s.val.Set(s.def); err != nil {
			panic("service: default of " + s.key + ": " + err.Error())
		}
	}
	return c
}

// Load parses args (without the program name), the environment and the
// config file they name (-config or HERALD_CONFIG), checks the result,
// and fills the generated values: the data directory is created, and in
// dev mode the JWT secret and API key are kept there.
func Load(args []string, env func(string) string) (Config, error) {
	return LoadFlags(flag.NewFlagSet("herald", flag.ContinueOnError), args, env)
}

// LoadFlags is Load with a flag set of the caller's, which may hold flags
// of its own: the settings' flags are added to it before args are parsed.
func LoadFlags(fs *flag.FlagSet, args []string, env func(string) string) (Config, error) {
	c, err := resolve(fs, args, env)
	if err != nil {
		return c, err
	}
	return c, c.finish()
}

// Check is Load without touching the disk: it resolves and checks the
// configuration but creates no directory and generates no secret (a
// secret that would be generated stays empty).
func Check(args []string, env func(string) string) (Config, error) {
	c, err := resolve(flag.NewFlagSet("herald config check", flag.ContinueOnError), args, env)
	if err != nil {
		return c, err
	}
	c.derive()
	return c, c.validate()
}

// resolve sets every setting from, by precedence, a flag, the environment,
// the config file, or its default.
func resolve(fs *flag.FlagSet, args []string, env func(string) string) (Config, error) {
	c := DefaultConfig()
	c.sources = map[string]source{}
	table := c.settings()
	for _, s := range table {
		fs.Var(s.val, s.key, s.usage+" ("+s.env+")")
	}
	file := fs.String("config", "", "YAML config file; flags and HERALD_* variables win over it (HERALD_CONFIG)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	fs.Visit(func(f *flag.Flag) { c.sources[f.Name] = source{from: "flag"} })
	overridden := func(s setting) bool { return c.sources[s.key].from == "flag" || env(s.env) != "" }
	path := *file
	if path == "" {
		path = env("HERALD_CONFIG")
	}
	if path != "" {
		if err := c.readFile(path, table, overridden); err != nil {
			return c, err
		}
	}
	for _, s := range table {
		v := env(s.env)
		if v == "" || c.sources[s.key].from == "flag" {
			continue
		}
		if err := s.val.Set(v); err != nil {
			return c, fmt.Errorf("config: %s=%q: %v", s.env, v, unwrapParse(err))
		}
		c.sources[s.key] = source{from: "env"}
	}
	return c, nil
}

// unwrapParse says what a strconv error means, without its function
// name and input (the caller names both).
func unwrapParse(err error) error {
	var ne *strconv.NumError
	switch {
	case !errors.As(err, &ne):
		return err
	case ne.Func == "ParseBool":
		return errors.New("want true or false")
	case errors.Is(ne.Err, strconv.ErrRange):
		return errors.New("out of range")
	}
	return errors.New("want a whole number")
}

// where names a setting as the user gave it: the flag, the variable or
// the file's key and line.
func (c *Config) where(key string) string {
	src := c.sources[key]
	switch src.from {
	case "flag":
		return "-" + key
	case "env":
		for _, s := range c.settings() {
			if s.key == key {
				return s.env
			}
		}
	case "file":
		return fmt.Sprintf("%s line %d: %s", src.file, src.line, key)
	}
	return key
}

// finish checks the configuration and fills what is generated; it runs
// once for a configuration.
func (c *Config) finish() error {
	if c.prepared {
		return nil
	}
	c.derive()
	if err := c.validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(c.DataDir, 0o755); err != nil {
		return fmt.Errorf("config: data dir: %w", err)
	}
	if c.generatedSecret {
		s, err := secretFile(filepath.Join(c.DataDir, "jwt-secret"))
		if err != nil {
			return err
		}
		c.JWTSecret = s
	}
	if c.APIKey == "" && c.Dev {
		s, err := secretFile(filepath.Join(c.DataDir, "api-key"))
		if err != nil {
			return err
		}
		c.APIKey = s
	}
	c.prepared = true
	return nil
}

// derive fills the settings whose default depends on others: the SQLite
// path, and dev mode with a generated secret, which keeps to loopback.
func (c *Config) derive() {
	if c.DatabaseURL == "" {
		c.DatabaseURL = filepath.Join(c.DataDir, "herald.db")
	}
	if c.JWTSecret == "" && c.JWTPublicKeys == "" && c.JWKS == "" {
		c.generatedSecret = true
		if c.sources["dev"].from == "" {
			c.Dev = true
		}
	}
	if c.Dev && !c.DevAllowRemote {
		if host, port, err := net.SplitHostPort(c.Addr); err == nil && host == "" {
			c.Addr = net.JoinHostPort("127.0.0.1", port)
		}
	}
}

// validate checks every setting's range and the ones that go together,
// naming the setting as the user gave it.
func (c *Config) validate() error {
	for _, s := range c.settings() {
		if s.check == nil {
			continue
		}
		if err := s.check(); err != nil {
			return fmt.Errorf("config: %s: %w", c.where(s.key), err)
		}
	}
	if err := c.checkCluster(); err != nil {
		return err
	}
	c.trustedNets = nil
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
			return fmt.Errorf("config: %s: %w", c.where("trusted-proxies"), err)
		}
		c.trustedNets = append(c.trustedNets, n)
	}
	for _, o := range strings.Split(c.CORSOrigins, ",") {
		if o = strings.TrimSpace(o); o == "*" && strings.Contains(c.CORSOrigins, ",") {
			return fmt.Errorf("config: %s: \"*\" stands alone", c.where("cors-origins"))
		}
	}
	if err := c.Admin.check(c.CORSOrigins); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if c.Dev && !c.DevAllowRemote {
		// Dev mode lets anyone mint a token for any user, admin included:
		// keep it to this machine unless told otherwise.
		host, _, _ := net.SplitHostPort(c.Addr)
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("config: %s: dev mode (anyone can mint tokens) listens only on loopback, not %s: "+
				"configure HERALD_JWT_SECRET or keys for a real deployment, or set HERALD_DEV_ALLOW_REMOTE=1", c.where("addr"), c.Addr)
		}
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

// ClusterMode returns how the nodes of a cluster meet: "none", "redis" or
// "postgres" (Cluster, or when it is empty redis with a Redis URL).
func (c *Config) ClusterMode() string {
	switch {
	case c.Cluster != "":
		return c.Cluster
	case c.RedisURL != "":
		return "redis"
	}
	return "none"
}

// checkCluster checks that the cluster has what it needs: Redis for
// redis, a PostgreSQL store (and no Redis URL, which it would not use) for
// postgres.
func (c *Config) checkCluster() error {
	pg := strings.HasPrefix(c.DatabaseURL, "postgres://") || strings.HasPrefix(c.DatabaseURL, "postgresql://")
	mode := c.ClusterMode()
	switch {
	case mode == "redis" && c.RedisURL == "":
		return fmt.Errorf("config: %s: redis needs a Redis URL (HERALD_REDIS_URL)", c.where("cluster"))
	case mode == "postgres" && !pg:
		return fmt.Errorf("config: %s: postgres needs the store in PostgreSQL: HERALD_DATABASE_URL=postgres://… (not %s)",
			c.where("cluster"), RedactURL(c.DatabaseURL))
	case mode != "redis" && c.RedisURL != "":
		return fmt.Errorf("config: %s: %s uses no Redis, but %s is set: unset one of them", c.where("cluster"), mode, c.where("redis-url"))
	}
	return nil
}
