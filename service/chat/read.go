package chat

import (
	"errors"

	"github.com/heraldio/herald/service/store"
	"github.com/heraldio/herald/socketio"
)

// markRead answers mark-read {roomId, messageId} with {ok, lastReadId}:
// the user's read position in the room moves forward to the message. When
// it moved, the user's chat sockets (every tab, on every node) get
// read-state {roomId, lastReadId, unread}, and the room's other members
// read-receipt {roomId, userId, messageId} unless receipts are off.
func (c *Chat) markRead(e *socketio.Event) {
	var in struct {
		RoomID    *string `json:"roomId"`
		MessageID *string `json:"messageId"`
	}
	if !objectArg(e, &in) || in.RoomID == nil || in.MessageID == nil || *in.RoomID == "" || *in.MessageID == "" ||
		len(*in.RoomID) > store.MaxIDLen || len(*in.MessageID) > store.MaxIDLen {
		fail(e, errBadRequest)
		return
	}
	u := user(e.Socket)
	roomID := *in.RoomID
	if !joined(e.Socket, roomID) {
		if _, err := c.access(roomID, u.ID); err != nil {
			fail(e, err)
			return
		}
	}
	cx, cancel := c.ctx()
	defer cancel()
	moved, err := c.opts.Store.MarkRoomRead(cx, roomID, u.ID, *in.MessageID)
	if errors.Is(err, store.ErrInvalid) {
		fail(e, errBadRequest) // not a message of the room
		return
	}
	if err != nil {
		fail(e, errInternal)
		return
	}
	st, err := c.opts.Store.ReadState(cx, u.ID, []string{roomID})
	if err != nil {
		fail(e, errInternal)
		return
	}
	state := map[string]any{"roomId": roomID, "lastReadId": st[roomID].LastReadID, "unread": st[roomID].Unread}
	if moved {
		c.emit(c.nsp.To("user:"+u.ID), "read-state", state)
		if !c.opts.NoReadReceipts {
			c.emit(c.nsp.To(RoomName(roomID)).Except("user:"+u.ID), "read-receipt",
				map[string]any{"roomId": roomID, "userId": u.ID, "name": u.Name, "messageId": *in.MessageID})
		}
	}
	_ = e.Ack(map[string]any{"ok": true, "lastReadId": state["lastReadId"], "unread": state["unread"]})
}

// readState adds unread and lastReadId to the rooms of a rooms:list page
// the user is a member of.
func (c *Chat) readState(e *socketio.Event, rooms []map[string]any) {
	var ids []string
	for _, r := range rooms {
		if r["member"] == true {
			ids = append(ids, r["id"].(string))
		}
	}
	if len(ids) == 0 {
		return
	}
	cx, cancel := c.ctx()
	defer cancel()
	st, err := c.opts.Store.ReadState(cx, user(e.Socket).ID, ids)
	if err != nil {
		return // the list without counts beats no list
	}
	for _, r := range rooms {
		if rr, ok := st[r["id"].(string)]; ok {
			r["unread"] = rr.Unread
			if rr.LastReadID != "" {
				r["lastReadId"] = rr.LastReadID
			}
		}
	}
}
