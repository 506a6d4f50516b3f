package engineio

import (
	"testing"
	"time"
)

// hbOrder returns the connections waiting for kind, head first, checking
// the links both ways.
func hbOrder(t *testing.T, h *heartbeats, kind hbKind) []*Conn {
	t.Helper()
	var out []*Conn
	var prev *Conn
	for c := h.lists[kind].head; c != nil; c = c.hbNext {
		if c.hbPrev != prev || c.hbKind != kind {
			t.Fatalf("broken list: %p has prev %p (want %p), kind %d", c, c.hbPrev, prev, c.hbKind)
		}
		if prev != nil && prev.hbWhen > c.hbWhen {
			t.Fatal("list out of deadline order")
		}
		out = append(out, c)
		prev = c
	}
	if h.lists[kind].tail != prev {
		t.Fatal("tail is not the last connection")
	}
	return out
}

func TestHeartbeatLists(t *testing.T) {
	s := NewServer(&Options{PingInterval: time.Hour, PingTimeout: time.Hour}, nil)
	h := &s.hb
	conns := make([]*Conn, 4)
	for i := range conns {
		conns[i] = &Conn{srv: s}
		h.schedule(conns[i], hbPing, time.Hour)
	}
	if got := hbOrder(t, h, hbPing); len(got) != 4 || got[0] != conns[0] || got[3] != conns[3] {
		t.Fatalf("ping list %v", got)
	}
	// Off the middle, the head and the tail; onto the other list.
	h.remove(conns[1])
	h.schedule(conns[0], hbPong, time.Hour)
	h.remove(conns[3])
	if got := hbOrder(t, h, hbPing); len(got) != 1 || got[0] != conns[2] {
		t.Fatalf("ping list after removals %v", got)
	}
	if got := hbOrder(t, h, hbPong); len(got) != 1 || got[0] != conns[0] {
		t.Fatalf("pong list %v", got)
	}
	if h.armed == 0 {
		t.Fatal("timer not armed while connections wait")
	}
	h.remove(conns[0])
	h.remove(conns[2])
	h.remove(conns[2]) // twice: nothing
	if h.armed != 0 || h.lists[hbPing].head != nil || h.lists[hbPong].head != nil {
		t.Fatal("the timer stays armed, or a list holds a connection, with none waiting")
	}
}

// A connection due for a ping gets one and waits for its pong; one whose
// pong came before its deadline was handled is not closed; one not due is
// left alone.
func TestHeartbeatFire(t *testing.T) {
	s := NewServer(&Options{PingInterval: time.Hour, PingTimeout: time.Hour}, nil)
	h := &s.hb
	ping, answered, later := &Conn{srv: s}, &Conn{srv: s}, &Conn{srv: s}
	h.schedule(ping, hbPing, -time.Second)
	h.schedule(answered, hbPong, -time.Second) // awaitingPong false: its pong came
	h.schedule(later, hbPing, time.Hour)
	h.fire()
	if !ping.awaitingPong || ping.hbKind != hbPong || len(ping.queue) != 1 || ping.queue[0] != pingPacket {
		t.Fatalf("due connection: awaiting %v, kind %d, queue %v", ping.awaitingPong, ping.hbKind, ping.queue)
	}
	if answered.state != stateOpen {
		t.Fatal("a connection whose pong came was closed")
	}
	if later.hbKind != hbPing || len(later.queue) != 0 {
		t.Fatal("a connection not due was handled")
	}
	for _, c := range []*Conn{ping, later} {
		h.remove(c)
	}
}
