// Package presence tracks who is online: a user is online while any of
// their connections (tabs, devices) is, stays so for a grace period after
// the last one leaves (a reload or a reconnect does not flap), and may set
// a status (online, away, busy). Changes are reported to a callback; the
// time a user was last seen is kept.
package presence

import (
	"sort"
	"sync"
	"time"
)

// Statuses.
const (
	Online  = "online"
	Away    = "away"
	Busy    = "busy"
	Offline = "offline"
)

// ValidStatus reports whether a client may set status s.
func ValidStatus(s string) bool { return s == Online || s == Away || s == Busy }

// Entry is one user's presence.
type Entry struct {
	UserID   string    `json:"userId"`
	Name     string    `json:"name"`
	Status   string    `json:"status"`
	LastSeen time.Time `json:"lastSeen"`
}

// Tracker is the presence of the users of one node. A cluster variant
// implements the same methods over shared state. Its methods are safe for
// concurrent use; OnChange is called without locks held.
type Tracker interface {
	// Connect records a new connection of a user; it reports whether the
	// user came online.
	Connect(userID, name string) bool
	// Disconnect records that a connection of the user closed.
	Disconnect(userID string)
	// SetStatus sets a connected user's status.
	SetStatus(userID, status string) bool
	// List returns the users currently online (any status but offline).
	List() []Entry
	// Close stops pending timers.
	Close()
}

// Local is the single-node Tracker.
type Local struct {
	grace    time.Duration
	onChange func(Entry)

	mu     sync.Mutex
	users  map[string]*user
	closed bool
}

type user struct {
	Entry
	conns int
	timer *time.Timer // pending offline
}

// NewLocal returns a Tracker that reports changes to onChange and waits
// grace before a user whose last connection closed goes offline.
func NewLocal(grace time.Duration, onChange func(Entry)) *Local {
	return &Local{grace: grace, onChange: onChange, users: make(map[string]*user)}
}

func (l *Local) Connect(userID, name string) bool {
	l.mu.Lock()
	u := l.users[userID]
	if u == nil {
		u = &user{Entry: Entry{UserID: userID, Name: name, Status: Offline}}
		l.users[userID] = u
	}
	u.conns++
	u.Name = name
	u.LastSeen = time.Now().UTC()
	if u.timer != nil {
		u.timer.Stop()
		u.timer = nil
	}
	came := u.Status == Offline
	if came {
		u.Status = Online
	}
	e := u.Entry
	l.mu.Unlock()
	if came {
		l.onChange(e)
	}
	return came
}

func (l *Local) Disconnect(userID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.users[userID]
	if u == nil || u.conns == 0 {
		return
	}
	u.conns--
	u.LastSeen = time.Now().UTC()
	if u.conns > 0 || l.closed {
		return
	}
	u.timer = time.AfterFunc(l.grace, func() { l.expire(userID, u) })
}

func (l *Local) expire(userID string, u *user) {
	l.mu.Lock()
	if l.users[userID] != u || u.conns > 0 || u.Status == Offline {
		l.mu.Unlock()
		return
	}
	u.Status = Offline
	u.timer = nil
	e := u.Entry
	l.mu.Unlock()
	l.onChange(e)
}

func (l *Local) SetStatus(userID, status string) bool {
	if !ValidStatus(status) {
		return false
	}
	l.mu.Lock()
	u := l.users[userID]
	if u == nil || u.conns == 0 || u.Status == status {
		l.mu.Unlock()
		return u != nil && u.conns > 0
	}
	u.Status = status
	e := u.Entry
	l.mu.Unlock()
	l.onChange(e)
	return true
}

func (l *Local) List() []Entry {
	l.mu.Lock()
	out := make([]Entry, 0, len(l.users))
	for _, u := range l.users {
		if u.Status != Offline {
			out = append(out, u.Entry)
		}
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
	return out
}

func (l *Local) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for _, u := range l.users {
		if u.timer != nil {
			u.timer.Stop()
		}
	}
}
