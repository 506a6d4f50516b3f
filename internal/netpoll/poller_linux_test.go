//go:build linux

package netpoll

import (
	"net"
	"testing"
	"time"
)

func newPoller(t *testing.T) *Poller {
	t.Helper()
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func pair(t *testing.T) (*net.TCPConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return server.(*net.TCPConn), client
}

func TestCallbackResumeAndClose(t *testing.T) {
	p := newPoller(t)
	server, client := pair(t)
	raw, _ := server.SyscallConn()
	calls := make(chan *Desc, 4)
	d, err := p.Add(raw, func(d *Desc) { calls <- d })
	if err != nil {
		t.Fatal(err)
	}
	client.Write([]byte("a"))
	select {
	case got := <-calls:
		if got != d {
			t.Fatal("wrong desc")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no callback")
	}
	// No second callback before Resume while nothing new arrives.
	select {
	case <-calls:
		t.Fatal("callback while disarmed")
	case <-time.After(50 * time.Millisecond):
	}
	buf := make([]byte, 1)
	server.Read(buf)
	if err := d.Resume(); err != nil {
		t.Fatal(err)
	}
	client.Write([]byte("b"))
	select {
	case <-calls:
	case <-time.After(2 * time.Second):
		t.Fatal("no callback after Resume")
	}
	d.Close()
	if err := d.Resume(); err != ErrClosed {
		t.Fatalf("Resume after Close: %v", err)
	}
	client.Write([]byte("c"))
	select {
	case <-calls:
		t.Fatal("callback after Close")
	case <-time.After(50 * time.Millisecond):
	}
}

func TestManyDescriptorsAndClose(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	calls := make(chan struct{}, 100)
	var clients []net.Conn
	for i := 0; i < 50; i++ {
		server, client := pair(t)
		raw, _ := server.SyscallConn()
		if _, err := p.Add(raw, func(*Desc) { calls <- struct{}{} }); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, client)
	}
	for _, c := range clients {
		c.Write([]byte("x"))
	}
	for i := 0; i < 50; i++ {
		select {
		case <-calls:
		case <-time.After(2 * time.Second):
			t.Fatalf("got %d callbacks of 50", i)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

// A callback that blocks holds only its own worker: other descriptors'
// callbacks still run, and workers are reused once they are idle.
func TestBlockedCallbackDoesNotHoldOthers(t *testing.T) {
	p := newPoller(t)
	release := make(chan struct{})
	blocked := make(chan struct{})
	s1, c1 := pair(t)
	raw1, _ := s1.SyscallConn()
	if _, err := p.Add(raw1, func(*Desc) { close(blocked); <-release }); err != nil {
		t.Fatal(err)
	}
	c1.Write([]byte("x"))
	<-blocked
	s2, c2 := pair(t)
	raw2, _ := s2.SyscallConn()
	calls := make(chan struct{}, 16)
	buf := make([]byte, 8)
	d2, err := p.Add(raw2, func(d *Desc) {
		s2.Read(buf)
		calls <- struct{}{}
		d.Resume()
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		c2.Write([]byte("y"))
		select {
		case <-calls:
		case <-time.After(2 * time.Second):
			t.Fatalf("callback %d did not run while another was blocked", i)
		}
	}
	// one worker blocked, the others reused (not one per event)
	if n := p.workers.Load(); n >= 10 {
		t.Errorf("%d workers for 10 events", n)
	}
	close(release)
	d2.Close()
}

// A burst of events on many descriptors does not start a goroutine for
// each: quick callbacks return to the pool and take the next ones.
func TestBurstReusesWorkers(t *testing.T) {
	p := newPoller(t)
	const n = 300
	var clients []net.Conn
	done := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		s, c := pair(t)
		raw, _ := s.SyscallConn()
		if _, err := p.Add(raw, func(*Desc) { done <- struct{}{} }); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	for _, c := range clients {
		c.Write([]byte("z"))
	}
	for i := 0; i < n; i++ {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d callbacks ran", i, n)
		}
	}
	if w := p.workers.Load(); w >= n {
		t.Errorf("%d workers for %d events", w, n)
	}
}

// Data that comes while the callback runs makes it run again after
// Resume: with edge-triggered descriptors no event may be lost.
func TestEventDuringCallbackRunsItAgain(t *testing.T) {
	p := newPoller(t)
	server, client := pair(t)
	raw, _ := server.SyscallConn()
	inside := make(chan struct{})
	proceed := make(chan struct{})
	calls := make(chan string, 4)
	first := true
	if _, err := p.Add(raw, func(d *Desc) {
		buf := make([]byte, 16)
		n, _ := server.Read(buf)
		if first {
			first = false
			close(inside)
			<-proceed // the client writes again meanwhile
		}
		calls <- string(buf[:n])
		d.Resume()
	}); err != nil {
		t.Fatal(err)
	}
	client.Write([]byte("a"))
	<-inside
	client.Write([]byte("b"))
	time.Sleep(50 * time.Millisecond) // the edge arrives while the callback runs
	close(proceed)
	for _, want := range []string{"a", "b"} {
		select {
		case got := <-calls:
			if got != want {
				t.Fatalf("read %q, want %q", got, want)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("no callback for %q", want)
		}
	}
}
