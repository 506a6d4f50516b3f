package chat

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/service/store"
)

// Errors of the operations a backend calls (Post, History, CreateRoom,
// AddMember, RemoveMember). The refusals are the ones clients read.
var (
	ErrRoomNotFound       = errors.New("chat: room not found")
	ErrAccessDenied error = errAccessDenied
	ErrEmpty        error = errEmpty
	ErrTooLong      error = errTooLong
	ErrBadName            = errors.New("chat: a room name is 1 to 64 characters")
	// ErrUnavailable: the store failed recently and is given a rest.
	ErrUnavailable = errStoreDown
)

// PostOptions are the optional settings of Post.
type PostOptions struct {
	// AsUser: the author must be able to read the room (public, or a
	// member), as a client must; a system message need not.
	AsUser bool
	// ClientID makes the post idempotent, as send-message's clientId: a
	// retry with the same author and id returns the message stored the
	// first time, and Duplicate says so; nothing is broadcast again.
	ClientID string
}

// Post stores a message by author in the room and broadcasts it as
// send-message does (new-message to the room, the author's typing
// indicator ended); see PostOptions. duplicate is true when o.ClientID
// named a message stored before, which is returned.
func (c *Chat) Post(ctx context.Context, roomID string, author Author, content string, o PostOptions) (msg Message, duplicate bool, err error) {
	content = strings.TrimSpace(content)
	switch {
	case content == "":
		return Message{}, false, errEmpty
	case utf8.RuneCountInString(content) > c.opts.MaxLength || !utf8.ValidString(content):
		return Message{}, false, errTooLong
	case len(o.ClientID) > store.MaxIDLen:
		return Message{}, false, errBadRequest
	}
	room, err := c.Room(ctx, roomID)
	if err != nil {
		return Message{}, false, err
	}
	if o.AsUser && !room.Public {
		ok, err := c.opts.Store.IsMember(ctx, roomID, author.ID)
		if err != nil {
			return Message{}, false, err
		}
		if !ok {
			return Message{}, false, errAccessDenied
		}
	}
	return c.publishOnce(ctx, store.Message{RoomID: roomID, AuthorID: author.ID, AuthorName: author.Name, Content: content, ClientID: o.ClientID})
}

// publish stores m and broadcasts it to its room. A retry of a message
// stored before (the same author and client id) returns that message and
// broadcasts nothing: the first call did.
func (c *Chat) publish(ctx context.Context, m store.Message) (Message, error) {
	msg, _, err := c.publishOnce(ctx, m)
	return msg, err
}

// publishOnce is publish, saying whether m's client id named a message
// stored before.
func (c *Chat) publishOnce(ctx context.Context, m store.Message) (Message, bool, error) {
	start := time.Now()
	m, err := c.opts.Store.CreateMessage(ctx, m)
	c.opts.OnPersist(time.Since(start))
	if errors.Is(err, store.ErrDuplicate) {
		return Wire(m), true, nil
	}
	if err != nil {
		if !errors.Is(err, store.ErrExists) && !errors.Is(err, store.ErrInvalid) {
			c.opts.Logger.Error("chat: store message", "room", m.RoomID, "err", err)
		}
		return Message{}, false, err
	}
	c.stopTyping(nil, m.RoomID, auth.User{ID: m.AuthorID})
	msg := Wire(m)
	c.emit(c.nsp.To(RoomName(m.RoomID)), "new-message", msg)
	if h := c.opts.Hooks.MessageCreated; h != nil {
		h(msg)
	}
	return msg, false, nil
}

// Room returns the room, or ErrRoomNotFound.
func (c *Chat) Room(ctx context.Context, id string) (store.Room, error) {
	room, err := c.room(ctx, id)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return room, ErrRoomNotFound
	}
	return room, err
}

// History returns a page of the room's messages, newest first, and the
// cursor of the next page ("" after the last).
func (c *Chat) History(ctx context.Context, roomID, before string, limit int) ([]Message, string, error) {
	if _, err := c.Room(ctx, roomID); err != nil {
		return nil, "", err
	}
	msgs, next, err := c.opts.Store.History(ctx, roomID, before, limit)
	if err != nil {
		return nil, "", err
	}
	return WireAll(msgs), next, nil
}

// CreateRoom creates a room (with a new id when r.ID is empty); its
// creator, if any, becomes a member. A taken id fails with
// store.ErrExists.
func (c *Chat) CreateRoom(ctx context.Context, r store.Room) (store.Room, error) {
	r.Name = strings.TrimSpace(r.Name)
	if r.Name == "" || utf8.RuneCountInString(r.Name) > 64 {
		return store.Room{}, ErrBadName
	}
	if IsDM(r.ID) {
		return store.Room{}, ErrReservedID
	}
	room, err := c.opts.Store.CreateRoom(ctx, r)
	if err != nil {
		return store.Room{}, err
	}
	if r.CreatedBy != "" {
		if err := c.opts.Store.AddMember(ctx, room.ID, r.CreatedBy); err != nil {
			return room, err
		}
	}
	if h := c.opts.Hooks.RoomCreated; h != nil {
		h(room)
	}
	return room, nil
}

// AddMember makes the user a member of the room (so a private room
// admits them); the user's connected sockets, on every node, join it at
// once and get rooms:added, its members get user-joined, and the user a
// notification of the invitation.
func (c *Chat) AddMember(ctx context.Context, roomID string, u Author) error {
	room, err := c.Room(ctx, roomID)
	if err != nil {
		return err
	}
	return c.addMember(ctx, room, u, Author{})
}

// addMember is AddMember for a room already read, by the user by (none:
// a backend).
func (c *Chat) addMember(ctx context.Context, room store.Room, u, by Author) error {
	roomID := room.ID
	if err := c.opts.Store.AddMember(ctx, roomID, u.ID); err != nil && !errors.Is(err, store.ErrExists) {
		return err
	}
	c.nsp.In("user:" + u.ID).SocketsJoin(RoomName(roomID))
	c.emit(c.nsp.To(RoomName(roomID)).Except("user:"+u.ID), "user-joined", map[string]any{"userId": u.ID, "name": u.Name, "roomId": roomID})
	entry := roomJSON(room)
	entry["member"] = true
	c.emit(c.nsp.To("user:"+u.ID), "rooms:added", map[string]any{"room": entry})
	if c.opts.Notify != nil && by.ID != u.ID {
		msg := "You were added to " + room.Name
		if by.Name != "" {
			msg = by.Name + " invited you to " + room.Name
		}
		c.opts.Notify(ctx, u.ID, "invitation", "Invited to "+room.Name, msg)
	}
	if h := c.opts.Hooks.MemberJoined; h != nil {
		h(roomID, u)
	}
	return nil
}

// RemoveMember ends the user's membership: their sockets leave the room
// on every node (a private room's messages no longer reach them) and get
// rooms:removed, and its members get user-left.
func (c *Chat) RemoveMember(ctx context.Context, roomID, userID string) error {
	if _, err := c.Room(ctx, roomID); err != nil {
		return err
	}
	if err := c.opts.Store.RemoveMember(ctx, roomID, userID); err != nil {
		return err
	}
	c.stopTyping(nil, roomID, auth.User{ID: userID})
	c.nsp.In("user:" + userID).SocketsLeave(RoomName(roomID))
	c.emit(c.nsp.To(RoomName(roomID)).Except("user:"+userID), "user-left", map[string]any{"userId": userID, "roomId": roomID})
	c.emit(c.nsp.To("user:"+userID), "rooms:removed", map[string]any{"roomId": roomID})
	if h := c.opts.Hooks.MemberLeft; h != nil {
		h(roomID, Author{ID: userID})
	}
	return nil
}
