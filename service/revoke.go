package service

import (
	"context"
	"sync"
	"time"

	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/socketio"
)

// revocations is this node's copy of the revoked sessions. Every
// connection checks it, so it is kept in memory; the store keeps it for
// every node and across restarts, a server-side event tells the other
// nodes at once, and a reload every few seconds catches what such
// an event missed (Redis away, a node starting).
type revocations struct {
	mu   sync.RWMutex
	at   map[string]time.Time // user id → revoked at
	last time.Time            // the newest revocation loaded
}

// defaultRevocationReload is how often the store is read again: the
// longest a node that missed the event keeps admitting a revoked token.
const defaultRevocationReload = 5 * time.Second

// revoked reports whether u's token was issued at or before its user's
// revocation. "iat" has a precision of one second: a token issued in the
// second of the revocation is refused too, and a token without "iat"
// always is.
func (r *revocations) revoked(u auth.User) bool {
	r.mu.RLock()
	at, ok := r.at[u.ID]
	r.mu.RUnlock()
	return ok && !u.IssuedAt.After(at.Truncate(time.Second))
}

// add records a revocation; it reports whether it is news.
func (r *revocations) add(userID string, at time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if at.After(r.last) {
		r.last = at
	}
	if prev, ok := r.at[userID]; ok && !at.After(prev) {
		return false
	}
	r.at[userID] = at
	return true
}

// revokedEvent tells the other nodes of a revocation: user id, Unix ms.
const revokedEvent = "herald:revoked"

// Revoke refuses the user's tokens issued until now on every node, and
// disconnects the user's sockets everywhere (each gets auth:revoked
// first). It returns the revocation's time.
func (s *Service) Revoke(ctx context.Context, userID string) (time.Time, error) {
	at := time.Now().UTC().Truncate(time.Millisecond)
	if err := s.store.RevokeSessions(ctx, userID, at); err != nil {
		return time.Time{}, err
	}
	s.applyRevocation(userID, at)
	// The others learn it now; if this is lost, they reload it soon.
	if err := s.io.Of("/").ServerSideEmit(ctx, revokedEvent, userID, at.UnixMilli()); err != nil {
		s.log.Warn("revocation: telling the other nodes failed; they reload it from the store", "user", userID, "err", err)
	}
	return at, nil
}

// onRevoked handles another node's revocation.
func (s *Service) onRevoked(args socketio.Args, _ func(...any)) {
	var userID string
	var ms int64
	if args.Decode(0, &userID) != nil || args.Decode(1, &ms) != nil || userID == "" {
		return
	}
	s.applyRevocation(userID, time.UnixMilli(ms).UTC())
}

// applyRevocation records a revocation and disconnects this node's
// sockets of the user whose tokens it covers.
func (s *Service) applyRevocation(userID string, at time.Time) {
	if !s.revoked.add(userID, at) {
		return
	}
	for _, nsp := range []*socketio.Namespace{s.io.Of("/"), s.io.Of("/chat")} {
		for _, id := range nsp.Adapter().Sockets([]string{"user:" + userID}) {
			sock := nsp.Socket(id)
			if sock == nil {
				continue
			}
			if u, ok := auth.UserOf(sock); ok && s.revoked.revoked(u) {
				s.metrics.errors.WithLabelValues("auth_revoked").Inc()
				_ = sock.Emit("auth:revoked", map[string]any{"message": "Session revoked"})
				sock.Disconnect(false)
			}
		}
	}
}

// loadRevocations reads the revocations recorded since the newest one
// known (less a minute, for the nodes' clocks), applying the new ones.
func (s *Service) loadRevocations(ctx context.Context) error {
	s.revoked.mu.RLock()
	since := s.revoked.last
	s.revoked.mu.RUnlock()
	if !since.IsZero() {
		since = since.Add(-time.Minute)
	}
	got, err := s.store.Revocations(ctx, since)
	if err != nil {
		return err
	}
	for id, at := range got {
		s.applyRevocation(id, at)
	}
	return nil
}

// reloadRevocations reloads until stop is closed.
func (s *Service) reloadRevocations(stop <-chan struct{}) {
	every := s.cfg.revocationReload
	if every <= 0 {
		every = defaultRevocationReload
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.StoreTimeout)
		if err := s.loadRevocations(ctx); err != nil {
			s.log.Warn("revocation: reload failed", "err", err)
		}
		cancel()
	}
}
