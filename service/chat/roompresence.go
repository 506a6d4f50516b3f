package chat

import (
	"context"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/service/presence"
	"github.com/heraldio/herald/service/store"
	"github.com/heraldio/herald/socketio"
)

// Per-room presence is about users, not sockets: presence:room tells a
// room that a user came (their first socket in it, on any node) or went
// (their last), as Options.Rooms counts them. Who is in a room now
// (room:presence, the count) is read from the cluster's sockets, so it
// converges after a node or Redis restart as the sockets come back.

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

// arrived sends presence:room {joined: true} if the socket is the user's
// first in the room, on any node. Without an answer from Rooms it looks
// at the cluster's sockets instead.
func (c *Chat) arrived(s *socketio.Socket, roomID string, u auth.User) {
	cx, cancel := c.ctx()
	defer cancel()
	first, err := c.opts.Rooms.Enter(cx, roomID, u.ID, s.ID())
	if err != nil {
		c.opts.Logger.Warn("chat: room presence", "room", roomID, "err", err)
		first = !c.inRoom(cx, u.ID, roomID, s.ID())
	}
	if !joined(s, roomID) {
		// Gone meanwhile (a disconnect whose Exit may have come first):
		// undone, and whatever the two together changed is told.
		last, err := c.opts.Rooms.Exit(cx, roomID, u.ID, s.ID())
		if err != nil || first == last {
			return
		}
		c.emitRoomPresence(roomID, u.ID, u.Name, first)
		return
	}
	if first {
		c.emitRoomPresence(roomID, u.ID, u.Name, true)
	}
}

// departed sends presence:room {joined: false} if the socket sid, which
// has left the room, was the user's last there.
//
// It is Rooms that decides, in one step with the count: two of a user's
// sockets leaving at once on two nodes, each looking at the cluster's
// sockets, could each see the other gone (both told the room) or each
// see the other still there (neither did).
func (c *Chat) departed(roomID string, u auth.User, sid string) {
	cx, cancel := c.ctx()
	defer cancel()
	last, err := c.opts.Rooms.Exit(cx, roomID, u.ID, sid)
	if err != nil {
		c.opts.Logger.Warn("chat: room presence", "room", roomID, "err", err)
		last = !c.inRoom(cx, u.ID, roomID, sid)
	}
	if last {
		c.emitRoomPresence(roomID, u.ID, u.Name, false)
	}
}

// lapsed sends presence:room {joined: false}, in the background, for the
// users whose last socket in a room lapsed (its node died, and no Exit
// came): Rooms tells one node only, so the room is told once.
func (c *Chat) lapsed(ls []presence.Lapse) {
	c.departures.Add(1)
	go func() {
		defer c.departures.Done()
		for _, l := range ls {
			cx, cancel := c.clusterCtx()
			name := c.userName(cx, l.User)
			cancel()
			c.emitRoomPresence(l.Room, l.User, name, false)
		}
	}()
}

// arrivedAll sends presence:room for the chat rooms a socket is in that
// it came to without join-room (a recovered session, sync-state), in the
// background.
func (c *Chat) arrivedAll(s *socketio.Socket, rooms []string) {
	u := user(s)
	c.departures.Add(1)
	go func() {
		defer c.departures.Done()
		for _, r := range rooms {
			if id, ok := strings.CutPrefix(r, "room:"); ok && len(id) <= store.MaxIDLen {
				c.arrived(s, id, u)
			}
		}
	}()
}

// clusterTimeout bounds a request to every node (the sockets in a room):
// on a loaded cluster it takes longer than a store call.
const clusterTimeout = 5 * time.Second

func (c *Chat) clusterCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), max(c.opts.StoreTimeout, clusterTimeout))
}

func (c *Chat) emitRoomPresence(roomID, userID, name string, joined bool) {
	ev := map[string]any{"roomId": roomID, "userId": userID, "name": name, "joined": joined}
	cx, cancel := c.clusterCtx()
	defer cancel()
	if users, err := c.roomUsers(cx, roomID); err == nil {
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
	cx, cancel := c.clusterCtx()
	defer cancel()
	users, err := c.roomUsers(cx, roomID)
	if err != nil {
		c.opts.Logger.Warn("chat: room presence", "room", roomID, "err", err)
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
