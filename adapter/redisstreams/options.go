package redisstreams

import (
	"log/slog"
	"time"

	"github.com/heraldio/herald/adapter/redisadapter"
)

// Options configures the adapter. Zero fields mean the defaults.
type Options struct {
	// StreamName is the Redis stream. Default "socket.io".
	StreamName string
	// MaxLen trims the stream (approximately, MAXLEN ~). Default 10000.
	// Recovery reaches back as far as the stream does.
	MaxLen int64
	// ReadCount is how many entries one XREAD returns at most. Default 100.
	ReadCount int64
	// SessionKeyPrefix prefixes the keys of disconnected sessions.
	// Default "sio:session:".
	SessionKeyPrefix string
	// HeartbeatInterval is how often a node tells the others it is alive.
	// Default 5s.
	HeartbeatInterval time.Duration
	// HeartbeatTimeout is how long a silent node is still counted.
	// Default 10s.
	HeartbeatTimeout time.Duration
	// ChannelPrefix names the pub/sub channels of requests, server-side
	// emits, broadcasts with acks and answers: "<prefix>#<nsp>#" and
	// "<prefix>#<nsp>#<uid>#". Default "socket.io".
	ChannelPrefix string
	// UseShardedPubSub sends those with SPUBLISH / SSUBSCRIBE (Redis 7).
	UseShardedPubSub bool
	// StreamsOnly sends everything through the stream, as Node's adapter
	// did before 0.3: for clusters with such nodes, or a Redis-compatible
	// server without pub/sub.
	StreamsOnly bool
	// RequestsTimeout bounds requests to the other nodes when their
	// context has no deadline, and one attempt to send queued messages to
	// Redis. Default 5s.
	RequestsTimeout time.Duration
	// QueueSize bounds the messages waiting to be sent to Redis; beyond
	// it new ones are dropped, counted in Adapter.Stats. Default 4096.
	QueueSize int
	// OffsetWait bounds how long a broadcast waits for its stream entry
	// id, the recovery offset of its local clients. Past it, or at once
	// while Redis is known to be away, they get the last offset this node
	// knows instead, and the entry is written later (see the package
	// doc). Default 50ms.
	OffsetWait time.Duration
	// Parser encodes the data of messages that carry binary. Default
	// redisadapter.MsgpackParser.
	Parser redisadapter.Parser
	// Logger receives the adapter's warnings. Default slog.Default().
	Logger *slog.Logger
}

// withDefaults fills the documented defaults.
func (o Options) withDefaults() Options {
	if o.StreamName == "" {
		o.StreamName = "socket.io"
	}
	if o.MaxLen <= 0 {
		o.MaxLen = 10000
	}
	if o.ReadCount <= 0 {
		o.ReadCount = 100
	}
	if o.SessionKeyPrefix == "" {
		o.SessionKeyPrefix = "sio:session:"
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = 5 * time.Second
	}
	if o.HeartbeatTimeout <= 0 {
		o.HeartbeatTimeout = 10 * time.Second
	}
	if o.ChannelPrefix == "" {
		o.ChannelPrefix = "socket.io"
	}
	if o.RequestsTimeout <= 0 {
		o.RequestsTimeout = 5 * time.Second
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 4096
	}
	if o.OffsetWait <= 0 {
		o.OffsetWait = 50 * time.Millisecond
	}
	if o.Parser == nil {
		o.Parser = redisadapter.MsgpackParser{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}
