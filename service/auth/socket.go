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
