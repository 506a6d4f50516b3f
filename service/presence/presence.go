// Package presence tracks who is online: a user is online while any of
// their connections (tabs, devices) is, stays so for a grace period after
// the last one leaves (a reload or a reconnect does not flap), and may set
// a status (online, away, busy). Changes are reported to a callback; the
// time a user was last seen is kept.
//
// Each user also has audience rooms: the rooms whose members may see the
// user's presence (the service's "rooms" audience puts a user's chat rooms
// there). A Batcher gathers the changes of a short tick into one, and
// Page serves the online users a page at a time, to everyone or to the
// members of some rooms.
package presence

import (
	"slices"
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
	// Rooms are the user's audience rooms, sorted; never sent to clients
	// (a private room's id is nobody else's business).
	Rooms []string `json:"-"`
}

// Change is a change of one user's presence.
type Change struct {
	Entry
	// Was is the status before the change. A change whose status is Was
	// only adds audience rooms (Joined).
	Was string
	// Joined are the audience rooms the user gained, whose members must now
	// learn the user's presence.
	Joined []string
}

// Tracker is the presence of the users of one node. A cluster variant
// implements the same methods over shared state. Its methods are safe for
// concurrent use; the change callback is called without locks held.
type Tracker interface {
	// Connect records a new connection of a user, whose audience rooms
	// are added to the user's; it reports whether the user came online.
	Connect(userID, name string, rooms []string) bool
	// Disconnect records that a connection of the user closed.
	Disconnect(userID string)
	// SetStatus sets a connected user's status.
	SetStatus(userID, status string) bool
	// Join adds audience rooms to an online user of this node (a no-op for
	// any other user).
	Join(userID string, rooms ...string)
	// List returns the users currently online (any status but offline),
	// ordered by user id. The slice is shared: callers must not modify it.
	List() []Entry
	// Close stops pending timers.
	Close()
}

// Local is the single-node Tracker.
type Local struct {
	grace    time.Duration
	onChange func(Change)

	mu     sync.Mutex
	users  map[string]*user
	closed bool
	list   []Entry // List's answer; nil after a change
}

type user struct {
	Entry
	conns int
	timer *time.Timer // pending offline
}

// NewLocal returns a Tracker that reports changes to onChange and waits
// grace before a user whose last connection closed goes offline.
func NewLocal(grace time.Duration, onChange func(Change)) *Local {
	return &Local{grace: grace, onChange: onChange, users: make(map[string]*user)}
}

// addRooms merges rooms into the sorted set of u and returns those it did
// not have. The set is replaced, never modified: entries handed out keep
// theirs.
func (u *user) addRooms(rooms []string) (added []string) {
	for _, r := range rooms {
		if _, found := slices.BinarySearch(u.Rooms, r); !found && !slices.Contains(added, r) {
			added = append(added, r)
		}
	}
	if len(added) > 0 {
		u.Rooms = slices.Sorted(slices.Values(append(slices.Clone(u.Rooms), added...)))
	}
	return added
}

// Connect implements Tracker.Connect.
func (l *Local) Connect(userID, name string, rooms []string) bool {
	l.mu.Lock()
	u := l.users[userID]
	if u == nil {
		u = &user{Entry: Entry{UserID: userID, Name: name, Status: Offline}}
		l.users[userID] = u
	}
	u.conns++
	u.Name = name
	u.LastSeen = now()
	if u.timer != nil {
		u.timer.Stop()
		u.timer = nil
	}
	added := u.addRooms(rooms)
	was := u.Status
	if was == Offline {
		u.Status = Online
	}
	l.list = nil
	c := Change{Entry: u.Entry, Was: was, Joined: added}
	l.mu.Unlock()
	if was == Offline || len(added) > 0 {
		l.onChange(c)
	}
	return was == Offline
}

// Disconnect implements Tracker.Disconnect: the user goes offline after
// the grace once their last connection has closed.
func (l *Local) Disconnect(userID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.users[userID]
	if u == nil || u.conns == 0 {
		return
	}
	u.conns--
	u.LastSeen = now()
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
	c := Change{Entry: u.Entry, Was: u.Status}
	c.Status = Offline
	// Gone: the entry is reported, and forgotten so that the map holds
	// only the users online or in their grace period.
	delete(l.users, userID)
	l.list = nil
	l.mu.Unlock()
	l.onChange(c)
}

// SetStatus implements Tracker.SetStatus.
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
	c := Change{Entry: u.Entry, Was: u.Status}
	u.Status, c.Status = status, status
	l.list = nil
	l.mu.Unlock()
	l.onChange(c)
	return true
}

// Join implements Tracker.Join.
func (l *Local) Join(userID string, rooms ...string) {
	l.mu.Lock()
	u := l.users[userID]
	if u == nil || u.Status == Offline {
		l.mu.Unlock()
		return
	}
	added := u.addRooms(rooms)
	if len(added) == 0 {
		l.mu.Unlock()
		return
	}
	l.list = nil
	c := Change{Entry: u.Entry, Was: u.Status, Joined: added}
	l.mu.Unlock()
	l.onChange(c)
}

// List returns the online users; the sorted slice is kept until the next
// change, so that pages asked for together cost one sort.
func (l *Local) List() []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.list != nil {
		return l.list
	}
	out := make([]Entry, 0, len(l.users))
	for _, u := range l.users {
		if u.Status != Offline {
			out = append(out, u.Entry)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
	l.list = out
	return out
}

// Close implements Tracker.Close.
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

// now is a LastSeen: to the millisecond, as clients read it (and 6 bytes
// fewer per entry sent).
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }
