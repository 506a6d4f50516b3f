package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldio/herald/engineio/packet"
	"github.com/heraldio/herald/socketio"
)

// Transport names, as in the "transport" query parameter.
const (
	TransportPolling   = "polling"
	TransportWebSocket = "websocket"
)

// closeGrace bounds how long a graceful close waits for what is queued
// (and the close packet) to be written.
const closeGrace = time.Second

// engineConfig is what an Engine.IO connection needs from the options.
type engineConfig struct {
	base       *url.URL // http(s)://host/path/ with the user's query
	header     http.Header
	httpClient *http.Client
	transports []string
	upgrade    bool
	timeout    time.Duration
	wsDial     func(ctx context.Context, u string) (*wsTransport, error)
	parser     socketio.Parser
}

// transportURL returns the URL of a transport request.
func (c *engineConfig) transportURL(transport, sid string) string {
	u := *c.base
	q := u.Query()
	q.Set("EIO", "4")
	q.Set("transport", transport)
	if sid != "" {
		q.Set("sid", sid)
	}
	if transport == TransportWebSocket {
		if u.Scheme == "https" {
			u.Scheme = "wss"
		} else {
			u.Scheme = "ws"
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// handshake is the JSON of the Engine.IO open packet.
type handshake struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int64    `json:"pingInterval"`
	PingTimeout  int64    `json:"pingTimeout"`
	MaxPayload   int64    `json:"maxPayload"`
}

func parseHandshake(p *packet.Packet) (*handshake, error) {
	if p.Type != packet.Open {
		return nil, fmt.Errorf("%w: want an open packet, got type %d", ErrHandshake, p.Type)
	}
	var h handshake
	if err := json.Unmarshal(p.Data, &h); err != nil || h.SID == "" {
		return nil, fmt.Errorf("%w: bad open packet %q", ErrHandshake, p.Data)
	}
	return &h, nil
}

// engineConn is the client side of one Engine.IO session. Messages go to
// onMessage, one at a time, from the goroutine reading the current
// transport; done is closed when the session ends, with the reason kept.
type engineConn struct {
	cfg          *engineConfig
	onMessage    func(data []byte, binary bool) error
	sid          string
	pingInterval time.Duration
	pingTimeout  time.Duration
	maxPayload   int

	ctx    context.Context // done when the session ends
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{} // cap 1: the writer has work
	wg     sync.WaitGroup

	mu         sync.Mutex
	queue      []*packet.Packet
	writing    bool
	transport  string
	poll       *pollingTransport
	ws         *wsTransport
	probe      *wsTransport
	upgrading  bool
	closing    bool
	closed     bool
	reason     Reason
	err        error
	pingTimer  *time.Timer
	closeTimer *time.Timer

	writeMu  sync.Mutex    // held while a batch is written; the upgrade takes it to switch
	pollDone chan struct{} // closed when the polling reader stops
	upgraded atomic.Bool
}

// dialEngine opens an Engine.IO session with the first configured
// transport, and starts its goroutines.
func dialEngine(ctx context.Context, cfg *engineConfig, onMessage func([]byte, bool) error) (*engineConn, error) {
	if cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.timeout)
		defer cancel()
	}
	e := &engineConn{cfg: cfg, onMessage: onMessage, done: make(chan struct{}), wake: make(chan struct{}, 1), pollDone: make(chan struct{})}
	var first []*packet.Packet
	var h *handshake
	if cfg.transports[0] == TransportWebSocket {
		w, err := cfg.wsDial(ctx, cfg.transportURL(TransportWebSocket, ""))
		if err != nil {
			return nil, err
		}
		p, err := w.readPacketCtx(ctx)
		if err == nil {
			h, err = parseHandshake(p)
		}
		if err != nil {
			w.close()
			return nil, err
		}
		e.ws, e.transport = w, TransportWebSocket
		close(e.pollDone)
	} else {
		pt := &pollingTransport{cfg: cfg}
		payload, err := pt.get(ctx, cfg.transportURL(TransportPolling, ""))
		if err != nil {
			return nil, err
		}
		err = packet.DecodePayload(payload, func(p *packet.Packet) error {
			if h == nil {
				var err error
				h, err = parseHandshake(p)
				return err
			}
			first = append(first, p)
			return nil
		})
		if err != nil {
			if !errors.Is(err, ErrHandshake) {
				err = fmt.Errorf("%w: %v", ErrHandshake, err)
			}
			return nil, err
		}
		pt.url = cfg.transportURL(TransportPolling, h.SID)
		e.poll, e.transport = pt, TransportPolling
	}
	e.sid = h.SID
	e.pingInterval = time.Duration(h.PingInterval) * time.Millisecond
	e.pingTimeout = time.Duration(h.PingTimeout) * time.Millisecond
	e.maxPayload = int(h.MaxPayload)
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.resetPingTimer()

	e.wg.Add(2)
	go e.writer()
	if e.ws != nil {
		go e.readWS(e.ws)
	} else {
		go e.readPolling(first)
		if cfg.upgrade && slices.Contains(h.Upgrades, TransportWebSocket) && slices.Contains(cfg.transports, TransportWebSocket) {
			e.wg.Add(1)
			go e.upgrade()
		}
	}
	return e, nil
}

// Transport returns the name of the transport in use.
func (e *engineConn) Transport() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.transport
}

// resetPingTimer arms the ping timeout: the server must ping within
// pingInterval+pingTimeout.
func (e *engineConn) resetPingTimer() {
	d := e.pingInterval + e.pingTimeout
	if d <= 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	if e.pingTimer == nil {
		e.pingTimer = time.AfterFunc(d, func() { e.fail(ReasonPingTimeout, nil) })
		return
	}
	e.pingTimer.Reset(d)
}

// handle processes one packet read from the active transport. It reports
// false when the session ended.
func (e *engineConn) handle(p *packet.Packet) bool {
	switch p.Type {
	case packet.Message:
		if err := e.onMessage(p.Data, p.Binary); err != nil {
			e.fail(ReasonParseError, err)
			return false
		}
	case packet.Ping:
		e.resetPingTimer()
		_ = e.send(&packet.Packet{Type: packet.Pong, Data: p.Data})
	case packet.Close:
		e.fail(ReasonTransportClose, nil)
		return false
	}
	return true
}

// send queues packets, in order and together.
func (e *engineConn) send(pkts ...*packet.Packet) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || e.closing {
		return ErrClosed
	}
	e.queue = append(e.queue, pkts...)
	e.signal()
	return nil
}

// sendVolatile queues packets only when nothing waits to be written and
// the transport is not changing; it reports whether they were queued.
func (e *engineConn) sendVolatile(pkts ...*packet.Packet) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || e.closing || e.upgrading || e.writing || len(e.queue) > 0 {
		return false
	}
	e.queue = append(e.queue, pkts...)
	e.signal()
	return true
}

func (e *engineConn) signal() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// writer writes what is queued on the current transport: a polling
// request body holds at most maxPayload bytes, as the reference client
// does.
func (e *engineConn) writer() {
	defer e.wg.Done()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-e.wake:
		}
		for {
			e.mu.Lock()
			if e.closed || e.upgrading || len(e.queue) == 0 {
				e.mu.Unlock()
				break
			}
			batch := e.queue
			if e.transport == TransportPolling {
				batch = e.takePayload()
			}
			e.queue = e.queue[len(batch):]
			if len(e.queue) == 0 {
				e.queue = nil
			}
			e.writing = true
			e.mu.Unlock()

			e.writeMu.Lock()
			e.mu.Lock()
			poll, w := e.poll, e.ws
			if e.transport == TransportWebSocket {
				poll = nil
			}
			e.mu.Unlock()
			var err error
			if poll != nil {
				err = poll.post(e.ctx, packet.EncodePayload(nil, batch))
			} else {
				err = w.write(batch)
			}
			e.writeMu.Unlock()
			e.mu.Lock()
			e.writing = false
			finish := e.closing && len(e.queue) == 0
			e.mu.Unlock()
			if err != nil {
				e.fail(ReasonTransportError, err)
				return
			}
			if finish {
				e.fail(ReasonForcedClose, nil)
				return
			}
		}
	}
}

// takePayload returns the longest prefix of the queue that fits in
// maxPayload once encoded (at least one packet). Called with e.mu held.
func (e *engineConn) takePayload() []*packet.Packet {
	if e.maxPayload <= 0 {
		return e.queue
	}
	size := 0
	for i, p := range e.queue {
		n := len(p.Data) + 1
		if p.Binary {
			n = 1 + (len(p.Data)+2)/3*4
		}
		if i > 0 {
			n++ // separator
		}
		if i > 0 && size+n > e.maxPayload {
			return e.queue[:i]
		}
		size += n
	}
	return e.queue
}

// readPolling runs the long-polling GET loop until the session ends or an
// upgrade pauses it. first holds packets that came with the handshake.
func (e *engineConn) readPolling(first []*packet.Packet) {
	defer e.wg.Done()
	defer close(e.pollDone)
	for _, p := range first {
		if !e.handle(p) {
			return
		}
	}
	for {
		e.mu.Lock()
		stop := e.closed || e.upgrading || e.transport != TransportPolling
		e.mu.Unlock()
		if stop {
			return
		}
		payload, err := e.poll.get(e.ctx, e.poll.url)
		if err != nil {
			e.fail(ReasonTransportError, err)
			return
		}
		err = packet.DecodePayload(payload, func(p *packet.Packet) error {
			if !e.handle(p) {
				return ErrClosed
			}
			return nil
		})
		if errors.Is(err, ErrClosed) {
			return
		}
		if err != nil {
			e.fail(ReasonParseError, err)
			return
		}
	}
}

// readWS reads the WebSocket transport until it fails.
func (e *engineConn) readWS(w *wsTransport) {
	defer e.wg.Done()
	for {
		p, err := w.readPacket()
		if err != nil {
			reason := ReasonTransportClose
			if errors.Is(err, packet.ErrInvalid) {
				reason = ReasonParseError
			}
			e.fail(reason, err)
			return
		}
		if !e.handle(p) {
			return
		}
	}
}

// upgrade probes a WebSocket for the polling session and, when the server
// answers, pauses polling and switches to it. On failure polling goes on.
func (e *engineConn) upgrade() {
	defer e.wg.Done()
	ctx, cancel := context.WithTimeout(e.ctx, e.cfg.timeout)
	defer cancel()
	w, err := e.cfg.wsDial(ctx, e.cfg.transportURL(TransportWebSocket, e.sid))
	if err != nil {
		return
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		w.close()
		return
	}
	e.probe = w
	e.mu.Unlock()
	abandon := func() {
		e.mu.Lock()
		e.probe = nil
		e.upgrading = false
		e.signal()
		e.mu.Unlock()
		w.close()
	}
	if err := w.write([]*packet.Packet{{Type: packet.Ping, Data: []byte("probe")}}); err != nil {
		abandon()
		return
	}
	p, err := w.readPacketCtx(ctx)
	if err != nil || p.Type != packet.Pong || string(p.Data) != "probe" {
		abandon()
		return
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		abandon()
		return
	}
	e.upgrading = true
	e.mu.Unlock()

	// Pause polling: the server ends the pending GET with a noop, and the
	// writer finishes the request body it is sending.
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	select {
	case <-e.pollDone:
	case <-ctx.Done():
		abandon()
		e.fail(ReasonTransportError, errors.New("client: upgrade timed out"))
		return
	}
	if err := w.write([]*packet.Packet{{Type: packet.Upgrade}}); err != nil {
		abandon()
		e.fail(ReasonTransportError, err)
		return
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		w.close()
		return
	}
	e.probe = nil
	e.ws = w
	e.transport = TransportWebSocket
	e.upgrading = false
	e.upgraded.Store(true)
	e.wg.Add(1)
	go e.readWS(w)
	e.signal()
	e.mu.Unlock()
}

// close ends the session gracefully: what is queued is written, then a
// close packet, within closeGrace.
func (e *engineConn) close() {
	e.mu.Lock()
	if e.closed || e.closing {
		e.mu.Unlock()
		return
	}
	e.closing = true
	e.queue = append(e.queue, &packet.Packet{Type: packet.Close})
	e.signal()
	e.closeTimer = time.AfterFunc(closeGrace, func() { e.fail(ReasonForcedClose, nil) })
	e.mu.Unlock()
}

// fail ends the session at once with reason; the first reason sticks.
func (e *engineConn) fail(reason Reason, err error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	e.reason, e.err = reason, err
	if e.pingTimer != nil {
		e.pingTimer.Stop()
	}
	if e.closeTimer != nil {
		e.closeTimer.Stop()
	}
	w, probe := e.ws, e.probe
	e.queue = nil
	e.mu.Unlock()
	e.cancel()
	if w != nil {
		w.close()
	}
	if probe != nil {
		probe.close()
	}
	close(e.done)
}

// wait waits for the session's goroutines.
func (e *engineConn) wait() { e.wg.Wait() }

// closeReason returns why the session ended.
func (e *engineConn) closeReason() (Reason, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.reason, e.err
}

// pollingTransport speaks HTTP long-polling.
type pollingTransport struct {
	cfg *engineConfig
	url string
	n   atomic.Uint64 // cache buster
}

func (t *pollingTransport) withT(u string) string {
	return u + "&t=" + strconv.FormatUint(t.n.Add(1), 36)
}

func (t *pollingTransport) do(req *http.Request) ([]byte, error) {
	for k, v := range t.cfg.header {
		req.Header[k] = v
	}
	res, err := t.cfg.httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := readAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, &HTTPError{StatusCode: res.StatusCode, Body: string(body)}
	}
	return body, nil
}

func (t *pollingTransport) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.withT(u), nil)
	if err != nil {
		return nil, err
	}
	return t.do(req)
}

func (t *pollingTransport) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.withT(t.url), bytesReader(body))
	if err != nil {
		return err
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	_, err = t.do(req)
	return err
}
