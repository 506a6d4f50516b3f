package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/heraldio/herald/service/chat"
	"github.com/heraldio/herald/service/store"
)

// SystemAuthor writes the messages a backend posts without a userId.
var SystemAuthor = chat.Author{ID: "system", Name: "System"}

// Room is a chat room as the API describes it.
type Room struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Public    bool   `json:"public"`
	CreatedAt string `json:"createdAt"`
	CreatedBy string `json:"createdBy"`
}

func roomOf(r store.Room) Room {
	return Room{ID: r.ID, Name: r.Name, Public: r.Public, CreatedAt: formatTime(r.CreatedAt), CreatedBy: r.CreatedBy}
}

// storeError maps what the chat, the notifications and the store report.
func storeError(err error) error {
	switch {
	case errors.Is(err, chat.ErrRoomNotFound):
		return errorf(http.StatusNotFound, CodeRoomNotFound, "no such room")
	case errors.Is(err, chat.ErrAccessDenied):
		return errorf(http.StatusForbidden, CodeAccessDenied, "the user may not post in this private room (not a member)")
	case errors.Is(err, chat.ErrEmpty):
		return badField("content: empty")
	case errors.Is(err, chat.ErrTooLong):
		return badField("content: too long")
	case errors.Is(err, chat.ErrBadName):
		return badField("name: 1 to 64 characters")
	case errors.Is(err, chat.ErrReservedID):
		return badField("id: ids starting with dm: are direct messages")
	case errors.Is(err, store.ErrExists):
		return errorf(http.StatusConflict, CodeRoomExists, "a room with this id exists")
	case errors.Is(err, store.ErrInvalid):
		return badField("%s", err.Error())
	case errors.Is(err, chat.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return clusterError(err)
	}
	return err
}

// pathID reads and checks a path parameter.
func pathID(r *http.Request, name string) (string, error) {
	v := r.PathValue(name)
	return v, checkID(name, v)
}

func (a *API) createRoom(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var in struct {
		ID        *string `json:"id"`
		Name      string  `json:"name"`
		Public    *bool   `json:"public"`
		CreatedBy *string `json:"createdBy"`
	}
	if err := decodeBody(w, r, maxSmallBody, &in); err != nil {
		return 0, nil, err
	}
	room := store.Room{Name: in.Name, Public: true}
	if in.ID != nil {
		if err := checkID("id", *in.ID); err != nil {
			return 0, nil, err
		}
		room.ID = *in.ID
	}
	if in.CreatedBy != nil {
		if err := checkID("createdBy", *in.CreatedBy); err != nil {
			return 0, nil, err
		}
		room.CreatedBy = *in.CreatedBy
	}
	if in.Public != nil {
		room.Public = *in.Public
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	created, err := a.opts.Chat.CreateRoom(ctx, room)
	if err != nil {
		return 0, nil, storeError(err)
	}
	return http.StatusCreated, map[string]any{"room": roomOf(created)}, nil
}

func (a *API) getRoom(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, err := pathID(r, "roomId")
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	room, err := a.opts.Chat.Room(ctx, id)
	if err != nil {
		return 0, nil, storeError(err)
	}
	return http.StatusOK, map[string]any{"room": roomOf(room)}, nil
}

// userName returns the name of a user: as a connected socket of theirs
// says (on any node), else as they were last seen; user_not_found for a
// user the service never saw.
func (a *API) userName(ctx context.Context, id string) (string, error) {
	for _, nsp := range a.allNamespaces() {
		socks, err := nsp.In("user:" + id).FetchSockets(ctx)
		if err != nil {
			return "", clusterError(err)
		}
		for _, s := range socks {
			if _, name := userOf(s.Data); name != "" {
				return name, nil
			}
		}
	}
	seen, err := a.opts.Store.LastSeen(ctx, []string{id})
	if err != nil {
		return "", storeError(err)
	}
	s, ok := seen[id]
	if !ok {
		return "", errorf(http.StatusNotFound, CodeUserNotFound, "user %q was never seen; give their name", id)
	}
	return s.Name, nil
}

func (a *API) postMessage(w http.ResponseWriter, r *http.Request) (int, any, error) {
	roomID, err := pathID(r, "roomId")
	if err != nil {
		return 0, nil, err
	}
	var in struct {
		Content  *string `json:"content"`
		UserID   *string `json:"userId"`
		Name     *string `json:"name"`
		ClientID *string `json:"clientId"`
	}
	if err := decodeBody(w, r, maxSmallBody, &in); err != nil {
		return 0, nil, err
	}
	if in.Content == nil {
		return 0, nil, badField("content: required")
	}
	author := SystemAuthor
	if in.Name != nil {
		if *in.Name == "" || len(*in.Name) > store.MaxNameLen {
			return 0, nil, badField("name: 1 to %d bytes", store.MaxNameLen)
		}
		author.Name = *in.Name
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	if in.UserID != nil {
		if err := checkID("userId", *in.UserID); err != nil {
			return 0, nil, err
		}
		author.ID = *in.UserID
		if in.Name == nil {
			if author.Name, err = a.userName(ctx, author.ID); err != nil {
				return 0, nil, err
			}
		}
	}
	o := chat.PostOptions{AsUser: in.UserID != nil}
	if in.ClientID != nil {
		if err := checkID("clientId", *in.ClientID); err != nil {
			return 0, nil, err
		}
		o.ClientID = *in.ClientID
	}
	msg, dup, err := a.opts.Chat.Post(ctx, roomID, author, *in.Content, o)
	if err != nil {
		return 0, nil, storeError(err)
	}
	if dup {
		return http.StatusOK, map[string]any{"message": msg}, nil
	}
	return http.StatusCreated, map[string]any{"message": msg}, nil
}

func (a *API) history(w http.ResponseWriter, r *http.Request) (int, any, error) {
	roomID, err := pathID(r, "roomId")
	if err != nil {
		return 0, nil, err
	}
	q := r.URL.Query()
	limit, err := limitParam(q.Get("limit"))
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	msgs, next, err := a.opts.Chat.History(ctx, roomID, q.Get("before"), limit)
	if err != nil {
		return 0, nil, storeError(err)
	}
	return http.StatusOK, map[string]any{"messages": msgs, "nextCursor": cursor(next)}, nil
}

// limitParam reads a page size: 1 to store.MaxLimit, default
// store.DefaultLimit.
func limitParam(s string) (int, error) {
	if s == "" {
		return store.DefaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > store.MaxLimit {
		return 0, badField("limit: from 1 to %d", store.MaxLimit)
	}
	return n, nil
}

// cursor is a next-page cursor, null after the last page.
func cursor(next string) any {
	if next == "" {
		return nil
	}
	return next
}

func (a *API) member(add bool) handler {
	return func(w http.ResponseWriter, r *http.Request) (int, any, error) {
		roomID, err := pathID(r, "roomId")
		if err != nil {
			return 0, nil, err
		}
		userID, err := pathID(r, "userId")
		if err != nil {
			return 0, nil, err
		}
		ctx, cancel := a.ctx(r)
		defer cancel()
		if !add {
			if err := a.opts.Chat.RemoveMember(ctx, roomID, userID); err != nil {
				return 0, nil, storeError(err)
			}
			return http.StatusOK, map[string]any{"ok": true}, nil
		}
		name, err := a.userName(ctx, userID)
		var e *Error
		if errors.As(err, &e) && e.Code == CodeUserNotFound {
			name, err = userID, nil // a user yet to come, invited by id
		}
		if err != nil {
			return 0, nil, err
		}
		if err := a.opts.Chat.AddMember(ctx, roomID, chat.Author{ID: userID, Name: name}); err != nil {
			return 0, nil, storeError(err)
		}
		return http.StatusOK, map[string]any{"ok": true}, nil
	}
}
