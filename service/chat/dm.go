package chat

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/service/store"
	"github.com/heraldio/herald/socketio"
)

// dmPrefix starts the id of every direct-message room, and of no other
// room (CreateRoom refuses it).
const dmPrefix = "dm:"

// ErrReservedID is a room id of the form direct messages use.
var ErrReservedID = errors.New("chat: room ids starting with dm: are direct messages")

// DMRoomID is the room of the direct messages between two users: the same
// for either order and on every node, so opening it twice, anywhere, finds
// one room.
func DMRoomID(a, b string) string {
	if b < a {
		a, b = b, a
	}
	h := sha256.Sum256([]byte(a + "\x00" + b))
	return dmPrefix + hex.EncodeToString(h[:16])
}

// IsDM reports whether the room id is a direct-message room's.
func IsDM(roomID string) bool { return strings.HasPrefix(roomID, dmPrefix) }

// OpenDM returns the private room of u and the user peerID, creating it
// the first time; both are its members, and their sockets, on every node,
// join it and get rooms:added.
func (c *Chat) OpenDM(ctx context.Context, u Author, peerID string) (store.Room, Author, error) {
	peer := Author{ID: peerID, Name: c.userName(ctx, peerID)}
	first, second := u, peer
	if second.ID < first.ID {
		first, second = second, first
	}
	id := DMRoomID(u.ID, peerID)
	room, err := c.opts.Store.EnsureRoom(ctx, store.Room{ID: id, Name: first.Name + " & " + second.Name, Public: false})
	if err != nil {
		return store.Room{}, peer, err
	}
	for _, m := range []Author{u, peer} {
		if err := c.opts.Store.AddMember(ctx, id, m.ID); err != nil && !errors.Is(err, store.ErrExists) {
			return store.Room{}, peer, err
		}
	}
	for _, m := range []Author{u, peer} {
		other := peer
		if m.ID == peer.ID {
			other = u
		}
		c.nsp.In("user:" + m.ID).SocketsJoin(RoomName(id))
		entry := roomJSON(room)
		entry["member"] = true
		entry["dm"] = map[string]any{"userId": other.ID, "name": other.Name}
		c.emit(c.nsp.To("user:"+m.ID), "rooms:added", map[string]any{"room": entry})
	}
	return room, peer, nil
}

// userName is the name of a user as a chat socket of theirs says (on any
// node), else as they were last seen, else their id.
func (c *Chat) userName(ctx context.Context, id string) string {
	if socks, err := c.nsp.In("user:" + id).FetchSockets(ctx); err == nil {
		for _, s := range socks {
			if _, name := auth.UserOfData(s.Data); name != "" {
				return name
			}
		}
	}
	if seen, err := c.opts.Store.LastSeen(ctx, []string{id}); err == nil && seen[id].Name != "" {
		return seen[id].Name
	}
	return id
}

// openDM answers dm:open {userId} with {room}: the room's dm says who the
// other user is.
func (c *Chat) openDM(e *socketio.Event) {
	var in struct {
		UserID *string `json:"userId"`
	}
	u := user(e.Socket)
	if !objectArg(e, &in) || in.UserID == nil || *in.UserID == "" || len(*in.UserID) > store.MaxIDLen || *in.UserID == u.ID {
		fail(e, errBadRequest)
		return
	}
	// The peer's name may be asked of every node: a cluster's bound, as
	// for room:presence (under load the store's 1 s lost the name).
	cx, cancel := c.clusterCtx()
	defer cancel()
	room, peer, err := c.OpenDM(cx, Author{ID: u.ID, Name: u.Name}, *in.UserID)
	if err != nil {
		fail(e, storeRefusal(err))
		return
	}
	c.rememberRoom(room)
	out := roomJSON(room)
	out["member"] = true
	out["dm"] = map[string]any{"userId": peer.ID, "name": peer.Name}
	_ = e.Ack(map[string]any{"room": out})
}

// dmPeers fills in, for the direct-message rooms of a rooms:list page,
// who the other user is.
func (c *Chat) dmPeers(ctx context.Context, userID string, rooms []map[string]any) {
	var peers []string
	at := map[string]map[string]any{}
	for _, r := range rooms {
		id, _ := r["id"].(string)
		if !IsDM(id) {
			continue
		}
		members, err := c.opts.Store.RoomMembers(ctx, id, "", 2)
		if err != nil {
			continue
		}
		for _, m := range members {
			if m != userID {
				peers = append(peers, m)
				at[m] = r
				r["dm"] = map[string]any{"userId": m, "name": m}
			}
		}
	}
	if len(peers) == 0 {
		return
	}
	seen, err := c.opts.Store.LastSeen(ctx, peers)
	if err != nil {
		return
	}
	for _, id := range peers {
		name := seen[id].Name
		if name == "" { // online since before they were ever seen offline
			name = c.userName(ctx, id)
		}
		at[id]["dm"] = map[string]any{"userId": id, "name": name}
	}
}
