package engineio

import (
	"sync"
	"sync/atomic"
	"time"
)

// Write coalescing. A WebSocket connection sent a packet less than
// Options.CoalesceWindow after the previous one (or after a write that
// carried several coalesced packets) does not write it at once: it waits
// in the queue, and the server's coalescer writes it and what follows
// with one writev a window later. Only a Send that finds nothing pending
// reads the clock: the others join what is already waiting. A client receiving a frame every
// millisecond thus costs the kernel one write per window instead of one
// per frame, while a connection that has been quiet for a window (most of
// them, most of the time) is written to at once by Send: a lone message
// waits for nothing. What counts is the time between sends, not between
// writes: a broadcast to a crowd that takes longer than a window to go
// round writes every recipient at once, as before.
//
// The coalescer is one goroutine per Server that runs only while some
// connection waits and leaves when none does. Its list holds a waiting
// connection once (Conn.deferred), and once more only after a burst of
// coalesceBatch packets made the sender write them or a Close did: it is
// bounded by the number of connections and the packets sent within a
// window. A deferred connection gathers at most coalesceBatch packets,
// then the sender of the last writes them all: a burst never fills
// MaxQueuedPackets for a client that keeps up. The coalescer never waits
// on a client: its writes are non-blocking, and what a socket does not
// take goes to that connection's writer goroutine, as for an inline
// write. Server.WriteStats counts its writes.
type coalescer struct {
	srv *Server

	mu      sync.Mutex
	due     []deferredConn // in the order they were deferred, so in due order
	running bool           // the goroutine runs (counted in srv.wg)
	hurry   bool           // Shutdown: write everything now
	wake    chan struct{}  // ends the goroutine's wait when hurry is set
	spare   []deferredConn // the goroutine's batch, reused

	flushes atomic.Uint64
	packets atomic.Uint64
}

type deferredConn struct {
	c  *Conn
	at int64 // Server.now at which its window ends
}

// WriteStats counts the writes of deferred packets (see
// Options.CoalesceWindow).
type WriteStats struct {
	// Flushes is the number of writes made when a connection's window
	// ended, each with everything the connection was sent during it.
	Flushes uint64
	// Packets is the number of packets those writes carried: Packets -
	// Flushes is the number of system calls coalescing saved.
	Packets uint64
	// SlowClients counts the connections closed with ErrSlowClient: their
	// queue reached MaxQueuedPackets.
	SlowClients uint64
}

// WriteStats returns the coalescing counters since the server started.
func (s *Server) WriteStats() WriteStats {
	return WriteStats{Flushes: s.coalesce.flushes.Load(), Packets: s.coalesce.packets.Load(), SlowClients: s.slowClients.Load()}
}

// coalesceBatch is how many packets a deferred connection gathers at most
// before the sender that brings the last one writes them all at once.
const coalesceBatch = 64

// coalesceMax is coalesceBatch within MaxQueuedPackets.
func (s *Server) coalesceMax() int { return min(coalesceBatch, s.opts.MaxQueuedPackets) }

// now is the server's monotonic clock, in nanoseconds; never 0 once a
// connection exists.
func (s *Server) now() int64 { return int64(time.Since(s.epoch)) + 1 }

// deferLocked makes the coalescer write c's queue when its window ends,
// and reports whether it will. c.mu is held, c is open and nothing is
// writing for it; on success the coalescer holds c.flushing.
func (c *Conn) deferLocked(now int64) bool {
	if !c.hold() { // Shutdown waits for the write
		return false
	}
	c.flushing, c.deferred = true, true
	q := &c.srv.coalesce
	q.mu.Lock()
	q.due = append(q.due, deferredConn{c: c, at: now + int64(c.srv.opts.CoalesceWindow)})
	if !q.running {
		q.running = true
		c.srv.wg.Add(1) // c is held, so the count is not zero: Shutdown may be waiting
		go q.run()
	}
	q.mu.Unlock()
	return true
}

// hurryUp makes the coalescer write every waiting connection at once, and
// those deferred later without waiting: the server is shutting down.
func (q *coalescer) hurryUp() {
	q.mu.Lock()
	q.hurry = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// run writes each deferred connection when its window ends, and returns
// when none is left.
func (q *coalescer) run() {
	defer q.srv.wg.Done()
	var t *time.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		q.mu.Lock()
		if len(q.due) == 0 {
			q.running = false
			if cap(q.due) > 1024 {
				q.due = nil // a crowd has gone: do not keep its list
			}
			q.mu.Unlock()
			return
		}
		now := q.srv.now()
		if wait := time.Duration(q.due[0].at - now); wait > 0 && !q.hurry {
			q.mu.Unlock()
			if t == nil {
				t = time.NewTimer(wait)
			} else {
				t.Reset(wait)
			}
			select {
			case <-t.C:
			case <-q.wake:
			}
			continue
		}
		n := 1
		for n < len(q.due) && (q.due[n].at <= now || q.hurry) {
			n++
		}
		batch := append(q.spare[:0], q.due[:n]...)
		rest := copy(q.due, q.due[n:])
		clear(q.due[rest:])
		q.due = q.due[:rest]
		q.mu.Unlock()
		for i := range batch {
			batch[i].c.flushDeferred(now)
			batch[i].c.release()
		}
		clear(batch)
		q.spare = batch[:0] // only this goroutine touches spare
	}
}

// takeDeferredLocked takes the batch waiting for the coalescer, and with
// it c.flushing, for the caller to write now (writeDeferred); the
// coalescer's entry then finds nothing to do.
func (c *Conn) takeDeferredLocked() []*Packet {
	c.deferred = false
	batch := c.queue
	c.queue = nil
	return batch
}

// flushDeferred writes what c was sent during its window, at now.
func (c *Conn) flushDeferred(now int64) {
	c.mu.Lock()
	if !c.deferred { // a sender took the batch (and flushing) over
		c.mu.Unlock()
		return
	}
	c.deferred = false
	w := c.ws
	if c.state == stateClosed || w == nil || len(c.queue) == 0 {
		// Closed meanwhile: what was queued is dropped, never written.
		c.flushing = false
		c.mu.Unlock()
		return
	}
	batch := c.queue
	c.queue = nil
	if len(batch) > 1 {
		// Frames keep coming: the next one waits for a window too. (A
		// lone packet does not count, or a connection sent one frame per
		// window would never be written at once again.)
		c.lastSend = now
	}
	c.mu.Unlock()
	c.writeDeferred(w, batch)
}

// writeDeferred writes a batch that waited for coalescing, and gives its
// slice back to the queue.
func (c *Conn) writeDeferred(w *wsConn, batch []*Packet) {
	q := &c.srv.coalesce
	q.flushes.Add(1)
	q.packets.Add(uint64(len(batch)))
	c.writeBatch(w, batch)
}

// writeBatch writes batch, taken from c.queue by the holder of c.flushing,
// without blocking (see writeInline), then gives its slice back to the
// queue so that the next packets allocate nothing.
func (c *Conn) writeBatch(w *wsConn, batch []*Packet) {
	c.writeInline(w, batch)
	clear(batch) // writeInline copied what it left queued
	c.mu.Lock()
	if c.queue == nil && cap(batch) <= coalesceBatch {
		c.queue = batch[:0]
	}
	c.mu.Unlock()
}
