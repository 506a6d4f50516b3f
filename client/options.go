package client

import (
	"context"
	"crypto/tls"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/heraldio/herald/socketio"
)

// Options configures a Manager (and, through Dial, its one Socket). Zero
// fields mean the documented defaults; the names and defaults follow the
// JavaScript client's.
type Options struct {
	// Path the server answers on. Default "/socket.io/".
	Path string
	// Query is added to the query of every Engine.IO request, after the
	// URL's own query.
	Query url.Values
	// Header is sent with every HTTP request and WebSocket handshake.
	Header http.Header
	// Transports in the order they are tried; the first opens the
	// session. Default {"polling", "websocket"}: HTTP long-polling first,
	// then an upgrade to WebSocket, as the JavaScript client does.
	Transports []string
	// DisableUpgrade keeps the first transport for the whole session.
	DisableUpgrade bool
	// HTTPClient sends the long-polling requests. Default: a client of the
	// Manager's own, whose idle connections Close releases.
	HTTPClient *http.Client
	// TLSConfig is used by the WebSocket dialer (and by the default
	// HTTPClient).
	TLSConfig *tls.Config
	// Timeout bounds the opening of one Engine.IO session (handshake,
	// upgrade probe). Default 20s.
	Timeout time.Duration
	// Parser is the wire format, the server's: socketio.JSONParser (the
	// default) or socketio.MsgpackParser (socket.io-msgpack-parser), as
	// the JavaScript client's parser option.
	Parser socketio.Parser

	// DisableReconnection stops the Manager from reconnecting after a
	// connection is lost.
	DisableReconnection bool
	// ReconnectionAttempts is how many reconnections are tried before
	// giving up; 0 means no limit.
	ReconnectionAttempts int
	// ReconnectionDelay is the delay before the first reconnection; it
	// doubles with each attempt. Default 1s.
	ReconnectionDelay time.Duration
	// ReconnectionDelayMax caps the delay. Default 5s.
	ReconnectionDelayMax time.Duration
	// RandomizationFactor spreads each delay by up to ± that fraction.
	// Default 0.5; a negative value means no jitter.
	RandomizationFactor float64

	// Logger receives what has no caller to return to, such as a
	// handler's panic. Default slog.Default().
	Logger *slog.Logger

	// SocketOptions are the options of the socket Dial opens, and the
	// defaults of Manager.Socket when it is given nil options.
	SocketOptions
}

// SocketOptions configures one namespace Socket.
type SocketOptions struct {
	// Auth is sent in every CONNECT packet; it must encode to a JSON
	// object (a map, a struct or json.RawMessage). Ignored if AuthFunc is
	// set.
	Auth any
	// AuthFunc, when set, is called before every CONNECT (the first one
	// and each after a reconnection), so a fresh token can be supplied.
	// It runs on a library goroutine and is bounded by ctx; an error
	// fails that connection attempt with a connect error.
	AuthFunc func(ctx context.Context) (any, error)
	// MaxBufferedPackets bounds the packets emitted while disconnected and
	// kept to be sent on the next connection. Default 1024; a negative
	// value disables buffering.
	MaxBufferedPackets int
	// Resync, when set, is called after every reconnection of the socket
	// (not after the first connection), once the buffered packets were
	// sent and the connect handlers ran. Socket.Recovered tells whether
	// the server restored the session and replayed what was missed; when
	// it did not, Resync is the place to fetch the state again. ctx is
	// cancelled when the socket disconnects or is closed. It runs on the
	// handler goroutine, so events received meanwhile wait for it.
	Resync func(ctx context.Context, s *Socket)
}

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Path == "" {
		c.Path = "/socket.io/"
	}
	if c.Path[len(c.Path)-1] != '/' {
		c.Path += "/"
	}
	if len(c.Transports) == 0 {
		c.Transports = []string{TransportPolling, TransportWebSocket}
	}
	if c.Timeout <= 0 {
		c.Timeout = 20 * time.Second
	}
	if c.ReconnectionDelay <= 0 {
		c.ReconnectionDelay = time.Second
	}
	if c.ReconnectionDelayMax <= 0 {
		c.ReconnectionDelayMax = 5 * time.Second
	}
	if c.ReconnectionDelayMax < c.ReconnectionDelay {
		c.ReconnectionDelayMax = c.ReconnectionDelay
	}
	if c.RandomizationFactor == 0 {
		c.RandomizationFactor = 0.5
	} else if c.RandomizationFactor < 0 {
		c.RandomizationFactor = 0
	} else if c.RandomizationFactor > 1 {
		c.RandomizationFactor = 1
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (o *SocketOptions) withDefaults() SocketOptions {
	var c SocketOptions
	if o != nil {
		c = *o
	}
	if c.MaxBufferedPackets == 0 {
		c.MaxBufferedPackets = 1024
	}
	return c
}

// backoff returns the delay before reconnection attempt n (0-based):
// ReconnectionDelay·2ⁿ, moved by up to ±RandomizationFactor of itself,
// capped at ReconnectionDelayMax, as the JavaScript client computes it.
func (o *Options) backoff(n int, rnd func() float64) time.Duration {
	ms := float64(o.ReconnectionDelay.Milliseconds()) * math.Pow(2, float64(min(n, 62)))
	if j := o.RandomizationFactor; j > 0 {
		r := rnd()
		dev := math.Floor(r * j * ms)
		if int(math.Floor(r*10))&1 == 0 {
			ms -= dev
		} else {
			ms += dev
		}
	}
	d := time.Duration(ms) * time.Millisecond
	if ms >= float64(o.ReconnectionDelayMax.Milliseconds()) || d < 0 {
		d = o.ReconnectionDelayMax
	}
	return d
}

func defaultRand() float64 { return rand.Float64() }
