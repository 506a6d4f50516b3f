package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/socketio"
)

// Keys of what the connect proxy leaves in a socket's data.
const (
	DataKey  = "proxy:data"  // json.RawMessage: the user's data from the backend
	RoomsKey = "proxy:rooms" // []string: rooms the backend asked the socket to join
)

// ConnectOptions configures the connect proxy.
type ConnectOptions struct {
	URL string
	// Headers are the request headers passed to the backend (by name);
	// no other header leaves the server.
	Headers []string
	Client  *http.Client
	// Timeout bounds one call (default 3s).
	Timeout time.Duration
	MaxBody int64
	Secret  []byte
	Logger  *slog.Logger
}

// Connect is the connect proxy.
type Connect struct {
	o       ConnectOptions
	backend backend
}

// NewConnect returns the connect proxy.
func NewConnect(o ConnectOptions) (*Connect, error) {
	if o.URL == "" {
		return nil, errors.New("proxy: connect URL is required")
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Connect{o: o, backend: newBackend(o.URL, o.Client, o.Timeout, o.MaxBody, o.Secret)}, nil
}

// ConnectRequest is what the backend receives for a connection.
type ConnectRequest struct {
	Namespace string            `json:"namespace"`
	Auth      json.RawMessage   `json:"auth"`
	Headers   map[string]string `json:"headers"`
	Address   string            `json:"address"`
	// User is the token's user when the proxy runs after the JWT check
	// (null when it replaces it).
	User *User `json:"user"`
}

// ConnectAnswer is the backend's reply: the user and rooms to join, or a
// refusal (error.message and error.data reach the client's
// connect_error).
type ConnectAnswer struct {
	User  *User    `json:"user"`
	Rooms []string `json:"rooms"`
	Error *Error   `json:"error"`
}

// Answer bounds.
const (
	maxRooms = 100
	maxRoles = 32
	maxIDLen = 128
)

// unavailable is the refusal a client reads when the backend cannot
// decide.
func unavailable(reason string) *socketio.ConnectError {
	return &socketio.ConnectError{Message: "Authentication unavailable", Data: map[string]any{"reason": reason}}
}

// Authorize asks the backend about sock's connection; token is the user
// a verified token named (nil when the proxy replaces the JWT). On
// success the user is attached to the socket, with the backend's data
// and rooms under DataKey and RoomsKey; otherwise the error is a
// *socketio.ConnectError for the client.
func (c *Connect) Authorize(ctx context.Context, sock *socketio.Socket, token *auth.User) (auth.User, error) {
	h := sock.Handshake()
	req := ConnectRequest{Namespace: sock.Namespace().Name(), Auth: h.Auth, Address: h.Address, Headers: map[string]string{}}
	if len(req.Auth) == 0 {
		req.Auth = json.RawMessage("{}")
	}
	for _, name := range c.o.Headers {
		if v := h.Headers.Get(name); v != "" {
			req.Headers[http.CanonicalHeaderKey(name)] = v
		}
	}
	if token != nil {
		req.User = &User{ID: token.ID, Name: token.Name, Roles: token.Roles}
	}
	var a ConnectAnswer
	if err := c.backend.call(ctx, req, &a); err != nil {
		c.o.Logger.Warn("proxy: connect call failed", "namespace", req.Namespace, "addr", h.Address, "err", err)
		if errors.Is(err, ErrTimeout) {
			return auth.User{}, unavailable("backend_timeout")
		}
		return auth.User{}, unavailable("backend_unavailable")
	}
	if a.Error != nil {
		msg := a.Error.Message
		if msg == "" {
			msg = "Connection refused"
		}
		ce := &socketio.ConnectError{Message: msg}
		if len(a.Error.Data) > 0 {
			ce.Data = a.Error.Data
		}
		return auth.User{}, ce
	}
	var u auth.User
	switch {
	case a.User != nil:
		u = auth.User{ID: a.User.ID, Name: a.User.Name, Roles: a.User.Roles}
		if token != nil {
			u.ValidUntil, u.IssuedAt = token.ValidUntil, token.IssuedAt
		}
	case token != nil:
		u = *token
	default:
		c.o.Logger.Warn("proxy: connect answer without user or error", "namespace", req.Namespace)
		return auth.User{}, unavailable("backend_answer_invalid")
	}
	if u.Name == "" {
		u.Name = u.ID
	}
	if u.ID == "" || len(u.ID) > maxIDLen || len(u.Name) > maxIDLen || len(u.Roles) > maxRoles || len(a.Rooms) > maxRooms {
		c.o.Logger.Warn("proxy: connect answer out of bounds", "namespace", req.Namespace, "user", u.ID)
		return auth.User{}, unavailable("backend_answer_invalid")
	}
	auth.Attach(sock, u)
	if a.User != nil && len(a.User.Data) > 0 {
		sock.Set(DataKey, a.User.Data)
	}
	if len(a.Rooms) > 0 {
		sock.Set(RoomsKey, a.Rooms)
	}
	return u, nil
}

// Rooms returns the rooms the backend gave sock at its connection.
func Rooms(sock *socketio.Socket) []string {
	v, _ := sock.Get(RoomsKey)
	r, _ := v.([]string)
	return r
}
