package presence

import (
	"context"
	"sync"
)

// Rooms counts the sockets each user has in each chat room, atomically:
// of a user's sockets entering a room together exactly one is told it is
// the first, and of those leaving together exactly one that it is the
// last, whichever nodes they are on. Per-room presence (presence:room) is
// told from what it answers, so a user's arrival and departure are each
// told once. LocalRooms serves one node, ClusterRooms a cluster over
// Redis. Its methods are safe for concurrent use.
type Rooms interface {
	// Enter records the socket sid of user in room; first reports
	// whether it is the user's only socket there now. Entering again
	// changes nothing and is not first.
	Enter(ctx context.Context, room, user, sid string) (first bool, err error)
	// Exit forgets the socket; last reports whether it was there and the
	// user has no other socket left in the room.
	Exit(ctx context.Context, room, user, sid string) (last bool, err error)
}

// Lapsing is a Rooms whose sockets can lapse without an Exit (their node
// died): it tells one node of the cluster of each user gone from a room
// that way, to tell the room.
type Lapsing interface {
	Rooms
	// OnLapse sets the function told of the users gone; it must not block.
	OnLapse(fn func([]Lapse))
}

// Lapse is a user whose last socket in a room lapsed.
type Lapse struct{ Room, User string }

var (
	_ Rooms   = (*LocalRooms)(nil)
	_ Lapsing = (*ClusterRooms)(nil)
)

type roomUser struct{ room, user string }

// LocalRooms is the Rooms of a single node, in memory.
type LocalRooms struct {
	mu    sync.Mutex
	socks map[roomUser]map[string]struct{}
}

// NewLocalRooms returns an empty LocalRooms.
func NewLocalRooms() *LocalRooms {
	return &LocalRooms{socks: make(map[roomUser]map[string]struct{})}
}

// Enter implements Rooms.
func (r *LocalRooms) Enter(_ context.Context, room, user, sid string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return addSocket(r.socks, roomUser{room, user}, sid), nil
}

// Exit implements Rooms.
func (r *LocalRooms) Exit(_ context.Context, room, user, sid string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return removeSocket(r.socks, roomUser{room, user}, sid), nil
}

// addSocket adds sid to the set of k and reports whether it is the only
// one there now.
func addSocket(m map[roomUser]map[string]struct{}, k roomUser, sid string) bool {
	set := m[k]
	if set == nil {
		set = make(map[string]struct{}, 1)
		m[k] = set
	}
	if _, ok := set[sid]; ok {
		return false
	}
	set[sid] = struct{}{}
	return len(set) == 1
}

// removeSocket removes sid from the set of k and reports whether it was
// there and the set is empty now.
func removeSocket(m map[roomUser]map[string]struct{}, k roomUser, sid string) bool {
	set := m[k]
	if _, ok := set[sid]; !ok {
		return false
	}
	delete(set, sid)
	if len(set) > 0 {
		return false
	}
	delete(m, k)
	return true
}
