package client

import (
	"log/slog"
	"sync"
	"sync/atomic"
)

// dispatcher runs user callbacks one at a time, in the order they were
// queued, on one goroutine: handlers see events as the JavaScript client's
// listeners do, and the library's I/O goroutines never wait for them.
type dispatcher struct {
	log *slog.Logger

	mu      sync.Mutex
	queue   []func()
	stopped bool
	signal  chan struct{} // cap 1
	done    chan struct{}
	inCall  atomic.Bool
}

func newDispatcher(log *slog.Logger) *dispatcher {
	d := &dispatcher{log: log, signal: make(chan struct{}, 1), done: make(chan struct{})}
	go d.run()
	return d
}

// push queues fn; it never blocks. After stop, fn is dropped.
func (d *dispatcher) push(fn func()) {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return
	}
	d.queue = append(d.queue, fn)
	d.mu.Unlock()
	select {
	case d.signal <- struct{}{}:
	default:
	}
}

// stop makes the goroutine exit once what is queued has run.
func (d *dispatcher) stop() {
	d.mu.Lock()
	d.stopped = true
	d.mu.Unlock()
	select {
	case d.signal <- struct{}{}:
	default:
	}
}

func (d *dispatcher) run() {
	defer close(d.done)
	for range d.signal {
		for {
			d.mu.Lock()
			q := d.queue
			d.queue = nil
			stopped := d.stopped
			d.mu.Unlock()
			if len(q) == 0 {
				if stopped {
					return
				}
				break
			}
			for _, fn := range q {
				d.call(fn)
			}
		}
	}
}

func (d *dispatcher) call(fn func()) {
	d.inCall.Store(true)
	defer d.inCall.Store(false)
	defer func() {
		if r := recover(); r != nil {
			d.log.Error("client: handler panic", "panic", r)
		}
	}()
	fn()
}
