package socketio_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/heraldio/herald/socketio"
)

// heapProfileEnv names a file for the heap profile of the idle crowd,
// every allocation sampled: where its bytes are.
//
//	HERALD_IDLE_HEAPPROFILE=idle.prof go test -run TestIdleConnMemory ./socketio
//	go tool pprof -sample_index=inuse_space -lines -top idle.prof
const heapProfileEnv = "HERALD_IDLE_HEAPPROFILE"

func init() {
	if os.Getenv(heapProfileEnv) != "" {
		runtime.MemProfileRate = 1
	}
}

func writeHeapProfile(tb testing.TB, name string) {
	f, err := os.Create(name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		tb.Fatal(err)
	}
}

// idleMemory is what a crowd of idle WebSocket connections holds in the
// server's process, per connection.
type idleMemory struct {
	live       float64 // heap bytes reachable after a collection
	goroutines float64
}

// measureIdle opens n WebSocket connections to a new server with default
// options, each joined to the default namespace, and measures what they
// hold once idle. The clients are bare descriptors written and read with
// system calls, so they add nothing to the heap measured.
func measureIdle(tb testing.TB, n int) idleMemory {
	tb.Helper()
	io := socketio.NewServer(nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	hs := &http.Server{Handler: io}
	go func() { _ = hs.Serve(ln) }()
	addr := ln.Addr().(*net.TCPAddr)
	fds := make([]int, 0, n+1)
	defer func() {
		for _, fd := range fds {
			_ = unix.Close(fd)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = io.Shutdown(ctx)
		_ = hs.Shutdown(ctx)
	}()
	open := func() {
		fd, err := dialIdle(addr)
		if err != nil {
			tb.Fatal(err)
		}
		fds = append(fds, fd)
	}
	open() // the first connection starts the poller and fills the pools
	before := settledHeap(tb, io, 1)
	for range n {
		open()
	}
	after := settledHeap(tb, io, n+1)
	if profile := os.Getenv(heapProfileEnv); profile != "" {
		writeHeapProfile(tb, profile)
	}
	return idleMemory{
		live:       float64(after.heap-before.heap) / float64(n),
		goroutines: float64(after.goroutines-before.goroutines) / float64(n),
	}
}

type heapState struct {
	heap       int64
	goroutines int
}

// settledHeap waits until the server counts want connections and the
// goroutines that served their handshakes have ended, then collects and
// reads the live heap.
func settledHeap(tb testing.TB, io *socketio.Server, want int) heapState {
	tb.Helper()
	var s heapState
	for range 500 {
		g := runtime.NumGoroutine()
		if io.Engine().ClientsCount() == want && g == s.goroutines {
			break
		}
		s.goroutines = g
		time.Sleep(10 * time.Millisecond)
	}
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.heap = int64(ms.HeapAlloc)
	s.goroutines = runtime.NumGoroutine()
	return s
}

// dialIdle opens a WebSocket connection as the load tool does, joins the
// default namespace and returns the descriptor once the server has
// answered the CONNECT.
func dialIdle(addr *net.TCPAddr) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	sa := &unix.SockaddrInet4{Port: addr.Port}
	copy(sa.Addr[:], addr.IP.To4())
	if err := unix.Connect(fd, sa); err != nil {
		_ = unix.Close(fd)
		return -1, err
	}
	// 5 s bound on each read: a server that does not answer fails the test.
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5})
	req := "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: " + addr.String() +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	// "40" in a masked text frame (a zero mask leaves it as it is).
	connect := []byte{0x81, 0x82, 0, 0, 0, 0, '4', '0'}
	if err := writeAll(fd, []byte(req)); err == nil {
		err = readUntil(fd, []byte(`"pingInterval"`)) // the open packet
		if err == nil {
			err = writeAll(fd, connect)
		}
		if err == nil {
			err = readUntil(fd, []byte(`40{"sid"`))
		}
		if err == nil {
			return fd, nil
		}
	}
	_ = unix.Close(fd)
	return -1, err
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// readUntil reads until what was read contains marker.
func readUntil(fd int, marker []byte) error {
	var buf [1024]byte
	got := 0
	for !bytes.Contains(buf[:got], marker) {
		if got == len(buf) {
			return errors.New("marker not found")
		}
		n, err := unix.Read(fd, buf[got:])
		if err != nil {
			return err
		}
		if n == 0 {
			return errors.New("closed by the server")
		}
		got += n
	}
	return nil
}

// BenchmarkIdleConnMemory reports what an idle WebSocket connection holds
// on a server with default options: live heap bytes after a collection
// and goroutines. The process's RSS is about twice the live heap with the
// default GOGC (the runtime lets the heap grow to twice what is live
// between collections), plus the runtime's metadata.
func BenchmarkIdleConnMemory(b *testing.B) {
	var m idleMemory
	for range b.N {
		m = measureIdle(b, 2000)
	}
	b.ReportMetric(m.live, "live-B/conn")
	b.ReportMetric(m.goroutines, "goroutines/conn")
}

// maxIdleLive bounds the live heap of an idle WebSocket connection
// (measured: 1,968 bytes). Generous, so that a change of the runtime's
// size classes does not fail it, but a field or buffer added to every
// connection by mistake does.
const maxIdleLive = 2560

func TestIdleConnMemory(t *testing.T) {
	m := measureIdle(t, 1000)
	t.Logf("per idle connection: %.0f live heap bytes, %.2f goroutines", m.live, m.goroutines)
	if m.live > maxIdleLive {
		t.Errorf("an idle connection holds %.0f bytes of live heap, over %d", m.live, maxIdleLive)
	}
	if m.goroutines > 0.01 {
		t.Errorf("an idle connection holds %.2f goroutines, want none", m.goroutines)
	}
}
