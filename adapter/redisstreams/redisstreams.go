package redisstreams

import (
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldio/herald/adapter/redisadapter"
	"github.com/heraldio/herald/socketio"
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
	// emits, broadcasts with acks and answers. Default "socket.io".
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
	// id, the recovery offset of its local clients (see the package doc).
	// Default 50ms.
	OffsetWait time.Duration
	// Parser encodes the data of messages that carry binary. Default
	// redisadapter.MsgpackParser.
	Parser redisadapter.Parser
	// Logger receives the adapter's warnings. Default slog.Default().
	Logger *slog.Logger
}

// Adapter is the adapter of one namespace.
type Adapter = redisadapter.Streams

var _ socketio.Adapter = (*Adapter)(nil)

// New returns the AdapterFactory: each namespace gets an Adapter reading
// and appending to the stream with client.
func New(client redis.UniversalClient, opts *Options) socketio.AdapterFactory {
	var o Options
	if opts != nil {
		o = *opts
	}
	return redisadapter.NewStreams(client, &redisadapter.StreamsOptions{
		Options: redisadapter.Options{
			RequestsTimeout: o.RequestsTimeout,
			QueueSize:       o.QueueSize,
			Parser:          o.Parser,
			Logger:          o.Logger,
		},
		StreamName:        o.StreamName,
		MaxLen:            o.MaxLen,
		ReadCount:         o.ReadCount,
		SessionKeyPrefix:  o.SessionKeyPrefix,
		HeartbeatInterval: o.HeartbeatInterval,
		HeartbeatTimeout:  o.HeartbeatTimeout,
		ChannelPrefix:     o.ChannelPrefix,
		UseShardedPubSub:  o.UseShardedPubSub,
		StreamsOnly:       o.StreamsOnly,
		OffsetWait:        o.OffsetWait,
	})
}
