// Package client is a Socket.IO v5 client (Engine.IO v4), compatible with
// Herald's server and the reference Node server; its behaviour and option
// names follow the official JavaScript client.
//
// # Connecting
//
// Dial joins one namespace (the URL's path) and waits for the server's
// answer:
//
//	s, err := client.Dial(ctx, "https://example.com/chat", &client.Options{
//		SocketOptions: client.SocketOptions{Auth: map[string]any{"token": token}},
//	})
//
// A middleware's refusal comes back as a *ConnectError with the server's
// message and data. To have handlers in place before the first events,
// use NewSocket, register them, then Connect and WaitConnected.
//
// # Managers and namespaces
//
// A Manager is one Engine.IO connection; Manager.Socket returns the socket
// of a namespace on it, so several namespaces share the connection. The
// Manager opens the connection when a socket connects and closes it when
// the last one leaves.
//
// # Transports
//
// By default the session opens with HTTP long-polling and upgrades to
// WebSocket (Options.Transports, Options.DisableUpgrade). The client
// answers the server's heartbeats and closes the connection with reason
// "ping timeout" when none comes within pingInterval+pingTimeout; polling
// request bodies respect the server's maxPayload.
//
// # Events and acks
//
// Emit sends Go values as JSON; []byte, at any depth, travels as a binary
// attachment. Received arguments are socketio.Args. EmitWithAck waits for
// the server's answer within a context; a handler answers the server's
// acks with Event.Ack. VolatileEmit drops the event when it cannot be sent
// at once.
//
// # Reconnection
//
// When the connection is lost (transport close or error, ping timeout)
// the Manager reconnects with exponential backoff and jitter
// (ReconnectionDelay, ReconnectionDelayMax, RandomizationFactor,
// ReconnectionAttempts, with the JavaScript client's defaults) and the
// sockets join their namespaces again, calling AuthFunc again for a fresh
// token. It does not when the server disconnected the socket ("io server
// disconnect") or refused it (a connect error): call Connect for that.
// Events emitted while disconnected are buffered (MaxBufferedPackets) and
// sent on reconnection; volatile ones are dropped. SocketOptions.Resync
// runs after each reconnection, to fetch what the client may have missed.
//
// # Connection state recovery
//
// When the server has recovery enabled, its CONNECT answer carries a
// session id; the socket keeps it, and the last string argument of the
// events it receives as the offset, and sends both with the next CONNECT.
// If the server restores the session, Socket.Recovered reports true, the
// id is the same, and the missed events arrive before the connect event.
//
// # Concurrency
//
// All methods are safe for concurrent use. Handlers (events and life
// cycle) run one at a time on a goroutine of the Manager, in the order
// things happened; they may emit and wait for acks, but a handler that
// blocks delays the next ones. Close stops every goroutine the Manager
// started and waits for them.
package client
