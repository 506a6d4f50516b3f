package api

import (
	"errors"
	"net/http"

	"github.com/heraldio/herald/service/notify"
	"github.com/heraldio/herald/service/store"
)

// notifyRequest is the body of POST /notifications: the legacy
// endpoint's, with the API's errors.
type notifyRequest struct {
	UserID  *string  `json:"userId"`
	UserIDs []string `json:"userIds"`
	Room    *string  `json:"room"`
	Role    *string  `json:"role"`
	All     bool     `json:"all"`
	Type    string   `json:"type"`
	Title   string   `json:"title"`
	Message string   `json:"message"`
}

func (a *API) sendNotification(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var in notifyRequest
	if err := decodeBody(w, r, maxSmallBody, &in); err != nil {
		return 0, nil, err
	}
	// The same checks as an emit's target, with notify's meaning: users
	// are reached offline too, a room is a chat room id.
	t := Target{UserID: in.UserID, UserIDs: in.UserIDs, Room: in.Room, Role: in.Role, All: in.All}
	if _, err := t.rooms(); err != nil {
		return 0, nil, err
	}
	target := notify.Target{UserIDs: in.UserIDs, All: in.All}
	for _, f := range []struct {
		src *string
		dst *string
	}{{in.UserID, &target.UserID}, {in.Room, &target.Room}, {in.Role, &target.Role}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	sent, err := a.opts.Notifier.Send(ctx, target, notify.Content{Type: in.Type, Title: in.Title, Message: in.Message})
	switch {
	case errors.Is(err, notify.ErrContent):
		return 0, nil, badField("type and title are required; type ≤ 64, title ≤ 200, message ≤ 2000 characters")
	case errors.Is(err, notify.ErrNoTarget):
		return 0, nil, errorf(http.StatusBadRequest, CodeInvalidTarget, "%s", err)
	case err != nil:
		return 0, nil, storeError(err)
	}
	ids := make([]string, 0, len(sent))
	for _, s := range sent {
		ids = append(ids, s.ID)
	}
	return http.StatusAccepted, map[string]any{"ids": ids, "count": len(ids)}, nil
}

func (a *API) listNotifications(w http.ResponseWriter, r *http.Request) (int, any, error) {
	userID, err := pathID(r, "userId")
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	list, unread, err := a.opts.Notifier.List(ctx, userID)
	if err != nil {
		return 0, nil, storeError(err)
	}
	return http.StatusOK, map[string]any{"notifications": list, "unreadCount": unread}, nil
}

func (a *API) markRead(w http.ResponseWriter, r *http.Request) (int, any, error) {
	userID, err := pathID(r, "userId")
	if err != nil {
		return 0, nil, err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	err = a.opts.Notifier.MarkRead(ctx, userID, id)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return 0, nil, errorf(http.StatusNotFound, CodeNotificationAbsent, "the user has no notification %q", id)
	}
	if err != nil {
		return 0, nil, storeError(err)
	}
	return http.StatusOK, map[string]any{"ok": true}, nil
}

func (a *API) markAllRead(w http.ResponseWriter, r *http.Request) (int, any, error) {
	userID, err := pathID(r, "userId")
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	n, err := a.opts.Notifier.MarkAllRead(ctx, userID)
	if err != nil {
		return 0, nil, storeError(err)
	}
	return http.StatusOK, map[string]any{"ok": true, "count": n}, nil
}
