package socketio

import "github.com/heraldio/herald/engineio"

// Reason says why a socket disconnected, with the reference's words: the
// value OnDisconnecting and OnDisconnect handlers get. It is
// engineio.Reason: the transport's reasons reach the sockets as they are.
type Reason = engineio.Reason

// The reasons a socket disconnects for. The first five are the Engine.IO
// connection's (see engineio.Reason).
const (
	ReasonTransportClose = engineio.ReasonTransportClose
	ReasonTransportError = engineio.ReasonTransportError
	ReasonPingTimeout    = engineio.ReasonPingTimeout
	ReasonParseError     = engineio.ReasonParseError
	ReasonForcedClose    = engineio.ReasonForcedClose

	// ReasonServerNamespaceDisconnect: the server called
	// Socket.Disconnect (with closeConn, each socket of the connection gets
	// this reason before the connection closes).
	ReasonServerNamespaceDisconnect Reason = "server namespace disconnect"
	// ReasonClientNamespaceDisconnect: the client left the namespace.
	ReasonClientNamespaceDisconnect Reason = "client namespace disconnect"
	// ReasonServerShuttingDown: Server.Shutdown.
	ReasonServerShuttingDown Reason = "server shutting down"
	// ReasonForcedServerClose: the server closed the connection because
	// the client broke the protocol's state (a CONNECT for a namespace it
	// is already in, a CONNECT_ERROR), as the reference does. As there,
	// Disconnect(true) disconnects each socket from its namespace first,
	// so a handler sees ReasonServerNamespaceDisconnect instead.
	ReasonForcedServerClose Reason = "forced server close"
)

// recoverable lists the reasons after which a session is kept for
// connection state recovery.
var recoverable = map[Reason]bool{
	ReasonTransportError: true, ReasonTransportClose: true, ReasonForcedClose: true,
	ReasonPingTimeout: true, ReasonServerShuttingDown: true, ReasonForcedServerClose: true,
}

// CloseError carries the Reason a socket disconnected for, and the error
// it caused: an ack awaited from a socket that disconnected fails with
// one wrapping ErrDisconnected. It is engineio.CloseError.
type CloseError = engineio.CloseError

// CloseReason returns the reason of the first *CloseError in err's chain,
// or "" when there is none.
func CloseReason(err error) Reason { return engineio.CloseReason(err) }
