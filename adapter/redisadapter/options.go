package redisadapter

import (
	"log/slog"
	"time"
)

// Options configures the adapters of this package. Zero fields mean the
// defaults.
type Options struct {
	// Key prefixes the channels. Default "socket.io".
	Key string
	// RequestsTimeout bounds a request to the other nodes (fetchSockets,
	// serverSideEmit with acks, allRooms) when its context has no
	// deadline, and one attempt to send queued messages to Redis (through
	// its context: see the package doc on the client's options). Requests
	// and answers not sent within it are dropped. Default 5s.
	RequestsTimeout time.Duration
	// QueueSize bounds the messages for the other nodes waiting to be
	// sent to Redis, in order, by the adapter's own goroutine; when it is
	// full (Redis away for long) new messages are dropped, counted in
	// Stats. Default 4096.
	QueueSize int
	// PublishOnSpecificResponseChannel sends the answers to a request on
	// the requesting node's own channel ("<key>-response#<nsp>#<uid>#")
	// instead of the channel every node reads. Classic adapter only; each
	// node reads both, so nodes may differ.
	PublishOnSpecificResponseChannel bool
	// Parser encodes the messages that may carry binary. Default
	// MsgpackParser, which Node's adapters use.
	Parser Parser
	// SubscriptionMode chooses the channels of the sharded adapter, as
	// the option of the same name of Node's createShardedAdapter; every
	// node of a cluster must use the same. Sharded adapter only.
	SubscriptionMode SubscriptionMode
	// Logger receives the adapter's warnings (Redis unreachable, malformed
	// messages). Default slog.Default().
	Logger *slog.Logger
}

// withDefaults fills the documented defaults.
func (o Options) withDefaults() Options {
	if o.Key == "" {
		o.Key = "socket.io"
	}
	if o.RequestsTimeout <= 0 {
		o.RequestsTimeout = 5 * time.Second
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 4096
	}
	if o.Parser == nil {
		o.Parser = MsgpackParser{}
	}
	if o.SubscriptionMode == "" {
		o.SubscriptionMode = Dynamic
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

func optionsOrZero(opts *Options) Options {
	if opts == nil {
		return Options{}.withDefaults()
	}
	return opts.withDefaults()
}

// SubscriptionMode is how the sharded adapter maps broadcasts to channels.
type SubscriptionMode string

// The subscription modes of Node's createShardedAdapter.
const (
	// Dynamic (the default): a broadcast to one room that is not a
	// socket's own travels on that room's channel, to which only the
	// nodes with sockets in it subscribe; the rest on the namespace's.
	Dynamic SubscriptionMode = "dynamic"
	// Static: everything travels on the namespace's channel; a node
	// subscribes to two channels per namespace whatever its rooms. Fewer
	// subscriptions, every node reads every broadcast.
	Static SubscriptionMode = "static"
	// DynamicPrivate: as Dynamic, and a socket's own room has its channel
	// too, so a message to one socket reaches only its node, at the cost
	// of a subscription per socket.
	DynamicPrivate SubscriptionMode = "dynamic-private"
)

// valid reports whether m is one of the modes.
func (m SubscriptionMode) valid() bool { return m == Dynamic || m == Static || m == DynamicPrivate }
