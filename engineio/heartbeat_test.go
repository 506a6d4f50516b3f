package engineio

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
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

type closeRecorder chan Reason

func (r closeRecorder) OnMessage([]byte, bool)         {}
func (r closeRecorder) OnClose(reason Reason, _ error) { r <- reason }

// A polling GET that comes after the pong deadline, before the timer
// (late on a loaded machine) has closed the session, is answered as
// after the close: 400 "Session ID unknown", the session closed with
// ReasonPingTimeout (the official suite's "closes the session upon ping
// timeout" got the ping and 200 now and then).
func TestPollAfterPongDeadlineBeforeTimer(t *testing.T) {
	closed := make(closeRecorder, 1)
	s := NewServer(&Options{PingInterval: 10 * time.Millisecond, PingTimeout: time.Hour},
		func(*Conn) Handler { return closed })
	ts := httptest.NewServer(s)
	defer ts.Close()
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(sid string) (int, string) {
		t.Helper()
		u := ts.URL + "/?EIO=4&transport=polling"
		if sid != "" {
			u += "&sid=" + sid
		}
		res, err := client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	_, open := get("")
	var hs struct{ SID string }
	if err := json.Unmarshal([]byte(open[1:]), &hs); err != nil {
		t.Fatalf("handshake %q: %v", open, err)
	}
	if code, body := get(hs.SID); code != 200 || body != "2" {
		t.Fatalf("want the ping, got %d %q", code, body)
	}
	s.mu.Lock()
	c := s.conns[hs.SID]
	s.mu.Unlock()
	s.hb.mu.Lock()
	c.hbWhen = s.now() - 1 // the deadline passed; the timer is armed for an hour from now
	s.hb.mu.Unlock()
	if code, body := get(hs.SID); code != 400 || body != `{"code":1,"message":"Session ID unknown"}` {
		t.Fatalf("GET after the pong deadline: %d %q", code, body)
	}
	select {
	case r := <-closed:
		if r != ReasonPingTimeout {
			t.Fatalf("closed with %q", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("not closed")
	}
}

// A pong is due PingTimeout after its ping was due, not after the timer
// that sent the ping ran (late on a loaded machine), but never sooner
// than half PingTimeout from then: after a stall, clients still have
// time to answer.
func TestPongDeadlineFromPingDue(t *testing.T) {
	const timeout = time.Hour
	s := NewServer(&Options{PingInterval: time.Hour, PingTimeout: timeout}, nil)
	h := &s.hb
	late, stalled := &Conn{srv: s}, &Conn{srv: s}
	h.schedule(late, hbPing, -time.Second)       // the timer a second late
	h.schedule(stalled, hbPing, -50*time.Minute) // past half the timeout
	lateDue, stalledDue := late.hbWhen, stalled.hbWhen
	before := s.now()
	h.fire()
	after := s.now()
	if late.hbKind != hbPong || late.hbWhen != lateDue+int64(timeout) {
		t.Fatalf("late ping: pong due %d after the ping, want %d", late.hbWhen-lateDue, int64(timeout))
	}
	if w := stalled.hbWhen; stalled.hbKind != hbPong || w < before+int64(timeout/2) || w > after+int64(timeout/2) || w == stalledDue+int64(timeout) {
		t.Fatalf("stalled ping: pong due %d from now, want half the timeout", w-before)
	}
	hbOrder(t, h, hbPong)
	h.remove(late)
	h.remove(stalled)
}
