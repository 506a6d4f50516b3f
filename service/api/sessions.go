package api

import "net/http"

// revoke answers POST /users/{userId}/revoke: the user's tokens issued
// until now are refused on every node, and their sockets disconnected.
func (a *API) revoke(w http.ResponseWriter, r *http.Request) (int, any, error) {
	userID, err := pathID(r, "userId")
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	at, err := a.opts.Revoke(ctx, userID)
	if err != nil {
		return 0, nil, storeError(err)
	}
	return http.StatusOK, map[string]any{"ok": true, "revokedAt": formatTime(at)}, nil
}
