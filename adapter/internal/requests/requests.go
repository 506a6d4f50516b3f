// Package requests keeps the requests an adapter sent to the other nodes
// until their answers arrive, and runs the handlers of requests from the
// other nodes on a goroutine of their own.
package requests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/heraldio/herald/adapter/internal/wire"
	"github.com/heraldio/herald/socketio"
)

// ErrTimeout is returned with partial results when some node did not
// answer a request in time.
var ErrTimeout = errors.New("adapter: request timed out: some nodes did not answer")

// ErrClosed is returned by requests that were waiting when the adapter
// closed.
var ErrClosed = errors.New("adapter: closed")

// ErrUnavailable is returned, with the local results, by requests made
// while the other nodes are known to be out of reach. It matches
// ErrTimeout too.
var ErrUnavailable = fmt.Errorf("adapter: other nodes unreachable: %w", ErrTimeout)

// Answer is one node's answer to a request: its JSON, whose placeholders
// refer to Att.
type Answer struct {
	Msg json.RawMessage
	Att [][]byte
}

// ArgsOf returns member key of each answer (a server-side emit's
// answer) as the only argument of an Args.
func ArgsOf(answers []Answer, key string) []socketio.Args {
	out := make([]socketio.Args, 0, len(answers))
	for _, ans := range answers {
		var r map[string]json.RawMessage
		if json.Unmarshal(ans.Msg, &r) == nil {
			out = append(out, wire.Arg(r[key], ans.Att))
		}
	}
	return out
}

// SocketsOf appends the sockets of fetchSockets answers to local.
func SocketsOf(local []socketio.SocketInfo, answers []Answer) []socketio.SocketInfo {
	for _, ans := range answers {
		var r struct {
			Sockets []wire.RemoteSocket `json:"sockets"`
		}
		if json.Unmarshal(ans.Msg, &r) == nil {
			for _, s := range r.Sockets {
				local = append(local, s.Info())
			}
		}
	}
	return local
}

// Pending collects the answers to one request.
type Pending struct {
	// Expected is the number of answers that complete the request.
	Expected int
	// OnCount and OnAck, set for a broadcast with acks, receive each
	// node's count of sockets reached and each socket's ack; such a
	// request is not waited for but forgotten after a while
	// (AddBroadcast).
	OnCount func(int)
	OnAck   func(socketio.Args)

	answers []Answer
	done    chan struct{}
	closed  bool
}

func (p *Pending) finish() {
	if !p.closed {
		p.closed = true
		close(p.done)
	}
}

// Table holds the requests of one adapter waiting for answers.
type Table struct {
	mu     sync.Mutex
	m      map[string]*Pending
	closed bool
}

// NewTable returns an empty Table.
func NewTable() *Table { return &Table{m: make(map[string]*Pending)} }

// Add registers request id; it returns false once the table is closed.
func (r *Table) Add(id string, p *Pending) bool {
	p.done = make(chan struct{})
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.m[id] = p
	return true
}

// AddBroadcast registers a broadcast with acks under a new id, which it
// returns: onCount gets each node's count of sockets reached, onAck each
// ack, until grace after the broadcast's timeout (grace alone when it
// has none). ok is false once the table is closed.
func (r *Table) AddBroadcast(timeout, grace time.Duration, onCount func(int), onAck func(socketio.Args)) (id string, ok bool) {
	id = wire.RandomID(16)
	if !r.Add(id, &Pending{OnCount: onCount, OnAck: onAck}) {
		return "", false
	}
	if timeout <= 0 {
		timeout = grace
	}
	time.AfterFunc(timeout+grace, func() { r.Remove(id) })
	return id, true
}

// Get returns request id, or nil.
func (r *Table) Get(id string) *Pending {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[id]
}

// Remove forgets request id.
func (r *Table) Remove(id string) {
	r.mu.Lock()
	delete(r.m, id)
	r.mu.Unlock()
}

// Answer records one node's answer to request id.
func (r *Table) Answer(id string, a Answer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.m[id]
	if p == nil || p.closed {
		return
	}
	p.answers = append(p.answers, a)
	if len(p.answers) >= p.Expected {
		p.finish()
	}
}

// Wait waits for request id until every answer arrived or ctx is done (or
// timeout passes, when ctx has no deadline), and returns the answers:
// with some missing, ErrTimeout, or ErrClosed when the table closed.
func (r *Table) Wait(ctx context.Context, id string, p *Pending, timeout time.Duration) ([]Answer, error) {
	defer r.Remove(id)
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
	out := append([]Answer(nil), p.answers...)
	switch {
	case len(out) >= p.Expected:
		return out, nil
	case r.closed:
		return out, ErrClosed
	default:
		p.closed = true
		return out, ErrTimeout
	}
}

// Close ends every waiting request.
func (r *Table) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for id, p := range r.m {
		p.finish()
		delete(r.m, id)
	}
}

// Worker runs functions one after another on its own goroutine: the
// handlers of server-side events, which may themselves wait for other
// nodes and so must not run on the goroutine reading the transport.
type Worker struct {
	ch   chan func()
	stop chan struct{}
	done chan struct{}
}

// NewWorker starts a Worker.
func NewWorker() *Worker {
	w := &Worker{ch: make(chan func(), 256), stop: make(chan struct{}), done: make(chan struct{})}
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

// Do queues f; it returns at once when the worker is closed.
func (w *Worker) Do(f func()) {
	select {
	case w.ch <- f:
	case <-w.stop:
	}
}

// Close stops the worker and waits for the function running.
func (w *Worker) Close() {
	close(w.stop)
	<-w.done
}
