package engineio

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"

	"github.com/heraldio/herald/internal/netpoll"
	"github.com/heraldio/herald/internal/rawsock"
)

var (
	errProtocol   = errors.New("engineio: websocket protocol error")
	errBadUTF8    = errors.New("engineio: invalid UTF-8 in text frame")
	errFrameLarge = errors.New("engineio: websocket message too large")
)

// wsConn is one WebSocket transport: the active one of a Conn, or a probe
// during an upgrade. Between messages it holds no goroutine and no read
// buffer: the shared poller wakes it when data arrives.
type wsConn struct {
	// Inline writes: the sender writes straight to the socket when nothing
	// is pending, without waking a writer goroutine. Only the holder of
	// Conn.flushing uses these. First: a broadcast touches them for every
	// recipient.
	nb      nowWriter // the socket's own non-blocking write, when it has one
	deflate bool
	rw      *rawWriter // otherwise, through its descriptor

	c    *Conn
	conn net.Conn
	desc atomic.Pointer[netpoll.Desc]
	pre  []byte     // bytes read past the handshake, consumed first
	src  sockReader // the poller's reads

	// A fragmented message being assembled; only the reader touches it.
	frag *wsFragment

	// The read deadline of a frame that arrives in pieces (see slowRead),
	// and of the drain at close.
	dlSet      bool // only the reader touches it
	dlMu       sync.Mutex
	closing    bool        // close has set its own deadline for draining
	peerClosed bool        // the client's close frame was read
	fragTimer  *time.Timer // ends the transport if a fragmented message takes too long

	closeOnce sync.Once
}

// wsFragment is a fragmented message being assembled.
type wsFragment struct {
	op   ws.OpCode
	rsv1 bool
	data []byte
}

func newWSConn(c *Conn, conn net.Conn) *wsConn {
	w := &wsConn{c: c, conn: conn}
	if nb, ok := conn.(nowWriter); ok {
		w.nb = nb
		return w
	}
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			rw := &rawWriter{raw: raw}
			rw.fn = func(fd uintptr) bool {
				if len(rw.iov) == 1 { // most writes: write(2) spares the kernel the iovec copy-in
					rw.written, rw.err = rawsock.Write(int(fd), rw.iov[0])
				} else {
					rw.written, rw.err = rawsock.Writev(int(fd), rw.iov)
				}
				return true // never wait here: what is left goes to the writer
			}
			w.rw = rw
		}
	}
	return w
}

// fail ends this transport; for the active one the session closes too.
func (w *wsConn) fail(reason Reason, err error) {
	w.c.transportClosed(w, reason, err)
}

func (w *wsConn) name() string { return TransportWebSocket }

// wakeLocked starts the writer unless something writes already.
func (w *wsConn) wakeLocked() { w.c.kickWS() }

// release closes the transport (see close).
func (w *wsConn) release() { w.close() }

// close releases the transport: it unregisters from the poller, says
// goodbye and closes the socket.
func (w *wsConn) close() {
	w.closeOnce.Do(func() {
		if d := w.desc.Load(); d != nil {
			d.Close()
		}
		w.stopFragTimer()
		_ = w.conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = w.conn.Write(ws.CompiledCloseNormalClosure)
		// Half-close and drain before closing: closing a socket with unread
		// input sends a reset, and the peer would lose what we just wrote
		// (a flooding client would miss its "41" and the close frame). The
		// drain ends with the client's close frame, after which the server
		// closes first (RFC 6455, 7.1.1), or at its deadline.
		hc, ok := w.conn.(interface{ CloseWrite() error })
		drain := ok && hc.CloseWrite() == nil
		w.dlMu.Lock()
		w.closing = true
		drain = drain && !w.peerClosed
		if drain {
			_ = w.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		}
		w.dlMu.Unlock()
		if drain {
			drainUntilClose(w.conn)
		}
		_ = w.conn.Close()
	})
}

// drainUntilClose discards the client's frames until its close frame.
func drainUntilClose(r io.Reader) {
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(r)
	defer func() { br.Reset(nil); readerPool.Put(br) }()
	for {
		h, err := ws.ReadHeader(br)
		switch {
		case err != nil:
			return
		case !h.Masked: // not at a frame boundary (a reader stopped inside one)
			_, _ = io.Copy(io.Discard, br)
			return
		case h.OpCode == ws.OpClose:
			return
		}
		if _, err := io.CopyN(io.Discard, br, h.Length); err != nil {
			return
		}
	}
}

// onPeerClose records the client's close frame, read by the reader: a
// drain waiting for it (see close) ends at once.
func (w *wsConn) onPeerClose() {
	w.dlMu.Lock()
	w.peerClosed = true
	if w.closing {
		_ = w.conn.SetReadDeadline(time.Now())
	}
	w.dlMu.Unlock()
}
