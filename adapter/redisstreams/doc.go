// Package redisstreams is a socketio.Adapter over one Redis stream (a
// cluster.Cluster of package adapter/cluster whose transport is the
// stream), compatible with Node's @socket.io/redis-streams-adapter, with
// connection state recovery across nodes: a client that loses its
// connection and comes back on another node within the recovery window
// gets the same socket id, rooms and data, and exactly the broadcasts it
// missed.
//
// # Wire
//
// Every node appends its messages to the stream (XADD <stream> MAXLEN ~
// 10000 * uid .. nsp .. type .. data ..): the message types of Node's
// cluster adapter, data as JSON, or as base64 msgpack when it carries
// binary. Every node reads the whole stream (XREAD BLOCK) and skips its
// own entries. What only nodes alive now can use (fetchSockets,
// server-side emits, broadcasts with acks) is published instead, whole
// and msgpack-encoded, on "socket.io#<nsp>#", and answers on
// "socket.io#<nsp>#<uid>#" of the node that asked, as Node's adapter
// does since 0.3 (Options.StreamsOnly keeps everything in the stream, as
// it did before: for such nodes, or a Redis without pub/sub).
//
// The id of a broadcast's entry is its recovery offset on every node.
// Nodes announce themselves with heartbeats; the number of nodes is this
// one plus those heard from within HeartbeatTimeout.
//
// A disconnected socket's session is kept at "sio:session:<pid>" (base64
// msgpack {sid, pid, rooms, data}) for the server's
// MaxDisconnectionDuration. The node the client comes back to takes it
// (GETDEL) and reads the stream after the client's offset for what it
// missed.
//
// # Session data
//
// A socket's data (Socket.Set) travels in its JSON form, and a recovered
// socket's data is what encoding/json makes of that JSON in a
// map[string]any, whichever node (Go or Node) wrote it: strings, float64
// for every number, bool, nil, []any, and map[string]any for maps and
// structs (keys by their json tags). A typed value does not come back as
// its type: a struct set as a User comes back as a map[string]any, 42 as
// float64(42), binary as its base64 string; a value JSON cannot encode is
// left out. Re-derive typed data on recovery (socketio.RecoveryOptions
// can run the middlewares again) or read it with a JSON round trip.
//
// # Use
//
//	io := socketio.NewServer(&socketio.Options{
//		Recovery: &socketio.RecoveryOptions{MaxDisconnectionDuration: 2 * time.Minute},
//		Adapter:  redisstreams.New(rdb, nil),
//	})
//
// # Failures
//
// Redis is never on a handler's path for long. Entries and messages go
// to Redis through a bounded queue (Options.QueueSize), in order, sent by
// the adapter's own goroutine; a broadcast waits for its entry id at most
// Options.OffsetWait, and not at all while Redis is known to be away.
// When the id does not come in time, the local clients get the broadcast
// at once with the latest offset this node knows (the last entry it read
// or wrote): a client that recovers from that offset gets this broadcast
// (and any other written after it) again once its entry is in the
// stream, so recovery stays complete but may repeat a few events; dedupe
// by an id of your own where that matters. A client that recovers while
// Redis is known to be away connects anew (not recovered).
//
// When Redis comes back, the queue is sent, so the other nodes get, in
// order, the broadcasts made meanwhile; a send cut short by a hang is
// sent again, so they may get the last ones before it twice. When the
// queue overflows, the newest messages are dropped, counted in
// Adapter.Stats (Queued, Sent, Dropped, Failures, for metrics) with a log
// line, and the call that sent one returns redisadapter.ErrQueueFull; requests and answers not sent within RequestsTimeout are dropped
// too, and requests fail at once with redisadapter.ErrUnavailable while
// Redis is away.
//
// Give the client timeouts: go-redis ignores context deadlines unless
// redis.Options.ContextTimeoutEnabled is set, so set it, with ReadTimeout
// and WriteTimeout of a second or so, or a hung Redis holds the adapter's
// sender (never a handler) and Close for ReadTimeout times MaxRetries+1.
//
// # Goroutines
//
// Each namespace's adapter runs one goroutine reading the stream, one
// reading its pub/sub channels (unless StreamsOnly), one sending to
// Redis, and, in its cluster.Cluster, one running server-side event
// handlers and one sending heartbeats; Close sends what is queued (if
// Redis answers within RequestsTimeout) and stops them. When Redis goes away, local delivery
// goes on, reads are retried, and delivery resumes from where the stream
// was left.
package redisstreams
