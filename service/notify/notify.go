// Package notify sends notifications: stored for each recipient, pushed
// live as a "notification" event to their connections, listed with an
// unread count, and marked read. Backends use it from Go or through its
// HTTP handler, authenticated by an API key.
package notify

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/service/store"
	"github.com/heraldio/herald/socketio"
)

// Notification as clients see it.
type Notification struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Title     string `json:"title"`
	Message   string `json:"message"`
	CreatedAt string `json:"createdAt"`
	Read      bool   `json:"read"`
}

// Wire converts a stored notification.
func Wire(n store.Notification) Notification {
	return Notification{ID: n.ID, Type: n.Type, Title: n.Title, Message: n.Message,
		CreatedAt: n.CreatedAt.UTC().Format("2006-01-02T15:04:05.000Z07:00"), Read: n.Read}
}

// Target selects recipients. Exactly one of the fields is set. Users are
// reached whether or not they are connected (offline ones get their
// notifications when they come back); Room, Role and All reach the users
// connected at the time, who each get a stored copy.
type Target struct {
	UserID  string   `json:"userId,omitempty"`
	UserIDs []string `json:"userIds,omitempty"`
	Room    string   `json:"room,omitempty"`
	Role    string   `json:"role,omitempty"`
	All     bool     `json:"all,omitempty"`
}

// Content of a notification.
type Content struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	Message string `json:"message"`
}

// Errors.
var (
	ErrNoTarget = errors.New("notify: exactly one target is required (userId, userIds, room, role or all)")
	ErrContent  = errors.New("notify: type and title are required; type ≤ 64, title ≤ 200, message ≤ 2000 characters")
)

// Notifier stores and delivers notifications through the "/" namespace
// (where sockets join user:<id> and role:<role>) and finds room members in
// the chat namespace.
type Notifier struct {
	Store store.Store
	Main  *socketio.Namespace
	Chat  *socketio.Namespace
	// OnEmit, if set, counts the events the notifier sends.
	OnEmit func(event string)
	// OnRead is told that the user read notifications: ids, or every
	// one when nil. It must not block.
	OnRead func(userID string, ids []string)
}

// Send notifies the target and returns the stored notifications.
func (n *Notifier) Send(ctx context.Context, t Target, c Content) ([]Notification, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	users, err := n.recipients(ctx, t)
	if err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return []Notification{}, nil
	}
	in := make([]store.Notification, 0, len(users))
	for _, u := range users {
		in = append(in, store.Notification{UserID: u, Type: c.Type, Title: c.Title, Message: c.Message})
	}
	stored, err := n.Store.CreateNotifications(ctx, in)
	if err != nil {
		return nil, err
	}
	out := make([]Notification, 0, len(stored))
	for _, s := range stored {
		w := Wire(s)
		out = append(out, w)
		_ = n.Main.To("user:"+s.UserID).Emit("notification", w)
	}
	return out, nil
}

func (c Content) validate() error {
	if c.Type == "" || c.Title == "" || utf8.RuneCountInString(c.Type) > 64 ||
		utf8.RuneCountInString(c.Title) > 200 || utf8.RuneCountInString(c.Message) > 2000 {
		return ErrContent
	}
	return nil
}

func (n *Notifier) recipients(ctx context.Context, t Target) ([]string, error) {
	set := 0
	if t.UserID != "" {
		set++
	}
	if len(t.UserIDs) > 0 {
		set++
	}
	if t.Room != "" {
		set++
	}
	if t.Role != "" {
		set++
	}
	if t.All {
		set++
	}
	if set != 1 || len(t.UserIDs) > 1000 {
		return nil, ErrNoTarget
	}
	switch {
	case t.UserID != "":
		return []string{t.UserID}, nil
	case len(t.UserIDs) > 0:
		return dedupe(t.UserIDs), nil
	}
	var op socketio.BroadcastOperator
	nsp := n.Main
	switch {
	case t.Room != "":
		nsp = n.Chat
		op = nsp.In("room:" + strings.TrimPrefix(t.Room, "room:"))
	case t.Role != "":
		op = nsp.In("role:" + t.Role)
	default:
		op = nsp.Except() // everyone
	}
	socks, err := op.FetchSockets(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, s := range socks {
		if u, ok := s.Data["user"].(auth.User); ok {
			ids = append(ids, u.ID)
		} else if m, ok := s.Data["user"].(map[string]any); ok { // from another node
			if id, _ := m["ID"].(string); id != "" {
				ids = append(ids, id)
			}
		}
	}
	return dedupe(ids), nil
}

func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// List returns a user's recent notifications and unread count.
func (n *Notifier) List(ctx context.Context, userID string) ([]Notification, int, error) {
	list, err := n.Store.ListNotifications(ctx, userID, store.MaxLimit)
	if err != nil {
		return nil, 0, err
	}
	unread, err := n.Store.UnreadCount(ctx, userID)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Notification, 0, len(list))
	for _, s := range list {
		out = append(out, Wire(s))
	}
	return out, unread, nil
}

// MarkRead marks one notification of the user read and tells every tab
// of theirs, on every node: notifications:state {read: [id]}. It fails
// with store.ErrNotFound for a notification that is not the user's.
func (n *Notifier) MarkRead(ctx context.Context, userID, id string) error {
	if err := n.Store.MarkRead(ctx, userID, id); err != nil {
		return err
	}
	n.state(userID, map[string]any{"read": []string{id}})
	if n.OnRead != nil {
		n.OnRead(userID, []string{id})
	}
	return nil
}

// MarkAllRead marks every notification of the user read, tells their
// tabs (notifications:state {all: true}) and returns how many were
// unread.
func (n *Notifier) MarkAllRead(ctx context.Context, userID string) (int, error) {
	count, err := n.Store.MarkAllRead(ctx, userID)
	if err != nil {
		return 0, err
	}
	n.state(userID, map[string]any{"all": true})
	if n.OnRead != nil {
		n.OnRead(userID, nil)
	}
	return count, nil
}

func (n *Notifier) state(userID string, change map[string]any) {
	_ = n.Main.To("user:"+userID).Emit("notifications:state", change)
	if n.OnEmit != nil {
		n.OnEmit("notifications:state")
	}
}

// Handler is the HTTP API: POST a JSON body {target fields, type, title,
// message} with "Authorization: Bearer <apiKey>"; 202 with the ids.
func (n *Notifier) Handler(apiKey string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			httpError(w, http.StatusMethodNotAllowed, "use POST")
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || apiKey == "" || subtle.ConstantTimeCompare([]byte(got), []byte(apiKey)) != 1 {
			httpError(w, http.StatusUnauthorized, "invalid API key")
			return
		}
		var body struct {
			Target
			Content
		}
		dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			httpError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
			return
		}
		sent, err := n.Send(r.Context(), body.Target, body.Content)
		if errors.Is(err, ErrNoTarget) || errors.Is(err, ErrContent) || errors.Is(err, store.ErrInvalid) {
			httpError(w, http.StatusBadRequest, err.Error())
			return
		}
		if err != nil {
			httpError(w, http.StatusInternalServerError, "could not send")
			return
		}
		ids := make([]string, 0, len(sent))
		for _, s := range sent {
			ids = append(ids, s.ID)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]any{"ids": ids, "count": len(ids)})
	})
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
