package api

import (
	"net/http"
	"sort"

	"github.com/heraldio/herald/service/chat"
	"github.com/heraldio/herald/service/presence"
)

// Presence is what the API reads of presence: the users online across
// the cluster, ordered by user id (presence.Tracker has it).
type Presence interface {
	List() []presence.Entry
}

// PresenceEntry is a user's presence as the API describes it.
type PresenceEntry struct {
	UserID   string `json:"userId"`
	Name     string `json:"name"`
	Status   string `json:"status"`
	LastSeen string `json:"lastSeen"`
}

func entryOf(e presence.Entry) PresenceEntry {
	return PresenceEntry{UserID: e.UserID, Name: e.Name, Status: e.Status, LastSeen: formatTime(e.LastSeen)}
}

// online returns the users online, sorted by id.
func (a *API) online() []presence.Entry {
	list := a.opts.Presence.List()
	if !sort.SliceIsSorted(list, func(i, j int) bool { return list[i].UserID < list[j].UserID }) {
		list = append([]presence.Entry(nil), list...)
		sort.Slice(list, func(i, j int) bool { return list[i].UserID < list[j].UserID })
	}
	return list
}

// listOnline answers GET /presence?after&limit: a page of the users
// online, by user id.
func (a *API) listOnline(w http.ResponseWriter, r *http.Request) (int, any, error) {
	q := r.URL.Query()
	limit, err := limitParam(q.Get("limit"))
	if err != nil {
		return 0, nil, err
	}
	after := q.Get("after")
	list := a.online()
	start := sort.Search(len(list), func(i int) bool { return list[i].UserID > after })
	end := min(start+limit, len(list))
	users := make([]PresenceEntry, 0, end-start)
	for _, e := range list[start:end] {
		users = append(users, entryOf(e))
	}
	next := ""
	if end < len(list) {
		next = list[end-1].UserID
	}
	return http.StatusOK, map[string]any{"users": users, "nextCursor": cursor(next), "total": len(list)}, nil
}

// userPresence answers GET /users/{userId}/presence: status and devices
// (the user's sockets in "/", on every node).
func (a *API) userPresence(w http.ResponseWriter, r *http.Request) (int, any, error) {
	userID, err := pathID(r, "userId")
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	nsp, _ := a.namespace("/")
	infos, err := nsp.In("user:" + userID).FetchSockets(ctx)
	if err != nil {
		return 0, nil, clusterError(err)
	}
	out := struct {
		PresenceEntry
		Devices []Socket `json:"devices"`
	}{Devices: describeSockets("/", infos)}
	list := a.online()
	if i := sort.Search(len(list), func(i int) bool { return list[i].UserID >= userID }); i < len(list) && list[i].UserID == userID {
		out.PresenceEntry = entryOf(list[i])
		return http.StatusOK, out, nil
	}
	seen, err := a.opts.Store.LastSeen(ctx, []string{userID})
	if err != nil {
		return 0, nil, storeError(err)
	}
	s, ok := seen[userID]
	if !ok {
		return 0, nil, errorf(http.StatusNotFound, CodeUserNotFound, "user %q was never seen", userID)
	}
	out.PresenceEntry = PresenceEntry{UserID: userID, Name: s.Name, Status: presence.Offline, LastSeen: formatTime(s.At)}
	return http.StatusOK, out, nil
}

// roomPresence answers GET /rooms/{roomId}/presence: the users with a
// socket in the chat room, on every node, with their status.
func (a *API) roomPresence(w http.ResponseWriter, r *http.Request) (int, any, error) {
	roomID, err := pathID(r, "roomId")
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	if _, err := a.opts.Chat.Room(ctx, roomID); err != nil {
		return 0, nil, storeError(err)
	}
	nsp, err := a.namespace("/chat")
	if err != nil {
		return 0, nil, err
	}
	infos, err := nsp.In(chat.RoomName(roomID)).FetchSockets(ctx)
	if err != nil {
		return 0, nil, clusterError(err)
	}
	list := a.online()
	users := []PresenceEntry{}
	seen := map[string]bool{}
	for _, s := range describeSockets(nsp.Name(), infos) {
		if s.UserID == "" || seen[s.UserID] {
			continue
		}
		seen[s.UserID] = true
		e := PresenceEntry{UserID: s.UserID, Name: s.UserName, Status: presence.Online, LastSeen: s.ConnectedAt}
		if i := sort.Search(len(list), func(i int) bool { return list[i].UserID >= s.UserID }); i < len(list) && list[i].UserID == s.UserID {
			e = entryOf(list[i])
		}
		users = append(users, e)
	}
	sort.Slice(users, func(i, j int) bool { return users[i].UserID < users[j].UserID })
	return http.StatusOK, map[string]any{"users": users}, nil
}
