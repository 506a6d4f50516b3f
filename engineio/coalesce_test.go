package engineio_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/internal/rawsock"
)

// writeLog is a client socket that takes every write at once (as a
// non-blocking socket with room does) and records each system call the
// server would have made. What is put in in is what the client sends.
type writeLog struct {
	in     chan []byte
	mu     sync.Mutex
	calls  int    // writes, one per system call
	data   []byte // everything written, in order
	late   int    // writes after Close
	closed chan struct{}
	once   sync.Once
	isShut bool
}

func newWriteLog() *writeLog { return &writeLog{in: make(chan []byte, 1), closed: make(chan struct{})} }

func (c *writeLog) record(bufs [][]byte) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.isShut {
		c.late++
	}
	n := 0
	for _, b := range bufs {
		c.data = append(c.data, b...)
		n += len(b)
	}
	return n
}

// WriteNow is the inline, non-blocking write (as rawsock.Conn's).
func (c *writeLog) WriteNow(bufs [][]byte) (int, error) { return c.record(bufs), nil }
func (c *writeLog) Write(p []byte) (int, error)         { return c.record([][]byte{p}), nil }
func (c *writeLog) Read(p []byte) (int, error) {
	select {
	case b := <-c.in:
		return copy(p, b), nil
	case <-c.closed:
		return 0, net.ErrClosed
	}
}
func (c *writeLog) Close() error {
	c.once.Do(func() {
		c.mu.Lock()
		c.isShut = true
		c.mu.Unlock()
		close(c.closed)
	})
	return nil
}
func (c *writeLog) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *writeLog) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *writeLog) SetDeadline(time.Time) error      { return nil }
func (c *writeLog) SetReadDeadline(time.Time) error  { return nil }
func (c *writeLog) SetWriteDeadline(time.Time) error { return nil }

// snapshot returns the number of writes so far and the messages they
// carried, in order.
func (c *writeLog) snapshot(t *testing.T) (int, []string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var msgs []string
	r := bytes.NewReader(c.data)
	for r.Len() > 0 {
		f, err := readFrame(r)
		if err != nil {
			t.Fatalf("bad frame: %v", err)
		}
		if f.Header.OpCode == ws.OpText {
			msgs = append(msgs, string(f.Payload))
		}
	}
	return c.calls, msgs
}

// waitFor polls until the log holds n messages, or fails after 5 s.
func (c *writeLog) waitFor(t *testing.T, n int) (int, []string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		calls, msgs := c.snapshot(t)
		if len(msgs) >= n || time.Now().After(deadline) {
			return calls, msgs
		}
		time.Sleep(time.Millisecond)
	}
}

// serveLog starts a session on a writeLog and waits for its open packet.
func serveLog(t *testing.T, opts *engineio.Options) (*engineio.Conn, *writeLog, chan string) {
	t.Helper()
	closed := make(chan string, 1)
	s := engineio.NewServer(opts, func(c *engineio.Conn) engineio.Handler { return &echo{c: c, closed: closed} })
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	wl := newWriteLog()
	req := httptest.NewRequest("GET", "/engine.io/?EIO=4&transport=websocket", nil)
	c, err := s.ServeWebSocket(wl, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, msgs := wl.waitFor(t, 1); len(msgs) != 1 || msgs[0][0] != '0' {
		t.Fatalf("no open packet: %q", msgs)
	}
	return c, wl, closed
}

// A burst of packets for one connection leaves in two writes, in order:
// the first at once, the rest, sent within its window, with one writev.
// (The window is long enough that a busy machine does not split it.)
func TestSendBurstCoalesced(t *testing.T) {
	c, wl, _ := serveLog(t, &engineio.Options{CoalesceWindow: 200 * time.Millisecond})
	time.Sleep(250 * time.Millisecond) // the open packet is more than a window ago
	before, _ := wl.snapshot(t)
	const n = 50
	for i := range n {
		if err := c.Send(engineio.NewMessage([]byte(fmt.Sprint(i)), false)); err != nil {
			t.Fatal(err)
		}
	}
	calls, msgs := wl.waitFor(t, 1+n)
	if len(msgs) != 1+n {
		t.Fatalf("%d of %d messages written", len(msgs)-1, n)
	}
	for i, m := range msgs[1:] {
		if want := "4" + fmt.Sprint(i); m != want {
			t.Fatalf("message %d is %q, want %q (order lost)", i, m, want)
		}
	}
	if w := calls - before; w != 2 {
		t.Fatalf("%d packets sent back to back took %d writes, want 2", n, w)
	}
}

// A lone packet on a connection that has not written for a while is
// written by Send itself: nothing is added to its latency at low rates.
func TestLoneSendWrittenAtOnce(t *testing.T) {
	c, wl, _ := serveLog(t, nil)
	for i := range 3 {
		time.Sleep(20 * time.Millisecond)
		before, _ := wl.snapshot(t)
		if err := c.Send(engineio.NewMessage([]byte("lone"), false)); err != nil {
			t.Fatal(err)
		}
		if after, _ := wl.snapshot(t); after != before+1 {
			t.Fatalf("send %d: %d writes during Send, want 1 (written at once)", i, after-before)
		}
	}
}

// Packets waiting to be coalesced are dropped, never written, when the
// connection ends without a graceful close (here the client closes).
func TestCoalescedNotWrittenAfterClose(t *testing.T) {
	c, wl, closed := serveLog(t, &engineio.Options{CoalesceWindow: time.Hour})
	_ = c.Send(engineio.NewMessage([]byte("first"), false))
	_ = c.Send(engineio.NewMessage([]byte("second"), false))
	wl.in <- clientFrame(ws.OpClose, "")
	expectClosed(t, closed, 1, "transport close")
	time.Sleep(20 * time.Millisecond) // the transport's close has run
	_, msgs := wl.snapshot(t)
	if got := fmt.Sprint(msgs[1:]); got != "[4first]" {
		t.Fatalf("written %s, want only what was sent before the window", got)
	}
	wl.mu.Lock()
	late := wl.late
	wl.mu.Unlock()
	if late > 0 {
		t.Fatalf("%d writes after the socket was closed", late)
	}
}

// A burst larger than the queue bound reaches a client that keeps up:
// coalescing holds a bounded batch, never the whole burst (the window is
// longer than the test, so only the sender writes, in full batches), and
// Close writes what waits without waiting for the window.
func TestBurstBeyondQueueBound(t *testing.T) {
	c, wl, closed := serveLog(t, &engineio.Options{MaxQueuedPackets: 100, CoalesceWindow: time.Hour})
	const n = 1000
	for i := range n {
		if err := c.Send(engineio.NewMessage([]byte(fmt.Sprint(i)), false)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	_ = c.Close()
	expectClosed(t, closed, 1, "forced close")
	calls, msgs := wl.waitFor(t, 1+n)
	for i, m := range msgs[1:] {
		if want := "4" + fmt.Sprint(i); m != want {
			t.Fatalf("message %d is %q, want %q", i, m, want)
		}
	}
	if len(msgs) != 1+n {
		t.Fatalf("%d of %d messages written", len(msgs)-1, n)
	}
	t.Logf("%d packets in %d writes", n, calls)
}

// A volatile packet is not dropped because the connection's frames are
// being coalesced: only a connection with a real backlog loses them.
func TestVolatileAcceptedWhileCoalescing(t *testing.T) {
	c, wl, _ := serveLog(t, nil)
	time.Sleep(20 * time.Millisecond)
	_ = c.Send(engineio.NewMessage([]byte("a"), false))
	_ = c.Send(engineio.NewMessage([]byte("b"), false))
	if !c.SendVolatile(engineio.NewMessage([]byte("v"), false)) {
		t.Fatal("volatile packet dropped for a connection that keeps up")
	}
	_, msgs := wl.waitFor(t, 4)
	if got := fmt.Sprint(msgs[1:]); got != "[4a 4b 4v]" {
		t.Fatalf("written %s", got)
	}
}

// writeCalls returns the process's write system calls so far (-1 where
// /proc does not tell).
func writeCalls() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "syscw: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return -1
}

// cpuTime returns the process's user and system CPU time so far: the
// server's writes and the clients' reads, the kernel's work for both.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loopbackConns starts n sessions over loopback TCP, their sockets taken
// out of the runtime's poller as an upgraded WebSocket's are; the client
// ends discard what they receive.
func loopbackConns(b *testing.B, s *engineio.Server, n int) []*engineio.Conn {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	req := httptest.NewRequest("GET", "/engine.io/?EIO=4&transport=websocket", nil)
	conns := make([]*engineio.Conn, n)
	for i := range conns {
		cl, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cl.Close() })
		go func() { _, _ = io.Copy(io.Discard, cl) }()
		sc, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		raw, err := rawsock.Take(sc)
		if err != nil {
			b.Fatal(err)
		}
		if conns[i], err = s.ServeWebSocket(raw, req); err != nil {
			b.Fatal(err)
		}
	}
	return conns
}

// BenchmarkFanoutLoopback sends one shared packet to each of 100 sessions
// per op, over loopback TCP, as fast as it can, with and without write
// coalescing: cpu-ns/delivery is the whole process's CPU (the server's
// writes and the clients' reads, the kernel's work for both) per delivery.
// At this rate every connection is busy, so its frames leave in batches;
// ns/op is only the sender's time.
func BenchmarkFanoutLoopback(b *testing.B) {
	for _, win := range []time.Duration{-1, 0} { // off, the default
		s0 := engineio.NewServer(&engineio.Options{CoalesceWindow: win}, nil)
		name := "coalesce=off"
		if w := s0.Options().CoalesceWindow; w > 0 {
			name = "coalesce=" + w.String()
		}
		b.Run(name, func(b *testing.B) {
			s := engineio.NewServer(&engineio.Options{CoalesceWindow: win}, func(c *engineio.Conn) engineio.Handler { return &echo{c: c} })
			b.Cleanup(func() { // after the clients have gone (cleanups run last first)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = s.Shutdown(ctx)
			})
			conns := loopbackConns(b, s, 100)
			p := engineio.NewMessage([]byte(`2["fanout",{"t":1732500000000000000,"p":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}]`), false)
			b.ReportAllocs()
			w0, cpu0 := writeCalls(), cpuTime()
			b.ResetTimer()
			for range b.N {
				for _, c := range conns {
					_ = c.Send(p)
				}
			}
			b.StopTimer()
			time.Sleep(20 * time.Millisecond) // the last windows end, the clients read
			n := float64(b.N * len(conns))
			b.ReportMetric(float64(cpuTime()-cpu0)/n, "cpu-ns/delivery")
			if w0 >= 0 {
				b.ReportMetric(float64(writeCalls()-w0)/n, "writes/delivery")
			}
		})
	}
}

// Shutdown writes what waits for a window at once: it does not wait for
// the window to end.
func TestShutdownWritesWhatWaits(t *testing.T) {
	closed := make(chan string, 1)
	s := engineio.NewServer(&engineio.Options{CoalesceWindow: time.Hour},
		func(c *engineio.Conn) engineio.Handler { return &echo{c: c, closed: closed} })
	wl := newWriteLog()
	c, err := s.ServeWebSocket(wl, httptest.NewRequest("GET", "/engine.io/?EIO=4&transport=websocket", nil))
	if err != nil {
		t.Fatal(err)
	}
	wl.waitFor(t, 1)
	_ = c.Send(engineio.NewMessage([]byte("a"), false))
	_ = c.Send(engineio.NewMessage([]byte("b"), false)) // waits for the window
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v after %v", err, time.Since(start))
	}
	if _, msgs := wl.snapshot(t); fmt.Sprint(msgs[1:]) != "[4a 4b]" {
		t.Fatalf("written %s", msgs[1:])
	}
}
