package socketio

import (
	"slices"

	"github.com/heraldio/herald/engineio"
)

// Monitor is told what happens on a server, for instrumentation such as
// an admin dashboard (package admin) or tracing. Nil fields are skipped.
// The functions run on the goroutine doing the work (a connection's read
// path, the caller of Join, a broadcast's delivery) with none of the
// library's locks held; they must not block: hand the news to a bounded
// queue.
type Monitor struct {
	// ConnOpened is called when an Engine.IO connection has been
	// accepted, ConnClosed when it has ended, after its sockets'
	// Disconnected.
	ConnOpened func(c *engineio.Conn)
	ConnClosed func(c *engineio.Conn, reason Reason)
	// Connected is called when a socket of any namespace has connected
	// (its middlewares passed), before the connection handlers run.
	Connected func(s *Socket)
	// Disconnected is called once a socket has left its namespace, after
	// Left for each of its rooms.
	Disconnected func(s *Socket, reason Reason)
	// Joined is called for each room a connected socket joins that it
	// was not in (with SocketsJoin on any node too); Left for each room it
	// leaves, its own id's included when it disconnects.
	Joined func(s *Socket, room string)
	Left   func(s *Socket, room string)
	// Received is called for each event a socket receives, before its
	// handlers. The event must not be kept: its arguments alias the
	// connection's read buffer.
	Received func(e *Event)
	// Sent is called for each event a socket's own Emit, EmitTransient,
	// VolatileEmit or EmitWithAck sends, once it is encoded (not for
	// broadcasts). Its Args are the event's as encoded; HasAck tells an
	// EmitWithAck. The event may be kept; Ack does nothing on it.
	Sent func(e *Event)
}

// AddMonitor adds m to the server's monitors; the function it returns
// removes it. A server without monitors pays one atomic load per
// notification point.
func (s *Server) AddMonitor(m *Monitor) (remove func()) {
	s.mu.Lock()
	cur := s.loadMonitors()
	next := append(slices.Clip(cur), m)
	s.monitors.Store(&next)
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		cur := s.loadMonitors()
		next := slices.DeleteFunc(slices.Clone(cur), func(x *Monitor) bool { return x == m })
		s.monitors.Store(&next)
		s.mu.Unlock()
	}
}

func (s *Server) loadMonitors() []*Monitor {
	if p := s.monitors.Load(); p != nil {
		return *p
	}
	return nil
}

// Namespaces returns the server's namespaces on this node, the children
// of parent namespaces among them.
func (s *Server) Namespaces() []*Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Namespace, 0, len(s.nsps))
	for _, n := range s.nsps {
		out = append(out, n)
	}
	return out
}

// Namespace returns the namespace name if it exists on this node, or nil;
// unlike Of it never creates one.
func (s *Server) Namespace(name string) *Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nsps[name]
}
