// Package engineio implements the server side of the Engine.IO v4
// protocol, the transport layer under Socket.IO: a handshake, the HTTP
// long-polling and WebSocket transports, the upgrade from one to the
// other, heartbeats, and the protocol's error answers.
//
// With Options.AllowEIO3 it also serves Engine.IO v3 clients (those of
// socket.io-client 2.x): their payloads, binary frames and client-side
// pings (see AllowEIO3). A packet is the same for both: a v3 session's
// frames and polling payloads are made from it as it goes out, so one
// broadcast serves v3 and v4 sessions alike.
//
// # Usage
//
// A Server is an http.Handler. Each new session is a Conn; the function
// given to NewServer returns the Handler that receives its messages:
//
//	srv := engineio.NewServer(&engineio.Options{PingInterval: 25 * time.Second},
//		func(c *engineio.Conn) engineio.Handler { return myHandler{c} })
//	http.Handle("/engine.io/", srv)
//
// # Sending
//
// Conn.Send queues packets. A *Packet may be queued on any number of
// connections: its WebSocket frame is built once and shared, so a
// broadcast costs one encoding whatever the number of recipients. Ready
// frames are written together with one writev.
//
// A WebSocket connection sent nothing for Options.CoalesceWindow (default
// 3 ms) is written to at once, by Send itself, with a non-blocking write.
// One sent a packet more recently keeps what it is sent for one window,
// and the server's coalescer then writes all of it with one writev: a client that receives frames faster than one per
// window costs one system call per window, for at most a window of added
// latency, and a lone message is never delayed. Order per connection is
// kept; Close writes what waits first, a connection that fails drops it.
// Server.WriteStats counts the coalesced writes.
//
// The packet codec (packet types, a packet's text form, polling payloads)
// is package engineio/packet, which the Go client uses too; a Packet here
// is a packet.Packet with the WebSocket frames the server builds for it.
//
// # Resources
//
// An idle WebSocket connection holds no goroutine and no buffer: a shared
// epoll poller wakes it when data arrives (elsewhere than on Linux, a
// reader goroutine per connection is used). A writer goroutine runs only
// while something is queued, and the coalescer's one goroutine per Server
// only while some connection waits for its window to end. Each connection's queue is bounded
// (Options.MaxQueuedPackets): a client that does not keep up is closed
// with ErrSlowClient rather than slowing others or growing memory.
//
// What a client sends is never trusted for sizes: buffers for a polling
// body or a WebSocket frame grow with the bytes that arrive, up to
// MaxPayload, and a compressed message is inflated only up to it. A
// message that has begun must arrive within Options.ReadTimeout, or the
// connection is closed with ErrReadTimeout. Of the handshake request a
// connection keeps only a copy of its URI and headers, within
// Options.MaxHeaderBytes (see Request).
//
// # Clusters without affinity
//
// A session lives on the server that opened it, and long-polling sends
// each of its requests anew. Behind a load balancer that does not pin
// them, Options.GenerateID can make ids that say which node holds the
// session, and Options.Forward is handed every request for a session
// this server does not hold (a polling GET or POST, a WebSocket upgrade)
// before it is refused with "Session ID unknown": the herald service
// reverse-proxies it to the owner. The lookup of a session held here is
// the same map access with or without them.
//
// # Disconnect reasons
//
// Handler.OnClose gets a Reason with the reference's values
// (ReasonTransportClose, ReasonTransportError, ReasonPingTimeout,
// ReasonParseError, ReasonForcedClose) and the error that caused it, if
// any. CloseError carries a reason as an error; CloseReason finds it in a
// chain.
//
// # Concurrency
//
// Server and Conn methods are safe for concurrent use. Handler methods are
// called one at a time per connection, from its read path: a slow handler
// delays only its own connection. Shutdown closes every connection and
// waits for them; the Server owns and stops every goroutine it starts.
//
// # Who owns what
//
// A Conn owns its session, all under its mutex: the state (open, closing,
// closed), the queue and who writes it (the write flags, the coalescer's
// turn), whether a pong is due (the heartbeat deadlines themselves sit in
// the server's shared lists), the upgrade's one state value (upgrade.go)
// and the single close path (closeWith, then finishLocked, then
// afterClose, which calls OnClose once). The transports below it, the
// polling transport (polling.go) and each WebSocket (websocket*.go), keep
// only their own I/O state and report to the Conn: what they read with
// received, their failure or end with transportClosed; the Conn decides
// what that does to the session (a probe's failure ends only the upgrade).
//
// A packet in: the poller's callback (or, without the poller, the
// WebSocket's reader goroutine) or the POST's handler goroutine reads
// and decodes it and calls received, which calls Handler.OnMessage on that
// goroutine. A packet out: Send queues it; a WebSocket with nothing
// pending is written at once by the sender without blocking, else by the
// reader when it finishes, by the coalescer when a window ends, or by a
// writer goroutine started for a socket that did not take everything; a
// polling session's waiting GET is woken to answer the queue.
//
// Goroutines per connection: none while an idle WebSocket waits (the
// poller), a writer only while a write is unfinished, one per HTTP request
// (net/http's) for polling, and short-lived ones for closing sockets;
// every one is counted so that Shutdown waits for it.
package engineio
