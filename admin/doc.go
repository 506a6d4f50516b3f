// Package admin serves the Socket.IO Admin UI (the browser application of
// the npm package @socket.io/admin-ui, hosted at admin.socket.io or
// served from the package's ui/dist) from a Herald socketio.Server: it
// speaks, on an admin namespace ("/admin"), the protocol of the package's
// Node side, instrument(io, opts).
//
//	a, err := admin.Instrument(io, admin.Options{
//		Auth: &admin.BasicAuth{Username: "admin", PasswordHash: "$2b$10$..."}, // bcrypt
//	})
//	defer a.Close(ctx)
//
// The UI's origin must pass the server's CORS (engineio.Options.CORS, with
// Credentials: the UI connects withCredentials).
//
// # What the UI gets
//
//   - config: the supported features (EMIT, JOIN, LEAVE, DISCONNECT and
//     their M* forms unless ReadOnly; AGGREGATED_EVENTS; ALL_EVENTS
//     unless Production);
//   - server_stats every StatsInterval from every node: its id, host
//     name, pid, uptime, Engine.IO connections, those on polling, the
//     aggregated connections and disconnections of the interval, the
//     Engine.IO message packets and their bytes in and out
//     (engineio.Server.CountTraffic, on while the Admin is), and its
//     namespaces with their socket counts;
//   - unless Production: all_sockets on login (every namespace's sockets
//     on every node, through the adapter's FetchSockets), and as they
//     happen socket_connected, socket_updated (a transport upgrade),
//     socket_disconnected, room_joined, room_left, event_received and
//     event_sent (the events a socket's own Emit sends, not broadcasts).
//
// Each node sends what happens on it to the admin namespace's sockets on
// every node, through that namespace's adapter, so a UI logged in to one
// node of a cluster sees them all.
//
// # Actions
//
// join, leave, _disconnect and emit (namespace, then a room or an
// optional filter room, which a socket's id names alone) are carried out
// on every node, through the adapter (SocketsJoin, SocketsLeave,
// DisconnectSockets, Emit). Only namespaces that exist on this node are
// acted on: a name the UI sends never creates one. With ReadOnly they are
// refused. An action sent with an ack is answered {ok: true} or
// {error: message}.
//
// # Authentication
//
// Basic: a user name and a bcrypt hash of the password, as the npm
// package's auth option. A login gets a session id (the session event),
// which the UI presents when it reconnects; it is signed (HMAC-SHA256) and
// expires after SessionTTL, so nodes with the same SessionKey accept each
// other's sessions without shared state. No authentication only with
// NoAuth set explicitly. At most four password checks run at a time (each
// costs bcrypt's work); a login past that is refused.
//
// # Goroutines
//
// An Admin runs one goroutine, which sends the notifications (from a
// queue of QueueSize; past it they are dropped and counted) and the
// stats, and one per login while it fetches the sockets. Close stops
// them and waits. The monitor callbacks it adds to the server (see
// socketio.Monitor) take a mutex briefly and never block.
package admin
