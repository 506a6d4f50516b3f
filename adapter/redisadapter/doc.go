// Package redisadapter is a socketio.Adapter that spans several nodes over
// Redis, wire-compatible with Node's @socket.io/redis-adapter (v8): Go and
// Node servers can share one cluster, and Node's @socket.io/redis-emitter
// (or this module's emitter package) reaches both.
//
// # Variants
//
// New (or NewWithSubscriber) is the classic adapter over PUBLISH and
// PSUBSCRIBE, like Node's createAdapter. NewSharded uses Redis 7 sharded
// pub/sub (SPUBLISH, SSUBSCRIBE), like createShardedAdapter: a
// cluster.Cluster (package adapter/cluster, Node's ClusterAdapter) over
// sharded pub/sub. The variant over a Redis stream, with connection state
// recovery across nodes, is in package adapter/redisstreams.
//
// # Wire
//
// Classic: broadcasts are published on "<key>#<nsp>#" (or
// "<key>#<nsp>#<room>#" for exactly one room) as msgpack
// [uid, packet, {rooms, except, flags}], the packet in socket.io-parser
// form ({type, data, nsp}) with binary as msgpack bin. Requests between
// nodes (fetchSockets, socketsJoin/Leave, disconnectSockets,
// serverSideEmit, allRooms, broadcasts with acks) go on
// "<key>-request#<nsp>#" and their answers on "<key>-response#<nsp>#" (or
// "<key>-response#<nsp>#<uid>#" with PublishOnSpecificResponseChannel),
// JSON except for broadcasts with acks (msgpack). The number of nodes is
// PUBSUB NUMSUB of the request channel: every node answers every request
// it is counted in.
//
// Sharded: messages {type, data, uid, nsp} of Node's cluster adapter (JSON,
// msgpack when they carry binary) on "<key>#<nsp>#", on
// "<key>#<nsp>#<room>#" for a broadcast to one room that is not a socket
// id, and answers on "<key>#<nsp>#<uid>#". The number of nodes is PUBSUB
// SHARDNUMSUB. A node subscribes to a room's channel when the room gets
// its first local socket and unsubscribes when the last one leaves, on a
// goroutine of its own, as Node does without awaiting sSubscribe: a Join
// never waits on Redis, and a broadcast another node sends to the room
// before the subscription is in place does not reach the sockets that
// just joined.
//
// Herald packets keep their arguments as raw JSON with binary attachments;
// the adapters convert them to and from Node's form without going through
// Go maps, so key order and numbers arrive as they were sent (see Parser).
//
// # Failures
//
// A request waits for every other node's answer until its context is done
// or RequestsTimeout passes, then returns what arrived with
// ErrRequestTimeout; while Redis is known to be away it returns at once
// with ErrUnavailable (which matches ErrRequestTimeout too).
//
// Redis is never on the emitting handler's path: broadcasts, requests and
// answers for the other nodes go into a bounded queue (Options.QueueSize)
// that the adapter's own goroutine sends in order, pipelined, and local
// delivery does not wait for it. When a send fails the batch is kept;
// once Redis answers a PING it is sent again, then the rest, so the other
// nodes get what was broadcast during the outage, in order (the batch in
// flight when Redis hung may reach them twice: at-least-once). When the
// queue is full the newest messages are dropped; requests and answers
// still queued after RequestsTimeout are dropped too. Stats returns the
// counts (Queued, Sent, Dropped, Failures) for metrics, and drops are
// logged; a broadcast, socketsJoin and the like dropped for a full queue
// returns ErrQueueFull (so socketio's Emit does), its local part done. The subscription reconnects and subscribes again on its own.
// Pub/sub keeps nothing for a node not subscribed at the time, so after
// an outage (a Redis restart) the queue waits, up to 2 s, until as many
// nodes are subscribed as before, and a batch that reached fewer of them
// while the client was reconnecting is sent again; what is published
// while another node's subscription is broken still does not reach it.
//
// Give the Redis client timeouts: go-redis ignores context deadlines
// unless redis.Options.ContextTimeoutEnabled is set. Set it, with
// ReadTimeout and WriteTimeout of a second or so (and a DialTimeout);
// otherwise a hung Redis holds the adapter's sender, and Close, for
// ReadTimeout times MaxRetries+1 per attempt.
//
// # Goroutines
//
// Each namespace's adapter runs one goroutine reading its subscription,
// one sending to Redis and one running server-side event handlers in
// order (the sharded adapter one more, for its room subscriptions); Close sends what is queued (if Redis answers within
// RequestsTimeout) and stops them. The adapters are safe for concurrent
// use.
package redisadapter
