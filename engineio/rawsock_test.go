package engineio_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/test/support"
)

// Messages larger than the socket buffers, both ways: the server reads a
// frame that arrives in pieces and writes one the client takes in pieces,
// both through the waits of a socket taken out of the runtime's poller.
func TestWebSocketMessagesLargerThanTheSocket(t *testing.T) {
	_, base, closed := newServer(t, &engineio.Options{MaxPayload: 16 << 20})
	c := support.Dial(t, strings.TrimSuffix(base, "/engine.io/"), "/engine.io/")
	for i := range 3 {
		msg := bytes.Repeat([]byte{'a' + byte(i)}, 4<<20)
		c.Send("4" + string(msg))
		f := c.Next()
		if !bytes.Equal(f.Data, append([]byte("4"), msg...)) {
			t.Fatalf("message %d: echoed %d bytes, want %d", i, len(f.Data), len(msg)+1)
		}
	}
	c.Send("4small")
	c.ExpectExact("4small")
	c.Close()
	if r := <-closed; r != "transport close" {
		t.Fatalf("reason %q", r)
	}
}

// countingListener wraps its connections in a type that is a syscall.Conn
// (it embeds *net.TCPConn) but does more on Close.
type countingListener struct {
	net.Listener
	closes atomic.Int64
}

type countedConn struct {
	*net.TCPConn
	l *countingListener
}

func (c countedConn) Close() error {
	c.l.closes.Add(1)
	return c.TCPConn.Close()
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countedConn{c.(*net.TCPConn), l}, nil
}

// A connection wrapped by the listener is not taken over (that would close
// the wrapper while the session goes on): it keeps working, and its Close
// runs once, when the session ends.
func TestWebSocketOnAWrappedListenerConn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	closed := make(chan string, 4)
	s := engineio.NewServer(nil, func(c *engineio.Conn) engineio.Handler { return &echo{c: c, closed: closed} })
	hs := &http.Server{Handler: s}
	go func() { _ = hs.Serve(cl) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		_ = hs.Shutdown(ctx)
	})
	c := support.Dial(t, "http://"+ln.Addr().String(), "/engine.io/")
	c.Send("4hello")
	c.ExpectExact("4hello")
	if n := cl.closes.Load(); n != 0 {
		t.Fatalf("the listener's connection was closed %d times during the session", n)
	}
	c.Close()
	if r := <-closed; r != "transport close" {
		t.Fatalf("reason %q", r)
	}
	deadline := time.Now().Add(5 * time.Second)
	for cl.closes.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := cl.closes.Load(); n != 1 {
		t.Fatalf("the listener's connection was closed %d times, want once", n)
	}
}
