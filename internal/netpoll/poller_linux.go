//go:build linux

package netpoll

import (
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Poller waits for readiness of many descriptors with one goroutine.
type Poller struct {
	epfd   int
	wakeFd int // eventfd used to interrupt EpollWait on Close

	mu     sync.RWMutex
	descs  map[int]*Desc
	closed bool
	done   chan struct{}
}

// Desc is one registered descriptor.
type Desc struct {
	p      *Poller
	fd     int
	onRead func(*Desc)
	closed bool // guarded by p.mu
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
	p := &Poller{epfd: epfd, wakeFd: wfd, descs: make(map[int]*Desc), done: make(chan struct{})}
	go p.loop()
	return p, nil
}

// Add registers conn and arms it: onRead runs in its own goroutine, with
// the Desc, when conn becomes readable or hangs up. conn must be a syscall.Conn (a *net.TCPConn,
// *net.UnixConn).
func (p *Poller) Add(conn syscall.RawConn, onRead func(*Desc)) (*Desc, error) {
	fd := -1
	if err := conn.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return nil, err
	}
	d := &Desc{p: p, fd: fd, onRead: onRead}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	p.descs[fd] = d
	p.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.mu.Lock()
		delete(p.descs, fd)
		p.mu.Unlock()
		return nil, err
	}
	return d, nil
}

// Resume re-arms d after its callback has consumed what it could read.
func (d *Desc) Resume() error {
	d.p.mu.RLock()
	defer d.p.mu.RUnlock()
	if d.closed || d.p.closed {
		return ErrClosed
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(d.fd)}
	return unix.EpollCtl(d.p.epfd, unix.EPOLL_CTL_MOD, d.fd, &ev)
}

// Close unregisters d. Call it before closing the connection, so that a
// later connection reusing the descriptor number is not confused with it.
func (d *Desc) Close() {
	d.p.mu.Lock()
	defer d.p.mu.Unlock()
	if d.closed {
		return
	}
	d.closed = true
	if d.p.descs[d.fd] == d {
		delete(d.p.descs, d.fd)
		if !d.p.closed {
			_ = unix.EpollCtl(d.p.epfd, unix.EPOLL_CTL_DEL, d.fd, nil)
		}
	}
}

// Close stops the Poller's goroutine and waits for it. Registered
// descriptors get no more callbacks.
func (p *Poller) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
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
		p.mu.RLock()
		if p.closed {
			p.mu.RUnlock()
			return
		}
		for i := 0; i < n; i++ {
			fd := int(events[i].Fd)
			if fd == p.wakeFd {
				continue
			}
			if d := p.descs[fd]; d != nil && !d.closed {
				go d.onRead(d)
			}
		}
		p.mu.RUnlock()
	}
}
