// Package chat is Herald's chat namespace: rooms with access control,
// messages persisted before they are broadcast, history paging, typing
// indicators that expire on their own, and re-sync after a reconnect. The
// event names and payloads are those of the seed's useChat hook.
package chat

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/service/presence"
	"github.com/heraldio/herald/service/store"
	"github.com/heraldio/herald/socketio"
)

// Options configures the chat namespace. Zero fields take the defaults.
type Options struct {
	Store store.Store
	// MaxLength of a message, in characters. Default 4000.
	MaxLength int
	// TypingTimeout ends a typing indicator whose client never said stop.
	// Default 5s.
	TypingTimeout time.Duration
	// MaxRoomsPerUser caps the rooms one user may create (0: none may).
	MaxRoomsPerUser int
	// MaxSyncRooms caps the rooms one sync-state call re-joins and
	// re-syncs. Default 200.
	MaxSyncRooms int
	// StoreTimeout bounds each store call of an event. Default 1s.
	StoreTimeout time.Duration
	// OnPersist observes how long storing a message took.
	OnPersist func(time.Duration)
	// OnEmit counts the events the chat sends.
	OnEmit func(event string)
	// OnJoin is told when a socket joins a room it was not in (the user is
	// a member from then on), after the join.
	OnJoin func(s *socketio.Socket, roomID string)
	// Hooks are told what happened (for webhooks).
	Hooks Hooks
	// NoReadReceipts turns read-receipt off: members are not told what
	// the others read (read-state still reaches the user's own tabs).
	NoReadReceipts bool
	// Rooms counts the users' sockets in each room, for presence:room
	// (default: in memory, for one node).
	Rooms presence.Rooms
	// Notify sends the user a notification (an invitation to a room).
	Notify func(ctx context.Context, userID, kind, title, message string)
	Logger *slog.Logger
}

// Hooks are told what happened in the chat, after it did, whether a
// client or a backend did it; nil fields are skipped. They must not
// block.
type Hooks struct {
	MessageCreated func(Message)
	RoomCreated    func(store.Room)
	// MemberJoined and MemberLeft follow user-joined and user-left: a
	// socket joining or leaving the room, a backend adding or removing a
	// member (whose name may then be unknown).
	MemberJoined func(roomID string, u Author)
	MemberLeft   func(roomID string, u Author)
}

// Message is a chat message as clients see it.
type Message struct {
	ID        string `json:"id"`
	RoomID    string `json:"roomId"`
	Content   string `json:"content"`
	Author    Author `json:"author"`
	CreatedAt string `json:"createdAt"`
	// ClientID is the id the author's client gave the message, if any.
	ClientID string `json:"clientId,omitempty"`
	// EditedAt is set on a message edited or deleted; a deleted one has
	// no content.
	EditedAt string `json:"editedAt,omitempty"`
	Deleted  bool   `json:"deleted,omitempty"`
}

// Author of a message.
type Author struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Wire converts a stored message.
func Wire(m store.Message) Message {
	w := Message{ID: m.ID, RoomID: m.RoomID, Content: m.Content, Author: Author{m.AuthorID, m.AuthorName},
		CreatedAt: m.CreatedAt.UTC().Format(timeFormat), ClientID: m.ClientID, Deleted: m.Deleted}
	if !m.EditedAt.IsZero() {
		w.EditedAt = m.EditedAt.UTC().Format(timeFormat)
	}
	return w
}

// WireAll converts stored messages.
func WireAll(msgs []store.Message) []Message {
	out := make([]Message, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, Wire(m))
	}
	return out
}

// timeFormat is JavaScript's toISOString.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// Chat serves the chat events of one namespace.
type Chat struct {
	opts Options
	nsp  *socketio.Namespace

	mu     sync.Mutex
	typing map[typingKey]*time.Timer

	departures sync.WaitGroup // presence:room told in the background, on the way

	// rooms caches the rooms looked up: a room never changes once
	// created, and every access check needs it.
	roomsMu sync.Mutex
	rooms   map[string]store.Room
}

// maxCachedRooms bounds the room cache; it starts again when full.
const maxCachedRooms = 4096

func (c *Chat) room(ctx context.Context, id string) (store.Room, error) {
	c.roomsMu.Lock()
	r, ok := c.rooms[id]
	c.roomsMu.Unlock()
	if ok {
		return r, nil
	}
	r, err := c.opts.Store.GetRoom(ctx, id)
	if err != nil {
		return r, err
	}
	c.rememberRoom(r)
	return r, nil
}

// rememberRoom puts a room just created or read in the cache.
func (c *Chat) rememberRoom(r store.Room) {
	c.roomsMu.Lock()
	if len(c.rooms) >= maxCachedRooms {
		c.rooms = make(map[string]store.Room)
	}
	c.rooms[r.ID] = r
	c.roomsMu.Unlock()
}

type typingKey struct{ room, user string }

// RoomName is the socket.io room of a chat room.
func RoomName(id string) string { return "room:" + id }

// New returns the chat service for nsp. Register its handlers with
// Handlers (the service wraps them with rate limits and metrics).
func New(nsp *socketio.Namespace, opts Options) *Chat {
	if opts.MaxLength <= 0 {
		opts.MaxLength = 4000
	}
	if opts.TypingTimeout <= 0 {
		opts.TypingTimeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.StoreTimeout <= 0 {
		opts.StoreTimeout = time.Second
	}
	opts.Store = newGuardedStore(opts.Store, opts.StoreTimeout)
	if opts.MaxSyncRooms <= 0 {
		opts.MaxSyncRooms = 200
	}
	if opts.OnPersist == nil {
		opts.OnPersist = func(time.Duration) {}
	}
	if opts.OnEmit == nil {
		opts.OnEmit = func(string) {}
	}
	if opts.Rooms == nil {
		opts.Rooms = presence.NewLocalRooms()
	}
	c := &Chat{opts: opts, nsp: nsp, typing: make(map[typingKey]*time.Timer), rooms: make(map[string]store.Room)}
	if l, ok := opts.Rooms.(presence.Lapsing); ok {
		l.OnLapse(c.lapsed)
	}
	nsp.OnConnection(func(s *socketio.Socket) {
		if s.Recovered() {
			c.arrivedAll(s, s.Rooms())
		}
		s.OnDisconnecting(func(socketio.Reason) {
			c.stopAllTyping(s)
			rooms, u, sid := s.Rooms(), user(s), s.ID()
			// After the socket is gone, so that it no longer counts.
			s.OnDisconnect(func(socketio.Reason) {
				c.departures.Add(1)
				go func() { defer c.departures.Done(); c.leftAll(rooms, u, sid) }()
			})
		})
	})
	return c
}

// Handlers returns the chat's event handlers by event name.
func (c *Chat) Handlers() map[string]socketio.EventHandler {
	return map[string]socketio.EventHandler{
		"join-room":      c.joinRoom,
		"leave-room":     c.leaveRoom,
		"send-message":   c.sendMessage,
		"typing-start":   c.typingStart,
		"typing-stop":    c.typingStop,
		"history":        c.history,
		"sync-state":     c.syncState,
		"rooms:list":     c.listRooms,
		"create-room":    c.createRoom,
		"dm:open":        c.openDM,
		"room:invite":    c.invite,
		"room:remove":    c.removeMember,
		"room:leave":     c.leaveMembership,
		"room:members":   c.members,
		"mark-read":      c.markRead,
		"edit-message":   c.editMessage,
		"delete-message": c.deleteMessage,
		"room:presence":  c.roomPresence,
	}
}

func (c *Chat) emit(op socketio.BroadcastOperator, event string, v any) {
	_ = op.Emit(event, v)
	c.opts.OnEmit(event)
}

// Close stops typing timers and waits for the departures being told.
// Options.Rooms should tell of no lapse after it (closed first).
func (c *Chat) Close() {
	c.departures.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, t := range c.typing {
		t.Stop()
		delete(c.typing, k)
	}
}

// refusal is an error whose text the client sees, in the seed's wording.
type refusal string

func (r refusal) Error() string { return string(r) }

const (
	errAccessDenied refusal = "Access denied"
	errBadRequest   refusal = "Invalid payload"
	errNotJoined    refusal = "Join the room first"
	errEmpty        refusal = "Message is empty"
	errTooLong      refusal = "Message is too long"
	errInternal     refusal = "Internal error"
	errRoomLimit    refusal = "Room limit reached"
)

// fail tells the client what went wrong: an "error" event, and the ack
// when the client asked for one.
func fail(e *socketio.Event, err error) {
	_ = e.Socket.Emit("error", map[string]any{"message": err.Error(), "event": e.Name})
	_ = e.Ack(map[string]any{"error": err.Error()})
}

// ctx bounds one store call: a store that hangs costs a client an error
// after StoreTimeout, not a stalled connection.
func (c *Chat) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.opts.StoreTimeout)
}

// roomArg reads a room id given as a string or as {roomId}.
func roomArg(e *socketio.Event) (string, bool) {
	if id, ok := e.Args.String(0); ok {
		return id, id != "" && len(id) <= store.MaxIDLen
	}
	var v struct {
		RoomID string `json:"roomId"`
	}
	if e.Args.Decode(0, &v) != nil || v.RoomID == "" || len(v.RoomID) > store.MaxIDLen {
		return "", false
	}
	return v.RoomID, true
}

func user(s *socketio.Socket) auth.User {
	u, _ := auth.UserOf(s)
	return u
}

func joined(s *socketio.Socket, roomID string) bool {
	name := RoomName(roomID)
	for _, r := range s.Rooms() {
		if r == name {
			return true
		}
	}
	return false
}

// access returns the room if the user may read it. A room that does not
// exist is refused as a private one is, so that ids cannot be probed.
func (c *Chat) access(roomID, userID string) (store.Room, error) {
	cx, cancel := c.ctx()
	defer cancel()
	room, err := c.room(cx, roomID)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return room, errAccessDenied
	}
	if err != nil {
		return room, errInternal
	}
	if room.Public {
		return room, nil
	}
	ok, err := c.opts.Store.IsMember(cx, roomID, userID)
	if err != nil {
		return room, errInternal
	}
	if !ok {
		return room, errAccessDenied
	}
	return room, nil
}

func roomJSON(r store.Room) map[string]any {
	return map[string]any{"id": r.ID, "name": r.Name, "public": r.Public}
}

func (c *Chat) joinRoom(e *socketio.Event) {
	id, ok := roomArg(e)
	if !ok {
		fail(e, errBadRequest)
		return
	}
	u := user(e.Socket)
	room, err := c.access(id, u.ID)
	if err != nil {
		fail(e, err)
		return
	}
	cx, cancel := c.ctx()
	defer cancel()
	if err := c.opts.Store.AddMember(cx, id, u.ID); err != nil && !errors.Is(err, store.ErrExists) {
		c.opts.Logger.Warn("chat: add member", "room", id, "err", err)
	}
	already := joined(e.Socket, id)
	e.Socket.Join(RoomName(id))
	// Counted even if already in (an invitation or a DM joined it from
	// another node): entering again is no change.
	c.arrived(e.Socket, id, u)
	if !already {
		c.emit(e.Socket.To(RoomName(id)), "user-joined", map[string]any{"userId": u.ID, "name": u.Name, "roomId": id})
		if h := c.opts.Hooks.MemberJoined; h != nil {
			h(id, Author{ID: u.ID, Name: u.Name})
		}
		if c.opts.OnJoin != nil {
			c.opts.OnJoin(e.Socket, id)
		}
	}
	_ = e.Ack(map[string]any{"ok": true, "room": roomJSON(room)})
}

func (c *Chat) leaveRoom(e *socketio.Event) {
	id, ok := roomArg(e)
	if !ok {
		fail(e, errBadRequest)
		return
	}
	if !joined(e.Socket, id) {
		_ = e.Ack(map[string]any{"ok": true})
		return
	}
	u := user(e.Socket)
	c.stopTyping(e.Socket, id, u)
	e.Socket.Leave(RoomName(id))
	c.emit(e.Socket.To(RoomName(id)), "user-left", map[string]any{"userId": u.ID, "roomId": id})
	c.departed(id, u, e.Socket.ID())
	if h := c.opts.Hooks.MemberLeft; h != nil {
		h(id, Author{ID: u.ID, Name: u.Name})
	}
	_ = e.Ack(map[string]any{"ok": true})
}

// sendMessage stores and broadcasts {roomId, content, clientId?}. A
// clientId the author used before names the message already stored: a
// retry is acked with it and not broadcast again.
func (c *Chat) sendMessage(e *socketio.Event) {
	var in struct {
		RoomID   *string `json:"roomId"`
		Content  *string `json:"content"`
		ClientID *string `json:"clientId"`
	}
	raw := e.Args.Raw(0)
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &in) != nil || in.RoomID == nil || in.Content == nil ||
		*in.RoomID == "" || len(*in.RoomID) > store.MaxIDLen ||
		(in.ClientID != nil && (*in.ClientID == "" || len(*in.ClientID) > store.MaxIDLen)) {
		fail(e, errBadRequest)
		return
	}
	content := strings.TrimSpace(*in.Content)
	switch {
	case content == "":
		fail(e, errEmpty)
		return
	case utf8.RuneCountInString(content) > c.opts.MaxLength || !utf8.ValidString(content):
		fail(e, errTooLong)
		return
	}
	if !joined(e.Socket, *in.RoomID) {
		if _, err := c.access(*in.RoomID, user(e.Socket).ID); err != nil {
			fail(e, err)
			return
		}
		fail(e, errNotJoined)
		return
	}
	u := user(e.Socket)
	cx, cancel := c.ctx()
	defer cancel()
	m := store.Message{RoomID: *in.RoomID, AuthorID: u.ID, AuthorName: u.Name, Content: content}
	if in.ClientID != nil {
		m.ClientID = *in.ClientID
	}
	msg, err := c.publish(cx, m)
	switch {
	case errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrInvalid):
		fail(e, errBadRequest) // a client id of another room, or not text
		return
	case err != nil:
		fail(e, errInternal)
		return
	}
	_ = e.Ack(map[string]any{"message": msg})
}

func (c *Chat) typingStart(e *socketio.Event) {
	// Typing is best effort: a bad call is answered only if the client
	// asked for an answer, with no "error" event to show.
	id, ok := roomArg(e)
	if !ok {
		_ = e.Ack(map[string]any{"error": errBadRequest.Error()})
		return
	}
	if !joined(e.Socket, id) {
		_ = e.Ack(map[string]any{"error": errNotJoined.Error()})
		return
	}
	defer func() { _ = e.Ack(map[string]any{"ok": true}) }()
	u := user(e.Socket)
	k := typingKey{id, u.ID}
	c.mu.Lock()
	t, already := c.typing[k]
	if already {
		t.Reset(c.opts.TypingTimeout)
	} else {
		c.typing[k] = time.AfterFunc(c.opts.TypingTimeout, func() { c.expireTyping(k) })
	}
	c.mu.Unlock()
	if !already {
		c.emit(c.nsp.To(RoomName(id)).Except("user:"+u.ID), "user-typing", map[string]any{"userId": u.ID, "name": u.Name, "roomId": id})
	}
}

func (c *Chat) typingStop(e *socketio.Event) {
	id, ok := roomArg(e)
	if !ok {
		_ = e.Ack(map[string]any{"error": errBadRequest.Error()})
		return
	}
	c.stopTyping(e.Socket, id, user(e.Socket))
	_ = e.Ack(map[string]any{"ok": true})
}

// objectArg decodes the optional object argument of an event into v: no
// argument or null leave v as it is; anything but an object is refused.
func objectArg(e *socketio.Event, v any) bool {
	raw := e.Args.Raw(0)
	if len(raw) == 0 || string(raw) == "null" {
		return true
	}
	return raw[0] == '{' && json.Unmarshal(raw, v) == nil
}

func (c *Chat) stopTyping(s *socketio.Socket, roomID string, u auth.User) {
	k := typingKey{roomID, u.ID}
	c.mu.Lock()
	t, ok := c.typing[k]
	if ok {
		t.Stop()
		delete(c.typing, k)
	}
	c.mu.Unlock()
	if ok {
		c.emitStopped(k)
	}
}

func (c *Chat) expireTyping(k typingKey) {
	c.mu.Lock()
	_, ok := c.typing[k]
	delete(c.typing, k)
	c.mu.Unlock()
	if ok {
		c.emitStopped(k)
	}
}

func (c *Chat) emitStopped(k typingKey) {
	c.emit(c.nsp.To(RoomName(k.room)).Except("user:"+k.user), "user-stopped-typing", map[string]any{"userId": k.user, "roomId": k.room})
}

func (c *Chat) stopAllTyping(s *socketio.Socket) {
	u := user(s)
	for _, r := range s.Rooms() {
		if id, ok := strings.CutPrefix(r, "room:"); ok {
			c.stopTyping(s, id, u)
		}
	}
}

func (c *Chat) history(e *socketio.Event) {
	var in struct {
		RoomID string `json:"roomId"`
		Before string `json:"before"`
		Limit  int    `json:"limit"`
	}
	if id, ok := e.Args.String(0); ok {
		in.RoomID = id
	} else if e.Args.Decode(0, &in) != nil || in.RoomID == "" {
		fail(e, errBadRequest)
		return
	}
	// A socket in the room passed the access check when it joined.
	if !joined(e.Socket, in.RoomID) {
		if _, err := c.access(in.RoomID, user(e.Socket).ID); err != nil {
			fail(e, err)
			return
		}
	}
	cx, cancel := c.ctx()
	defer cancel()
	msgs, next, err := c.opts.Store.History(cx, in.RoomID, in.Before, in.Limit)
	if errors.Is(err, store.ErrInvalid) {
		fail(e, errBadRequest)
		return
	}
	if err != nil {
		fail(e, errInternal)
		return
	}
	out := WireAll(msgs)
	var cursor any
	if next != "" {
		cursor = next
	}
	_ = e.Ack(map[string]any{"messages": out, "nextCursor": cursor})
}

// maxSyncMessages bounds one sync-state answer; a client told
// "truncated" pages the rest through history.
const maxSyncMessages = 1000

func (c *Chat) syncState(e *socketio.Event) {
	var in struct {
		LastMessageIDs map[string]string `json:"lastMessageIds"`
	}
	if !objectArg(e, &in) {
		fail(e, errBadRequest)
		return
	}
	u := user(e.Socket)
	cx, cancel := c.ctx()
	defer cancel()
	rooms, err := c.opts.Store.MemberRooms(cx, u.ID, c.opts.MaxSyncRooms)
	if err != nil {
		fail(e, errInternal)
		return
	}
	ids := []string{}
	missed := map[string][]Message{}
	updated := map[string][]Message{} // edited or deleted since the client's last message
	total, truncated := 0, false
	var came []string // rooms the socket was not in
	had := e.Socket.Rooms()
	for _, r := range rooms {
		ids = append(ids, r.ID)
		if !slices.Contains(had, RoomName(r.ID)) {
			came = append(came, RoomName(r.ID))
		}
		e.Socket.Join(RoomName(r.ID))
		last, ok := in.LastMessageIDs[r.ID]
		if !ok {
			continue
		}
		if total >= maxSyncMessages {
			truncated = true
			continue
		}
		msgs, err := c.opts.Store.MessagesSince(cx, r.ID, last, store.MaxLimit)
		if err != nil {
			continue // a malformed cursor for one room does not spoil the rest
		}
		if len(msgs) == store.MaxLimit {
			truncated = true
		}
		missed[r.ID] = WireAll(msgs)
		total += len(msgs)
		if edits, err := c.opts.Store.EditsSince(cx, r.ID, last, store.MaxLimit); err == nil && len(edits) > 0 {
			if len(edits) == store.MaxLimit {
				truncated = true
			}
			updated[r.ID] = WireAll(edits)
			total += len(edits)
		}
	}
	out := map[string]any{"rooms": ids, "missed": missed, "updated": updated}
	if truncated {
		out["truncated"] = true
	}
	_ = e.Ack(out)
	if len(came) > 0 {
		c.arrivedAll(e.Socket, came)
	}
}

// listRooms answers a page of the rooms the user can see: {after?,
// limit?} in, {rooms, nextCursor} out (nextCursor null on the last page).
func (c *Chat) listRooms(e *socketio.Event) {
	var in struct {
		After string `json:"after"`
		Limit int    `json:"limit"`
	}
	if !objectArg(e, &in) {
		fail(e, errBadRequest)
		return
	}
	cx, cancel := c.ctx()
	defer cancel()
	limit := in.Limit
	if limit <= 0 {
		limit = store.MaxLimit
	}
	rooms, next, err := c.opts.Store.ListRoomsPage(cx, user(e.Socket).ID, in.After, limit)
	if errors.Is(err, store.ErrInvalid) {
		fail(e, errBadRequest)
		return
	}
	if err != nil {
		fail(e, errInternal)
		return
	}
	out := make([]map[string]any, 0, len(rooms))
	for _, r := range rooms {
		m := roomJSON(r.Room)
		m["member"] = r.Member
		out = append(out, m)
	}
	c.dmPeers(cx, user(e.Socket).ID, out)
	c.readState(e, out)
	var cursor any
	if next != "" {
		cursor = next
	}
	_ = e.Ack(map[string]any{"rooms": out, "nextCursor": cursor})
}

func (c *Chat) createRoom(e *socketio.Event) {
	var in struct {
		Name   string `json:"name"`
		Public bool   `json:"public"`
	}
	if e.Args.Decode(0, &in) != nil {
		fail(e, errBadRequest)
		return
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || utf8.RuneCountInString(in.Name) > 64 {
		fail(e, errBadRequest)
		return
	}
	u := user(e.Socket)
	cx, cancel := c.ctx()
	defer cancel()
	n, err := c.opts.Store.CountRoomsCreatedBy(cx, u.ID)
	if err != nil {
		fail(e, errInternal)
		return
	}
	if n >= c.opts.MaxRoomsPerUser {
		fail(e, errRoomLimit)
		return
	}
	room, err := c.opts.Store.CreateRoom(cx, store.Room{Name: in.Name, Public: in.Public, CreatedBy: u.ID})
	if err != nil {
		fail(e, errInternal)
		return
	}
	_ = c.opts.Store.AddMember(cx, room.ID, u.ID)
	if h := c.opts.Hooks.RoomCreated; h != nil {
		h(room)
	}
	_ = e.Ack(map[string]any{"room": roomJSON(room)})
}
