package engineio

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldio/herald/engineio/packet"
)

// pollTransport is the HTTP long-polling transport of a Conn: the state
// of its requests, changed under the Conn's mu. At most one GET and one
// POST are served at a time.
type pollTransport struct {
	wait    chan struct{} // set while a GET waits; closed to wake it
	end     pollAnswer    // what a woken GET answers
	getting bool          // a GET is being served
	posting bool          // a POST is being served
	linger  bool          // the session ended with no GET pending: answer one late GET
}

// pollAnswer is what a woken or late GET answers.
type pollAnswer uint8

const (
	answerQueue pollAnswer = iota // what is queued
	answerNoop                    // a noop
	answerClose                   // the close packet
)

// packet returns the packet of an answer that is not the queue: the
// close packet, or else a noop.
func (a pollAnswer) packet() *Packet {
	if a == answerClose {
		return closePacket
	}
	return noopPacket
}

func (p *pollTransport) name() string { return TransportPolling }

// wakeLocked wakes the waiting GET, which takes the queue.
func (p *pollTransport) wakeLocked() { p.endWaitLocked(answerQueue) }

// endWaitLocked wakes the waiting GET, if there is one, to answer end,
// and reports whether there was.
func (p *pollTransport) endWaitLocked(end pollAnswer) bool {
	if p.wait == nil {
		return false
	}
	if end != answerQueue {
		p.end = end
	}
	close(p.wait)
	p.wait = nil
	return true
}

// endedLocked answers the waiting GET now that the session has ended; with
// none waiting and the session polling (active), the next GET, which may
// already be on its way, is answered as if it had come first: a noop when
// the client closed, the close packet when the server did (so the client
// reports "transport close", not an error).
func (p *pollTransport) endedLocked(end ending, active bool) {
	last := answerClose
	if end == endByClient {
		last = answerNoop
	}
	if !p.endWaitLocked(last) && end != endAbort && active && !p.getting {
		p.end, p.linger = last, true
	}
}

// release has nothing to close: each request ends on its own.
func (p *pollTransport) release() {}

func (c *Conn) servePolling(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		c.pollGet(w, r)
	case http.MethodPost:
		c.pollPost(w, r)
	default:
		c.srv.fail(w, codeBadRequest, "")
	}
}

func (c *Conn) pollGet(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	if c.poll.linger && c.poll.end != answerQueue && !c.poll.getting {
		end := c.poll.end.packet()
		c.poll.end = answerQueue
		c.mu.Unlock()
		c.srv.remove(c)
		c.writePolling(w, r, []*Packet{end})
		return
	}
	if c.transport != TransportPolling || c.state == stateClosed {
		c.mu.Unlock()
		c.srv.fail(w, codeBadRequest, "")
		return
	}
	if (c.awaitingPong || c.eio3) && c.state == stateOpen && c.srv.hb.overdue(c) {
		// The pong is overdue: the session ended by its deadline, whether
		// the timer has fired yet or not. Answered as the request after
		// a ping timeout is, so a GET gets the same answer at the
		// deadline as after it.
		c.mu.Unlock()
		c.abort(ReasonPingTimeout, nil)
		c.srv.fail(w, codeUnknownSid, "")
		return
	}
	if c.poll.getting {
		c.mu.Unlock()
		c.srv.fail(w, codeBadRequest, "")
		c.transportClosed(&c.poll, ReasonTransportError, errPollOverlap)
		return
	}
	if c.up.state() == upgradeWaiting {
		// A new request while the upgrade packet is due: the client may
		// have sent it on the WebSocket just before this request, and it
		// is read on another goroutine. Wait a moment for it, so that a
		// request after the upgrade is refused as the protocol says; if
		// it does not come (a request the client sent before it saw the
		// probe's answer, which it waits for before upgrading), the
		// request gets a noop as before.
		done := c.up.done
		c.mu.Unlock()
		t := time.NewTimer(upgradeGrace)
		select {
		case <-done:
		case <-t.C:
		case <-r.Context().Done():
		}
		t.Stop()
		c.mu.Lock()
		still := c.up.state() == upgradeWaiting
		c.mu.Unlock()
		if still {
			c.writePolling(w, r, []*Packet{noopPacket})
			return
		}
		c.pollGet(w, r) // upgraded (refused) or the upgrade failed (served)
		return
	}
	c.poll.getting = true
	if len(c.queue) == 0 && c.state == stateOpen {
		ch := make(chan struct{})
		c.poll.wait = ch
		c.mu.Unlock()
		select {
		case <-ch:
		case <-r.Context().Done():
			c.mu.Lock()
			if c.poll.wait == ch {
				c.poll.wait = nil
			}
			c.poll.getting = false
			c.mu.Unlock()
			c.transportClosed(&c.poll, ReasonTransportError, errPollAborted)
			return
		}
		c.mu.Lock()
	}
	batch, finish := c.pollBatchLocked()
	c.poll.getting = false
	if finish {
		c.finishLocked(endByServer)
	}
	c.mu.Unlock()
	if finish {
		c.afterClose()
	}
	c.writePolling(w, r, batch)
}

var payloadPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (c *Conn) writePolling(w http.ResponseWriter, r *http.Request, batch []*Packet) {
	bp := payloadPool.Get().(*[]byte)
	var body []byte
	ctype := "text/plain; charset=UTF-8"
	if c.eio3 {
		body, ctype = appendPayloadV3((*bp)[:0], batch, !c.b64)
	} else {
		body = appendPayload((*bp)[:0], batch)
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", "no-store")
	o := &c.srv.opts
	if o.HTTPCompression && len(body) >= o.DeflateThreshold && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		h.Add("Vary", "Accept-Encoding")
		zw := gzip.NewWriter(w)
		_, _ = zw.Write(body)
		_ = zw.Close()
	} else {
		h.Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	}
	if cap(body) <= 64<<10 {
		*bp = body[:0]
		payloadPool.Put(bp)
	}
}

func (c *Conn) pollPost(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	if c.transport != TransportPolling || c.state == stateClosed {
		c.mu.Unlock()
		c.srv.fail(w, codeBadRequest, "")
		return
	}
	if c.poll.posting {
		c.mu.Unlock()
		c.srv.fail(w, codeBadRequest, "")
		c.transportClosed(&c.poll, ReasonTransportError, errPollOverlap)
		return
	}
	c.poll.posting = true
	c.mu.Unlock()
	done := func() {
		c.mu.Lock()
		c.poll.posting = false
		c.mu.Unlock()
	}
	defer done()

	max := c.srv.opts.MaxPayload
	if r.ContentLength > max {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		c.transportClosed(&c.poll, ReasonTransportError, errTooLarge)
		return
	}
	// The body may trickle in: bound the wait for all of it. The buffer
	// grows with what arrives, never from the announced length.
	rc := http.NewResponseController(w)
	timed := rc.SetReadDeadline(time.Now().Add(c.srv.opts.ReadTimeout)) == nil
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r.Body, max+1))
	if timed {
		// At once: the connection's background read after the body must
		// not hit the deadline while the handler runs.
		_ = rc.SetReadDeadline(time.Time{})
	}
	if n > max {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		c.transportClosed(&c.poll, ReasonTransportError, errTooLarge)
		return
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = ErrReadTimeout
		}
		c.srv.fail(w, codeBadRequest, "")
		c.transportClosed(&c.poll, ReasonTransportError, err)
		return
	}
	// Validate the whole payload before delivering any of it.
	body := buf.Bytes()
	decode := packet.DecodePayload
	if c.eio3 {
		decode = packet.DecodePayloadV3
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/octet-stream") {
			decode = packet.DecodeBinaryPayloadV3
		}
	}
	if err := decode(body, func(*packet.Packet) error { return nil }); err != nil {
		c.srv.fail(w, codeBadRequest, "")
		c.transportClosed(&c.poll, ReasonParseError, err)
		return
	}
	_ = decode(body, func(p *packet.Packet) error {
		c.received(&c.poll, p.Type, p.Data, p.Binary)
		return nil
	})
	done() // before answering: the client's next POST may follow at once
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Content-Length", "2")
	_, _ = io.WriteString(w, "ok")
}
