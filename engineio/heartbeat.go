package engineio

import (
	"sync"
	"time"
)

// Heartbeats. A connection pings its client PingInterval after its
// handshake and after each pong, and is closed when no pong comes within
// PingTimeout of a ping. Every deadline is the time it was set plus one of
// these two durations, so the connections waiting for each kind of
// deadline are in deadline order when each is appended at the tail of its
// kind's list. One timer per server, set for the earliest head, serves
// them all: a connection carries two links and a deadline instead of a
// runtime timer of its own (the timer, its slot in the runtime's timer
// heap and the callback's closure: about 180 bytes of every idle
// connection). The timer fires at the earliest deadline, as a timer of
// the connection's own would, and handles every connection due by then.
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
	hbNone hbKind = iota // none: not started or closed
	hbPing               // the next ping
	hbPong               // the pong of the last ping
	hbKinds
)

// hbList links the connections waiting for one kind of deadline through
// Conn.hbPrev and Conn.hbNext, in deadline order.
type hbList struct{ head, tail *Conn }

// schedule makes c wait for kind, due after d, in place of what it waited
// for.
func (h *heartbeats) schedule(c *Conn, kind hbKind, d time.Duration) {
	h.mu.Lock()
	h.unlinkLocked(c)
	now := h.srv.now() // under mu: the lists stay in order
	c.hbWhen, c.hbKind = now+int64(d), kind
	l := &h.lists[kind]
	c.hbPrev = l.tail
	if l.tail != nil {
		l.tail.hbNext = c
	} else {
		l.head = c
	}
	l.tail = c
	h.armLocked(now)
	h.mu.Unlock()
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
	if h.lists[hbPing].head == nil && h.lists[hbPong].head == nil && h.armed != 0 {
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

// dueConn is a connection whose deadline passed.
type dueConn struct {
	c    *Conn
	kind hbKind
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
			due = append(due, dueConn{c, kind})
		}
	}
	h.armLocked(now)
	h.mu.Unlock()
	for _, d := range due {
		d.c.onHeartbeat(d.kind)
	}
}
