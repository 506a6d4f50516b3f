package redisadapter

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldio/herald/socketio"
)

// ErrRequestTimeout is returned with partial results when some node did
// not answer a request in time.
var ErrRequestTimeout = errors.New("redisadapter: request timed out: some nodes did not answer")

// ErrClosed is returned by requests that were waiting when the adapter
// closed.
var ErrClosed = errors.New("redisadapter: adapter closed")

// answer is one node's answer to a request.
type answer struct {
	msg json.RawMessage
	att [][]byte
}

// pending collects the answers to one request.
type pending struct {
	expected int
	answers  []answer
	done     chan struct{}
	closed   bool
	// broadcasts with acks
	onCount func(int)
	onAck   func(socketio.Args)
}

func (p *pending) finish() {
	if !p.closed {
		p.closed = true
		close(p.done)
	}
}

// requests are the requests of one adapter waiting for answers.
type requests struct {
	mu     sync.Mutex
	m      map[string]*pending
	closed bool
}

func newRequests() *requests { return &requests{m: make(map[string]*pending)} }

// add registers a request expecting n answers.
func (r *requests) add(id string, p *pending) bool {
	p.done = make(chan struct{})
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.m[id] = p
	return true
}

func (r *requests) get(id string) *pending {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[id]
}

func (r *requests) remove(id string) {
	r.mu.Lock()
	delete(r.m, id)
	r.mu.Unlock()
}

// removeAfter forgets a broadcast with acks once late acks no longer
// matter.
func (r *requests) removeAfter(id string, d time.Duration) {
	time.AfterFunc(d, func() { r.remove(id) })
}

// answer records one node's answer to request id.
func (r *requests) answer(id string, a answer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.m[id]
	if p == nil || p.closed {
		return
	}
	p.answers = append(p.answers, a)
	if len(p.answers) >= p.expected {
		p.finish()
	}
}

// wait waits for request id until every answer arrived or ctx is done (or
// timeout passes, when ctx has no deadline), and returns the answers.
func (r *requests) wait(ctx context.Context, id string, p *pending, timeout time.Duration) ([]answer, error) {
	defer r.remove(id)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	select {
	case <-p.done:
	case <-ctx.Done():
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]answer(nil), p.answers...)
	switch {
	case len(out) >= p.expected:
		return out, nil
	case r.closed:
		return out, ErrClosed
	default:
		p.closed = true
		return out, ErrRequestTimeout
	}
}

// close ends every waiting request.
func (r *requests) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for id, p := range r.m {
		p.finish()
		delete(r.m, id)
	}
}

// worker runs functions one after another on its own goroutine: the
// handlers of server-side events, which may themselves wait for other
// nodes and so must not run on the subscription's reader.
type worker struct {
	ch   chan func()
	stop chan struct{}
	done chan struct{}
}

func newWorker() *worker {
	w := &worker{ch: make(chan func(), 256), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			select {
			case f := <-w.ch:
				f()
			case <-w.stop:
				return
			}
		}
	}()
	return w
}

func (w *worker) do(f func()) {
	select {
	case w.ch <- f:
	case <-w.stop:
	}
}

func (w *worker) close() {
	close(w.stop)
	<-w.done
}

// subscription reads a pub/sub subscription on one goroutine until
// closed. go-redis reconnects a broken subscription and subscribes again
// to its channels on its own; the adapter only logs.
type subscription struct {
	pubsub *redis.PubSub
	done   chan struct{}
}

// subscribe waits for confirm subscription confirmations (so the node is
// counted, and reached, as soon as its namespace exists), then reads
// messages into handle.
func subscribe(ps *redis.PubSub, confirm int, timeout time.Duration, log *slog.Logger, handle func(*redis.Message)) *subscription {
	s := &subscription{pubsub: ps, done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	for confirm > 0 {
		m, err := ps.Receive(ctx)
		if err != nil {
			log.Warn("redisadapter: subscribe failed; retrying in the background", "err", err)
			break
		}
		switch m := m.(type) {
		case *redis.Subscription:
			confirm--
		case *redis.Message:
			handle(m)
		}
	}
	cancel()
	ch := ps.Channel(redis.WithChannelSize(1024))
	go func() {
		defer close(s.done)
		for m := range ch {
			handle(m)
		}
	}()
	return s
}

// close stops reading and waits for the goroutine.
func (s *subscription) close() error {
	err := s.pubsub.Close()
	<-s.done
	return err
}
