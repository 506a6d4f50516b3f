package engineio

import (
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"

	"github.com/heraldio/herald/engineio/packet"
	"github.com/heraldio/herald/internal/rawsock"
)

// nowWriter is a socket that writes what it can at once and never waits
// (internal/rawsock), returning EAGAIN when full.
type nowWriter interface {
	WriteNow(bufs [][]byte) (int, error)
}

// rawWriter writes without waiting through a socket's descriptor, for a
// socket that is no nowWriter. Made only for those: a wsConn is kept for
// every idle connection.
type rawWriter struct {
	raw     syscall.RawConn
	fn      func(fd uintptr) bool
	iov     [][]byte
	written int
	err     error
}

// kickWS starts the writer if it is not running. Called with c.mu held.
func (c *Conn) kickWS() {
	if !c.flushing && c.ws != nil && !c.wsReading {
		c.flushing = true
		c.srv.flushLater(c)
	}
}

// rawFrame wraps a WebSocket control frame so it can travel in the queue.
func (c *Conn) sendRaw(w *wsConn, f ws.Frame) {
	var b fixedWriter
	_ = ws.WriteFrame(&b, f)
	p := control(packet.Noop, "")
	p.frameOnce.Do(func() { p.frame = b.buf })
	c.mu.Lock()
	if c.ws == w && c.state == stateOpen {
		c.queue = append(c.queue, p)
		c.kickWS()
	}
	c.mu.Unlock()
}

// frameFor returns the frame of p for a connection with or without
// permessage-deflate, of Engine.IO v4 or v3 (whose binary frames differ).
func (p *Packet) frameFor(deflate, eio3 bool, threshold int) []byte {
	compress := deflate && !p.NoCompress && len(p.Data) >= threshold
	if eio3 && p.Binary {
		return p.v3Frame(compress)
	}
	if compress {
		return p.deflatedFrame()
	}
	return p.wsFrame()
}

// writeInline tries to write batch at once without blocking; it is called
// by the holder of c.flushing. What the socket does not take is queued in
// front for a writer goroutine.
func (c *Conn) writeInline(w *wsConn, batch []*Packet) {
	bp := buffersPool.Get().(*net.Buffers)
	iov := (*bp)[:0]
	total := 0
	for _, p := range batch {
		f := p.frameFor(w.deflate, c.eio3, c.srv.opts.DeflateThreshold)
		iov = append(iov, f)
		total += len(f)
	}
	var n int
	var err, werr error
	if w.nb != nil {
		n, werr = w.nb.WriteNow(iov)
		if werr != nil && werr != unix.EAGAIN && werr != unix.EINTR {
			err, werr = werr, nil
		}
	} else {
		rw := w.rw
		rw.iov = iov
		err = rw.raw.Write(rw.fn)
		n, werr = rw.written, rw.err
		rw.iov = nil
	}
	clear(iov)
	*bp = iov[:0]
	buffersPool.Put(bp)
	if err == nil && werr != nil && werr != unix.EAGAIN && werr != unix.EINTR {
		err = werr
	}
	if err != nil {
		c.writeFailed(err)
		return
	}
	if n < 0 {
		n = 0
	}
	var rest []*Packet
	if n < total {
		for i, p := range batch {
			f := p.frameFor(w.deflate, c.eio3, c.srv.opts.DeflateThreshold)
			if n >= len(f) {
				n -= len(f)
				continue
			}
			if n > 0 { // a partial frame: its tail goes first
				tail := control(packet.Noop, "")
				tail.frame = f[n:]
				tail.frameOnce.Do(noop)
				rest = append(rest, tail)
				i++
			}
			rest = append(rest, batch[i:]...)
			break
		}
	}
	c.mu.Lock()
	if len(rest) > 0 {
		c.queue = append(rest, c.queue...)
	}
	if len(c.queue) > 0 && c.state != stateClosed {
		c.srv.flushLater(c) // flushing stays set for it
	} else {
		c.flushing = false
		if c.state == stateClosing {
			c.finishLocked(endByServer)
			c.mu.Unlock()
			c.afterClose()
			return
		}
	}
	c.mu.Unlock()
}

// flushLater starts a writer for c, whose flushing flag the caller set.
// It is reached only when a write could not complete at once (the client
// is not reading fast enough) or the connection has no raw descriptor: the
// goroutine then waits on that one client, and nobody else waits for it.
func (s *Server) flushLater(c *Conn) {
	if !c.hold() {
		c.flushing = false // the session is gone: nothing to write to
		return
	}
	go func() {
		defer c.release()
		c.flushCurrent(nil)
	}()
}

// flushCurrent flushes on the connection's current WebSocket.
func (c *Conn) flushCurrent(scratch *net.Buffers) {
	c.mu.Lock()
	w := c.ws
	c.mu.Unlock()
	if w == nil {
		c.mu.Lock()
		c.flushing = false
		c.mu.Unlock()
		return
	}
	c.flushWith(w, scratch)
}

var buffersPool = sync.Pool{New: func() any { b := make(net.Buffers, 0, 16); return &b }}

// flushWith writes everything queued, coalescing ready frames into one
// writev, until the queue is empty; scratch, when set, is the caller's
// space for the iovecs. One runs at a time per connection and none while
// the connection is idle.
func (c *Conn) flushWith(w *wsConn, scratch *net.Buffers) {
	var spare []*Packet
	deflate := w.deflate
	threshold := c.srv.opts.DeflateThreshold
	for {
		c.mu.Lock()
		if len(c.queue) == 0 || c.state == stateClosed {
			c.flushing = false
			if c.queue == nil && cap(spare) > 0 && cap(spare) <= 8 {
				c.queue = spare // keep a small buffer: the next send allocates nothing
			}
			closing := c.state == stateClosing
			if closing {
				c.finishLocked(endByServer)
			}
			c.mu.Unlock()
			if closing {
				c.afterClose()
			}
			return
		}
		batch := c.queue
		c.queue = spare
		c.mu.Unlock()

		bp := scratch
		if bp == nil {
			bp = buffersPool.Get().(*net.Buffers)
		}
		orig := (*bp)[:0]
		for _, p := range batch {
			orig = append(orig, p.frameFor(deflate, c.eio3, threshold))
		}
		*bp = orig // WriteTo consumes *bp; writing through the pointer keeps the slice off the heap
		deadline := time.Now().Add(c.srv.opts.WriteTimeout)
		var err error
		if rs, ok := w.conn.(*rawsock.Conn); ok {
			// The deadline only if the write waits: most take the socket
			// at once, and a connection that never waits keeps nothing
			// for it.
			_, err = rs.WriteBuffersBefore(bp, deadline)
		} else {
			_ = w.conn.SetWriteDeadline(deadline)
			_, err = bp.WriteTo(w.conn)
			// Clear the deadline: it would otherwise fail later inline
			// writes, which never wait and need none.
			_ = w.conn.SetWriteDeadline(time.Time{})
		}
		clear(orig)
		*bp = orig[:0]
		if scratch == nil {
			buffersPool.Put(bp)
		}
		clear(batch)
		spare = batch[:0]
		if err != nil {
			c.writeFailed(err)
			return
		}
	}
}

// writeFailed ends the session after a failed write by the holder of
// c.flushing.
func (c *Conn) writeFailed(err error) {
	c.mu.Lock()
	c.flushing = false
	c.mu.Unlock()
	c.abort(ReasonTransportError, err)
}

// readBegan records that the poller's callback reads frames on w: while
// it does, what handlers queue waits for readEnded to write it.
func (c *Conn) readBegan(w *wsConn) {
	c.mu.Lock()
	c.wsReading = c.ws == w
	c.mu.Unlock()
}

// readEnded writes what the handlers queued (acks, replies) from the
// reading goroutine rather than starting a writer: a request and its
// answer cost one wake-up.
func (c *Conn) readEnded(w *wsConn) {
	c.mu.Lock()
	c.wsReading = false
	flush := len(c.queue) > 0 && !c.flushing && c.ws == w && c.state != stateClosed
	var batch []*Packet
	if flush {
		c.flushing = true
		batch, c.queue = c.queue, nil
	}
	c.mu.Unlock()
	if flush {
		// The same non-blocking write as a sender's; what the socket does
		// not take goes to a writer goroutine.
		c.writeBatch(w, batch)
	}
}

// readMayBlock is called before a read that may wait for the network:
// what other goroutines queued meanwhile must not wait for it.
func (c *Conn) readMayBlock() {
	c.mu.Lock()
	if c.wsReading {
		c.wsReading = false
		if len(c.queue) > 0 {
			c.kickWS()
		}
	}
	c.mu.Unlock()
}
