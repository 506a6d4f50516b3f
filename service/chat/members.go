package chat

import (
	"errors"

	"github.com/heraldio/herald/service/store"
	"github.com/heraldio/herald/socketio"
)

// memberArgs reads {roomId, userId}; withUser says userId is required.
func memberArgs(e *socketio.Event, withUser bool) (roomID, userID string, ok bool) {
	var in struct {
		RoomID *string `json:"roomId"`
		UserID *string `json:"userId"`
		After  string  `json:"after"`
	}
	if !objectArg(e, &in) || in.RoomID == nil || *in.RoomID == "" || len(*in.RoomID) > store.MaxIDLen {
		return "", "", false
	}
	if withUser {
		if in.UserID == nil || *in.UserID == "" || len(*in.UserID) > store.MaxIDLen {
			return "", "", false
		}
		return *in.RoomID, *in.UserID, true
	}
	return *in.RoomID, in.After, true
}

// owned returns the room if the user created it; anything else (a room
// that does not exist, one of another owner, a DM) is Access denied.
func (c *Chat) owned(roomID, userID string) (store.Room, error) {
	room, err := c.access(roomID, userID)
	if err != nil {
		return room, err
	}
	if room.CreatedBy == "" || room.CreatedBy != userID {
		return room, errAccessDenied
	}
	return room, nil
}

// invite answers room:invite {roomId, userId}: the room's owner makes the
// user a member; the user's sockets join it and get rooms:added, and the
// user a notification.
func (c *Chat) invite(e *socketio.Event) {
	roomID, userID, ok := memberArgs(e, true)
	if !ok {
		fail(e, errBadRequest)
		return
	}
	u := user(e.Socket)
	room, err := c.owned(roomID, u.ID)
	if err != nil {
		fail(e, err)
		return
	}
	// The invitee's name may be asked of every node: a cluster's bound.
	cx, cancel := c.clusterCtx()
	defer cancel()
	invitee := Author{ID: userID, Name: c.userName(cx, userID)}
	if err := c.addMember(cx, room, invitee, Author{ID: u.ID, Name: u.Name}); err != nil {
		fail(e, storeRefusal(err))
		return
	}
	_ = e.Ack(map[string]any{"ok": true})
}

// removeMember answers room:remove {roomId, userId}: the owner ends
// another user's membership.
func (c *Chat) removeMember(e *socketio.Event) {
	roomID, userID, ok := memberArgs(e, true)
	u := user(e.Socket)
	if !ok || userID == u.ID {
		fail(e, errBadRequest) // the owner leaves with room:leave
		return
	}
	if _, err := c.owned(roomID, u.ID); err != nil {
		fail(e, err)
		return
	}
	cx, cancel := c.ctx()
	defer cancel()
	if err := c.RemoveMember(cx, roomID, userID); err != nil {
		fail(e, storeRefusal(err))
		return
	}
	_ = e.Ack(map[string]any{"ok": true})
}

// leaveMembership answers room:leave {roomId}: the user stops being a
// member (leave-room only takes one socket out of the room).
func (c *Chat) leaveMembership(e *socketio.Event) {
	roomID, _, ok := memberArgs(e, false)
	if !ok {
		fail(e, errBadRequest)
		return
	}
	u := user(e.Socket)
	if _, err := c.access(roomID, u.ID); err != nil {
		fail(e, err)
		return
	}
	cx, cancel := c.ctx()
	defer cancel()
	if err := c.RemoveMember(cx, roomID, u.ID); err != nil {
		fail(e, storeRefusal(err))
		return
	}
	_ = e.Ack(map[string]any{"ok": true})
}

// members answers room:members {roomId, after?} with {members, nextCursor}:
// a page of up to 100 member ids, for those who may read the room.
func (c *Chat) members(e *socketio.Event) {
	roomID, after, ok := memberArgs(e, false)
	if !ok {
		fail(e, errBadRequest)
		return
	}
	if _, err := c.access(roomID, user(e.Socket).ID); err != nil {
		fail(e, err)
		return
	}
	cx, cancel := c.ctx()
	defer cancel()
	ids, err := c.opts.Store.RoomMembers(cx, roomID, after, store.MaxLimit)
	if err != nil {
		fail(e, storeRefusal(err))
		return
	}
	var next any
	if len(ids) == store.MaxLimit {
		next = ids[len(ids)-1]
	}
	_ = e.Ack(map[string]any{"members": ids, "nextCursor": next})
}

// storeRefusal is what a client is told of a store error.
func storeRefusal(err error) error {
	if errors.Is(err, store.ErrInvalid) {
		return errBadRequest
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, ErrRoomNotFound) {
		return errAccessDenied
	}
	return errInternal
}
