// Package socketio implements a Socket.IO v5 server on top of package
// engineio, compatible with the official JavaScript client v3 and v4.
//
// # Namespaces and sockets
//
// A Server has namespaces ("/" and any created with Of, or dynamically by
// OfRegexp/OfMatch). A client connection joins namespaces; each join is a
// Socket, which passes the namespace's middlewares (Use) before the
// connection handlers (OnConnection) run.
//
//	io := socketio.NewServer(nil)
//	io.Use(func(s *socketio.Socket) error { ... return &socketio.ConnectError{Message: "denied"} })
//	io.OnConnection(func(s *socketio.Socket) {
//		s.On("message", func(e *socketio.Event) { _ = e.Ack("received") })
//	})
//
// # Arguments
//
// Received arguments are Args: raw JSON per argument with binary
// attachments aside, decoded on demand (Args.Decode, Args.String,
// Args.Bytes). Emit accepts Go values: []byte travels as a binary
// attachment at any depth of maps and slices, json.RawMessage is written
// verbatim, and an Args value is spliced in as received.
//
// # Packets
//
// Packet is the wire form: Decode parses a packet's text, Packet.Encode
// gives the Engine.IO messages that carry it, and a Decoder reassembles a
// binary packet from its text and attachments, as the server and the Go
// client (package client) both read.
//
// # Rooms and broadcasts
//
// Sockets join rooms; every socket is in the room named by its id. A
// BroadcastOperator (To, In, Except, Volatile, Local) selects sockets and
// emits to them, with or without acks, or applies FetchSockets,
// SocketsJoin, SocketsLeave and DisconnectSockets. A broadcast is encoded
// once and the same bytes are queued on every recipient.
//
// # Adapters
//
// Rooms and broadcasts go through the namespace's Adapter: MemoryAdapter
// for one node, or a cluster adapter (adapter/redisadapter,
// adapter/redisstreams, or one over another transport with
// adapter/cluster) that carries broadcasts and requests to the other
// nodes. The calls that may reach other nodes return the adapter's error:
// Emit, SocketsJoin, SocketsLeave and DisconnectSockets once the local
// sockets are served (the other nodes may miss that one, as when the
// adapter's queue to Redis is full; the adapter counts and logs it);
// FetchSockets, EmitWithAck and ServerSideEmitWithAck with what arrived.
// The adapter gets the caller's context where the call takes one, else
// one that ends within 5 seconds.
//
// # Writing an adapter
//
// An adapter embeds a MemoryAdapter for its local part, overrides the
// methods that concern the other nodes, and serves what they send with
// the MemoryAdapter's methods for adapter authors:
//   - Deliver sends a packet to the matching local sockets, with the
//     recovery offset of the adapter's own history if it keeps one;
//   - KeepsForRecovery tells which broadcasts recovery keeps, and
//     Recovery returns its options;
//   - HandleServerSideEmit hands another node's server-side event to the
//     namespace's OnServerSideEmit handler.
//
// Session.AddMissed builds a restored session from such a history;
// EventPacket and NewArgs build packets and arguments from Go values and
// raw JSON. Optional capabilities are found by type assertion:
// SessionAwareAdapter (connection state recovery, which MemoryAdapter
// keeps in memory), SessionKeeper (sessions of connected sockets kept too,
// so a node that dies unaware loses none) and AdapterCloser. Package adapter/cluster is the
// cluster part for any transport.
//
// # Connection state recovery
//
// With Options.Recovery, a socket that lost its connection for a
// transport reason keeps its id, rooms and data for a while; when the
// client comes back it gets them, and the broadcasts it missed, and
// Socket.Recovered reports true. The MemoryAdapter keeps the packets for
// replay within RecoveryOptions.MaxBufferBytes, dropping the oldest; a
// client that missed a dropped packet is not recovered but gets a fresh
// session, and must re-sync. With RecoveryOptions.RunMiddlewares a
// recovered socket passes the middlewares again, with its id and data
// restored (its rooms are joined once they pass); a refusal answers
// CONNECT_ERROR and replays nothing.
//
// # Disconnect reasons
//
// OnDisconnecting and OnDisconnect handlers get a Reason, with the
// reference's values (ReasonTransportClose, ReasonPingTimeout,
// ReasonServerNamespaceDisconnect, ...): the transport's reasons are
// engineio's, passed on as they are. An ack awaited from a socket that
// disconnected fails with a *CloseError wrapping ErrDisconnected;
// CloseReason(err) tells why, as errors.As would.
//
// # Limits
//
// What a client can make the server hold is bounded, and each bound has
// a figure for metrics:
//   - a binary packet waiting for its attachments: MaxAttachmentBytes per
//     connection, AttachmentTimeout, MaxPendingAttachmentBytes across the
//     server, MaxAttachments attachments (Server.AttachmentStats); past
//     any, the connection closes with ReasonParseError;
//   - the recovery buffer: RecoveryOptions.MaxBufferBytes per namespace
//     (MemoryAdapter.RecoveryStats);
//   - what is queued for a slow client: engineio.Options.MaxQueuedPackets;
//   - with MsgpackParser, a packet is one message (engineio's MaxPayload)
//     of at most 1,000 levels of nesting and 1,000 bin values, its
//     declared lengths checked against the message before use; past any,
//     ReasonParseError. Nothing is held between messages.
//
// # Concurrency
//
// All methods are safe for concurrent use. Event handlers of one
// connection run one at a time, in order, on its read path: a handler that
// waits for the same client (EmitWithAck to it) must do so in a goroutine.
// A handler's panic is recovered and logged; the connection goes on.
package socketio
