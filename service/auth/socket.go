package auth

import "github.com/heraldio/herald/socketio"

// socketKey is where the authenticated user is kept in a socket's data.
const socketKey = "user"

// Attach records the authenticated user on a socket.
func Attach(s *socketio.Socket, u User) { s.Set(socketKey, u) }

// UserOf returns the user a socket authenticated as.
func UserOf(s *socketio.Socket) (User, bool) {
	v, ok := s.Get(socketKey)
	if !ok {
		return User{}, false
	}
	u, ok := v.(User)
	return u, ok
}

// UserOfData reads the user from a socket's data as FetchSockets returns
// it: the User itself for a local socket, its JSON form for a socket of
// another node.
func UserOfData(data map[string]any) (id, name string) {
	switch u := data[socketKey].(type) {
	case User:
		return u.ID, u.Name
	case map[string]any:
		for _, k := range []string{"id", "ID"} {
			if v, ok := u[k].(string); ok {
				id = v
			}
		}
		for _, k := range []string{"name", "Name"} {
			if v, ok := u[k].(string); ok {
				name = v
			}
		}
	}
	return id, name
}
