package engineio

import (
	"bufio"
	"errors"
	"io"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/heraldio/herald/internal/netpoll"
	"github.com/heraldio/herald/internal/rawsock"
)

// startReading hands the connection to the poller, or to a goroutine where
// there is no poller.
func (w *wsConn) startReading() {
	if p := w.c.srv.netpoller(); p != nil {
		if sc, ok := w.conn.(syscall.Conn); ok {
			if raw, err := sc.SyscallConn(); err == nil {
				w.src = sockReader{w: w, pre: w.pre}
				if now, ok := w.conn.(nowReader); ok {
					w.src.now = now
				} else {
					w.src.raw = newRawReader(raw)
				}
				w.pre = nil
				if d, err := p.Add(raw, w.onReadable); err == nil {
					w.desc.Store(d)
					if len(w.src.pre) > 0 {
						d.Trigger()
					}
					return
				}
				w.pre, w.src = w.src.pre, sockReader{}
			}
		}
	}
	w.c.goHeld(w.readLoop)
}

// errWouldBlock is a non-blocking read finding nothing to read.
var errWouldBlock = errors.New("engineio: would block")

// sockReader is what the poller's callback reads from: the bytes read
// past the handshake, then the socket, without waiting when nonblock is
// set (at frame boundaries) and waiting otherwise (inside a frame).
// drained records that the last read was shorter than asked: the socket
// had nothing more at that moment, and an edge will announce what comes.
type sockReader struct {
	w        *wsConn
	now      nowReader  // the socket's own non-blocking read, when it has one
	raw      *rawReader // otherwise, through its descriptor
	pre      []byte
	nonblock bool
	drained  bool
}

// nowReader is a socket that reads what is there and never waits
// (internal/rawsock), returning EAGAIN when there is nothing.
type nowReader interface {
	ReadNow(p []byte) (int, error)
}

// rawReader reads without waiting through a socket's descriptor, for a
// socket that is no nowReader.
type rawReader struct {
	raw syscall.RawConn
	fn  func(fd uintptr) bool
	p   []byte
	n   int
	err error
}

func newRawReader(raw syscall.RawConn) *rawReader {
	r := &rawReader{raw: raw}
	r.fn = func(fd uintptr) bool {
		for {
			r.n, r.err = rawsock.Read(int(fd), r.p)
			if r.err != unix.EINTR {
				return true
			}
		}
	}
	return r
}

// readNow reads what is there without waiting.
func (r *rawReader) readNow(p []byte) (int, error) {
	r.p = p
	err := r.raw.Read(r.fn)
	r.p = nil
	if err != nil {
		return 0, err
	}
	return r.n, r.err
}

func (r *sockReader) Read(p []byte) (int, error) {
	if len(r.pre) > 0 {
		n := copy(p, r.pre)
		r.pre = r.pre[n:]
		r.drained = false
		return n, nil
	}
	if !r.nonblock {
		n, err := r.w.conn.Read(p)
		r.drained = err == nil && n < len(p)
		return n, err
	}
	var n int
	var err error
	if r.now != nil {
		n, err = r.now.ReadNow(p)
	} else {
		n, err = r.raw.readNow(p)
	}
	switch {
	case err == unix.EAGAIN:
		r.drained = true
		return 0, errWouldBlock
	case err != nil:
		return 0, err
	case n == 0:
		return 0, io.EOF
	}
	r.drained = n < len(p)
	return n, nil
}

// onReadable reads every frame received until the socket is drained,
// then tells the poller (Resume). A partial frame blocks this goroutine
// until the rest arrives or the heartbeat closes the connection.
func (w *wsConn) onReadable(d *netpoll.Desc) {
	w.c.readBegan(w)
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(&w.src)
	w.src.drained = false
	ok := true
	for ok {
		if br.Buffered() == 0 {
			if w.src.drained {
				break // the last read found the socket empty
			}
			w.src.nonblock = true
			_, err := br.Peek(1)
			w.src.nonblock = false
			if err == errWouldBlock {
				break
			}
			if err != nil {
				w.fail(ReasonTransportClose, err)
				ok = false
				break
			}
		}
		ok = w.readFrame(br)
	}
	br.Reset(nil)
	readerPool.Put(br)
	w.c.readEnded(w)
	if ok {
		if err := d.Resume(); err != nil {
			w.fail(ReasonTransportClose, nil)
		}
	}
}

// mayBlock is called before a read that may wait for the network: what
// other goroutines queued meanwhile must not wait for it.
func (w *wsConn) mayBlock() { w.c.readMayBlock() }
