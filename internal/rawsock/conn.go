// Package rawsock owns a connected socket outside the Go runtime's poller.
//
// A net.Conn costs the runtime a poll descriptor (about 600 bytes, never
// given back to the system once allocated) and registers the socket in the
// runtime's epoll, which is then woken by every packet even when a
// server's own poller reads the socket. A Conn keeps only the descriptor:
// its system calls never wait, and a wait with a deadline (a frame that
// arrives in pieces, a client that reads slowly) goes through a net.Conn
// made on a duplicate of the descriptor the first time one is needed.
package rawsock

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrWouldBlock is returned by the RawConn's Read and Write when their
// function asks to wait: a Conn's RawConn never waits.
var ErrWouldBlock = errors.New("rawsock: operation would block")

// Conn is a connected socket. It implements net.Conn (Read and Write wait
// as a net.Conn's do, honouring the deadlines) and syscall.Conn, whose
// RawConn runs functions on the descriptor without waiting. It is safe for
// concurrent use.
type Conn struct {
	// mu is held shared by every use of fd and exclusively by Close, so a
	// descriptor number is never used after it could have been reused.
	// First, with fd: a broadcast touches this line of every recipient.
	mu     sync.RWMutex
	closed bool
	fd     int

	// The addresses of a TCP socket, kept without the two objects each a
	// net.TCPAddr holds (a Conn is kept for every idle connection);
	// another kind's stay as they were given.
	local, remote netip.AddrPort
	addrs         *[2]net.Addr

	// bmu guards the waiting side, made at the first wait or deadline: a
	// connection that never waits does not carry it.
	bmu  sync.Mutex
	wait *waitSide
}

// waitSide is what a Conn needs to wait on its socket: a net.Conn on a
// duplicate of the descriptor, made at the first wait, and the deadlines
// it gets.
type waitSide struct {
	blocking net.Conn
	rdl, wdl time.Time
}

// Take moves c's socket into a Conn and closes c (the socket stays open:
// the Conn holds a duplicate of its descriptor). c must be a syscall.Conn
// with a non-blocking descriptor, as the net package's connections are.
func Take(c net.Conn) (*Conn, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var derr error
	if err := raw.Control(func(f uintptr) {
		fd, derr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	s := &Conn{fd: fd}
	la, lok := c.LocalAddr().(*net.TCPAddr)
	ra, rok := c.RemoteAddr().(*net.TCPAddr)
	if lok && rok {
		s.local, s.remote = la.AddrPort(), ra.AddrPort()
	} else {
		s.addrs = &[2]net.Addr{c.LocalAddr(), c.RemoteAddr()}
	}
	_ = c.Close()
	return s, nil
}

var errClosed = net.ErrClosed

// use runs f on the descriptor unless the Conn is closed.
func (s *Conn) use(f func(fd int)) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errClosed
	}
	f(s.fd)
	return nil
}

// Read reads what is there, or waits for data until the read deadline.
func (s *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var err error
	if e := s.use(func(fd int) {
		for {
			n, err = Read(fd, p)
			if err != unix.EINTR {
				return
			}
		}
	}); e != nil {
		return 0, e
	}
	switch {
	case err == unix.EAGAIN:
		b, err := s.waiter()
		if err != nil {
			return 0, err
		}
		return b.Read(p)
	case err != nil:
		return 0, &net.OpError{Op: "read", Net: "tcp", Addr: s.RemoteAddr(), Err: os.NewSyscallError("read", err)}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// ReadNow reads what is there and never waits: nothing to read gives
// unix.EAGAIN, the end of the stream 0 and no error.
func (s *Conn) ReadNow(p []byte) (n int, err error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return 0, errClosed
	}
	for {
		n, err = Read(s.fd, p)
		if err != unix.EINTR {
			break
		}
	}
	s.mu.RUnlock()
	return n, err
}

// Write writes p, waiting for room in the socket until the write deadline.
func (s *Conn) Write(p []byte) (int, error) {
	bufs := net.Buffers{p}
	n, err := s.WriteBuffers(&bufs)
	return int(n), err
}

// WriteNow writes what the socket takes at once of bufs (at most
// MaxIovecs of them), with one write or writev, and never waits: a full
// socket gives unix.EAGAIN.
func (s *Conn) WriteNow(bufs [][]byte) (n int, err error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return 0, errClosed
	}
	for {
		if len(bufs) == 1 {
			n, err = Write(s.fd, bufs[0])
		} else {
			n, err = Writev(s.fd, bufs)
		}
		if err != unix.EINTR {
			break
		}
	}
	s.mu.RUnlock()
	return n, err
}

// WriteBuffers writes the buffers in order, as many as it can with one
// writev, then waits for room until the write deadline. It consumes *b as
// net.Buffers.WriteTo does.
func (s *Conn) WriteBuffers(b *net.Buffers) (int64, error) {
	return s.WriteBuffersBefore(b, time.Time{})
}

// WriteBuffersBefore is WriteBuffers with deadline, unless zero, in place
// of the write deadline for this call alone. The deadline is given to the
// wait only if the call has to wait: a write the socket takes at once
// costs none (no waiting side is made for it). Other writes must not run
// meanwhile, as with any write of a stream.
func (s *Conn) WriteBuffersBefore(b *net.Buffers, deadline time.Time) (int64, error) {
	var total int64
	for len(*b) > 0 {
		n, err := s.WriteNow(*b)
		if err == unix.EAGAIN {
			w, werr := s.waiter()
			if werr != nil {
				return total, werr
			}
			if !deadline.IsZero() {
				_ = w.SetWriteDeadline(deadline)
				defer s.restoreWriteDeadline(w)
			}
			m, werr := b.WriteTo(w)
			return total + m, werr
		}
		if err == errClosed {
			return total, err
		}
		if err != nil {
			return total, &net.OpError{Op: "write", Net: "tcp", Addr: s.RemoteAddr(), Err: os.NewSyscallError("write", err)}
		}
		total += int64(n)
		consume(b, n)
	}
	return total, nil
}

// consume drops the first n bytes of b.
func consume(b *net.Buffers, n int) {
	for len(*b) > 0 {
		if n < len((*b)[0]) {
			(*b)[0] = (*b)[0][n:]
			return
		}
		n -= len((*b)[0])
		*b = (*b)[1:]
	}
}

// waiter returns the net.Conn that waits on the socket, made on a
// duplicate of the descriptor the first time.
func (s *Conn) waiter() (net.Conn, error) {
	s.bmu.Lock()
	defer s.bmu.Unlock()
	if s.wait != nil && s.wait.blocking != nil {
		return s.wait.blocking, nil
	}
	dup := -1
	var derr error
	if err := s.use(func(fd int) { dup, derr = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	f := os.NewFile(uintptr(dup), "rawsock")
	c, err := net.FileConn(f) // its own duplicate, in the runtime's poller
	_ = f.Close()
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed { // Close ran meanwhile and did not see it
		_ = c.Close()
		return nil, errClosed
	}
	if s.wait == nil {
		s.wait = new(waitSide)
	}
	if !s.wait.rdl.IsZero() {
		_ = c.SetReadDeadline(s.wait.rdl)
	}
	if !s.wait.wdl.IsZero() {
		_ = c.SetWriteDeadline(s.wait.wdl)
	}
	s.wait.blocking = c
	return c, nil
}

// restoreWriteDeadline gives w the Conn's own write deadline again.
func (s *Conn) restoreWriteDeadline(w net.Conn) {
	s.bmu.Lock()
	_ = w.SetWriteDeadline(s.wait.wdl)
	s.bmu.Unlock()
}

// SetDeadline sets both deadlines.
func (s *Conn) SetDeadline(t time.Time) error {
	_ = s.SetReadDeadline(t)
	return s.SetWriteDeadline(t)
}

// SetReadDeadline bounds the waits of Read.
func (s *Conn) SetReadDeadline(t time.Time) error {
	return s.setDeadline(func(w *waitSide) *time.Time { return &w.rdl }, t, net.Conn.SetReadDeadline)
}

// SetWriteDeadline bounds the waits of Write.
func (s *Conn) SetWriteDeadline(t time.Time) error {
	return s.setDeadline(func(w *waitSide) *time.Time { return &w.wdl }, t, net.Conn.SetWriteDeadline)
}

// setDeadline records a deadline for the waiter to come and gives it to
// the one there is. Clearing a deadline that was never set makes nothing.
func (s *Conn) setDeadline(field func(*waitSide) *time.Time, t time.Time, set func(net.Conn, time.Time) error) error {
	s.bmu.Lock()
	defer s.bmu.Unlock()
	if s.wait == nil {
		if t.IsZero() {
			return nil
		}
		s.wait = new(waitSide)
	}
	*field(s.wait) = t
	if s.wait.blocking != nil {
		return set(s.wait.blocking, t)
	}
	return nil
}

// CloseWrite shuts down the sending side.
func (s *Conn) CloseWrite() error {
	var err error
	if e := s.use(func(fd int) { err = unix.Shutdown(fd, unix.SHUT_WR) }); e != nil {
		return e
	}
	return err
}

// Close closes the socket; a Read or Write waiting returns.
func (s *Conn) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	s.closed = true
	err := unix.Close(s.fd)
	s.mu.Unlock()
	s.bmu.Lock()
	if s.wait != nil && s.wait.blocking != nil {
		_ = s.wait.blocking.Close()
	}
	s.bmu.Unlock()
	return err
}

// LocalAddr returns the local address.
func (s *Conn) LocalAddr() net.Addr {
	if s.addrs != nil {
		return s.addrs[0]
	}
	return net.TCPAddrFromAddrPort(s.local)
}

// RemoteAddr returns the peer's address.
func (s *Conn) RemoteAddr() net.Addr {
	if s.addrs != nil {
		return s.addrs[1]
	}
	return net.TCPAddrFromAddrPort(s.remote)
}

// SyscallConn returns a RawConn whose Read and Write run their function
// once and never wait (a function returning false gets ErrWouldBlock).
func (s *Conn) SyscallConn() (syscall.RawConn, error) { return rawConn{s}, nil }

type rawConn struct{ s *Conn }

func (r rawConn) Control(f func(fd uintptr)) error {
	return r.s.use(func(fd int) { f(uintptr(fd)) })
}

func (r rawConn) Read(f func(fd uintptr) bool) error { return r.run(f) }

func (r rawConn) Write(f func(fd uintptr) bool) error { return r.run(f) }

func (r rawConn) run(f func(fd uintptr) bool) error {
	done := true
	if err := r.s.use(func(fd int) { done = f(uintptr(fd)) }); err != nil {
		return err
	}
	if !done {
		return ErrWouldBlock
	}
	return nil
}
