//go:build linux

package netpoll

import (
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// The registry maps descriptor numbers, which the kernel keeps dense, to
// Descs: a two-level table of atomic pointers, 8 bytes a descriptor, with
// no lock on lookup, registration or removal.
const (
	chunkBits = 12
	chunkSize = 1 << chunkBits
	maxChunks = 1 << 10 // descriptors up to 4M
)

type chunk [chunkSize]atomic.Pointer[Desc]

// Poller waits for readiness of many descriptors with one goroutine.
type Poller struct {
	epfd   int
	wakeFd int // eventfd used to interrupt EpollWait on Close
	closed atomic.Bool
	done   chan struct{}
	chunks [maxChunks]atomic.Pointer[chunk]
}

// Desc is one registered descriptor.
type Desc struct {
	p      *Poller
	fd     int
	onRead func(*Desc)
	closed atomic.Bool
}

// New starts a Poller. Close stops its goroutine.
func New() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wfd)
		return nil, err
	}
	p := &Poller{epfd: epfd, wakeFd: wfd, done: make(chan struct{})}
	go p.loop()
	return p, nil
}

// slot returns the registry slot of fd, creating its chunk if create.
func (p *Poller) slot(fd int, create bool) *atomic.Pointer[Desc] {
	i := fd >> chunkBits
	if fd < 0 || i >= maxChunks {
		return nil
	}
	c := p.chunks[i].Load()
	if c == nil {
		if !create {
			return nil
		}
		p.chunks[i].CompareAndSwap(nil, new(chunk))
		c = p.chunks[i].Load()
	}
	return &c[fd&(chunkSize-1)]
}

// Add registers conn and arms it: onRead runs in its own goroutine, with
// the Desc, when conn becomes readable or hangs up. conn must be a
// syscall.Conn (a *net.TCPConn, *net.UnixConn).
func (p *Poller) Add(conn syscall.RawConn, onRead func(*Desc)) (*Desc, error) {
	fd := -1
	if err := conn.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return nil, err
	}
	if p.closed.Load() {
		return nil, ErrClosed
	}
	slot := p.slot(fd, true)
	if slot == nil {
		return nil, ErrUnsupported
	}
	d := &Desc{p: p, fd: fd, onRead: onRead}
	slot.Store(d)
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		slot.CompareAndSwap(d, nil)
		return nil, err
	}
	return d, nil
}

// Resume re-arms d after its callback has consumed what it could read.
func (d *Desc) Resume() error {
	if d.closed.Load() || d.p.closed.Load() {
		return ErrClosed
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(d.fd)}
	return unix.EpollCtl(d.p.epfd, unix.EPOLL_CTL_MOD, d.fd, &ev)
}

// Close unregisters d. Call it before closing the connection, so that a
// later connection reusing the descriptor number is not confused with it.
func (d *Desc) Close() {
	if d.closed.Swap(true) {
		return
	}
	mine := d.p.slot(d.fd, false).CompareAndSwap(d, nil)
	if mine && !d.p.closed.Load() {
		_ = unix.EpollCtl(d.p.epfd, unix.EPOLL_CTL_DEL, d.fd, nil)
	}
}

// Close stops the Poller's goroutine and waits for it. Registered
// descriptors get no more callbacks.
func (p *Poller) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	var one = [8]byte{1}
	_, _ = unix.Write(p.wakeFd, one[:])
	<-p.done
	unix.Close(p.wakeFd)
	return unix.Close(p.epfd)
}

func (p *Poller) loop() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return
		}
		if p.closed.Load() {
			return
		}
		for i := 0; i < n; i++ {
			fd := int(events[i].Fd)
			if fd == p.wakeFd {
				continue
			}
			var d *Desc
			if slot := p.slot(fd, false); slot != nil {
				d = slot.Load()
			}
			if d != nil && !d.closed.Load() {
				go d.onRead(d)
			}
		}
	}
}
