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
