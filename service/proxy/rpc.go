package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/socketio"
)

// Pattern is an event the RPC proxy takes: a name, or a prefix when it
// ends in "*" ("rpc:*"; "*" alone is every event), in one namespace or
// in all ("").
type Pattern struct {
	Namespace string
	Name      string
}

// ParsePatterns reads "[/namespace=]name-or-prefix*" items separated by
// commas: "rpc:*,/chat=order:*".
func ParsePatterns(s string) ([]Pattern, error) {
	var out []Pattern
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		var p Pattern
		if strings.HasPrefix(item, "/") {
			ns, name, ok := strings.Cut(item, "=")
			if !ok {
				return nil, fmt.Errorf("proxy: rpc event %q: want /namespace=event", item)
			}
			p.Namespace, item = ns, name
		}
		p.Name = item
		if p.Name == "" || strings.Contains(strings.TrimSuffix(p.Name, "*"), "*") {
			return nil, fmt.Errorf("proxy: rpc event %q: a name, or a prefix ending in *", item)
		}
		out = append(out, p)
	}
	return out, nil
}

func (p Pattern) match(nsp, event string) bool {
	if p.Namespace != "" && p.Namespace != nsp {
		return false
	}
	if prefix, ok := strings.CutSuffix(p.Name, "*"); ok {
		return strings.HasPrefix(event, prefix)
	}
	return p.Name == event
}

// RPCOptions configures the event proxy. Zero fields take the defaults.
type RPCOptions struct {
	URL    string
	Events []Pattern
	// Client sends the calls (default: one of the package's own; the
	// call's timeout applies either way).
	Client *http.Client
	// Timeout bounds one call (default 5s).
	Timeout time.Duration
	// MaxPerSocket and MaxTotal bound the calls in flight for one socket
	// and for the node (defaults 8 and 256); past them an event is
	// refused at once with the "busy" ack error.
	MaxPerSocket, MaxTotal int
	// MaxBody is the largest answer read (DefaultMaxBody).
	MaxBody int64
	// Secret, when set, signs each call as webhooks are signed.
	Secret []byte
	// Namespaces are those an emit action may name.
	Namespaces map[string]*socketio.Namespace
	Logger     *slog.Logger
}

// RPCStats are the event proxy's counts.
type RPCStats struct {
	InFlight int64
	Calls    uint64 // calls made
	Failed   uint64 // calls that timed out, failed or got a bad answer
	Refused  uint64 // events refused because too many calls were in flight
}

// RPC is the event proxy. Handle is its event handler.
type RPC struct {
	o       RPCOptions
	backend backend
	total   chan struct{} // a slot per call in flight
	wg      sync.WaitGroup

	mu       sync.Mutex
	perSock  map[string]int
	inFlight atomic.Int64
	calls    atomic.Uint64
	failed   atomic.Uint64
	refused  atomic.Uint64
}

// NewRPC returns the event proxy.
func NewRPC(o RPCOptions) (*RPC, error) {
	if o.URL == "" {
		return nil, errors.New("proxy: rpc URL is required")
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.MaxPerSocket <= 0 {
		o.MaxPerSocket = 8
	}
	if o.MaxTotal <= 0 {
		o.MaxTotal = 256
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &RPC{o: o, backend: newBackend(o.URL, o.Client, o.Timeout, o.MaxBody, o.Secret),
		total: make(chan struct{}, o.MaxTotal), perSock: map[string]int{}}, nil
}

// Match reports whether the event of a namespace goes to the backend.
func (r *RPC) Match(nsp, event string) bool {
	for _, p := range r.o.Events {
		if p.match(nsp, event) {
			return true
		}
	}
	return false
}

// Request is what the backend receives for an event.
type Request struct {
	User      User   `json:"user"`
	SocketID  string `json:"socketId"`
	Namespace string `json:"namespace"`
	Event     string `json:"event"`
	Args      []any  `json:"args"` // binary arguments as base64 strings
}

// User is a socket's user as the backend sees it.
type User struct {
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Roles []string        `json:"roles"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// Answer is the backend's reply to an event: result, or error, and
// actions done before the ack is sent.
type Answer struct {
	Result  json.RawMessage `json:"result"`
	Error   *Error          `json:"error"`
	Actions []Action        `json:"actions"`
}

// Action is something the backend asks done: "emit" event with args (or
// data, one argument) to rooms (Socket.IO rooms: user:<id>, role:<r>,
// room:<id> in /chat, a socket id; none: the calling socket) of a
// namespace (default the caller's); "join" or "leave" rooms (the
// calling socket); "disconnect" the calling socket (after the ack; close
// ends its whole connection).
type Action struct {
	Type      string            `json:"type"`
	To        []string          `json:"to,omitempty"`
	Namespace string            `json:"namespace,omitempty"`
	Event     string            `json:"event,omitempty"`
	Args      []json.RawMessage `json:"args,omitempty"`
	Data      json.RawMessage   `json:"data,omitempty"`
	Rooms     []string          `json:"rooms,omitempty"`
	Close     bool              `json:"close,omitempty"`
}

// maxActions bounds what one answer may ask.
const maxActions = 100

// Handle takes an event for the backend: the call runs on its own
// goroutine, within the socket's and the node's bounds, and its answer
// becomes the ack.
func (r *RPC) Handle(e *socketio.Event) {
	id := e.Socket.ID()
	r.mu.Lock()
	if r.perSock[id] >= r.o.MaxPerSocket {
		r.mu.Unlock()
		r.refuse(e)
		return
	}
	select {
	case r.total <- struct{}{}:
	default:
		r.mu.Unlock()
		r.refuse(e)
		return
	}
	r.perSock[id]++
	r.wg.Add(1)
	r.mu.Unlock()
	r.inFlight.Add(1)
	req := Request{User: userOf(e.Socket), SocketID: id, Namespace: e.Socket.Namespace().Name(), Event: e.Name,
		Args: argsOf(e.Args)}
	go func() {
		defer r.wg.Done()
		a, err := r.call(req)
		r.release(id) // the slot is the backend's: free before the client hears
		r.answer(e, req, a, err)
	}()
}

func (r *RPC) refuse(e *socketio.Event) {
	r.refused.Add(1)
	_ = e.Ack(ackError("busy", "Too many requests in flight"))
}

func (r *RPC) release(id string) {
	r.inFlight.Add(-1)
	<-r.total
	r.mu.Lock()
	if r.perSock[id]--; r.perSock[id] <= 0 {
		delete(r.perSock, id)
	}
	r.mu.Unlock()
}

func (r *RPC) call(req Request) (Answer, error) {
	r.calls.Add(1)
	var a Answer
	err := r.backend.call(context.Background(), req, &a)
	if err == nil && len(a.Actions) > maxActions {
		err = fmt.Errorf("%w: more than %d actions", ErrBadAnswer, maxActions)
	}
	if err != nil {
		r.failed.Add(1)
	}
	return a, err
}

// answer does what the backend asked and acks the event.
func (r *RPC) answer(e *socketio.Event, req Request, a Answer, err error) {
	if err != nil {
		r.o.Logger.Warn("proxy: rpc call failed", "event", e.Name, "socket", req.SocketID, "err", err)
		_ = e.Ack(failure(err))
		return
	}
	var disconnect *Action
	for i, act := range a.Actions {
		if act.Type == "disconnect" {
			disconnect = &a.Actions[i]
			continue
		}
		if err := r.act(e.Socket, act); err != nil {
			r.o.Logger.Warn("proxy: rpc action", "event", e.Name, "action", act.Type, "err", err)
		}
	}
	switch {
	case a.Error != nil:
		code := a.Error.Code
		if code == "" {
			code = "error"
		}
		_ = e.Ack(ackError(code, a.Error.Message))
	case a.Result != nil:
		_ = e.Ack(a.Result)
	default:
		_ = e.Ack()
	}
	if disconnect != nil {
		e.Socket.Disconnect(disconnect.Close)
	}
}

// act does one action of an answer.
func (r *RPC) act(sock *socketio.Socket, a Action) error {
	switch a.Type {
	case "emit":
		if a.Event == "" {
			return errors.New("emit without an event")
		}
		args := make([]any, 0, len(a.Args)+1)
		for _, v := range a.Args {
			args = append(args, v)
		}
		if a.Data != nil {
			args = append(args, a.Data)
		}
		nsp := sock.Namespace()
		if a.Namespace != "" && a.Namespace != nsp.Name() {
			if nsp = r.o.Namespaces[a.Namespace]; nsp == nil {
				return fmt.Errorf("unknown namespace %q", a.Namespace)
			}
		}
		if len(a.To) == 0 {
			if nsp != sock.Namespace() {
				return errors.New("emit to another namespace needs rooms")
			}
			return sock.Emit(a.Event, args...)
		}
		return nsp.To(a.To...).Emit(a.Event, args...)
	case "join":
		sock.Join(a.Rooms...)
	case "leave":
		sock.Leave(a.Rooms...)
	default:
		return fmt.Errorf("unknown action %q", a.Type)
	}
	return nil
}

// Stats returns the proxy's counts.
func (r *RPC) Stats() RPCStats {
	return RPCStats{InFlight: r.inFlight.Load(), Calls: r.calls.Load(), Failed: r.failed.Load(), Refused: r.refused.Load()}
}

// Wait waits for the calls in flight (each ends within its timeout).
func (r *RPC) Wait() { r.wg.Wait() }

// argsOf is the event's arguments for the backend: the client's JSON as
// it came (numbers keep their digits), unless binary attachments must be
// resolved to base64.
func argsOf(a socketio.Args) []any {
	if len(a.Attachments()) > 0 {
		return a.Values()
	}
	out := make([]any, a.Len())
	for i := range out {
		out[i] = a.Raw(i)
	}
	return out
}

// userOf is the socket's user as sent to the backend.
func userOf(sock *socketio.Socket) User {
	u, _ := auth.UserOf(sock)
	out := User{ID: u.ID, Name: u.Name, Roles: u.Roles}
	if out.Roles == nil {
		out.Roles = []string{}
	}
	if d, ok := sock.Get(DataKey); ok {
		out.Data, _ = d.(json.RawMessage)
	}
	return out
}
