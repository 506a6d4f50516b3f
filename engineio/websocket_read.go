package engineio

import (
	"bufio"
	"errors"
	"io"
	"os"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/heraldio/herald/engineio/packet"
)

var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

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
		if w.c.eio3 { // v3 starts a binary frame with the packet type
			if len(data) == 0 || data[0] != byte(packet.Message) {
				w.c.transportClosed(w, ReasonParseError, packet.ErrInvalid)
				return false
			}
			data = data[1:]
		}
		return w.c.received(w, packet.Message, data, true)
	}
	if !utf8.Valid(data) {
		w.protocolError(ws.StatusInvalidFramePayloadData, errBadUTF8)
		return false
	}
	if len(data) == 0 || data[0] < '0' || data[0] > '0'+byte(packet.Noop) {
		w.c.transportClosed(w, ReasonParseError, packet.ErrInvalid)
		return false
	}
	return w.c.received(w, packet.Type(data[0]-'0'), data[1:], false)
}

func (w *wsConn) protocolError(code ws.StatusCode, err error) {
	_ = w.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_ = ws.WriteFrame(w.conn, ws.NewCloseFrame(ws.NewCloseFrameBody(code, "")))
	w.fail(ReasonTransportError, err)
}
