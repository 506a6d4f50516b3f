package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/heraldio/herald/engineio/packet"
	"github.com/heraldio/herald/socketio"
)

// Manager is one Engine.IO connection to a server, shared by the sockets
// of several namespaces, as the JavaScript client's Manager is. It opens
// the connection when a socket connects, reconnects with exponential
// backoff when it is lost, and closes it when no socket needs it.
//
// Goroutines: a Manager runs one goroutine for user callbacks and one for
// the connection's life cycle from NewManager to Close, plus, while
// connected, a reader and a writer (and briefly an upgrade probe). Close
// stops them all.
type Manager struct {
	opts    Options
	cfg     engineConfig
	ownHTTP *http.Transport
	disp    *dispatcher
	rnd     func() float64
	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc
	wake    chan struct{} // cap 1: want changed
	wg      sync.WaitGroup

	mu      sync.Mutex
	sockets map[string]*Socket
	engine  *engineConn
	idle    *engineConn // closed on purpose: no socket needed it
	want    bool        // some socket wants the connection open
	closed  bool

	onAttempt   []func(attempt int)
	onReconnect []func(attempt int)
	onRecErr    []func(err error)
	onFailed    []func()
}

// NewManager returns a Manager for the server at rawURL (http, https, ws
// or wss; the path is ignored, the namespace is chosen per Socket). It
// connects when a socket does.
func NewManager(rawURL string, opts *Options) (*Manager, error) {
	o := opts.withDefaults()
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	switch u.Scheme {
	case "http", "https":
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	default:
		return nil, fmt.Errorf("client: unsupported URL scheme %q", u.Scheme)
	}
	for _, t := range o.Transports {
		if t != TransportPolling && t != TransportWebSocket {
			return nil, fmt.Errorf("client: unknown transport %q", t)
		}
	}
	base := &url.URL{Scheme: u.Scheme, Host: u.Host, User: u.User, Path: o.Path}
	q := u.Query()
	for k, vs := range o.Query {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	base.RawQuery = q.Encode()

	m := &Manager{opts: o, rnd: defaultRand, wake: make(chan struct{}, 1), sockets: make(map[string]*Socket)}
	hc := o.HTTPClient
	if hc == nil {
		m.ownHTTP = http.DefaultTransport.(*http.Transport).Clone()
		if o.TLSConfig != nil {
			m.ownHTTP.TLSClientConfig = o.TLSConfig
		}
		hc = &http.Client{Transport: m.ownHTTP}
	}
	m.cfg = engineConfig{
		base:       base,
		header:     o.Header,
		httpClient: hc,
		transports: o.Transports,
		upgrade:    !o.DisableUpgrade,
		timeout:    o.Timeout,
		wsDial:     newWSDialer(o.Header, o.TLSConfig),
		parser:     o.Parser,
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.disp = newDispatcher(o.Logger)
	m.wg.Add(1)
	go m.run()
	return m, nil
}

// Socket returns the socket of namespace nsp ("/" when empty), creating
// it with opts (nil: the SocketOptions of the Manager's Options). A new
// socket is not connected: register its handlers, then call Connect.
// Asking twice for a namespace returns the same socket.
func (m *Manager) Socket(nsp string, opts *SocketOptions) *Socket {
	if nsp == "" || nsp[0] != '/' {
		nsp = "/" + nsp
	}
	if opts == nil {
		opts = &m.opts.SocketOptions
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.sockets[nsp]; s != nil {
		return s
	}
	s := newSocket(m, nsp, opts.withDefaults())
	if m.closed {
		s.closed = true
	}
	m.sockets[nsp] = s
	return s
}

// Transport returns the transport of the open connection ("polling" or
// "websocket"), or "" when not connected.
func (m *Manager) Transport() string {
	m.mu.Lock()
	e := m.engine
	m.mu.Unlock()
	if e == nil {
		return ""
	}
	return e.Transport()
}

// OnReconnectAttempt adds a handler called before each reconnection
// attempt, numbered from 1.
func (m *Manager) OnReconnectAttempt(h func(attempt int)) {
	m.mu.Lock()
	m.onAttempt = append(m.onAttempt, h)
	m.mu.Unlock()
}

// OnReconnect adds a handler called when a reconnection succeeded, with
// the number of attempts it took.
func (m *Manager) OnReconnect(h func(attempt int)) {
	m.mu.Lock()
	m.onReconnect = append(m.onReconnect, h)
	m.mu.Unlock()
}

// OnReconnectError adds a handler called when a reconnection attempt
// failed.
func (m *Manager) OnReconnectError(h func(err error)) {
	m.mu.Lock()
	m.onRecErr = append(m.onRecErr, h)
	m.mu.Unlock()
}

// OnReconnectFailed adds a handler called when the Manager gives up after
// ReconnectionAttempts attempts.
func (m *Manager) OnReconnectFailed(h func()) {
	m.mu.Lock()
	m.onFailed = append(m.onFailed, h)
	m.mu.Unlock()
}

// Close disconnects every socket (reason "io client disconnect"), closes
// the connection and waits for the Manager's goroutines. Called from a
// handler, it does not wait for that handler's goroutine, which ends when
// the handler returns.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.want = false
	socks := m.socketList()
	eng := m.engine
	m.mu.Unlock()
	for _, s := range socks {
		s.shutdown(eng)
	}
	if eng != nil {
		eng.close()
	}
	m.cancel()
	m.signal()
	m.wg.Wait()
	m.disp.stop()
	if !m.disp.inCall.Load() {
		<-m.disp.done
	}
	if m.ownHTTP != nil {
		m.ownHTTP.CloseIdleConnections()
	}
	return nil
}

func (m *Manager) socketList() []*Socket {
	out := make([]*Socket, 0, len(m.sockets))
	for _, s := range m.sockets {
		out = append(out, s)
	}
	return out
}

func (m *Manager) signal() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// open asks for the connection on behalf of a socket and returns the open
// Engine.IO session, if any.
func (m *Manager) open() (*engineConn, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	m.want = true
	m.signal()
	return m.engine, nil
}

// current returns the open Engine.IO session, or nil.
func (m *Manager) current() *engineConn {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.engine
}

// maybeIdle closes the connection when no socket is active any more.
func (m *Manager) maybeIdle() {
	m.mu.Lock()
	socks := m.socketList()
	m.mu.Unlock()
	for _, s := range socks {
		if s.isActive() {
			return
		}
	}
	m.mu.Lock()
	m.want = false
	eng := m.engine
	m.idle = eng
	m.mu.Unlock()
	m.signal()
	if eng != nil {
		eng.close()
	}
}

// emit queues a call of each handler on the handler goroutine.
func emit[T any](m *Manager, hs []func(T), v T) {
	for _, h := range hs {
		m.disp.push(func() { h(v) })
	}
}

// run is the connection's life cycle: wait until a socket wants the
// connection, open it (after a backoff delay when reconnecting), connect
// the sockets, wait for the end, repeat.
func (m *Manager) run() {
	defer m.wg.Done()
	attempt := 0
	reconnecting := false
	var lastErr error
	for {
		if !m.waitWanted() {
			return
		}
		if reconnecting {
			if n := m.opts.ReconnectionAttempts; n > 0 && attempt >= n {
				m.mu.Lock()
				hs := m.onFailed
				m.mu.Unlock()
				for _, h := range hs {
					m.disp.push(h)
				}
				m.giveUp(fmt.Errorf("%w after %d attempts: %w", ErrReconnectFailed, attempt, lastErr))
				reconnecting, attempt = false, 0
				continue
			}
			if !m.sleep(m.opts.backoff(attempt, m.rnd)) {
				if m.ctx.Err() != nil {
					return
				}
				reconnecting, attempt = false, 0
				continue
			}
			attempt++
			m.mu.Lock()
			hs := m.onAttempt
			m.mu.Unlock()
			emit(m, hs, attempt)
		}

		var dec socketio.Decoder
		eng, err := dialEngine(m.ctx, &m.cfg, m.onMessage(&dec))
		if err != nil {
			if m.ctx.Err() != nil {
				return
			}
			lastErr = err
			m.mu.Lock()
			socks := m.socketList()
			hs := m.onRecErr
			m.mu.Unlock()
			for _, s := range socks {
				s.onOpenError(err)
			}
			if reconnecting {
				emit(m, hs, err)
			}
			if m.opts.DisableReconnection {
				m.giveUp(fmt.Errorf("%w: %w", ErrReconnectFailed, err))
				continue
			}
			reconnecting = true
			continue
		}

		m.mu.Lock()
		if m.closed || !m.want {
			m.mu.Unlock()
			eng.close()
			<-eng.done
			eng.wait()
			continue
		}
		m.engine = eng
		socks := m.socketList()
		hs := m.onReconnect
		m.mu.Unlock()
		if reconnecting {
			emit(m, hs, attempt)
		}
		reconnecting, attempt, lastErr = false, 0, nil
		for _, s := range socks {
			s.sendConnect(eng)
		}

		select {
		case <-eng.done:
		case <-m.ctx.Done():
			eng.close()
			<-eng.done
		}
		eng.wait()
		reason, err := eng.closeReason()
		m.mu.Lock()
		m.engine = nil
		socks = m.socketList()
		want, closed, idle := m.want, m.closed, m.idle == eng
		m.idle = nil
		m.mu.Unlock()
		for _, s := range socks {
			s.onEngineClose(eng, reason)
		}
		if closed {
			return
		}
		if !want || idle {
			continue
		}
		if m.opts.DisableReconnection {
			m.giveUp(fmt.Errorf("%w: %w", ErrReconnectFailed, &CloseError{Reason: reason, Err: err}))
			continue
		}
		lastErr = &CloseError{Reason: reason, Err: err}
		reconnecting = true
	}
}

// giveUp stops trying until a socket calls Connect again; sockets waiting
// for a connection get err.
func (m *Manager) giveUp(err error) {
	m.mu.Lock()
	m.want = false
	socks := m.socketList()
	m.mu.Unlock()
	for _, s := range socks {
		s.fail(err)
	}
}

// waitWanted waits until a socket wants the connection; false after Close.
func (m *Manager) waitWanted() bool {
	for {
		m.mu.Lock()
		closed, want := m.closed, m.want
		m.mu.Unlock()
		if closed {
			return false
		}
		if want {
			return true
		}
		select {
		case <-m.wake:
		case <-m.ctx.Done():
			return false
		}
	}
}

// sleep waits d; false when closed or no socket wants the connection any
// more.
func (m *Manager) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return true
		case <-m.ctx.Done():
			return false
		case <-m.wake:
			m.mu.Lock()
			want := m.want
			m.mu.Unlock()
			if !want {
				return false
			}
		}
	}
}

// onMessage returns the handler of one session's messages: it reassembles
// binary packets and routes packets to the namespaces' sockets.
func (m *Manager) onMessage(dec *socketio.Decoder) func([]byte, bool) error {
	return func(data []byte, binary bool) error {
		var p *socketio.Packet
		var err error
		switch {
		case m.cfg.parser != socketio.MsgpackParser:
			p, err = dec.Feed(data, binary)
		case binary:
			p, err = socketio.DecodeMsgpack(data)
		default:
			err = socketio.ErrBadPacket // a msgpack server sends only binary messages
		}
		if err != nil || p == nil {
			return err
		}
		m.mu.Lock()
		s := m.sockets[p.Nsp]
		m.mu.Unlock()
		if s != nil {
			s.onPacket(p)
		}
		return nil
	}
}

// encode returns the Engine.IO messages that carry p from a client: its
// text, then its attachments; with msgpack, one binary message.
func (c *engineConfig) encode(p *socketio.Packet) []*packet.Packet {
	if c.parser == socketio.MsgpackParser {
		b, err := socketio.EncodeMsgpack(p)
		if err != nil {
			return nil // not reached: the data is the encoder's JSON
		}
		return []*packet.Packet{{Type: packet.Message, Data: b, Binary: true}}
	}
	out := make([]*packet.Packet, 0, 1+len(p.Attachments))
	out = append(out, &packet.Packet{Type: packet.Message, Data: p.AppendText(nil)})
	for _, a := range p.Attachments {
		out = append(out, &packet.Packet{Type: packet.Message, Data: a, Binary: true})
	}
	return out
}

// namespaceOf returns the namespace named by a URL's path.
func namespaceOf(u *url.URL) string {
	p := strings.TrimRight(u.Path, "/")
	if p == "" {
		return "/"
	}
	return p
}
