package engineio

import "errors"

// Reason says why a connection closed, with the reference
// implementation's words: Handler.OnClose gets it, and through Socket.IO
// so do the disconnect listeners. Its values print and compare as the
// reference's reason strings.
type Reason string

// The reasons an Engine.IO connection closes for.
const (
	// ReasonTransportClose: the client closed the connection (a close
	// packet or frame, or the socket ended).
	ReasonTransportClose Reason = "transport close"
	// ReasonTransportError: the transport failed: a read or write error,
	// a protocol violation, a client too slow (ErrSlowClient,
	// ErrReadTimeout), overlapping or aborted polling requests.
	ReasonTransportError Reason = "transport error"
	// ReasonPingTimeout: no pong came within PingTimeout of a ping.
	ReasonPingTimeout Reason = "ping timeout"
	// ReasonParseError: the client sent what could not be decoded.
	ReasonParseError Reason = "parse error"
	// ReasonForcedClose: the server closed the connection (Conn.Close,
	// Server.Shutdown).
	ReasonForcedClose Reason = "forced close"
)

// CloseError is the end of a connection or of what depended on it: the
// reason and, when an error caused it, that error (see Unwrap).
type CloseError struct {
	Reason Reason
	Err    error // the cause, nil when there is none
}

// Error returns the reason, and the cause when there is one.
func (e *CloseError) Error() string {
	if e.Err == nil {
		return "engineio: " + string(e.Reason)
	}
	return "engineio: " + string(e.Reason) + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *CloseError) Unwrap() error { return e.Err }

// CloseReason returns the reason of the first *CloseError in err's chain,
// or "" when there is none.
func CloseReason(err error) Reason {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return ""
}
