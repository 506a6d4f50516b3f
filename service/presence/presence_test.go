package presence

import (
	"sync"
	"testing"
	"time"
)

type recorder struct {
	mu  sync.Mutex
	evs []Change
	ch  chan Change
}

func (r *recorder) on(e Change) {
	r.mu.Lock()
	r.evs = append(r.evs, e)
	r.mu.Unlock()
	r.ch <- e
}

func TestTabsAndGrace(t *testing.T) {
	r := &recorder{ch: make(chan Change, 10)}
	l := NewLocal(50*time.Millisecond, r.on)
	defer l.Close()
	if !l.Connect("u1", "Ann", nil) {
		t.Fatal("first tab should bring the user online")
	}
	if e := <-r.ch; e.Status != Online {
		t.Fatal(e)
	}
	if l.Connect("u1", "Ann", nil) {
		t.Fatal("second tab is not a change")
	}
	l.Disconnect("u1")
	select {
	case e := <-r.ch:
		t.Fatalf("went %s with a tab still open", e.Status)
	case <-time.After(120 * time.Millisecond):
	}
	// last tab closes, but a reconnect within the grace period does not flap
	l.Disconnect("u1")
	l.Connect("u1", "Ann", nil)
	select {
	case e := <-r.ch:
		t.Fatalf("flapped: %v", e)
	case <-time.After(120 * time.Millisecond):
	}
	if !l.SetStatus("u1", Away) || (<-r.ch).Status != Away {
		t.Fatal("status change not reported")
	}
	if l.SetStatus("u1", "sleeping") {
		t.Fatal("invalid status accepted")
	}
	l.Disconnect("u1")
	if e := <-r.ch; e.Status != Offline || e.LastSeen.IsZero() {
		t.Fatalf("offline: %+v", e)
	}
	if len(l.List()) != 0 {
		t.Fatal("offline user listed")
	}
	l.Disconnect("nobody") // no panic
}
