package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/socketio"
)

// Socket is a socket as the API describes it, on whichever node.
type Socket struct {
	ID          string   `json:"id"`
	Namespace   string   `json:"namespace"`
	Node        string   `json:"node"`
	UserID      string   `json:"userId"`
	UserName    string   `json:"userName"`
	Rooms       []string `json:"rooms"`
	Address     string   `json:"address"`
	UserAgent   string   `json:"userAgent"`
	ConnectedAt string   `json:"connectedAt"`
}

// NodeKey is the socket data key under which the service keeps the id of
// the node a socket is on.
const NodeKey = "node"

// maxSockets bounds one listing.
const maxSockets = 1000

// timeFormat is the API's time format, as the events': RFC 3339 in UTC
// with milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// describe turns what FetchSockets returns into Sockets. The user is
// auth.User on this node and a decoded map when it came from another.
func describeSockets(nsp string, infos []socketio.SocketInfo) []Socket {
	out := make([]Socket, 0, len(infos))
	for _, s := range infos {
		id, name := userOf(s.Data)
		node, _ := s.Data[NodeKey].(string)
		rooms := s.Rooms
		if rooms == nil {
			rooms = []string{}
		}
		sort.Strings(rooms)
		out = append(out, Socket{ID: s.ID, Namespace: nsp, Node: node, UserID: id, UserName: name, Rooms: rooms,
			Address: s.Handshake.Address, UserAgent: s.Handshake.Headers.Get("User-Agent"),
			ConnectedAt: formatTime(time.UnixMilli(s.Handshake.Issued))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// userOf reads the user a socket's data names, here or across the cluster.
func userOf(data map[string]any) (id, name string) { return auth.UserOfData(data) }

// listSockets answers GET /sockets?namespace&userId|room|role|socketId.
func (a *API) listSockets(w http.ResponseWriter, r *http.Request) (int, any, error) {
	q := r.URL.Query()
	var t Target
	for _, p := range []struct {
		name string
		dst  **string
	}{{"userId", &t.UserID}, {"room", &t.Room}, {"role", &t.Role}, {"socketId", &t.SocketID}} {
		if q.Has(p.name) {
			v := q.Get(p.name)
			*p.dst = &v
		}
	}
	nsp, err := a.namespace(q.Get("namespace"))
	if err != nil {
		return 0, nil, err
	}
	if t.UserID == nil && t.Room == nil && t.Role == nil && t.SocketID == nil {
		return 0, nil, errorf(http.StatusBadRequest, CodeInvalidTarget, "give one of userId, room, role or socketId")
	}
	op, err := t.operator(nsp, nil)
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	infos, err := op.FetchSockets(ctx)
	if err != nil {
		return 0, nil, clusterError(err)
	}
	socks := describeSockets(nsp.Name(), infos)
	out := map[string]any{"sockets": socks}
	if len(socks) > maxSockets {
		out["sockets"], out["truncated"] = socks[:maxSockets], true
	}
	return http.StatusOK, out, nil
}

// clusterError is a failure to hear from the other nodes in time: 503,
// with the cause kept for the log.
func clusterError(err error) error { return fmt.Errorf("%w: %w", errTimeout, err) }

// roomsRequest is the body of POST /sockets/rooms.
type roomsRequest struct {
	Target
	Namespace string   `json:"namespace"`
	Join      []string `json:"join"`
	Leave     []string `json:"leave"`
}

// moveSockets makes the target's sockets leave and join rooms, on every
// node.
func (a *API) moveSockets(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var in roomsRequest
	if err := decodeBody(w, r, maxSmallBody, &in); err != nil {
		return 0, nil, err
	}
	nsp, err := a.namespace(in.Namespace)
	if err != nil {
		return 0, nil, err
	}
	if in.Join == nil && in.Leave == nil {
		return 0, nil, badField("give join, leave or both")
	}
	for _, l := range []struct {
		field string
		rooms []string
	}{{"join", in.Join}, {"leave", in.Leave}} {
		if l.rooms != nil {
			if err := checkIDs(l.field, l.rooms); err != nil {
				return 0, nil, err
			}
		}
	}
	op, err := in.operator(nsp, nil)
	if err != nil {
		return 0, nil, err
	}
	// Joins first: a target named by a room it leaves still selects the
	// same sockets for the joins.
	if in.Join != nil {
		op.SocketsJoin(in.Join...)
	}
	if in.Leave != nil {
		op.SocketsLeave(in.Leave...)
	}
	return http.StatusOK, map[string]any{"ok": true}, nil
}

// disconnectRequest is the body of POST /sockets/disconnect.
type disconnectRequest struct {
	Target
	// Namespace limits the disconnection to one namespace; empty means
	// every namespace of the service.
	Namespace string `json:"namespace"`
	// Reason, when given, is emitted to the sockets just before.
	Reason *struct {
		Event string            `json:"event"`
		Data  json.RawMessage   `json:"data"`
		Args  []json.RawMessage `json:"args"`
	} `json:"reason"`
	// Close closes the whole connection (every namespace on it).
	Close bool `json:"close"`
}

func (a *API) disconnect(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var in disconnectRequest
	if err := decodeBody(w, r, maxSmallBody, &in); err != nil {
		return 0, nil, err
	}
	var nsps []*socketio.Namespace
	if in.Namespace != "" {
		nsp, err := a.namespace(in.Namespace)
		if err != nil {
			return 0, nil, err
		}
		nsps = append(nsps, nsp)
	} else {
		nsps = a.allNamespaces()
	}
	var args []any
	if in.Reason != nil {
		if err := checkEvent("reason.event", in.Reason.Event); err != nil {
			return 0, nil, err
		}
		var err error
		if args, err = eventArgs(in.Reason.Data, in.Reason.Args, "reason.args"); err != nil {
			return 0, nil, err
		}
	}
	for _, nsp := range nsps {
		op, err := in.operator(nsp, nil)
		if err != nil {
			return 0, nil, err
		}
		// The event and the disconnection leave in this order on every
		// node: a socket reads the reason, then is let go.
		if in.Reason != nil {
			if err := op.Emit(in.Reason.Event, args...); err != nil {
				return 0, nil, err
			}
		}
		op.DisconnectSockets(in.Close)
	}
	return http.StatusOK, map[string]any{"ok": true}, nil
}

// allNamespaces returns the API's namespaces, "/" first.
func (a *API) allNamespaces() []*socketio.Namespace {
	names := make([]string, 0, len(a.opts.Namespaces))
	for n := range a.opts.Namespaces {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]*socketio.Namespace, len(names))
	for i, n := range names {
		out[i] = a.opts.Namespaces[n]
	}
	return out
}
