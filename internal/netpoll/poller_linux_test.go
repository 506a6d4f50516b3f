//go:build linux

package netpoll

import (
	"net"
	"testing"
	"time"
)

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

func TestOneShotAndResume(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
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
	// Disarmed until Resume, even though data is still unread.
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
