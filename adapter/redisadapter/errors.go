package redisadapter

import (
	"github.com/heraldio/herald/adapter/cluster"
	"github.com/heraldio/herald/adapter/internal/redisbus"
)

// ErrRequestTimeout is returned with partial results when some node did
// not answer a request in time.
var ErrRequestTimeout = cluster.ErrRequestTimeout

// ErrClosed is returned by requests that were waiting when the adapter
// closed.
var ErrClosed = cluster.ErrClosed

// ErrUnavailable is returned, with the local results, by requests made
// while Redis is known to be unreachable: they fail at once instead of
// waiting. It matches ErrRequestTimeout too.
var ErrUnavailable = cluster.ErrUnavailable

// ErrBinaryServerSideEmit is returned by ServerSideEmit for binary
// arguments: the reference sends server-side events as JSON.
var ErrBinaryServerSideEmit = cluster.ErrBinaryServerSideEmit

// ErrQueueFull is returned by the adapters' Broadcast, AddSockets and the
// like (so by Emit, SocketsJoin, ...) when the message for the other
// nodes was dropped because the queue to Redis is full (Options.QueueSize:
// Redis has been away for long). The local part was done; the drop is
// counted in Stats.Dropped.
var ErrQueueFull = redisbus.ErrQueueFull

// Stats counts an adapter's messages to Redis, for metrics.
type Stats struct {
	// Queued is the number of messages accepted and not yet sent or
	// dropped.
	Queued int
	// Sent counts the messages Redis took.
	Sent uint64
	// Dropped counts the messages never sent: the queue was full, they
	// were requests or answers that outlived RequestsTimeout while Redis
	// was away, or the adapter closed with Redis away.
	Dropped uint64
	// Failures counts the send attempts that failed (each is retried
	// once Redis answers a PING again).
	Failures uint64
}
