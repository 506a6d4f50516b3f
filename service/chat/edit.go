package chat

import (
	"strings"
	"unicode/utf8"

	"github.com/heraldio/herald/service/store"
	"github.com/heraldio/herald/socketio"
)

// editArgs reads {roomId, messageId, content?} and checks that the user
// may read the room.
func (c *Chat) editArgs(e *socketio.Event, withContent bool) (roomID, id, content string, err error) {
	var in struct {
		RoomID    *string `json:"roomId"`
		MessageID *string `json:"messageId"`
		Content   *string `json:"content"`
	}
	if !objectArg(e, &in) || in.RoomID == nil || in.MessageID == nil || *in.RoomID == "" || *in.MessageID == "" ||
		len(*in.RoomID) > store.MaxIDLen || len(*in.MessageID) > store.MaxIDLen || (withContent && in.Content == nil) {
		return "", "", "", errBadRequest
	}
	if withContent {
		content = strings.TrimSpace(*in.Content)
		switch {
		case content == "":
			return "", "", "", errEmpty
		case utf8.RuneCountInString(content) > c.opts.MaxLength || !utf8.ValidString(content):
			return "", "", "", errTooLong
		}
	}
	if !joined(e.Socket, *in.RoomID) {
		if _, err := c.access(*in.RoomID, user(e.Socket).ID); err != nil {
			return "", "", "", err
		}
	}
	return *in.RoomID, *in.MessageID, content, nil
}

// editMessage answers edit-message {roomId, messageId, content} with
// {message}: the author changes their message, and the room gets
// message-updated.
func (c *Chat) editMessage(e *socketio.Event) {
	c.change(e, true)
}

// deleteMessage answers delete-message {roomId, messageId} with {ok}: the
// author deletes their message, and the room gets message-deleted
// {id, roomId}.
func (c *Chat) deleteMessage(e *socketio.Event) {
	c.change(e, false)
}

func (c *Chat) change(e *socketio.Event, edit bool) {
	roomID, id, content, err := c.editArgs(e, edit)
	if err != nil {
		fail(e, err)
		return
	}
	u := user(e.Socket)
	cx, cancel := c.ctx()
	defer cancel()
	var m store.Message
	if edit {
		m, err = c.opts.Store.EditMessage(cx, roomID, id, u.ID, content)
	} else {
		m, err = c.opts.Store.DeleteMessage(cx, roomID, id, u.ID)
	}
	if err != nil {
		fail(e, storeRefusal(err)) // another's message, or none: Access denied
		return
	}
	if edit {
		msg := Wire(m)
		c.emit(c.nsp.To(RoomName(roomID)), "message-updated", msg)
		_ = e.Ack(map[string]any{"message": msg})
		return
	}
	c.emit(c.nsp.To(RoomName(roomID)), "message-deleted", map[string]any{"id": m.ID, "roomId": roomID})
	_ = e.Ack(map[string]any{"ok": true})
}
