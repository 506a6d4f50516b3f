package engineio

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldio/herald/engineio/packet"
)

// Request is what the handshake request carried, copied and kept for the
// life of the connection in a compact form (one string for all headers):
// the request URI, the remote address, whether it came over TLS, and the
// headers that fit in Options.MaxHeaderBytes. Nothing else of the
// *http.Request is kept, so a large request becomes garbage once the
// handshake is answered.
type Request struct {
	RequestURI string // as in http.Request
	RemoteAddr string // the client's host:port
	Issued     int64  // Unix milliseconds of the handshake
	headers    string // "Key: value\n" lines
	TLS        bool   // the request came over TLS
	Truncated  bool   // headers were dropped to stay within Options.MaxHeaderBytes
}

// newRequest copies what a connection keeps of r, at most max bytes of URI
// and header lines; nil means the URI alone is longer.
func newRequest(r *http.Request, max int) *Request {
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	if len(uri) > max {
		return nil
	}
	keys := make([]string, 0, len(r.Header))
	for k := range r.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys) // what is kept does not depend on map order
	room, truncated := max-len(uri), false
	var b []byte
	for _, k := range keys {
		for _, v := range r.Header[k] {
			if len(b)+len(k)+len(v)+3 > room {
				truncated = true
				continue
			}
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, '\n')
		}
	}
	return &Request{RequestURI: strings.Clone(uri), RemoteAddr: r.RemoteAddr, TLS: r.TLS != nil,
		Issued: time.Now().UnixMilli(), Truncated: truncated, headers: string(b)}
}

// Header returns the request's headers (a new map on each call).
func (r *Request) Header() http.Header {
	h := make(http.Header)
	rest := r.headers
	for rest != "" {
		line := rest
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		if k, v, ok := strings.Cut(line, ": "); ok {
			h[k] = append(h[k], v)
		}
	}
	return h
}

// Query returns the request's query parameters.
func (r *Request) Query() url.Values {
	_, q, _ := strings.Cut(r.RequestURI, "?")
	v, _ := url.ParseQuery(q)
	return v
}

type connState uint8

const (
	stateOpen connState = iota
	stateClosing
	stateClosed
)

var (
	errPollOverlap = errors.New("engineio: overlapping polling requests")
	errPollAborted = errors.New("engineio: polling request closed prematurely")
	errTooLarge    = errors.New("engineio: payload too large")
)

// Conn is one Engine.IO session. Send and Close are safe for concurrent
// use; what the connection receives goes to its Handler.
type Conn struct {
	// What Send reads for every recipient of a broadcast comes first,
	// together on one cache line.
	mu        sync.Mutex
	state     connState
	flushing  bool
	wsReading bool // the reader is handling frames and will flush when done
	deferred  bool // the coalescer holds flushing and writes the queue when its window ends
	// Heartbeat (see heartbeats): the kind of deadline waited for, and
	// whether a ping awaits its pong. hbKind, hbWhen and the links are the
	// heartbeats' (guarded by its mu), awaitingPong is c.mu's. The flags
	// sit in what would be padding: a Conn is kept for every connection.
	hbKind       hbKind
	awaitingPong bool
	eio3         bool // an Engine.IO v3 session (Options.AllowEIO3)
	b64          bool // v3 polling: the client takes no binary payload

	queue     []*Packet
	ws        *wsConn
	srv       *Server
	lastSend  int64 // Server.now of the last Send that found nothing pending, or of the last coalesced write
	transport string

	id      string
	req     *Request
	handler Handler

	// The heartbeat's deadline, in the server's list of its kind.
	hbPrev, hbNext *Conn
	hbWhen         int64

	closeReason Reason
	closeErr    error

	// The HTTP long-polling transport's requests.
	poll pollTransport
	// Ends a graceful close whose client does not come for the rest.
	closeTimer *time.Timer

	// The upgrade to WebSocket of a polling session (see upgrade.go).
	up upgrade

	// What holds the session in Server.wg: its registration and each
	// goroutine it runs (see hold).
	refs atomic.Int32
}

// transport carries a session's packets: the polling transport
// (Conn.poll) or a WebSocket (Conn.ws, or an upgrade's probe). The Conn
// owns the session state and decides; a transport reports what it reads
// with received and its end with transportClosed. Methods named *Locked
// are called with the Conn's mu held.
type transport interface {
	// name is the transport's name, as in the query.
	name() string
	// wakeLocked makes the transport write what the Conn queued.
	wakeLocked()
	// release closes what the transport holds, once the session no
	// longer uses it; it may block (a WebSocket's close drains).
	release()
}

var (
	_ transport = (*pollTransport)(nil)
	_ transport = (*wsConn)(nil)
)

// ID returns the session id.
func (c *Conn) ID() string { return c.id }

// Request returns the handshake request's details.
func (c *Conn) Request() *Request { return c.req }

// Transport returns the current transport name.
func (c *Conn) Transport() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.transport
}

// Protocol returns the session's Engine.IO protocol revision: 4, or 3
// for a client of Options.AllowEIO3.
func (c *Conn) Protocol() int {
	if c.eio3 {
		return 3
	}
	return 4
}

// Server returns the server the connection belongs to.
func (c *Conn) Server() *Server { return c.srv }

func (c *Conn) openPacket(transport string) *Packet {
	o := c.srv.opts
	upgrades := `[]`
	if transport == TransportPolling && !o.DisableUpgrades && o.allows(TransportWebSocket) {
		upgrades = `["websocket"]`
	}
	b := make([]byte, 0, 128)
	b = append(b, `{"sid":"`...)
	b = append(b, c.id...)
	b = append(b, `","upgrades":`...)
	b = append(b, upgrades...)
	b = append(b, `,"pingInterval":`...)
	b = strconv.AppendInt(b, o.PingInterval.Milliseconds(), 10)
	b = append(b, `,"pingTimeout":`...)
	b = strconv.AppendInt(b, o.PingTimeout.Milliseconds(), 10)
	b = append(b, `,"maxPayload":`...)
	b = strconv.AppendInt(b, o.MaxPayload, 10)
	b = append(b, '}')
	p := control(packet.Open, "")
	p.Data = b
	return p
}

// Send queues packets for the client, in order. A packet may be shared by
// many connections (encode once, send to all) and must not change after.
// It returns ErrClosed on a closed connection and ErrSlowClient, after
// closing the connection, when the queue is full.
func (c *Conn) Send(pkts ...*Packet) error {
	c.mu.Lock()
	if c.state != stateOpen {
		c.mu.Unlock()
		return ErrClosed
	}
	if len(c.queue)+len(pkts) > c.srv.opts.MaxQueuedPackets {
		c.mu.Unlock()
		c.srv.slowClients.Add(1)
		c.abort(ReasonTransportError, ErrSlowClient)
		return ErrSlowClient
	}
	c.srv.traffic.sent(pkts)
	// c.ws is set only with the WebSocket transport.
	if w := c.ws; w != nil && (w.nb != nil || w.rw != nil) &&
		!c.flushing && !c.wsReading && len(c.queue) == 0 {
		now := c.srv.now()
		busy := c.lastSend != 0 && now-c.lastSend < int64(c.srv.opts.CoalesceWindow)
		c.lastSend = now
		if busy {
			// Sent to less than a window ago: what comes within the
			// window leaves with this, in one write (see coalescer).
			c.queue = append(c.queue, pkts...)
			if c.deferLocked(now) {
				c.mu.Unlock()
				return nil
			}
			clear(c.queue)
			c.queue = c.queue[:0]
		}
		// Nothing pending: write from this goroutine, without blocking.
		c.flushing = true
		c.mu.Unlock()
		c.writeInline(w, pkts)
		return nil
	}
	c.queue = append(c.queue, pkts...)
	if c.deferred && len(c.queue) >= c.srv.coalesceMax() {
		// Enough for a full writev: waiting for the window saves nothing
		// more, and a burst must not fill the queue of a client that keeps
		// up.
		batch := c.takeDeferredLocked()
		c.mu.Unlock()
		c.writeDeferred(c.ws, batch)
		return nil
	}
	c.wakeLocked()
	c.mu.Unlock()
	return nil
}

// SendVolatile queues packets only if nothing is waiting to be written, and
// reports whether they were queued: a volatile message may be lost.
func (c *Conn) SendVolatile(pkts ...*Packet) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	// What waits for the coalescer is no backlog: the client keeps up.
	if c.state != stateOpen || (len(c.queue) > 0 || c.flushing) && !c.deferred ||
		c.deferred && len(c.queue)+len(pkts) >= c.srv.coalesceMax() {
		return false
	}
	c.queue = append(c.queue, pkts...)
	c.srv.traffic.sent(pkts)
	c.wakeLocked()
	return true
}

// currentLocked returns the transport that carries the session, nil for
// a WebSocket session whose socket is not yet attached.
func (c *Conn) currentLocked() transport {
	if c.transport == TransportPolling {
		return &c.poll
	}
	if c.ws == nil {
		return nil
	}
	return c.ws
}

// wakeLocked makes the current transport write what is queued.
func (c *Conn) wakeLocked() {
	if t := c.currentLocked(); t != nil {
		t.wakeLocked()
	}
}

// Close flushes what is queued, then closes the connection with reason
// "forced close".
func (c *Conn) Close() error {
	c.closeWith(ReasonForcedClose, nil, true)
	return nil
}

// CloseWithReason is Close with the reason given to the Handler.
func (c *Conn) CloseWithReason(reason Reason) {
	c.closeWith(reason, nil, true)
}

func (c *Conn) abort(reason Reason, err error) { c.closeWith(reason, err, false) }

// closeWith closes the session. Graceful closes first flush the queue.
func (c *Conn) closeWith(reason Reason, err error, graceful bool) {
	c.mu.Lock()
	if c.state == stateClosed || c.state == stateClosing && graceful {
		c.mu.Unlock()
		return
	}
	if c.state == stateOpen {
		c.closeReason, c.closeErr = reason, err
	}
	if graceful && len(c.queue) > 0 {
		c.state = stateClosing
		if c.deferred {
			// Write what waits for its window now; the write finishes
			// the close.
			batch := c.takeDeferredLocked()
			c.mu.Unlock()
			c.writeDeferred(c.ws, batch)
			return
		}
		if c.transport == TransportWebSocket {
			c.kickWS() // the writer finishes the close once drained
			c.mu.Unlock()
			return
		}
		if c.poll.wait != nil || c.poll.getting {
			c.wakeLocked() // the GET takes the queue, the next one the close packet
			c.mu.Unlock()
			return
		}
		// No GET pending: give the client a moment to fetch the rest.
		c.closeTimer = time.AfterFunc(c.srv.opts.PingTimeout, func() { c.abort(reason, err) })
		c.mu.Unlock()
		return
	}
	end := endAbort
	if reason == ReasonTransportClose {
		end = endByClient
	} else if graceful {
		end = endByServer
	}
	c.finishLocked(end)
	c.mu.Unlock()
	c.afterClose()
}

// How a session ends, for what a late polling GET is told.
type ending uint8

const (
	endAbort    ending = iota // an error: a late GET gets "Session ID unknown"
	endByClient               // the client closed: a late GET gets a noop
	endByServer               // the server closed cleanly: a late GET gets the close packet
)

// finishLocked marks the connection closed and releases its transports;
// the caller must call afterClose once unlocked. It is the one end of
// every close path.
func (c *Conn) finishLocked(end ending) {
	c.state = stateClosed
	c.srv.hb.remove(c)
	if c.closeTimer != nil {
		c.closeTimer.Stop()
	}
	c.poll.endedLocked(end, c.transport == TransportPolling)
	c.queue = nil
	if c.ws != nil {
		c.goHeld(c.ws.release)
	}
	if p := c.up.ws; p != nil {
		c.goHeld(p.release)
	}
}

// pollBatchLocked takes what a polling GET answers: the queue, or the end
// of the session (the packet a late GET gets, or the close packet that
// ends a graceful close, which finish then reports: the caller calls
// finishLocked).
func (c *Conn) pollBatchLocked() (batch []*Packet, finish bool) {
	switch {
	case c.state == stateClosed || c.up.state() == upgradeWaiting || c.transport != TransportPolling:
		batch = []*Packet{c.poll.end.packet()} // a noop unless the session ended with close
		c.poll.end = answerQueue
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
		finish = true
	default:
		batch = c.queue
		c.queue = nil
	}
	return batch, finish
}

// upgradedLocked makes w, the upgrade's probe, the session's transport:
// a GET still waiting gets a noop, and what is queued goes out on w.
func (c *Conn) upgradedLocked(w *wsConn) {
	c.ws = w
	c.transport = TransportWebSocket
	c.poll.endWaitLocked(answerNoop)
	if len(c.queue) > 0 || c.state == stateClosing {
		c.kickWS() // the writer finishes a close once the queue is out
	}
}

func (c *Conn) afterClose() {
	held := c.hold() // Shutdown waits for OnClose too
	if c.poll.linger {
		time.AfterFunc(time.Second, func() { c.srv.remove(c) })
	} else {
		c.srv.remove(c)
	}
	c.mu.Lock()
	h := c.handler
	c.mu.Unlock()
	if h != nil {
		h.OnClose(c.closeReason, c.closeErr)
	}
	if held {
		c.release()
	}
}

// hold counts work the session does beyond its registration (a goroutine,
// a timer's blocking call) so that Shutdown waits for it. It fails once
// the session has been removed and all such work has ended: there is
// nothing left to do then.
func (c *Conn) hold() bool {
	for {
		n := c.refs.Load()
		if n <= 0 {
			return false
		}
		if c.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release ends what hold counted; the last one lets Shutdown go on.
func (c *Conn) release() {
	if c.refs.Add(-1) == 0 {
		c.srv.wg.Done()
	}
}

// goHeld runs f on a new goroutine that Shutdown waits for.
func (c *Conn) goHeld(f func()) {
	if !c.hold() {
		return
	}
	go func() {
		defer c.release()
		f()
	}()
}

// Heartbeat, on the server's shared timer (see heartbeats): a ping after
// PingInterval, then a close if no pong came within PingTimeout.
func (c *Conn) startPing() {
	c.mu.Lock()
	if c.state == stateOpen {
		if c.eio3 {
			c.srv.hb.schedule(c, hbClientPing, c.srv.opts.PingInterval+c.srv.opts.PingTimeout)
		} else {
			c.srv.hb.schedule(c, hbPing, c.srv.opts.PingInterval)
		}
	}
	c.mu.Unlock()
}

// onClientPing answers the ping of an Engine.IO v3 client and waits for
// the next one.
func (c *Conn) onClientPing() {
	c.mu.Lock()
	if c.state == stateOpen {
		c.queue = append(c.queue, pongPacket)
		c.wakeLocked()
		c.srv.hb.schedule(c, hbClientPing, c.srv.opts.PingInterval+c.srv.opts.PingTimeout)
	}
	c.mu.Unlock()
}

// onHeartbeat is called when c's deadline of kind, due at when, has
// passed.
func (c *Conn) onHeartbeat(kind hbKind, when int64) {
	c.mu.Lock()
	if c.state != stateOpen {
		c.mu.Unlock()
		return
	}
	if kind == hbClientPing {
		c.mu.Unlock()
		c.abort(ReasonPingTimeout, nil)
		return
	}
	if kind == hbPong {
		late := c.awaitingPong // false: the pong came after the deadline was taken
		c.mu.Unlock()
		if late {
			c.abort(ReasonPingTimeout, nil)
		}
		return
	}
	c.awaitingPong = true
	c.queue = append(c.queue, pingPacket)
	c.wakeLocked()
	c.srv.hb.scheduleFrom(c, hbPong, when, c.srv.opts.PingTimeout)
	c.mu.Unlock()
}

func (c *Conn) onPong() {
	c.mu.Lock()
	if c.awaitingPong && c.state == stateOpen {
		c.awaitingPong = false
		c.srv.hb.schedule(c, hbPing, c.srv.opts.PingInterval)
	}
	c.mu.Unlock()
}

// onPacket handles a packet received on the active transport.
func (c *Conn) onPacket(t packet.Type, data []byte, binary bool) {
	c.srv.traffic.received(t, data)
	switch t {
	case packet.Message:
		c.handler.OnMessage(data, binary)
	case packet.Pong:
		c.onPong()
	case packet.Ping:
		if c.eio3 { // v4 clients do not ping: ignored, as before
			c.onClientPing()
		}
	case packet.Close:
		c.abort(ReasonTransportClose, nil)
	}
}

// received is a transport's report of a packet it read: it goes to the
// session, or to the upgrade when t is a WebSocket that is not (yet) the
// session's. It reports whether t should go on reading.
func (c *Conn) received(t transport, typ packet.Type, data []byte, binary bool) bool {
	if w, ok := t.(*wsConn); ok {
		c.mu.Lock()
		active := c.ws == w
		c.mu.Unlock()
		if !active {
			return c.onProbePacket(w, typ, data)
		}
	}
	c.onPacket(typ, data, binary)
	return true
}

// transportClosed is a transport's report that it failed or ended: the
// session closes when t carries it; a probe only ends its upgrade.
func (c *Conn) transportClosed(t transport, reason Reason, err error) {
	c.mu.Lock()
	active := c.currentLocked() == t
	if w, ok := t.(*wsConn); ok && c.up.ws == w {
		c.up.endLocked()
	}
	c.mu.Unlock()
	if active {
		c.abort(reason, err)
		return
	}
	t.release()
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
