package store

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of the message writer.
const (
	// writeQueueLen is how many CreateMessage calls may wait for the writer.
	// When the queue is full a call waits for room (or for its context to
	// end): backpressure on the senders rather than unbounded memory.
	writeQueueLen = 1024
	// maxWriteBatch is the most messages committed in one transaction.
	maxWriteBatch = 256
	// gatherWindow: a message that comes less than this after the previous
	// transaction began waits until this long after it, with whatever else
	// comes meanwhile, and they commit together. A transaction's fixed cost
	// (BEGIN, the room's last id, COMMIT and its WAL write) is most of the
	// cost of storing one chat message, so a steady stream of messages
	// costs a fraction of it per message; a lone message, after a quiet
	// moment, is committed at once. 5 ms rather than 2: at 500 messages/s
	// (one every 2 ms) it gathers a few per transaction instead of about
	// one, and a steady sender's ack waits at most this much longer.
	gatherWindow = 5 * time.Millisecond
)

// WriterStats counts the work of a Store's message writer, for metrics.
// Messages/Commits is the mean batch size; QueueFull counts the calls that
// found the queue full and had to wait for room.
type WriterStats struct {
	Commits   uint64 // transactions committed, one per batch
	Messages  uint64 // messages committed
	QueueFull uint64 // CreateMessage calls that waited for room in the queue
}

// pending is one CreateMessage call waiting for the commit of its message.
type pending struct {
	ctx  context.Context
	in   Message // as given, validated
	out  Message // as stored, once committed
	err  error
	done chan struct{} // closed when out or err is set
}

// msgWriter commits messages with group commit: one goroutine takes every
// message queued while the previous transaction ran and commits them in one
// transaction, then answers each caller. Under load a transaction holds
// many messages; alone, a message is committed at once (no waiting for
// company).
type msgWriter struct {
	// commit stores the batch, setting each one's out or err, and returns
	// how many transactions it committed. The batch is never empty, and
	// every caller in it was still waiting when it began.
	commit func(ctx context.Context, batch []*pending) int

	mu     sync.RWMutex // held for reading while sending on queue
	closed bool
	queue  chan *pending
	done   chan struct{} // closed when run returns

	commits, messages, queueFull atomic.Uint64
}

func newMsgWriter(commit func(context.Context, []*pending) int) *msgWriter {
	w := &msgWriter{commit: commit, queue: make(chan *pending, writeQueueLen), done: make(chan struct{})}
	go w.run()
	return w
}

// write queues m and waits until the transaction holding it has committed.
// If ctx ends first it returns ctx's error: the message is then stored or
// not, depending on whether its transaction had begun.
func (w *msgWriter) write(ctx context.Context, m Message) (Message, error) {
	p := &pending{ctx: ctx, in: m, done: make(chan struct{})}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return Message{}, ErrClosed
	}
	select {
	case w.queue <- p:
	default:
		w.queueFull.Add(1)
		select {
		case w.queue <- p:
		case <-ctx.Done():
			w.mu.RUnlock()
			return Message{}, ctx.Err()
		}
	}
	w.mu.RUnlock()
	select {
	case <-p.done:
		return p.out, p.err
	case <-ctx.Done():
		return Message{}, ctx.Err()
	}
}

// run is the writer goroutine. It ends once close has closed the queue and
// every message queued before has been committed.
func (w *msgWriter) run() {
	defer close(w.done)
	batch := make([]*pending, 0, maxWriteBatch)
	var began time.Time // of the previous transaction
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	for p := range w.queue {
		batch = append(batch[:0], p)
		var wait <-chan time.Time // nil: take only what is queued now
		if d := gatherWindow - time.Since(began); d > 0 {
			gather.Reset(d)
			wait = gather.C
		}
	fill:
		for len(batch) < maxWriteBatch {
			if wait == nil {
				select {
				case p, ok := <-w.queue:
					if !ok {
						break fill
					}
					batch = append(batch, p)
				default:
					break fill
				}
				continue
			}
			select {
			case p, ok := <-w.queue:
				if !ok {
					break fill
				}
				batch = append(batch, p)
			case <-wait:
				wait = nil
			}
		}
		gather.Stop() // since Go 1.23 no stale tick is left to drain
		began = time.Now()
		w.flush(batch)
		clear(batch) // let the messages go
	}
}

// flush commits the callers of batch that still wait and answers them all.
func (w *msgWriter) flush(batch []*pending) {
	live := make([]*pending, 0, len(batch))
	var deadline time.Time
	forever := false
	for _, p := range batch {
		if err := p.ctx.Err(); err != nil {
			p.err = err // gone: not stored
			close(p.done)
			continue
		}
		live = append(live, p)
		if d, ok := p.ctx.Deadline(); !ok {
			forever = true
		} else if d.After(deadline) {
			deadline = d
		}
	}
	if len(live) == 0 {
		return
	}
	// The transaction may run as long as its most patient caller waits.
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if !forever {
		ctx, cancel = context.WithDeadline(ctx, deadline)
	}
	w.commits.Add(uint64(w.commit(ctx, live)))
	cancel()
	n := 0
	for _, p := range live {
		if p.err == nil {
			n++
		}
		close(p.done)
	}
	w.messages.Add(uint64(n))
}

// close stops taking messages, waits until the queued ones are committed
// and the goroutine has ended. It is idempotent.
func (w *msgWriter) close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	<-w.done
}

func (w *msgWriter) stats() WriterStats {
	return WriterStats{Commits: w.commits.Load(), Messages: w.messages.Load(), QueueFull: w.queueFull.Load()}
}

// stamp returns m with the id x and the creation time x holds.
func stamp(m Message, x id) Message {
	m.ID = x.String()
	m.CreatedAt = fromMillis(int64(x.ms()))
	return m
}
