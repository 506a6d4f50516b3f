package client

import (
	"encoding/json"
	"errors"
	"strconv"
)

// Disconnect reasons, as the JavaScript client names them.
const (
	// ReasonIOServerDisconnect: the server disconnected the socket. The
	// socket does not reconnect by itself; call Connect.
	ReasonIOServerDisconnect = "io server disconnect"
	// ReasonIOClientDisconnect: Disconnect or Close was called.
	ReasonIOClientDisconnect = "io client disconnect"
	// ReasonPingTimeout: no ping came within pingInterval+pingTimeout.
	ReasonPingTimeout = "ping timeout"
	// ReasonTransportClose: the server closed the connection.
	ReasonTransportClose = "transport close"
	// ReasonTransportError: the connection failed.
	ReasonTransportError = "transport error"
	// ReasonParseError: the server sent something that could not be
	// decoded.
	ReasonParseError = "parse error"
)

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
	StatusCode int
	Body       string
}

// Error describes the answer.
func (e *HTTPError) Error() string {
	return "client: HTTP " + strconv.Itoa(e.StatusCode) + ": " + e.Body
}

var reservedEvents = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true,
	"disconnecting": true, "newListener": true, "removeListener": true,
}
