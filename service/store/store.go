package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors returned by every Store. Match them with errors.Is; the returned
// error may wrap them with details.
var (
	// ErrNotFound reports a missing room, or a notification that does not
	// exist or belongs to another user.
	ErrNotFound = errors.New("store: not found")
	// ErrExists reports a room id that is already taken.
	ErrExists = errors.New("store: already exists")
	// ErrInvalid reports a bad argument: an empty or oversized id, a
	// malformed cursor, or content that is too long.
	ErrInvalid = errors.New("store: invalid argument")
	// ErrClosed reports a call on a closed Store.
	ErrClosed = errors.New("store: closed")
	// ErrDuplicate reports a message whose author already stored one with
	// the same ClientID: CreateMessage returns that stored message with it.
	ErrDuplicate = errors.New("store: duplicate message")
)

// Limits applied at the boundary of every Store.
const (
	// DefaultLimit is used when a page size of zero or less is asked for.
	DefaultLimit = 50
	// MaxLimit is the largest page size; larger ones are clamped to it.
	MaxLimit = 100
	// MaxIDLen is the longest room, user or notification id accepted.
	MaxIDLen = 128
	// MaxNameLen is the longest room, author or user name accepted, in bytes.
	MaxNameLen = 256
	// MaxContentLen is the longest message or notification text, in bytes.
	MaxContentLen = 64 << 10
	// maxBatch is the largest CreateNotifications or LastSeen batch.
	maxBatch = 10000
)

// Room is a chat room. Public rooms are visible to every user; private ones
// only to their members.
type Room struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Public    bool      `json:"public"`
	CreatedAt time.Time `json:"createdAt"`
	// CreatedBy is the id of the user who created the room ("" for rooms
	// seeded by the service).
	CreatedBy string `json:"createdBy,omitempty"`
}

// RoomEntry is a room as seen by one user in ListRooms.
type RoomEntry struct {
	Room
	// Member reports whether the user is a member of the room.
	Member bool `json:"member"`
}

// Message is a chat message. Its ID is assigned by the store, sorts after
// every earlier message of the same room and serves as a history cursor.
type Message struct {
	ID         string    `json:"id"`
	RoomID     string    `json:"roomId"`
	AuthorID   string    `json:"authorId"`
	AuthorName string    `json:"authorName"`
	Content    string    `json:"content"`
	CreatedAt  time.Time `json:"createdAt"`
	// ClientID is the id the author's client chose for the message ("" for
	// none): one author's client id names at most one message.
	ClientID string `json:"clientId,omitempty"`
	// EditedAt is when the message was last edited or deleted (zero if
	// never); a Deleted message has no content.
	EditedAt time.Time `json:"editedAt"`
	Deleted  bool      `json:"deleted,omitempty"`
}

// messageColumns are the columns a Message is read from, in scan order.
const messageColumns = `id, room_id, author_id, author_name, content, created_at, client_id, edited_at, deleted`

// RoomRead is a user's read state in one room.
type RoomRead struct {
	LastReadID string `json:"lastReadId,omitempty"`
	Unread     int    `json:"unread"`
}

// MaxUnread is the most unread messages counted in a room: a client shows
// it as "99+" or the like.
const MaxUnread = 1000

// Notification is a message for one user.
type Notification struct {
	ID        string    `json:"id"`
	UserID    string    `json:"userId"`
	Type      string    `json:"type"`
	Title     string    `json:"title"`
	Message   string    `json:"message"`
	CreatedAt time.Time `json:"createdAt"`
	Read      bool      `json:"read"`
}

// Seen is when a user was last seen, and under which name.
type Seen struct {
	UserID string    `json:"userId"`
	Name   string    `json:"name"`
	At     time.Time `json:"at"`
}

// Store is the persistence used by the Herald service: one small
// interface per concern, and Close. Every method is safe for concurrent
// use. Times are returned in UTC with millisecond precision. Page sizes of
// zero or less mean DefaultLimit; larger than MaxLimit are clamped to
// MaxLimit. Open returns the SQLite and PostgreSQL implementations; a
// program embedding the service may give its own (service.WithStore).
type Store interface {
	Rooms
	Messages
	Notifications
	Presence
	Revocations
	// Close releases the store's connections.
	Close() error
}

// Rooms keeps chat rooms and their members.
type Rooms interface {
	// CreateRoom stores a new room. An empty ID is replaced by a new id and a
	// zero CreatedAt by the current time. It fails with ErrExists if the id
	// is taken.
	CreateRoom(ctx context.Context, r Room) (Room, error)
	// EnsureRoom creates the room unless a room with its ID exists, and
	// returns the stored room either way. It is used to seed rooms at start.
	EnsureRoom(ctx context.Context, r Room) (Room, error)
	// GetRoom returns the room with the id, or ErrNotFound.
	GetRoom(ctx context.Context, id string) (Room, error)
	// ListRooms returns the rooms userID can see: every public room and the
	// private rooms the user is a member of, ordered by name.
	ListRooms(ctx context.Context, userID string) ([]RoomEntry, error)
	// ListRoomsPage is ListRooms a page at a time: up to limit rooms after
	// the cursor after ("" starts at the first), and the cursor of the
	// next page ("" after the last).
	ListRoomsPage(ctx context.Context, userID, after string, limit int) (rooms []RoomEntry, next string, err error)
	// MemberRooms returns up to limit rooms userID is a member of, ordered
	// by name.
	MemberRooms(ctx context.Context, userID string, limit int) ([]Room, error)
	// CountRoomsCreatedBy returns how many rooms userID created.
	CountRoomsCreatedBy(ctx context.Context, userID string) (int, error)
	// AddMember makes userID a member of the room. It is idempotent and
	// fails with ErrNotFound if the room does not exist.
	AddMember(ctx context.Context, roomID, userID string) error
	// RemoveMember removes userID from the room's members. It is idempotent.
	RemoveMember(ctx context.Context, roomID, userID string) error
	// IsMember reports whether userID is a member of the room.
	IsMember(ctx context.Context, roomID, userID string) (bool, error)
	// RoomMembers returns up to limit members of the room with ids after
	// after ("" starts at the first), ordered by user id.
	RoomMembers(ctx context.Context, roomID, after string, limit int) ([]string, error)
}

// Messages keeps chat messages.
type Messages interface {
	// CreateMessage stores m with a new ID and CreatedAt and returns it. The
	// message is committed when CreateMessage returns (see the package
	// documentation for what survives which crash). It fails with
	// ErrNotFound if the room does not exist, and with ctx's error if ctx
	// ends first: the message is then stored or not. If m's author already
	// stored a message with m's ClientID, in any process, nothing is stored
	// and CreateMessage returns that message and ErrDuplicate (ErrExists if
	// it is in another room).
	CreateMessage(ctx context.Context, m Message) (Message, error)
	// History returns up to limit messages of the room, newest first, older
	// than the message id before ("" starts at the newest). next is the
	// cursor for the following page, "" when there are no older messages.
	History(ctx context.Context, roomID, before string, limit int) (msgs []Message, next string, err error)
	// MessagesSince returns up to limit messages of the room newer than
	// afterID ("" starts at the oldest), oldest first. Clients use it to
	// catch up after a reconnect.
	MessagesSince(ctx context.Context, roomID, afterID string, limit int) ([]Message, error)
	// EditMessage replaces the content of a message of authorID and returns
	// it; DeleteMessage empties it and marks it Deleted. Either fails with
	// ErrNotFound if the room has no such message of that author, or it
	// was deleted.
	EditMessage(ctx context.Context, roomID, id, authorID, content string) (Message, error)
	DeleteMessage(ctx context.Context, roomID, id, authorID string) (Message, error)
	// EditsSince returns up to limit messages of the room at or before
	// afterID that were edited or deleted after afterID was created,
	// oldest change first: what a client holding the room up to afterID
	// missed besides MessagesSince.
	EditsSince(ctx context.Context, roomID, afterID string, limit int) ([]Message, error)
	// MarkRoomRead moves userID's read position in the room forward to
	// messageID, a message of the room (ErrInvalid otherwise), and reports
	// whether it moved: an older or equal position changes nothing.
	MarkRoomRead(ctx context.Context, roomID, userID, messageID string) (bool, error)
	// ReadState returns, for each of the rooms (at most MaxLimit), userID's
	// read position ("" if none) and how many messages of others came
	// after it, counted up to MaxUnread.
	ReadState(ctx context.Context, userID string, roomIDs []string) (map[string]RoomRead, error)
}

// Notifications keeps each user's notifications and their read state.
type Notifications interface {
	// CreateNotifications stores the notifications in one transaction,
	// assigning IDs and CreatedAt, and returns them as stored.
	CreateNotifications(ctx context.Context, ns []Notification) ([]Notification, error)
	// ListNotifications returns up to limit notifications of userID, newest
	// first.
	ListNotifications(ctx context.Context, userID string, limit int) ([]Notification, error)
	// UnreadCount returns how many notifications of userID are unread.
	UnreadCount(ctx context.Context, userID string) (int, error)
	// MarkRead marks one notification of userID read. It fails with
	// ErrNotFound if no such notification belongs to userID.
	MarkRead(ctx context.Context, userID, id string) error
	// MarkAllRead marks every notification of userID read and returns how
	// many were unread.
	MarkAllRead(ctx context.Context, userID string) (int, error)
}

// Presence keeps when each user was last seen.
type Presence interface {
	// SetLastSeen records that userID, called name, was seen at t. An older
	// t than the stored one does not move the time back.
	SetLastSeen(ctx context.Context, userID, name string, t time.Time) error
	// LastSeen returns what is known of the users, keyed by user id. Unknown
	// users are absent from the map.
	LastSeen(ctx context.Context, userIDs []string) (map[string]Seen, error)
}

// Revocations keeps the revocations of users' sessions.
type Revocations interface {
	// RevokeSessions records that the tokens of userID issued at or before
	// t are refused. A revocation earlier than the stored one changes
	// nothing.
	RevokeSessions(ctx context.Context, userID string, t time.Time) error
	// Revocations returns the revocations at or after since, by user id.
	Revocations(ctx context.Context, since time.Time) (map[string]time.Time, error)
}

// Open opens the store named by url, creating or migrating its schema.
//
//   - "postgres://..." or "postgresql://..." opens PostgreSQL.
//   - "sqlite:path", "file:path?..." or a plain file path such as
//     "herald.db" opens SQLite.
func Open(ctx context.Context, url string) (Store, error) {
	switch {
	case url == "":
		return nil, fmt.Errorf("%w: empty database url", ErrInvalid)
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return openPostgres(ctx, url)
	default:
		return openSQLite(ctx, url)
	}
}

// now returns the current time as stored: UTC, millisecond precision.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

func toMillis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// clampLimit maps a requested page size into 1..MaxLimit.
func clampLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultLimit
	case n > MaxLimit:
		return MaxLimit
	}
	return n
}

func checkID(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty %s", ErrInvalid, what)
	case len(s) > MaxIDLen:
		return fmt.Errorf("%w: %s longer than %d bytes", ErrInvalid, what, MaxIDLen)
	case !utf8.ValidString(s) || strings.ContainsRune(s, 0):
		return fmt.Errorf("%w: %s is not valid text", ErrInvalid, what)
	}
	return nil
}

func checkText(what, s string, max int) error {
	switch {
	case len(s) > max:
		return fmt.Errorf("%w: %s longer than %d bytes", ErrInvalid, what, max)
	case !utf8.ValidString(s) || strings.ContainsRune(s, 0):
		return fmt.Errorf("%w: %s is not valid text", ErrInvalid, what)
	}
	return nil
}

// checkCursor accepts "" or an id made by NewID.
func checkCursor(what, s string) error {
	if s == "" {
		return nil
	}
	if _, err := parseID(s); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalid, what, err)
	}
	return nil
}

func prepareRoom(r Room) (Room, error) {
	if r.ID == "" {
		r.ID = NewID()
	}
	if err := checkID("room id", r.ID); err != nil {
		return Room{}, err
	}
	if strings.TrimSpace(r.Name) == "" {
		return Room{}, fmt.Errorf("%w: empty room name", ErrInvalid)
	}
	if err := checkText("room name", r.Name, MaxNameLen); err != nil {
		return Room{}, err
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now()
	}
	r.CreatedAt = r.CreatedAt.UTC().Truncate(time.Millisecond)
	return r, nil
}

func checkMessage(m Message) error {
	if err := checkID("room id", m.RoomID); err != nil {
		return err
	}
	if err := checkID("author id", m.AuthorID); err != nil {
		return err
	}
	if err := checkText("author name", m.AuthorName, MaxNameLen); err != nil {
		return err
	}
	if m.Content == "" {
		return fmt.Errorf("%w: empty message content", ErrInvalid)
	}
	if m.ClientID != "" {
		if err := checkID("client id", m.ClientID); err != nil {
			return err
		}
	}
	return checkText("message content", m.Content, MaxContentLen)
}

func prepareNotifications(ns []Notification) ([]Notification, error) {
	if len(ns) > maxBatch {
		return nil, fmt.Errorf("%w: more than %d notifications", ErrInvalid, maxBatch)
	}
	out := make([]Notification, len(ns))
	ts := now()
	for i, n := range ns {
		if err := checkID("notification user id", n.UserID); err != nil {
			return nil, err
		}
		if n.Type == "" {
			return nil, fmt.Errorf("%w: empty notification type", ErrInvalid)
		}
		if err := checkText("notification type", n.Type, MaxNameLen); err != nil {
			return nil, err
		}
		if err := checkText("notification title", n.Title, MaxNameLen); err != nil {
			return nil, err
		}
		if err := checkText("notification message", n.Message, MaxContentLen); err != nil {
			return nil, err
		}
		n.ID = NewID()
		if n.CreatedAt.IsZero() {
			n.CreatedAt = ts
		}
		n.CreatedAt = n.CreatedAt.UTC().Truncate(time.Millisecond)
		n.Read = false
		out[i] = n
	}
	return out, nil
}

func checkUserIDs(ids []string) error {
	if len(ids) > maxBatch {
		return fmt.Errorf("%w: more than %d user ids", ErrInvalid, maxBatch)
	}
	for _, u := range ids {
		if err := checkID("user id", u); err != nil {
			return err
		}
	}
	return nil
}

// duplicate is what CreateMessage returns for a message whose client id
// was taken by stored, a message of the same author.
func duplicate(m, stored Message) (Message, error) {
	if stored.RoomID != m.RoomID {
		return Message{}, fmt.Errorf("%w: client id %q names a message of another room", ErrExists, m.ClientID)
	}
	return stored, ErrDuplicate
}

// scanMessage reads one row of messageColumns, from either backend.
func scanMessage(r interface{ Scan(...any) error }) (Message, error) {
	var m Message
	var ms, edited int64
	if err := r.Scan(&m.ID, &m.RoomID, &m.AuthorID, &m.AuthorName, &m.Content, &ms, &m.ClientID, &edited, &m.Deleted); err != nil {
		return Message{}, err
	}
	m.CreatedAt = fromMillis(ms)
	if edited > 0 {
		m.EditedAt = fromMillis(edited)
	}
	return m, nil
}

func checkReadState(userID string, roomIDs []string) error {
	if err := checkID("user id", userID); err != nil {
		return err
	}
	if len(roomIDs) > MaxLimit {
		return fmt.Errorf("%w: more than %d rooms", ErrInvalid, MaxLimit)
	}
	for _, r := range roomIDs {
		if err := checkID("room id", r); err != nil {
			return err
		}
	}
	return nil
}

// checkSince checks the arguments of MessagesSince and EditsSince.
func checkSince(roomID, afterID string) error {
	if err := checkID("room id", roomID); err != nil {
		return err
	}
	return checkCursor("after", afterID)
}

// checkEdit checks the arguments of EditMessage and DeleteMessage.
func checkEdit(roomID, id, authorID, content string, del bool) error {
	for _, c := range [][2]string{{"room id", roomID}, {"message id", id}, {"author id", authorID}} {
		if err := checkID(c[0], c[1]); err != nil {
			return err
		}
	}
	if del {
		return nil
	}
	if content == "" {
		return fmt.Errorf("%w: empty message content", ErrInvalid)
	}
	return checkText("message content", content, MaxContentLen)
}

// editSQL changes one live message of its author; placeholders, in
// order: content, edited_at, edit_id, deleted, room, id, author.
const editSQL = `UPDATE messages SET content = %s, edited_at = %s, edit_id = %s, deleted = %s
	WHERE room_id = %s AND id = %s AND author_id = %s AND NOT deleted RETURNING ` + messageColumns

// editsSinceSQL: placeholders room, after, after, limit.
const editsSinceSQL = `SELECT ` + messageColumns + ` FROM messages
	WHERE room_id = %s AND edit_id > %s AND edit_id <> '' AND id <= %s ORDER BY edit_id LIMIT %s`

// rows is what both backends' query results offer.
type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// scanRevocations reads (user_id, revoked_at) rows.
func scanRevocations(r rows) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	for r.Next() {
		var id string
		var ms int64
		if err := r.Scan(&id, &ms); err != nil {
			return nil, err
		}
		out[id] = fromMillis(ms)
	}
	return out, r.Err()
}
