package cluster

import (
	"context"
	"encoding/json"
)

// MessageType is the type of a cluster message, numbered as Node's
// socket.io-adapter numbers them.
type MessageType int

// The message types of Node's cluster adapter.
const (
	MsgInitialHeartbeat       MessageType = 1
	MsgHeartbeat              MessageType = 2
	MsgBroadcast              MessageType = 3
	MsgSocketsJoin            MessageType = 4
	MsgSocketsLeave           MessageType = 5
	MsgDisconnectSockets      MessageType = 6
	MsgFetchSockets           MessageType = 7
	MsgFetchSocketsResponse   MessageType = 8
	MsgServerSideEmit         MessageType = 9
	MsgServerSideEmitResponse MessageType = 10
	MsgBroadcastClientCount   MessageType = 11
	MsgBroadcastAck           MessageType = 12
	MsgAdapterClose           MessageType = 13
)

// Message is one cluster message, {uid, nsp, type, data} in Node's form:
// Data is JSON whose placeholders ({"_placeholder":true,"num":i}) refer to
// Attachments. The Cluster fills every field of what it sends; of a
// received message a transport fills UID, Nsp, Type, Data and
// Attachments.
type Message struct {
	// UID is the sending node's id; Nsp its namespace.
	UID string
	Nsp string
	// Type says what Data holds; Attachments are the binary parts its
	// placeholders refer to.
	Type        MessageType
	Data        json.RawMessage
	Attachments [][]byte
	// To is the node an answer is for ("" for every node).
	To string
	// Room is the one room a broadcast without acks is for (a socket's
	// own room included), for a transport that may send it on that room's
	// channel; "" for any other message.
	Room string
	// Ephemeral marks what is only of use to nodes alive now and has no
	// place in a log such as a stream: requests, server-side emits,
	// broadcasts with acks (Node's streams adapter sends these over
	// pub/sub).
	Ephemeral bool
}

// Lasting reports whether m is of use to the other nodes whenever it
// reaches them. Requests, answers and heartbeats are not: a transport
// that holds messages while its broker is away drops those once they are
// RequestsTimeout old.
func (m *Message) Lasting() bool {
	return !m.Ephemeral && m.To == "" && m.Type != MsgHeartbeat && m.Type != MsgInitialHeartbeat
}

// Transport carries cluster messages between the nodes of a namespace.
// The transport calls Cluster.Handle with each message of the other
// nodes.
type Transport interface {
	// Publish sends m to the other nodes (to node m.To only, when set).
	// It must not wait for the network: a transport queues m and sends
	// it on a goroutine of its own, in order; ctx bounds what it may wait
	// for besides. An error says m may not reach them (the queue is full,
	// the transport closed, m cannot be encoded).
	Publish(ctx context.Context, m *Message) error
}

// OffsetTransport is a Transport whose messages get offsets, as a
// stream's entries get ids. With one, the offset of a broadcast's message
// is its recovery offset on every node, so that a client may recover on
// any node (the transport keeps the sessions: see
// socketio.Adapter's PersistSession and RestoreSession).
type OffsetTransport interface {
	Transport
	// PublishOffset is Publish that waits, a short bounded time (and not
	// past ctx), for m's offset and returns it; when the offset does not
	// come in time, it returns the latest offset the transport knows (""
	// if none), from which a recovering client gets m too, once it is
	// written.
	PublishOffset(ctx context.Context, m *Message) (string, error)
}

// ServerCounter is a Transport that counts the nodes itself (Redis
// PUBSUB NUMSUB). A Cluster whose transport is not one counts the nodes
// by heartbeats.
type ServerCounter interface {
	// ServerCount returns the number of nodes serving the namespace,
	// this one included.
	ServerCount(ctx context.Context) (int, error)
}

// Reachability is a Transport that knows when the other nodes are out
// of its reach (its broker is away): meanwhile requests fail at once
// with ErrUnavailable instead of waiting for answers that cannot come.
type Reachability interface {
	// Reachable reports whether messages are believed to reach the other
	// nodes now.
	Reachable() bool
}
