package api

import (
	"net/http"

	"github.com/heraldio/herald/socketio"
)

// Target selects sockets, exactly one way. Rooms are Socket.IO rooms as
// the service names them: every socket is in user:<id>, role:<role> and
// its own id; a chat room <id> is room:<id> in /chat.
type Target struct {
	UserID   *string  `json:"userId"`
	UserIDs  []string `json:"userIds"`
	Room     *string  `json:"room"`
	Rooms    []string `json:"rooms"`
	Role     *string  `json:"role"`
	SocketID *string  `json:"socketId"`
	All      bool     `json:"all"`
}

// rooms returns the rooms the target names (none for all), or an error
// unless exactly one way is given.
func (t Target) rooms() ([]string, error) {
	set := 0
	for _, given := range []bool{t.UserID != nil, t.UserIDs != nil, t.Room != nil, t.Rooms != nil,
		t.Role != nil, t.SocketID != nil, t.All} {
		if given {
			set++
		}
	}
	if set != 1 {
		return nil, errorf(http.StatusBadRequest, CodeInvalidTarget,
			"give exactly one target: userId, userIds, room, rooms, role, socketId or all")
	}
	one := func(field, prefix string, v *string) ([]string, error) {
		if err := checkID(field, *v); err != nil {
			return nil, err
		}
		return []string{prefix + *v}, nil
	}
	many := func(field, prefix string, vs []string) ([]string, error) {
		if err := checkIDs(field, vs); err != nil {
			return nil, err
		}
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = prefix + v
		}
		return out, nil
	}
	switch {
	case t.UserID != nil:
		return one("userId", "user:", t.UserID)
	case t.UserIDs != nil:
		return many("userIds", "user:", t.UserIDs)
	case t.Room != nil:
		return one("room", "", t.Room)
	case t.Rooms != nil:
		return many("rooms", "", t.Rooms)
	case t.Role != nil:
		return one("role", "role:", t.Role)
	case t.SocketID != nil:
		return one("socketId", "", t.SocketID) // a socket's own room is its id
	}
	return nil, nil
}

// operator returns the broadcast operator of the target in nsp, minus
// the sockets in except.
func (t Target) operator(nsp *socketio.Namespace, except []string) (socketio.BroadcastOperator, error) {
	rooms, err := t.rooms()
	if err != nil {
		return socketio.BroadcastOperator{}, err
	}
	if except != nil {
		if err := checkIDs("except", except); err != nil {
			return socketio.BroadcastOperator{}, err
		}
	}
	op := nsp.Except(except...)
	if len(rooms) > 0 {
		op = op.To(rooms...)
	}
	return op, nil
}
