package rawsock

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pair returns a Conn taken from a net.Conn and the raw descriptor of its
// peer (kept out of the runtime, so tests can count what Take costs it).
func pair(t testing.TB) (*Conn, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[0]), "test")
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Take(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("the net.Conn given to Take is still open: %v", err)
	}
	return s, fds[1]
}

func TestTakeReadWrite(t *testing.T) {
	s, peer := pair(t)
	defer unix.Close(peer)
	defer s.Close()
	if _, err := unix.Write(peer, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, err := s.Read(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read %q %v", buf[:n], err)
	}
	if _, err := s.Write([]byte("world")); err != nil {
		t.Fatal(err)
	}
	n, err = unix.Read(peer, buf)
	if err != nil || string(buf[:n]) != "world" {
		t.Fatalf("peer read %q %v", buf[:n], err)
	}
	if err := s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if n, err := unix.Read(peer, buf); n != 0 || err != nil {
		t.Fatalf("after CloseWrite the peer reads %d %v, want end of stream", n, err)
	}
	unix.Close(peer)
	if _, err := s.Read(buf); err != io.EOF {
		t.Fatalf("read after the peer closed: %v", err)
	}
}

func TestReadNow(t *testing.T) {
	s, peer := pair(t)
	defer unix.Close(peer)
	buf := make([]byte, 16)
	if n, err := s.ReadNow(buf); err != unix.EAGAIN {
		t.Fatalf("read with nothing there: %d %v, want EAGAIN", n, err)
	}
	if _, err := unix.Write(peer, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if n, err := s.ReadNow(buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read %q %v", buf[:n], err)
	}
	unix.Close(peer)
	if n, err := s.ReadNow(buf); n != 0 || err != nil {
		t.Fatalf("read after the peer closed: %d %v, want 0 and no error", n, err)
	}
	s.Close()
	if _, err := s.ReadNow(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Close: %v", err)
	}
}

func TestReadWaitsUntilDeadline(t *testing.T) {
	s, peer := pair(t)
	defer unix.Close(peer)
	defer s.Close()
	go func() {
		time.Sleep(20 * time.Millisecond)
		unix.Write(peer, []byte("late"))
	}()
	buf := make([]byte, 16)
	n, err := s.Read(buf) // waits: nothing there yet
	if err != nil || string(buf[:n]) != "late" {
		t.Fatalf("read %q %v", buf[:n], err)
	}
	s.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := s.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v", err)
	}
	s.SetReadDeadline(time.Time{})
	unix.Write(peer, []byte("again"))
	if n, err := s.Read(buf); err != nil || string(buf[:n]) != "again" {
		t.Fatalf("read after clearing the deadline %q %v", buf[:n], err)
	}
}

func TestWriteWaitsForRoomInOrder(t *testing.T) {
	s, peer := pair(t)
	defer unix.Close(peer)
	defer s.Close()
	// More buffers than one writev takes, more bytes than the socket holds.
	var bufs net.Buffers
	var want []byte
	for i := 0; i < 3*MaxIovecs; i++ {
		b := bytes.Repeat([]byte{byte(i)}, 16<<10)
		bufs = append(bufs, b)
		want = append(want, b...)
	}
	got := make(chan []byte)
	go func() {
		var all []byte
		buf := make([]byte, 64<<10)
		for len(all) < len(want) {
			n, err := unix.Read(peer, buf)
			if err != nil || n == 0 {
				break
			}
			all = append(all, buf[:n]...)
		}
		got <- all
	}()
	n, err := s.WriteBuffers(&bufs)
	if err != nil || n != int64(len(want)) || len(bufs) != 0 {
		t.Fatalf("wrote %d %v, %d buffers left", n, err, len(bufs))
	}
	if !bytes.Equal(<-got, want) {
		t.Fatal("the peer read other bytes than written")
	}
}

func TestWriteDeadlineWithAPeerNotReading(t *testing.T) {
	s, peer := pair(t)
	defer unix.Close(peer)
	defer s.Close()
	s.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	n, err := s.Write(make([]byte, 8<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) || n == 0 || n >= 8<<20 {
		t.Fatalf("wrote %d %v, want part and a timeout", n, err)
	}
}

// A deadline given to one write applies to its wait alone; a write that
// does not wait makes no waiting side.
func TestWriteBuffersBefore(t *testing.T) {
	s, peer := pair(t)
	defer unix.Close(peer)
	defer s.Close()
	bufs := net.Buffers{[]byte("at once")}
	if n, err := s.WriteBuffersBefore(&bufs, time.Now().Add(time.Minute)); err != nil || n != 7 {
		t.Fatalf("wrote %d %v", n, err)
	}
	if s.wait != nil {
		t.Fatal("a write that did not wait made a waiting side")
	}
	bufs = net.Buffers{make([]byte, 8<<20)}
	n, err := s.WriteBuffersBefore(&bufs, time.Now().Add(50*time.Millisecond))
	if !errors.Is(err, os.ErrDeadlineExceeded) || n == 0 || n >= 8<<20 {
		t.Fatalf("wrote %d %v, want part and a timeout", n, err)
	}
	// The Conn's own deadline (none) is back: a wait with a reader ends.
	go func() {
		buf := make([]byte, 64<<10)
		for {
			if n, err := unix.Read(peer, buf); n <= 0 || err != nil {
				return
			}
		}
	}()
	if _, err := s.Write(make([]byte, 8<<20)); err != nil {
		t.Fatalf("a write after the call's deadline: %v", err)
	}
}

// A TCP socket's addresses are kept as they were.
func TestTakeKeepsTCPAddresses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialed := make(chan net.Conn, 1)
	go func() {
		c, _ := net.Dial("tcp", ln.Addr().String())
		dialed <- c
	}()
	nc, err := ln.Accept()
	if c := <-dialed; c != nil {
		defer c.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	local, remote := nc.LocalAddr().String(), nc.RemoteAddr().String()
	s, err := Take(nc)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.LocalAddr().String() != local || s.RemoteAddr().String() != remote {
		t.Fatalf("addresses %v %v, want %s %s", s.LocalAddr(), s.RemoteAddr(), local, remote)
	}
	if _, ok := s.RemoteAddr().(*net.TCPAddr); !ok {
		t.Fatalf("remote address is a %T", s.RemoteAddr())
	}
}

func TestCloseEndsAWait(t *testing.T) {
	s, peer := pair(t)
	defer unix.Close(peer)
	done := make(chan error)
	go func() {
		_, err := s.Read(make([]byte, 8))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("read returned no error after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the waiting Read")
	}
	if err := s.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

func TestRawConnAfterClose(t *testing.T) {
	s, peer := pair(t)
	defer unix.Close(peer)
	rc, _ := s.SyscallConn()
	var fd uintptr
	if err := rc.Control(func(f uintptr) { fd = f }); err != nil || fd == 0 {
		t.Fatal(err)
	}
	if err := rc.Write(func(uintptr) bool { return false }); err != ErrWouldBlock {
		t.Fatalf("a function asking to wait: %v", err)
	}
	s.Close()
	called := false
	for _, err := range []error{
		rc.Control(func(uintptr) { called = true }),
		rc.Read(func(uintptr) bool { called = true; return true }),
		rc.Write(func(uintptr) bool { called = true; return true }),
	} {
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("after Close: %v", err)
		}
	}
	if called {
		t.Fatal("a function ran on a closed descriptor")
	}
}

// Writers racing Close never touch the descriptor after it closed (the
// race detector watches the rest).
func TestConcurrentWritesAndClose(t *testing.T) {
	for range 50 {
		s, peer := pair(t)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 20 {
					if _, err := s.Write([]byte("abc")); err != nil {
						return
					}
				}
			}()
		}
		s.Close()
		wg.Wait()
		unix.Close(peer)
	}
}

// A taken socket leaves nothing in the runtime: its poll descriptor goes
// back to be reused, so taking many costs the runtime no more than one.
func TestTakeLeavesNoRuntimeDescriptor(t *testing.T) {
	var held []*Conn
	var peers []int
	defer func() {
		for i, s := range held {
			s.Close()
			unix.Close(peers[i])
		}
	}()
	other := func() int64 { // not monotonic: other runtime metadata moves in and out
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.OtherSys)
	}
	s, p := pair(t) // the first may allocate the runtime's descriptor block
	held, peers = append(held, s), append(peers, p)
	before := other()
	const n = 2000
	for range n {
		s, p := pair(t)
		held, peers = append(held, s), append(peers, p)
	}
	grew := other() - before
	t.Logf("runtime memory: %d bytes for %d taken sockets", grew, n)
	if grew > n*150 { // a net.Conn each: ~600 bytes (the race detector adds ~70)
		t.Fatalf("the runtime's memory grew by %d bytes for %d taken sockets", grew, n)
	}
}

// The net.Conn made for a wait is closed with the Conn: no descriptor is
// left behind.
func TestCloseReleasesTheWaiter(t *testing.T) {
	open := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(ents)
	}
	before := open()
	for range 20 {
		s, peer := pair(t)
		s.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := s.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read: %v", err)
		}
		s.Close()
		unix.Close(peer)
	}
	if after := open(); after != before {
		t.Fatalf("%d descriptors open before, %d after", before, after)
	}
}
