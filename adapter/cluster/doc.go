// Package cluster is the core of a socketio.Adapter spanning several
// nodes, apart from what carries its messages: Node's ClusterAdapter
// (socket.io-adapter's cluster-adapter.ts), whose messages the Redis
// sharded and streams adapters of Node and Herald exchange. A transport
// over another broker is one small package: a Transport and a type that
// embeds Cluster.
//
// # Messages
//
// A Cluster turns each adapter operation that concerns the other nodes
// into a Message ({uid, nsp, type, data}, the types of Node's
// MessageType): broadcasts, with or without acks, socketsJoin and
// socketsLeave, disconnectSockets, fetchSockets, serverSideEmit, and the
// answers to requests, addressed to the node that asked (Message.To).
// It keeps the requests waiting for answers; a request waits for every
// other node until its context is done or RequestsTimeout passes, then
// returns what arrived with ErrRequestTimeout.
//
// # Transports
//
// A Transport publishes messages without waiting for the network (ctx
// bounds what else it waits for) and calls Cluster.Handle with those of
// the other nodes. What else it
// implements decides the rest:
//   - a ServerCounter counts the nodes (Redis PUBSUB NUMSUB); without one,
//     the nodes announce themselves with heartbeats (Node's
//     ClusterAdapterWithHeartbeat) and a node is counted while heard from
//     within Options.HeartbeatTimeout;
//   - an OffsetTransport gives messages offsets (a stream's entry ids),
//     which become the recovery offsets of broadcasts on every node;
//   - a Reachability lets requests fail at once (ErrUnavailable) while
//     the other nodes are out of reach.
//
// # Writing an adapter
//
//	type Adapter struct {
//		*cluster.Cluster
//		// the transport's state
//	}
//
//	func New(...) socketio.AdapterFactory {
//		return func(nsp *socketio.Namespace) socketio.Adapter {
//			t := &transport{...}            // implements cluster.Transport
//			a := &Adapter{Cluster: cluster.New(nsp, t, nil)}
//			t.cluster = a.Cluster           // receives into Handle
//			// subscribe, start receiving, then:
//			a.Start()
//			return a
//		}
//	}
//
// The adapter's Close(ctx) calls Cluster.Close, then stops its transport.
//
// # Errors
//
// The operations that send return the transport's error (a full queue, a
// closed transport) after doing their local part: socketio's Emit and
// the like return it to the handler. Requests return what arrived with
// ErrRequestTimeout when some node did not answer in time, at once with
// ErrUnavailable while a Reachability transport is cut off. What no
// caller waits for (answers, heartbeats) the transport counts and logs.
//
// # Goroutines
//
// A Cluster runs one goroutine for the handlers of server-side events (in
// order: they may ask the other nodes in turn), and, with heartbeats, one
// sending them; Close stops both. It is safe for concurrent use.
package cluster
