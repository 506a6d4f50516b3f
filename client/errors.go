package client

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/heraldio/herald/socketio"
)

// Reason says why a socket disconnected, with the JavaScript client's
// words: the value OnDisconnect handlers get. It is socketio.Reason (and
// engineio.Reason), so the server's and the client's reasons are one
// type; CloseReason reads one from an error.
type Reason = socketio.Reason

// The reasons a socket disconnects for, as the JavaScript client names
// them.
const (
	// ReasonIOServerDisconnect: the server disconnected the socket. The
	// socket does not reconnect by itself; call Connect.
	ReasonIOServerDisconnect Reason = "io server disconnect"
	// ReasonIOClientDisconnect: Disconnect or Close was called.
	ReasonIOClientDisconnect Reason = "io client disconnect"
	// ReasonPingTimeout: no ping came within pingInterval+pingTimeout.
	ReasonPingTimeout = socketio.ReasonPingTimeout
	// ReasonTransportClose: the server closed the connection.
	ReasonTransportClose = socketio.ReasonTransportClose
	// ReasonTransportError: the connection failed.
	ReasonTransportError = socketio.ReasonTransportError
	// ReasonParseError: the server sent something that could not be
	// decoded.
	ReasonParseError = socketio.ReasonParseError
	// ReasonForcedClose: the Manager closed the connection, or the
	// server did not finish its close in time.
	ReasonForcedClose = socketio.ReasonForcedClose
)

// CloseError carries the Reason a connection ended for and the error
// that caused it, if any: WaitConnected's error after the Manager gave up
// wraps one. It is socketio.CloseError.
type CloseError = socketio.CloseError

// CloseReason returns the reason of the first *CloseError in err's chain,
// or "" when there is none.
func CloseReason(err error) Reason { return socketio.CloseReason(err) }

// Sentinel errors.
var (
	// ErrClosed is returned by the methods of a closed Manager or Socket.
	ErrClosed = errors.New("client: closed")
	// ErrDisconnected is returned for an ack awaited on a connection that
	// was lost, and by Event.Ack when the socket is no longer connected.
	ErrDisconnected = errors.New("client: socket disconnected")
	// ErrBufferFull is returned by an emit while disconnected when
	// MaxBufferedPackets are already waiting.
	ErrBufferFull = errors.New("client: send buffer full")
	// ErrReservedEvent is returned when emitting an event name the
	// protocol reserves (connect, connect_error, disconnect,
	// disconnecting, newListener, removeListener).
	ErrReservedEvent = errors.New("client: reserved event name")
	// ErrAlreadyAcked is returned by a second Event.Ack.
	ErrAlreadyAcked = errors.New("client: event already acknowledged")
	// ErrNoAck is returned by Event.Ack when the sender asked for none.
	ErrNoAck = errors.New("client: event has no ack")
	// ErrHandshake wraps a failed Engine.IO handshake.
	ErrHandshake = errors.New("client: engine.io handshake failed")
	// ErrReconnectFailed is returned by WaitConnected when the Manager
	// gave up reconnecting (ReconnectionAttempts reached, or reconnection
	// disabled).
	ErrReconnectFailed = errors.New("client: reconnection failed")
)

// ConnectError is the server's refusal of a namespace (a CONNECT_ERROR
// packet): the message and optional data a middleware gave.
type ConnectError struct {
	// Message is the server's message.
	Message string
	// Data is the raw JSON of the data field, nil when there is none.
	Data json.RawMessage
}

// Error returns the server's message.
func (e *ConnectError) Error() string { return e.Message }

// HTTPError is an unexpected HTTP answer to a long-polling request; Body
// holds the Engine.IO error JSON, such as {"code":1,"message":"Session ID
// unknown"}.
type HTTPError struct {
	StatusCode int    // the HTTP status
	Body       string // the answer's body
}

// Error describes the answer.
func (e *HTTPError) Error() string {
	return "client: HTTP " + strconv.Itoa(e.StatusCode) + ": " + e.Body
}

var reservedEvents = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true,
	"disconnecting": true, "newListener": true, "removeListener": true,
}
