package service

import (
	"context"
	"sync"
	"time"

	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/socketio"
)

// expiry ends a socket's session when its token stops being valid; a
// refreshed token moves the deadline.
type expiry struct {
	mu    sync.Mutex
	timer *time.Timer // nil: no deadline, or stopped
	end   func()
}

// reset sets the deadline to until (none when zero).
func (x *expiry) reset(until time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.timer != nil {
		x.timer.Stop()
		x.timer = nil
	}
	if !until.IsZero() {
		x.timer = time.AfterFunc(time.Until(until), x.end)
	}
}

func (x *expiry) stop() { x.reset(time.Time{}) }

// enforceExpiry ends the socket's session when its token stops being
// valid: an "auth:expired" event tells the client to get a new token,
// then the namespace is disconnected (the client does not reconnect by
// itself with the stale token). auth:refresh moves the deadline.
func (s *Service) enforceExpiry(sock *socketio.Socket, u auth.User) *expiry {
	x := &expiry{end: func() {
		s.metrics.errors.WithLabelValues("auth_expired").Inc()
		_ = sock.Emit("auth:expired", map[string]any{"message": "Token expired"})
		sock.Disconnect(false)
	}}
	x.reset(u.ValidUntil)
	sock.On("auth:refresh", s.guard(func(e *socketio.Event) { s.refreshToken(e, x) }))
	return x
}

// refreshToken answers auth:refresh {token} with {ok, expiresAt}: a token
// of the same user, valid and not revoked, replaces the connection's, so
// that expiry follows the new one without reconnecting. Anything else is
// {error: "Invalid token"} and changes nothing.
func (s *Service) refreshToken(e *socketio.Event, x *expiry) {
	var in struct {
		Token *string `json:"token"`
	}
	refuse := func() {
		s.metrics.errors.WithLabelValues("auth_refresh_refused").Inc()
		_ = e.Ack(map[string]any{"error": "Invalid token"})
	}
	if e.Args.Decode(0, &in) != nil || in.Token == nil || *in.Token == "" {
		refuse()
		return
	}
	old, _ := auth.UserOf(e.Socket)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u, err := s.verifier.Verify(ctx, *in.Token)
	if err != nil || u.ID != old.ID || s.revoked.revoked(u) {
		refuse()
		return
	}
	// Same user: keep what the connection was given (name, roles and
	// their rooms); the token's validity is what changes.
	old.ValidUntil, old.IssuedAt = u.ValidUntil, u.IssuedAt
	auth.Attach(e.Socket, old)
	x.reset(u.ValidUntil)
	var until any
	if !u.ValidUntil.IsZero() {
		until = u.ValidUntil.UTC().Format(time.RFC3339)
	}
	_ = e.Ack(map[string]any{"ok": true, "expiresAt": until})
}
