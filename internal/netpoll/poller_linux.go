//go:build linux

package netpoll

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

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
//
// The goroutine never blocks in epoll_wait: the epoll descriptor is itself
// handed to the Go runtime's poller, and the goroutine parks until it is
// readable, then collects the events without waiting. A thread blocked in
// a system call would otherwise be taken over by the runtime each time it
// woke (a hand-off and a thread wake-up per burst of events) and would keep
// the runtime's monitor polling at its fastest.
type Poller struct {
	epfd   int
	file   *os.File // epfd, registered with the runtime's poller
	raw    syscall.RawConn
	closed atomic.Bool
	done   chan struct{}
	chunks [maxChunks]atomic.Pointer[chunk]

	work    chan *Desc    // unbuffered: a send succeeds only when a worker is idle
	quit    chan struct{} // closed by Close: idle workers exit
	workers atomic.Int32
	wg      sync.WaitGroup
}

// Callbacks run on worker goroutines that wait a while for the next one
// before exiting. Reusing them keeps their grown stacks (a new goroutine
// would grow its stack again for each message), and in a burst of events
// (every client answering at once, a mass disconnect) the poller first
// lets busy workers finish before it starts more, so the burst does not
// leave thousands of goroutine records behind (the runtime never frees
// them). A callback that blocks only takes its worker out of the pool: no
// event ever waits for a worker.
const (
	workerIdle  = 2 * time.Second
	workersSoft = 64 // per P; above it the poller yields once before starting another
)

// Desc is one registered descriptor.
type Desc struct {
	p      *Poller
	fd     int
	onRead func(*Desc)
	closed atomic.Bool
	state  atomic.Int32 // idle, running, or running with an event since
}

const (
	idle int32 = iota
	running
	again
)

// New starts a Poller. Close stops its goroutine.
func New() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	// Non-blocking, so that os.NewFile registers it with the runtime.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, err
	}
	f := os.NewFile(uintptr(epfd), "netpoll")
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	p := &Poller{epfd: epfd, file: f, raw: raw, done: make(chan struct{}),
		work: make(chan *Desc), quit: make(chan struct{})}
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

// Add registers conn: onRead runs on a worker goroutine, with the Desc,
// when data arrives or conn hangs up. conn must be a syscall.Conn (a
// *net.TCPConn, *net.UnixConn).
//
// The descriptor is edge-triggered, so no system call re-arms it: onRead
// must read until the socket is drained (a read shorter than asked, or
// EAGAIN), then call Resume. Events that come while onRead runs make it
// run again after Resume; it never runs twice at once.
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
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		slot.CompareAndSwap(d, nil)
		return nil, err
	}
	return d, nil
}

// Trigger runs the callback as if an event had come (for data read
// before registration).
func (d *Desc) Trigger() { d.fire() }

// fire runs the callback, or, when it is running, makes it run again.
func (d *Desc) fire() {
	for {
		switch d.state.Load() {
		case idle:
			if d.state.CompareAndSwap(idle, running) {
				d.p.dispatch(d)
				return
			}
		case running:
			if d.state.CompareAndSwap(running, again) {
				return
			}
		default:
			return
		}
	}
}

// Resume ends a callback that drained the descriptor; if events came
// meanwhile, the callback runs again.
func (d *Desc) Resume() error {
	if d.closed.Load() || d.p.closed.Load() {
		return ErrClosed
	}
	if d.state.CompareAndSwap(running, idle) {
		return nil
	}
	d.state.Store(running) // it was again: read what came
	d.p.dispatch(d)
	return nil
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
	err := p.file.Close() // wakes the goroutine; the descriptor closes when it lets go
	<-p.done
	close(p.quit)
	p.wg.Wait()
	return err
}

// dispatch runs d's callback on an idle worker or a new one.
func (p *Poller) dispatch(d *Desc) {
	select {
	case p.work <- d:
		return
	default:
	}
	if int(p.workers.Load()) >= workersSoft*runtime.GOMAXPROCS(0) {
		runtime.Gosched() // let running callbacks finish and come back idle
		select {
		case p.work <- d:
			return
		default:
		}
	}
	p.workers.Add(1)
	p.wg.Add(1)
	go p.worker(d)
}

func (p *Poller) worker(d *Desc) {
	defer p.wg.Done()
	defer p.workers.Add(-1)
	// The ticker is not reset for each callback (that would touch the
	// timer heap per message): a worker leaves when a whole tick passed
	// without a callback.
	idle := time.NewTicker(workerIdle)
	defer idle.Stop()
	for d != nil {
		if !d.closed.Load() {
			d.onRead(d)
		}
		d = p.next(idle)
	}
}

// next waits for a worker's next descriptor; nil means leave.
func (p *Poller) next(idle *time.Ticker) *Desc {
	ticked := false
	for {
		select {
		case d := <-p.work:
			return d
		case <-idle.C:
			if ticked {
				return nil
			}
			ticked = true
		case <-p.quit:
			return nil
		}
	}
}

// epollWaitNow collects ready events without waiting. It never blocks, so
// it is made without telling the scheduler (RawSyscall6): a regular system
// call made while every P was idle would also wake the runtime's monitor
// thread, which then polls every 20 µs for a while.
func epollWaitNow(epfd int, events []unix.EpollEvent) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

func (p *Poller) loop() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 256)
	// The events are handled inside the read callback: returning false
	// parks the goroutine until the runtime sees the epoll descriptor
	// readable again, which it does for any event added after the last
	// EpollWait emptied the ready list, during the dispatch included. So
	// after a partial batch there is no second EpollWait just to find
	// nothing.
	_ = p.raw.Read(func(fd uintptr) bool {
		for {
			n, err := epollWaitNow(int(fd), events)
			if err == unix.EINTR {
				continue
			}
			if p.closed.Load() {
				return true
			}
			for i := 0; i < n; i++ {
				var d *Desc
				if slot := p.slot(int(events[i].Fd), false); slot != nil {
					d = slot.Load()
				}
				if d != nil && !d.closed.Load() {
					d.fire()
				}
			}
			if n < len(events) {
				return false
			}
		}
	})
}
