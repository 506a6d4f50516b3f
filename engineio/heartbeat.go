package engineio

import (
	"sync"
	"time"
)

// Heartbeats. A connection pings its client PingInterval after its
// handshake and after each pong, and is closed when no pong comes within
// PingTimeout of when its ping was due (see scheduleFrom). A ping's
// deadline is the time it was set plus PingInterval, a pong's the ping's
// plus PingTimeout, so the connections waiting for each kind of deadline
// are in deadline order when each is appended at the tail of its kind's
// list. One timer per server, set for the earliest head, serves
// them all: a connection carries two links and a deadline instead of a
// runtime timer of its own (the timer, its slot in the runtime's timer
// heap and the callback's closure: about 180 bytes of every idle
// connection). The timer fires at the earliest deadline, as a timer of
// the connection's own would, and handles every connection due by then.
// An Engine.IO v3 session is pinged by its client instead: it waits in a
// list of its own (hbClientPing), each deadline PingInterval+PingTimeout
// after the last ping, so the lists stay in deadline order.
type heartbeats struct {
	srv *Server

	mu    sync.Mutex
	lists [hbKinds]hbList // by hbKind; hbNone's stays empty
	timer *time.Timer
	armed int64 // Server.now the timer fires at; 0 when it is not armed
}

// hbKind is the deadline a connection waits for.
type hbKind uint8

const (
	hbNone       hbKind = iota // none: not started or closed
	hbPing                     // the next ping
	hbPong                     // the pong of the last ping
	hbClientPing               // Engine.IO v3: the client's next ping, PingInterval+PingTimeout after its last
	hbKinds
)

// hbList links the connections waiting for one kind of deadline through
// Conn.hbPrev and Conn.hbNext, in deadline order.
type hbList struct{ head, tail *Conn }

// schedule makes c wait for kind, due after d, in place of what it waited
// for.
func (h *heartbeats) schedule(c *Conn, kind hbKind, d time.Duration) {
	h.scheduleFrom(c, kind, 0, d)
}

// scheduleFrom is schedule with the deadline d after from, when the
// deadline that led to it was due, rather than after now (from 0 means
// now): a pong is due PingTimeout after its ping was, so a timer that
// fired late on a loaded machine does not give the client that much
// longer. It is never sooner than d/2 from now, though, so that after a
// stall (the process stopped, the machine overloaded) every client still
// has time to answer.
func (h *heartbeats) scheduleFrom(c *Conn, kind hbKind, from int64, d time.Duration) {
	h.mu.Lock()
	h.unlinkLocked(c)
	now := h.srv.now() // under mu: the lists stay in order
	when := now + int64(d)
	if from != 0 {
		when = max(from+int64(d), now+int64(d)/2)
	}
	c.hbWhen, c.hbKind = when, kind
	// In deadline order: at the tail, as deadlines come in order (those
	// from a due time are made in the order they were due).
	l := &h.lists[kind]
	prev := l.tail
	for prev != nil && prev.hbWhen > when {
		prev = prev.hbPrev
	}
	c.hbPrev = prev
	if prev != nil {
		c.hbNext, prev.hbNext = prev.hbNext, c
	} else {
		c.hbNext, l.head = l.head, c
	}
	if c.hbNext != nil {
		c.hbNext.hbPrev = c
	} else {
		l.tail = c
	}
	h.armLocked(now)
	h.mu.Unlock()
}

// overdue reports whether c's pong (a v3 client's ping) was due by now: its deadline passed
// and the timer, late on a loaded machine, has not yet closed it.
func (h *heartbeats) overdue(c *Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return (c.hbKind == hbPong || c.hbKind == hbClientPing) && c.hbWhen <= h.srv.now()
}

// remove makes c wait for nothing.
func (h *heartbeats) remove(c *Conn) {
	h.mu.Lock()
	h.unlinkLocked(c)
	h.mu.Unlock()
}

func (h *heartbeats) unlinkLocked(c *Conn) {
	if c.hbKind == hbNone {
		return
	}
	l := &h.lists[c.hbKind]
	if c.hbPrev != nil {
		c.hbPrev.hbNext = c.hbNext
	} else {
		l.head = c.hbNext
	}
	if c.hbNext != nil {
		c.hbNext.hbPrev = c.hbPrev
	} else {
		l.tail = c.hbPrev
	}
	c.hbPrev, c.hbNext, c.hbKind = nil, nil, hbNone
	if h.lists[hbPing].head == nil && h.lists[hbPong].head == nil && h.lists[hbClientPing].head == nil && h.armed != 0 {
		h.timer.Stop() // nothing left to wait for: no timer outlives the connections
		h.armed = 0
	}
}

// armLocked sets the timer for the earliest deadline unless it fires by
// then already.
func (h *heartbeats) armLocked(now int64) {
	due := int64(0)
	for _, l := range h.lists[hbPing:] {
		if l.head != nil && (due == 0 || l.head.hbWhen < due) {
			due = l.head.hbWhen
		}
	}
	if due == 0 || h.armed != 0 && h.armed <= due {
		return
	}
	h.armed = due
	d := time.Duration(max(h.armed-now, 0))
	if h.timer == nil {
		h.timer = time.AfterFunc(d, h.fire)
	} else {
		h.timer.Reset(d)
	}
}

// dueConn is a connection whose deadline, when, passed.
type dueConn struct {
	c    *Conn
	kind hbKind
	when int64
}

// fire takes every connection whose deadline passed off its list, then
// tells each (see Conn.onHeartbeat).
func (h *heartbeats) fire() {
	var due []dueConn
	h.mu.Lock()
	h.armed = 0
	now := h.srv.now()
	for kind := hbPing; kind < hbKinds; kind++ {
		l := &h.lists[kind]
		for l.head != nil && l.head.hbWhen <= now {
			c := l.head
			h.unlinkLocked(c)
			due = append(due, dueConn{c, kind, c.hbWhen})
		}
	}
	h.armLocked(now)
	h.mu.Unlock()
	for _, d := range due {
		d.c.onHeartbeat(d.kind, d.when)
	}
}
