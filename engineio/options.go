package engineio

import (
	"net/http"
	"time"
)

// Transport names as used in the "transport" query parameter.
const (
	TransportPolling   = "polling"
	TransportWebSocket = "websocket"
)

// Options configures a Server. The zero value of each field means the
// default documented on it.
type Options struct {
	// PingInterval is how often the server pings the client. Default 25s.
	PingInterval time.Duration
	// PingTimeout is how long the server waits for a pong, from when the
	// ping was due (a ping sent late does not extend it, but the client
	// always gets at least half of it). Default 20s.
	PingTimeout time.Duration
	// MaxPayload is the largest message or polling request body, in bytes,
	// that a client may send; larger input closes the session. Default 1e6.
	// Buffers grow with the bytes that really arrive, never from the length
	// a client announces.
	MaxPayload int64
	// ReadTimeout bounds the reading of one client message once it has
	// begun: the body of a polling POST, the rest of a WebSocket frame
	// whose first bytes arrived, or the rest of a fragmented message. A
	// client slower than that is disconnected with ErrReadTimeout (reason
	// "transport error"), so that a trickling client holds neither a
	// goroutine nor a buffer for long. Default PingTimeout, and at least
	// 10s. It replaces the http.Server's read deadline for a POST body.
	ReadTimeout time.Duration
	// MaxHeaderBytes bounds what a connection keeps of its handshake
	// request for its whole life (Conn.Request): the request URI and the
	// headers, counted as "Name: value" lines. Headers are kept in name
	// order while they fit, the others dropped (Request.Truncated reports
	// it), so a request with huge headers becomes garbage after the
	// handshake; a handshake whose URI alone is longer is refused with
	// "Bad request". Default 16 KiB, the whole header limit of Node's HTTP
	// server: what the reference accepts is kept entirely. The http.Server's
	// own MaxHeaderBytes bounds what is read at all.
	MaxHeaderBytes int
	// Transports are the allowed transports. Default both.
	Transports []string
	// DisableUpgrades refuses the polling → WebSocket upgrade.
	DisableUpgrades bool
	// UpgradeTimeout bounds an unfinished upgrade. Default 10s.
	UpgradeTimeout time.Duration
	// CORS, when set, adds CORS headers to HTTP responses and answers
	// preflight requests.
	CORS *CORS
	// AllowRequest, when set, is called for every handshake; an error
	// refuses it with 403 and the error's text.
	AllowRequest func(r *http.Request) error
	// PerMessageDeflate enables the WebSocket permessage-deflate extension
	// (without context takeover, so one compressed frame serves every
	// recipient of a broadcast). Frames smaller than DeflateThreshold are
	// sent uncompressed.
	PerMessageDeflate bool
	// DeflateThreshold in bytes. Default 1024.
	DeflateThreshold int
	// HTTPCompression gzips polling responses larger than DeflateThreshold
	// when the client accepts it.
	HTTPCompression bool
	// MaxQueuedPackets bounds the outbound queue of one connection. A
	// client whose queue would grow past it is disconnected with
	// ErrSlowClient (reason "transport error"): one stuck client never
	// holds memory without bound or slows the others. Default 4096.
	MaxQueuedPackets int
	// CoalesceWindow lets the frames of a busy WebSocket connection leave
	// together: a packet sent to a connection less than CoalesceWindow
	// after the previous one waits up to CoalesceWindow, then it and what
	// came meanwhile are written with one writev. A connection sent nothing
	// for longer is written to at once, so a lone message is never delayed;
	// a client receiving more than one frame per window costs one write per
	// window instead of one per frame, for at most CoalesceWindow of added
	// latency. Default 3ms: a client receiving a frame every 2 ms (each
	// member of a 200-user room at 500 messages/s) gets two per write.
	// Negative writes every frame at once.
	CoalesceWindow time.Duration
	// WriteTimeout bounds one write to a client. Default 10s.
	WriteTimeout time.Duration
	// DisableNetpoll makes every WebSocket connection keep a reader
	// goroutine instead of being woken by the shared poller.
	DisableNetpoll bool
	// Cookie, when set, is sent with the handshake response (for load
	// balancers that route by cookie, see the README).
	Cookie *http.Cookie
	// GenerateID, when set, makes the id of each new session instead of
	// NewID, as the reference's generateId: a cluster can put in it which
	// node holds the session. Ids must be unique, URL-safe and not empty.
	GenerateID func() string
	// AllowEIO3 accepts clients of Engine.IO v3 (EIO=3: socket.io-client
	// 2.x), as the reference's allowEIO3; without it they are refused with
	// "Unsupported protocol version". Such a session speaks v3 throughout:
	// its polling payloads ("<length>:<packet>", lengths in UTF-16 code
	// units; the binary framing, or "b4" and base64 for a client that
	// asked b64=1), its binary WebSocket frames (the type byte first) and
	// its heartbeat, where the client pings every PingInterval, the
	// server answers with a pong and closes a session whose client sent
	// no ping for PingInterval+PingTimeout. JSONP polling (the j
	// parameter) is refused.
	AllowEIO3 bool
	// Forward, when set, is given every request for a session this server
	// does not hold (polling GET and POST, a WebSocket upgrade), before it
	// is refused with "Session ID unknown". It returns true when it has
	// answered the request, for example by proxying it to the node that
	// holds the session; false leaves the refusal to the server. w has no
	// header set yet: what it forwards to sets its own CORS headers. It
	// is never called for a session held here, whose path does not change.
	Forward func(w http.ResponseWriter, r *http.Request, sid string) bool
}

// CORS is the cross-origin policy for HTTP long-polling requests.
type CORS struct {
	// Origins allowed; "*" allows any. With Credentials, the request's
	// origin is echoed instead of "*".
	Origins []string
	// Credentials allows cookies and HTTP authentication
	// (Access-Control-Allow-Credentials).
	Credentials bool
	// Headers allowed in requests besides the simple ones.
	Headers []string
	// MaxAge is how long a browser may cache a preflight answer.
	MaxAge time.Duration
}

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = 20 * time.Second
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = 1e6
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = max(c.PingTimeout, 10*time.Second)
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = 16 << 10
	}
	if len(c.Transports) == 0 {
		c.Transports = []string{TransportPolling, TransportWebSocket}
	}
	if c.UpgradeTimeout <= 0 {
		c.UpgradeTimeout = 10 * time.Second
	}
	if c.DeflateThreshold <= 0 {
		c.DeflateThreshold = 1024
	}
	if c.MaxQueuedPackets <= 0 {
		c.MaxQueuedPackets = 4096
	}
	if c.CoalesceWindow == 0 {
		c.CoalesceWindow = 3 * time.Millisecond
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	return c
}

func (o *Options) allows(transport string) bool {
	for _, t := range o.Transports {
		if t == transport {
			return true
		}
	}
	return false
}
