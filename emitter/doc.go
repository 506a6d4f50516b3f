// Package emitter sends Socket.IO events from any Go process through
// Redis to the sockets of a cluster that uses the classic Redis adapter
// (Herald's adapter/redisadapter or Node's @socket.io/redis-adapter), as
// Node's @socket.io/redis-emitter does: the same channels, the same bytes,
// uid "emitter".
//
//	e := emitter.New(rdb, nil)
//	err := e.To("user:42").Emit(ctx, "notification", map[string]any{"title": "hi"})
//	err = e.Of("/chat").In("room:general").SocketsJoin(ctx, "announcements")
//
// Arguments are encoded as a server emit encodes them (encoding/json for
// structs, []byte as binary); the servers deliver them unchanged. An
// emitter cannot wait for acks: it is not counted as a node.
//
// An Emitter and its Operators are immutable values, safe for concurrent
// use; they own no goroutine. Every call that talks to Redis takes a
// context.
package emitter
