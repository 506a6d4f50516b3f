// Package redisadapter is a socketio.Adapter that spans several nodes over
// Redis, wire-compatible with Node's @socket.io/redis-adapter (v8): Go and
// Node servers can share one cluster, and Node's @socket.io/redis-emitter
// (or this module's emitter package) reaches both.
//
// # Variants
//
// New (or NewWithSubscriber) is the classic adapter over PUBLISH and
// PSUBSCRIBE, like Node's createAdapter. NewSharded uses Redis 7 sharded
// pub/sub (SPUBLISH, SSUBSCRIBE), like createShardedAdapter. The variant
// over a Redis stream, with connection state recovery across nodes, is in
// package adapter/redisstreams.
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
// SHARDNUMSUB.
//
// Herald packets keep their arguments as raw JSON with binary attachments;
// the adapters convert them to and from Node's form without going through
// Go maps, so key order and numbers arrive as they were sent (see Parser).
//
// # Failures
//
// A request waits for every other node's answer until its context is done
// or RequestsTimeout passes, then returns what arrived with
// ErrRequestTimeout. When Redis goes away, local delivery goes on and
// failed publishes are logged; the subscription reconnects and subscribes
// again on its own, and cross-node delivery resumes.
//
// # Goroutines
//
// Each namespace's adapter runs one goroutine reading its subscription and
// one running server-side event handlers in order; Close stops both. The
// adapters are safe for concurrent use.
package redisadapter
