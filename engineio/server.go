package engineio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldio/herald/internal/netpoll"
	"github.com/heraldio/herald/internal/shrink"
)

// Sentinel errors.
var (
	// ErrClosed is returned when sending on a closed connection.
	ErrClosed = errors.New("engineio: connection closed")
	// ErrSlowClient is the cause when a connection is dropped because its
	// outbound queue is full.
	ErrSlowClient = errors.New("engineio: client too slow, outbound queue full")
	// ErrServerClosed is returned by Shutdown when called twice.
	ErrServerClosed = errors.New("engineio: server closed")
	// ErrReadTimeout is the cause when a connection is dropped because a
	// message it began to send did not arrive within Options.ReadTimeout.
	ErrReadTimeout = errors.New("engineio: client too slow sending a message")
)

// Error codes of the protocol, sent as {"code":n,"message":...}.
const (
	codeUnknownTransport = 0
	codeUnknownSid       = 1
	codeBadHandshake     = 2
	codeBadRequest       = 3
	codeForbidden        = 4
	codeUnsupported      = 5
)

var errorMessages = [...]string{
	"Transport unknown",
	"Session ID unknown",
	"Bad handshake method",
	"Bad request",
	"Forbidden",
	"Unsupported protocol version",
}

// Handler receives what a connection delivers. Its methods are called from
// the connection's read path, one at a time per connection; they should
// not block for long, since the connection reads nothing meanwhile.
type Handler interface {
	// OnMessage is called for each message. data is owned by the callee.
	OnMessage(data []byte, binary bool)
	// OnClose is called once when the connection is closed.
	OnClose(reason Reason, err error)
}

// Server is an Engine.IO v4 server (and v3 with Options.AllowEIO3); it is an http.Handler for the path it
// is mounted on. Its methods are safe for concurrent use.
type Server struct {
	opts      Options
	onConnect func(*Conn) Handler

	mu        sync.Mutex
	conns     map[string]*Conn
	connsPeak int
	closed    bool
	poller    *netpoll.Poller
	pollOnce  sync.Once
	// One per Conn until it is removed and every goroutine it started
	// (writer, reader, close) has ended: Shutdown waits for it.
	wg sync.WaitGroup

	epoch    time.Time // of now
	coalesce coalescer
	hb       heartbeats

	slowClients atomic.Uint64 // closed with ErrSlowClient
	traffic     trafficCounter
}

// NewServer returns a Server. onConnect is called for every new
// connection, before any message, and returns the connection's Handler.
func NewServer(opts *Options, onConnect func(*Conn) Handler) *Server {
	s := &Server{opts: opts.withDefaults(), onConnect: onConnect, conns: make(map[string]*Conn), epoch: time.Now()}
	s.coalesce.srv, s.coalesce.wake = s, make(chan struct{}, 1)
	s.hb.srv = s
	return s
}

// Options returns the effective options.
func (s *Server) Options() Options { return s.opts }

// ClientsCount returns the number of open connections.
func (s *Server) ClientsCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *Server) netpoller() *netpoll.Poller {
	if s.opts.DisableNetpoll {
		return nil
	}
	s.pollOnce.Do(func() {
		p, err := netpoll.New()
		if err == nil {
			s.poller = p
		}
	})
	return s.poller
}

// ServeHTTP handles an Engine.IO request: handshake, polling GET/POST or
// WebSocket upgrade.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.setCORS(w, r)
	if r.Method == http.MethodOptions && s.opts.CORS != nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	q := r.URL.Query()
	eio3 := false
	if v := q.Get("EIO"); v != "4" {
		if v != "3" || !s.opts.AllowEIO3 {
			s.fail(w, codeUnsupported, "")
			return
		}
		if q.Has("j") { // JSONP polling: not served
			s.fail(w, codeBadRequest, "")
			return
		}
		eio3 = true
	}
	transport := q.Get("transport")
	if transport != TransportPolling && transport != TransportWebSocket || !s.opts.allows(transport) {
		s.fail(w, codeUnknownTransport, "")
		return
	}
	isWS := isWebSocketUpgrade(r)
	if transport == TransportWebSocket && !isWS || transport == TransportPolling && isWS {
		s.fail(w, codeBadRequest, "")
		return
	}
	sid := q.Get("sid")
	if sid == "" {
		if r.Method != http.MethodGet {
			s.fail(w, codeBadHandshake, "")
			return
		}
		if s.opts.AllowRequest != nil {
			if err := s.opts.AllowRequest(r); err != nil {
				s.fail(w, codeForbidden, err.Error())
				return
			}
		}
		s.handshake(w, r, transport, eio3, eio3 && q.Get("b64") != "")
		return
	}
	s.mu.Lock()
	c := s.conns[sid]
	s.mu.Unlock()
	if c == nil {
		s.unknownSession(w, r, sid)
		return
	}
	if c.eio3 != eio3 {
		s.fail(w, codeBadRequest, "")
		return
	}
	if isWS {
		c.serveProbe(w, r)
		return
	}
	c.servePolling(w, r)
}

// unknownSession offers a request for a session not held here to
// Options.Forward, then refuses it.
func (s *Server) unknownSession(w http.ResponseWriter, r *http.Request, sid string) {
	if s.opts.Forward != nil {
		h := w.Header()
		saved := h.Clone()
		clear(h) // the CORS headers: the owner sets its own
		if s.opts.Forward(w, r, sid) {
			return
		}
		maps.Copy(h, saved)
	}
	s.fail(w, codeUnknownSid, "")
}

func isWebSocketUpgrade(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

func (s *Server) fail(w http.ResponseWriter, code int, msg string) {
	if msg == "" {
		msg = errorMessages[code]
	}
	body, _ := json.Marshal(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, msg})
	w.Header().Set("Content-Type", "application/json")
	status := http.StatusBadRequest
	if code == codeForbidden {
		status = http.StatusForbidden
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Server) setCORS(w http.ResponseWriter, r *http.Request) {
	c := s.opts.CORS
	if c == nil {
		return
	}
	origin := r.Header.Get("Origin")
	h := w.Header()
	allowed := ""
	for _, o := range c.Origins {
		if o == "*" {
			allowed = "*"
			if c.Credentials && origin != "" {
				allowed = origin
			}
			break
		}
		if o == origin {
			allowed = origin
			break
		}
	}
	if allowed == "" {
		return
	}
	h.Set("Access-Control-Allow-Origin", allowed)
	if allowed != "*" {
		h.Add("Vary", "Origin")
	}
	if c.Credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE")
		if len(c.Headers) > 0 {
			h.Set("Access-Control-Allow-Headers", strings.Join(c.Headers, ","))
		} else if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
		}
		if c.MaxAge > 0 {
			h.Set("Access-Control-Max-Age", strconv.Itoa(int(c.MaxAge/time.Second)))
		}
	}
}

// NewID returns a random 20-character URL-safe id, as the reference's
// base64id (15 random bytes).
func NewID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.URLEncoding.EncodeToString(b[:])
}

func (s *Server) newID() string {
	if s.opts.GenerateID != nil {
		return s.opts.GenerateID()
	}
	return NewID()
}

// errRequestURI refuses a handshake whose URI is over Options.MaxHeaderBytes.
var errRequestURI = errors.New("engineio: handshake request URI too long")

// newConn registers a new session; nil means the server is shutting down.
// eio3 makes it a session of Engine.IO v3, whose polling client takes no
// binary with b64.
func (s *Server) newConn(req *Request, transport string, eio3, b64 bool) *Conn {
	// The constant, not the query's bytes: the connection keeps it for its
	// life, and a substring of the request line would pin the whole line.
	if transport == TransportWebSocket {
		transport = TransportWebSocket
	} else {
		transport = TransportPolling
	}
	c := &Conn{
		id:        s.newID(),
		srv:       s,
		req:       req,
		transport: transport,
		eio3:      eio3,
		b64:       b64,
	}
	c.refs.Store(1) // the registration, released by remove
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.conns[c.id] = c
	s.wg.Add(1)
	return c
}

func (s *Server) handshake(w http.ResponseWriter, r *http.Request, transport string, eio3, b64 bool) {
	req := newRequest(r, s.opts.MaxHeaderBytes)
	if req == nil {
		s.fail(w, codeBadRequest, "")
		return
	}
	c := s.newConn(req, transport, eio3, b64)
	if c == nil {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	if s.opts.Cookie != nil {
		ck := *s.opts.Cookie
		ck.Value = c.id
		http.SetCookie(w, &ck)
	}
	if transport == TransportWebSocket {
		ws, err := s.upgrade(w, r, c)
		if err != nil {
			c.abort(ReasonTransportError, err)
			return
		}
		s.startWebSocket(c, ws)
		return
	}
	s.attach(c)
	c.startPing()
	c.writePolling(w, r, []*Packet{c.openPacket(transport)})
}

func (s *Server) startWebSocket(c *Conn, ws *wsConn) {
	c.mu.Lock()
	c.ws = ws
	c.queue = append(c.queue, c.openPacket(TransportWebSocket))
	c.mu.Unlock()
	s.attach(c)
	c.startPing()
	c.mu.Lock()
	c.kickWS()
	c.mu.Unlock()
	ws.startReading()
}

// attach gives c its handler. If c was closed meanwhile (by Shutdown), the
// handler is told at once; afterClose tells it otherwise.
func (s *Server) attach(c *Conn) {
	h := s.onConnect(c)
	c.mu.Lock()
	c.handler = h
	closed := c.state == stateClosed
	c.mu.Unlock()
	if closed {
		h.OnClose(c.closeReason, c.closeErr)
	}
}

// ServeWebSocket takes over conn, a WebSocket connection the caller has
// already upgraded (r is its upgrade request), as a new session over
// WebSocket. It serves custom upgraders and in-memory benchmarks; conn
// must not be used by the caller afterwards, unless an error says it was
// not taken.
func (s *Server) ServeWebSocket(conn net.Conn, r *http.Request) (*Conn, error) {
	req := newRequest(r, s.opts.MaxHeaderBytes)
	if req == nil {
		return nil, errRequestURI
	}
	c := s.newConn(req, TransportWebSocket, false, false)
	if c == nil {
		return nil, ErrServerClosed
	}
	s.startWebSocket(c, newWSConn(c, conn))
	return c, nil
}

// Shutdown closes every connection (flushing what is queued) and waits
// until they are closed and every goroutine the server started for them
// (writers, readers, WebSocket closes, Handler.OnClose calls) has ended,
// or until ctx is done. New handshakes are refused.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.closed = true
	conns := make([]*Conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.closeWith(ReasonForcedClose, nil, true)
	}
	s.coalesce.hurryUp() // what the closes left waiting for a window
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		for _, c := range conns {
			c.abort(ReasonForcedClose, nil)
		}
	}
	s.pollOnce.Do(func() {}) // waits for a poller being created; none after this
	if s.poller != nil {
		// Closing the poller waits for callbacks still running; one stuck
		// in an application handler must not hold Shutdown past ctx.
		closed := make(chan struct{})
		go func() { _ = s.poller.Close(); close(closed) }()
		select {
		case <-closed:
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
		}
	}
	return err
}

func (s *Server) remove(c *Conn) {
	s.mu.Lock()
	removed := s.conns[c.id] == c
	if removed {
		delete(s.conns, c.id)
		s.conns = shrink.Map(s.conns, &s.connsPeak)
	}
	s.mu.Unlock()
	if removed {
		c.release()
	}
}
