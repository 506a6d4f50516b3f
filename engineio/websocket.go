package engineio

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	"golang.org/x/sys/unix"

	"github.com/heraldio/herald/engineio/packet"
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

var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

func (s *Server) upgrade(w http.ResponseWriter, r *http.Request, c *Conn) (*wsConn, error) {
	u := ws.HTTPUpgrader{Timeout: s.opts.WriteTimeout}
	var ext *wsflate.Extension
	if s.opts.PerMessageDeflate {
		ext = &wsflate.Extension{Parameters: wsflate.Parameters{
			ServerNoContextTakeover: true,
			ClientNoContextTakeover: true,
		}}
		u.Negotiate = ext.Negotiate
	}
	conn, rw, _, err := u.Upgrade(r, w)
	if err != nil {
		return nil, err
	}
	if s.netpoller() != nil && plainSocket(conn) {
		// Out of the runtime's poller: ours reads the socket, and the
		// runtime's would only be woken for nothing and keep a descriptor
		// for good.
		if sc, err := rawsock.Take(conn); err == nil {
			conn = sc
		}
	}
	wc := newWSConn(c, conn)
	if ext != nil {
		_, wc.deflate = ext.Accepted()
	}
	if rw != nil && rw.Reader.Buffered() > 0 {
		wc.pre, _ = rw.Reader.Peek(rw.Reader.Buffered())
		wc.pre = append([]byte(nil), wc.pre...)
	}
	return wc, nil
}

// plainSocket reports whether conn is the net package's own connection:
// taking the socket closes conn, and a listener's wrapper may do more on
// Close (count connections, log) than release the descriptor.
func plainSocket(conn net.Conn) bool {
	switch conn.(type) {
	case *net.TCPConn, *net.UnixConn:
		return true
	}
	return false
}

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

func (w *wsConn) source() io.Reader {
	if len(w.pre) > 0 {
		pre := w.pre
		w.pre = nil
		return io.MultiReader(&byteReader{pre}, w.conn)
	}
	return w.conn
}

type byteReader struct{ b []byte }

func (r *byteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
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
	c := w.c
	c.mu.Lock()
	c.wsReading = c.ws == w
	c.mu.Unlock()
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
	// Write what the handlers queued (acks, replies) from this goroutine
	// rather than starting a writer: a request and its answer cost one
	// wake-up.
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
	if ok {
		if err := d.Resume(); err != nil {
			w.fail(ReasonTransportClose, nil)
		}
	}
}

// mayBlock is called before a read that may wait for the network: what
// other goroutines queued meanwhile must not wait for it.
func (w *wsConn) mayBlock() {
	c := w.c
	c.mu.Lock()
	if c.wsReading {
		c.wsReading = false
		if len(c.queue) > 0 {
			c.kickWS()
		}
	}
	c.mu.Unlock()
}

func (w *wsConn) readLoop() {
	br := bufio.NewReaderSize(w.source(), 4096)
	for w.readFrame(br) {
	}
}

// readFrame reads and handles one frame; false means the connection is done.
func (w *wsConn) readFrame(br *bufio.Reader) bool {
	if br.Buffered() == 0 {
		// Between frames (a reader goroutine's wait): idleness, which the
		// heartbeat bounds, not a slow frame.
		if _, err := br.Peek(1); err != nil {
			w.fail(ReasonTransportClose, err)
			return false
		}
	}
	if !headerBuffered(br) {
		w.slowRead()
	}
	h, err := ws.ReadHeader(br)
	if err != nil {
		w.readFailed(err)
		return false
	}
	max := w.c.srv.opts.MaxPayload
	switch {
	case !h.Masked:
		w.protocolError(ws.StatusProtocolError, errProtocol)
		return false
	case h.OpCode.IsControl() && (h.Length > 125 || !h.Fin || h.Rsv != 0):
		w.protocolError(ws.StatusProtocolError, errProtocol)
		return false
	case h.Rsv&^ws.Rsv(true, false, false) != 0 || h.Rsv1() && (!w.deflate || h.OpCode == ws.OpContinuation):
		w.protocolError(ws.StatusProtocolError, errProtocol)
		return false
	case h.Length > max || w.frag != nil && int64(len(w.frag.data))+h.Length > max:
		w.protocolError(ws.StatusMessageTooBig, errFrameLarge)
		return false
	}
	payload, err := w.readPayload(br, int(h.Length))
	if w.dlSet {
		w.endSlowRead()
	}
	if err != nil {
		w.readFailed(err)
		return false
	}
	ws.Cipher(payload, h.Mask, 0)

	switch h.OpCode {
	case ws.OpClose:
		w.onPeerClose()
		w.fail(ReasonTransportClose, nil)
		return false
	case ws.OpPing:
		f := ws.NewPongFrame(payload)
		w.c.sendRaw(w, f)
		return true
	case ws.OpPong:
		return true
	case ws.OpText, ws.OpBinary:
		if w.frag != nil {
			w.protocolError(ws.StatusProtocolError, errProtocol)
			return false
		}
		if !h.Fin {
			w.frag = &wsFragment{op: h.OpCode, rsv1: h.Rsv1(), data: payload}
			// Between its frames the message waits on the poller, where no
			// read deadline applies: a timer bounds it.
			w.dlMu.Lock()
			if !w.closing {
				w.fragTimer = time.AfterFunc(w.c.srv.opts.ReadTimeout, w.fragExpired)
			}
			w.dlMu.Unlock()
			return true
		}
		return w.deliver(h.OpCode, h.Rsv1(), payload)
	case ws.OpContinuation:
		if w.frag == nil {
			w.protocolError(ws.StatusProtocolError, errProtocol)
			return false
		}
		f := w.frag
		f.data = append(f.data, payload...)
		if !h.Fin {
			return true
		}
		w.frag = nil
		w.stopFragTimer()
		return w.deliver(f.op, f.rsv1, f.data)
	default:
		w.protocolError(ws.StatusProtocolError, errProtocol)
		return false
	}
}

// headerBuffered reports whether a whole frame header is buffered.
func headerBuffered(br *bufio.Reader) bool {
	b, _ := br.Peek(min(br.Buffered(), 2))
	if len(b) < 2 {
		return false
	}
	n := 2
	switch b[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b[1]&0x80 != 0 {
		n += 4 // mask
	}
	return br.Buffered() >= n
}

// payloadChunk is what a frame's buffer starts with when its payload is
// not all there: it grows with what arrives, not from the announced length.
const payloadChunk = 32 << 10

// readPayload reads a frame's n bytes of payload.
func (w *wsConn) readPayload(br *bufio.Reader, n int) ([]byte, error) {
	if br.Buffered() >= n {
		p := make([]byte, n)
		_, err := io.ReadFull(br, p)
		return p, err
	}
	w.slowRead()
	p := make([]byte, 0, min(n, max(payloadChunk, br.Buffered())))
	for len(p) < n {
		if len(p) == cap(p) {
			p = slices.Grow(p, min(n-len(p), len(p)))
		}
		m, err := br.Read(p[len(p):min(cap(p), n)])
		p = p[:len(p)+m]
		if err != nil && len(p) < n {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return p, nil
}

// slowRead is called before a read inside a frame that may wait for the
// network: it bounds the rest of the frame by ReadTimeout.
func (w *wsConn) slowRead() {
	w.mayBlock()
	if w.dlSet {
		return
	}
	w.dlSet = true
	w.dlMu.Lock()
	if !w.closing {
		_ = w.conn.SetReadDeadline(time.Now().Add(w.c.srv.opts.ReadTimeout))
	}
	w.dlMu.Unlock()
}

// endSlowRead lifts the deadline of slowRead at the end of a frame.
func (w *wsConn) endSlowRead() {
	w.dlMu.Lock()
	if w.dlSet && !w.closing { // close drains under a deadline of its own
		_ = w.conn.SetReadDeadline(time.Time{})
	}
	w.dlSet = false
	w.dlMu.Unlock()
}

// readFailed ends the transport after a failed read.
func (w *wsConn) readFailed(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		w.fail(ReasonTransportError, ErrReadTimeout)
		return
	}
	w.fail(ReasonTransportClose, err)
}

// stopFragTimer stops the timer of a fragmented message, which completed
// or whose transport closes.
func (w *wsConn) stopFragTimer() {
	w.dlMu.Lock()
	if w.fragTimer != nil {
		w.fragTimer.Stop()
		w.fragTimer = nil
	}
	w.dlMu.Unlock()
}

// fragExpired ends the transport of a fragmented message that did not
// complete within ReadTimeout.
func (w *wsConn) fragExpired() {
	if w.c.hold() { // closing a probe waits for its socket to drain
		w.fail(ReasonTransportError, ErrReadTimeout)
		w.c.release()
	}
}

func (w *wsConn) deliver(op ws.OpCode, compressed bool, data []byte) bool {
	if compressed {
		out, err := inflate(data, w.c.srv.opts.MaxPayload)
		if err != nil {
			w.protocolError(ws.StatusMessageTooBig, errFrameLarge)
			return false
		}
		data = out
	}
	if op == ws.OpBinary {
		return w.c.onWSPacket(w, packet.Message, data, true)
	}
	if !utf8.Valid(data) {
		w.protocolError(ws.StatusInvalidFramePayloadData, errBadUTF8)
		return false
	}
	if len(data) == 0 || data[0] < '0' || data[0] > '0'+byte(packet.Noop) {
		w.c.onWSError(w, ReasonParseError, packet.ErrInvalid)
		return false
	}
	return w.c.onWSPacket(w, packet.Type(data[0]-'0'), data[1:], false)
}

func (w *wsConn) protocolError(code ws.StatusCode, err error) {
	_ = w.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_ = ws.WriteFrame(w.conn, ws.NewCloseFrame(ws.NewCloseFrameBody(code, "")))
	w.fail(ReasonTransportError, err)
}

// fail ends this transport; for the active one the session closes too.
func (w *wsConn) fail(reason Reason, err error) {
	w.c.onWSError(w, reason, err)
}

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

// onWSPacket routes a packet read from w: to the session when w is active,
// to the upgrade when it is a probe.
func (c *Conn) onWSPacket(w *wsConn, t packet.Type, data []byte, binary bool) bool {
	c.mu.Lock()
	active := c.ws == w
	c.mu.Unlock()
	if active {
		c.onPacket(t, data, binary)
		return true
	}
	return c.onProbePacket(w, t, data)
}

func (c *Conn) onWSError(w *wsConn, reason Reason, err error) {
	c.mu.Lock()
	active := c.ws == w
	if c.probe == w {
		c.probe = nil
		c.setUpgradingLocked(false)
	}
	c.mu.Unlock()
	if active {
		c.abort(reason, err)
		return
	}
	w.close()
}

// serveProbe accepts the WebSocket of a polling session's upgrade.
func (c *Conn) serveProbe(rw http.ResponseWriter, r *http.Request) {
	o := &c.srv.opts
	c.mu.Lock()
	ok := c.state == stateOpen && c.transport == TransportPolling && c.probe == nil &&
		!o.DisableUpgrades && o.allows(TransportWebSocket)
	c.mu.Unlock()
	if !ok {
		// As the reference does: accept the WebSocket, then close it.
		if w, err := c.srv.upgrade(rw, r, c); err == nil {
			w.close()
		}
		return
	}
	w, err := c.srv.upgrade(rw, r, c)
	if err != nil {
		return
	}
	c.mu.Lock()
	if c.state != stateOpen || c.probe != nil || c.transport != TransportPolling {
		c.mu.Unlock()
		w.close()
		return
	}
	c.probe = w
	c.mu.Unlock()
	time.AfterFunc(o.UpgradeTimeout, func() {
		c.mu.Lock()
		stale := c.probe == w
		if stale {
			c.probe = nil
			c.setUpgradingLocked(false)
		}
		c.mu.Unlock()
		if stale && c.hold() {
			w.close()
			c.release()
		}
	})
	w.startReading()
}

func (c *Conn) onProbePacket(w *wsConn, t packet.Type, data []byte) bool {
	switch {
	case t == packet.Ping && string(data) == "probe":
		// Upgrading before the answer goes out: the client may send the
		// upgrade packet, and then polling requests, as soon as it reads it.
		c.mu.Lock()
		if c.probe == w {
			c.setUpgradingLocked(true)
			if c.pollCh != nil {
				c.pollEnd = noopPacket
				close(c.pollCh)
				c.pollCh = nil
			}
		}
		c.mu.Unlock()
		_ = w.conn.SetWriteDeadline(time.Now().Add(c.srv.opts.WriteTimeout))
		if _, err := w.conn.Write(control(packet.Pong, "probe").wsFrame()); err != nil {
			c.onWSError(w, ReasonTransportError, err)
			return false
		}
		return true
	case t == packet.Upgrade:
		c.mu.Lock()
		if c.probe != w || !c.upgrading || c.state != stateOpen {
			c.mu.Unlock()
			c.onWSError(w, ReasonTransportError, errProtocol)
			return false
		}
		c.probe = nil
		c.ws = w
		c.transport = TransportWebSocket
		c.setUpgradingLocked(false)
		if c.pollCh != nil {
			c.pollEnd = noopPacket
			close(c.pollCh)
			c.pollCh = nil
		}
		if len(c.queue) > 0 {
			c.kickWS()
		}
		c.mu.Unlock()
		return true
	case t == packet.Noop:
		return true
	}
	c.onWSError(w, ReasonTransportError, errProtocol)
	return false
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
// permessage-deflate.
func (p *Packet) frameFor(deflate bool, threshold int) []byte {
	if deflate && !p.NoCompress && len(p.Data) >= threshold {
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
		f := p.frameFor(w.deflate, c.srv.opts.DeflateThreshold)
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
		c.mu.Lock()
		c.flushing = false
		c.mu.Unlock()
		c.abort(ReasonTransportError, err)
		return
	}
	if n < 0 {
		n = 0
	}
	var rest []*Packet
	if n < total {
		for i, p := range batch {
			f := p.frameFor(w.deflate, c.srv.opts.DeflateThreshold)
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
			orig = append(orig, p.frameFor(deflate, threshold))
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
			c.mu.Lock()
			c.flushing = false
			c.mu.Unlock()
			c.abort(ReasonTransportError, err)
			return
		}
	}
}
