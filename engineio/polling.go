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

// closeGrace is how long a graceful close waits for the GET that fetches
// its close packet once the client has the queued packets; after it, the
// session ends and one late GET still gets the close packet.
const closeGrace = 2 * time.Second

// endClosing ends a graceful close whose last GET did not come.
func (c *Conn) endClosing() {
	c.mu.Lock()
	if c.state != stateClosing {
		c.mu.Unlock()
		return
	}
	c.finishLocked(endByServer)
	c.mu.Unlock()
	c.afterClose()
}

func (c *Conn) pollGet(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	if c.linger && c.pollEnd != nil && !c.polling {
		end := c.pollEnd
		c.pollEnd = nil
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
	if c.polling {
		c.mu.Unlock()
		c.srv.fail(w, codeBadRequest, "")
		c.abort(ReasonTransportError, errPollOverlap)
		return
	}
	if c.upgrading {
		// A new request while the upgrade packet is due: the client may
		// have sent it on the WebSocket just before this request, and it
		// is read on another goroutine. Wait a moment for it, so that a
		// request after the upgrade is refused as the protocol says; if
		// it does not come (a request the client sent before it saw the
		// probe's answer, which it waits for before upgrading), the
		// request gets a noop as before.
		done := c.upgraded
		c.mu.Unlock()
		t := time.NewTimer(upgradeGrace)
		select {
		case <-done:
		case <-t.C:
		case <-r.Context().Done():
		}
		t.Stop()
		c.mu.Lock()
		still := c.upgrading
		c.mu.Unlock()
		if still {
			c.writePolling(w, r, []*Packet{noopPacket})
			return
		}
		c.pollGet(w, r) // upgraded (refused) or the upgrade failed (served)
		return
	}
	c.polling = true
	if len(c.queue) == 0 && c.state == stateOpen {
		ch := make(chan struct{})
		c.pollCh = ch
		c.mu.Unlock()
		select {
		case <-ch:
		case <-r.Context().Done():
			c.mu.Lock()
			if c.pollCh == ch {
				c.pollCh = nil
			}
			c.polling = false
			c.mu.Unlock()
			c.abort(ReasonTransportError, errPollAborted)
			return
		}
		c.mu.Lock()
	}
	var batch []*Packet
	finish := false
	switch {
	case c.state == stateClosed || c.upgrading || c.transport != TransportPolling:
		end := c.pollEnd
		if end == nil {
			end = noopPacket
		}
		c.pollEnd = nil
		batch = []*Packet{end}
	case c.state == stateClosing && len(c.queue) > 0:
		// The packets now, the close packet on the next GET, as the
		// reference does: a client handles packets after the close that
		// comes with them, so it would see its transport close before, say,
		// Socket.IO's DISCONNECT.
		batch = c.queue
		c.queue = nil
		if c.closeTimer != nil {
			c.closeTimer.Stop()
		}
		c.closeTimer = time.AfterFunc(closeGrace, c.endClosing)
	case c.state == stateClosing:
		batch = []*Packet{closePacket}
		c.state = stateOpen // finishLocked below re-closes with the saved reason
		finish = true
	default:
		batch = c.queue
		c.queue = nil
	}
	c.polling = false
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
	body := appendPayload((*bp)[:0], batch)
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
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
	if c.posting {
		c.mu.Unlock()
		c.srv.fail(w, codeBadRequest, "")
		c.abort(ReasonTransportError, errPollOverlap)
		return
	}
	c.posting = true
	c.mu.Unlock()
	done := func() {
		c.mu.Lock()
		c.posting = false
		c.mu.Unlock()
	}
	defer done()

	max := c.srv.opts.MaxPayload
	if r.ContentLength > max {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		c.abort(ReasonTransportError, errTooLarge)
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
		c.abort(ReasonTransportError, errTooLarge)
		return
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = ErrReadTimeout
		}
		c.srv.fail(w, codeBadRequest, "")
		c.abort(ReasonTransportError, err)
		return
	}
	// Validate the whole payload before delivering any of it.
	body := buf.Bytes()
	if err := packet.DecodePayload(body, func(*packet.Packet) error { return nil }); err != nil {
		c.srv.fail(w, codeBadRequest, "")
		c.abort(ReasonParseError, err)
		return
	}
	_ = packet.DecodePayload(body, func(p *packet.Packet) error {
		c.onPacket(p.Type, p.Data, p.Binary)
		return nil
	})
	done() // before answering: the client's next POST may follow at once
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Content-Length", "2")
	_, _ = io.WriteString(w, "ok")
}
