// Package redisstreams is a socketio.Adapter over one Redis stream,
// compatible with Node's @socket.io/redis-streams-adapter, with
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
// # Use
//
//	io := socketio.NewServer(&socketio.Options{
//		Recovery: &socketio.RecoveryOptions{MaxDisconnectionDuration: 2 * time.Minute},
//		Adapter:  redisstreams.New(rdb, nil),
//	})
//
// # Goroutines
//
// Each namespace's adapter runs one goroutine reading the stream (and
// sending heartbeats) and one running server-side event handlers; Close
// stops both. When Redis goes away, local delivery goes on, reads are
// retried, and delivery resumes from where the stream was left.
package redisstreams
