package chat

import (
	"context"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/service/store"
	"github.com/heraldio/herald/socketio"
)

// Per-room presence is about users, not sockets: presence:room tells a
// room that a user came (their first socket in it, on any node) or went
// (their last). It is read from the cluster's sockets, so it converges
// after a node or Redis restart as the sockets come back.

// inRoom reports whether the user has a socket other than except in the
// room, on any node.
func (c *Chat) inRoom(ctx context.Context, userID, roomID, except string) bool {
	socks, err := c.nsp.In("user:" + userID).FetchSockets(ctx)
	if err != nil {
		return false
	}
	name := RoomName(roomID)
	for _, s := range socks {
		if s.ID != except && slices.Contains(s.Rooms, name) {
			return true
		}
	}
	return false
}

// roomUsers returns the users with a socket in the room, by user id.
func (c *Chat) roomUsers(ctx context.Context, roomID string) ([]Author, error) {
	socks, err := c.nsp.In(RoomName(roomID)).FetchSockets(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	users := []Author{}
	for _, s := range socks {
		id, name := auth.UserOfData(s.Data)
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		users = append(users, Author{ID: id, Name: name})
	}
	sort.Slice(users, func(i, j int) bool { return users[i].ID < users[j].ID })
	return users, nil
}

// arrived sends presence:room {joined: true} unless the user was in the
// room already through another socket.
func (c *Chat) arrived(s *socketio.Socket, roomID string, u auth.User) {
	cx, cancel := c.ctx()
	defer cancel()
	if c.inRoom(cx, u.ID, roomID, s.ID()) {
		return
	}
	c.emitRoomPresence(cx, roomID, u.ID, u.Name, true)
}

// departed sends presence:room {joined: false} once the user has no
// socket left in the room (except is the one leaving).
//
// Two sockets of a user leaving at the same moment on two nodes may each
// see the other still there; so a departure that found another socket is
// looked at once more a little later, and told then if none is left.
func (c *Chat) departed(roomID string, u auth.User, except string) {
	cx, cancel := c.ctx()
	defer cancel()
	if !c.inRoom(cx, u.ID, roomID, except) {
		c.emitRoomPresence(cx, roomID, u.ID, u.Name, false)
		return
	}
	c.departures.Add(1)
	time.AfterFunc(recheckDeparture, func() {
		defer c.departures.Done()
		cx, cancel := c.ctx()
		defer cancel()
		if !c.inRoom(cx, u.ID, roomID, except) {
			c.emitRoomPresence(cx, roomID, u.ID, u.Name, false)
		}
	})
}

// recheckDeparture is how long after a departure that found another of
// the user's sockets in the room it is looked at again.
const recheckDeparture = 500 * time.Millisecond

func (c *Chat) emitRoomPresence(ctx context.Context, roomID, userID, name string, joined bool) {
	ev := map[string]any{"roomId": roomID, "userId": userID, "name": name, "joined": joined}
	if users, err := c.roomUsers(ctx, roomID); err == nil {
		ev["count"] = len(users)
	}
	c.emit(c.nsp.To(RoomName(roomID)), "presence:room", ev)
}

// roomPresence answers room:presence {roomId} with {roomId, users, count}:
// who is in the room now, across the cluster, for those who may read it.
func (c *Chat) roomPresence(e *socketio.Event) {
	roomID, ok := roomArg(e)
	if !ok {
		fail(e, errBadRequest)
		return
	}
	if !joined(e.Socket, roomID) {
		if _, err := c.access(roomID, user(e.Socket).ID); err != nil {
			fail(e, err)
			return
		}
	}
	cx, cancel := c.ctx()
	defer cancel()
	users, err := c.roomUsers(cx, roomID)
	if err != nil {
		fail(e, errInternal)
		return
	}
	list := make([]map[string]any, 0, len(users))
	for _, u := range users {
		list = append(list, map[string]any{"userId": u.ID, "name": u.Name})
	}
	_ = e.Ack(map[string]any{"roomId": roomID, "users": list, "count": len(list)})
}

// leftAll sends presence:room for every chat room a disconnecting socket
// was in, once it is gone.
func (c *Chat) leftAll(rooms []string, u auth.User, sid string) {
	for _, r := range rooms {
		if id, ok := strings.CutPrefix(r, "room:"); ok && len(id) <= store.MaxIDLen {
			c.departed(id, u, sid)
		}
	}
}
