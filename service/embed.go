package service

import (
	"context"
	"errors"
	"log/slog"

	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/service/chat"
	"github.com/heraldio/herald/service/presence"
	"github.com/heraldio/herald/service/store"
	"github.com/heraldio/herald/socketio"
)

// Option changes how New builds the service.
type Option func(*options)

type options struct {
	log   *slog.Logger
	store store.Store
	auth  Authenticator
}

// WithLogger logs to l instead of slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithStore keeps the service's data in st instead of the database of
// Config.DatabaseURL. The caller owns st: Shutdown does not close it.
func WithStore(st store.Store) Option { return func(o *options) { o.store = st } }

// WithAuthenticator authenticates connections with a instead of the JWT
// verifier the configuration describes. Revocation and the per-user
// connection limit still apply to the users it returns.
func WithAuthenticator(a Authenticator) Option { return func(o *options) { o.auth = a } }

// Authenticator turns the token a client sends in its handshake
// (auth: {token}) into its user. An error refuses the connection with
// "Invalid token". *auth.Verifier is one.
type Authenticator interface {
	Verify(ctx context.Context, token string) (auth.User, error)
}

var _ Authenticator = (*auth.Verifier)(nil)

// Run listens on Config.Addr (unless Listen did) and serves until ctx
// ends, then shuts down gracefully within Config.ShutdownGrace. It
// returns nil after a graceful stop.
func (s *Service) Run(ctx context.Context) error {
	if s.Addr() == nil {
		if _, err := s.Listen(); err != nil {
			return err
		}
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownGrace)
	defer cancel()
	return errors.Join(err, s.Shutdown(sctx))
}

// Server returns the Socket.IO server the service runs on.
func (s *Service) Server() *socketio.Server { return s.io }

// Namespace returns the namespace name, set up as the built-in ones are:
// connections are authenticated (auth.UserOf gives a socket's user), and
// each socket joins its user's and roles' rooms (UserRoom, RoleRoom).
// "/" and "/chat" are the built-in namespaces: handlers added to them run
// next to the service's own. Add event handlers with On to have the
// service's rate limits and metrics apply to them.
func (s *Service) Namespace(name string) *socketio.Namespace {
	nsp := s.io.Of(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if name != "/" && name != "/chat" && !s.custom[name] {
		s.custom[name] = true
		nsp.Use(s.authenticate)
		nsp.OnConnection(s.onConnection)
	}
	return nsp
}

// On handles event in the namespace name (see Namespace) behind the
// service's per-socket rate limits (Config.RateLimits: "default" covers
// events it does not name) and event metrics.
func (s *Service) On(name, event string, h socketio.EventHandler) {
	s.Namespace(name).On(event, s.guard(h))
}

// OnConnection runs h for every socket that connects to the namespace
// name (see Namespace), after the service's own connection handler.
func (s *Service) OnConnection(name string, h func(*socketio.Socket)) {
	s.Namespace(name).OnConnection(h)
}

// Chat returns the chat: Post a message as a user or the system user,
// read a room's History, CreateRoom, AddMember and RemoveMember, as the
// server API does.
func (s *Service) Chat() *chat.Chat { return s.chat }

// Store returns the store the service keeps its data in.
func (s *Service) Store() store.Store { return s.store }

// Online returns the users online across the cluster, ordered by user id.
// The slice is shared: callers must not modify it.
func (s *Service) Online() []presence.Entry { return s.presence.List() }

// UserRoom is the room every socket of a user is in, in every namespace.
func UserRoom(userID string) string { return "user:" + userID }

// RoleRoom is the room every socket of a user with the role is in.
func RoleRoom(role string) string { return "role:" + role }

// ChatRoom is the Socket.IO room of chat room id in "/chat".
func ChatRoom(id string) string { return "room:" + id }

// Target selects sockets as the server API's emit does, in any mix: the
// sockets of users, of rooms (a chat room is ChatRoom(id)), of roles, by
// socket id, or All of them. A zero Target selects nothing.
type Target struct {
	UserIDs   []string
	Rooms     []string
	Roles     []string
	SocketIDs []string
	All       bool
}

// To returns the broadcast operator of t in the namespace name, across
// the cluster: Emit, EmitWithAck, Except, Volatile and the rest work as
// on any socketio.BroadcastOperator. A Target that selects nothing gives
// an operator that reaches no one.
func (s *Service) To(name string, t Target) socketio.BroadcastOperator {
	nsp := s.io.Of(name)
	if t.All {
		return nsp.Except()
	}
	rooms := make([]string, 0, len(t.UserIDs)+len(t.Rooms)+len(t.Roles)+len(t.SocketIDs))
	for _, id := range t.UserIDs {
		rooms = append(rooms, UserRoom(id))
	}
	rooms = append(rooms, t.Rooms...)
	for _, r := range t.Roles {
		rooms = append(rooms, RoleRoom(r))
	}
	rooms = append(rooms, t.SocketIDs...) // a socket's own room is its id
	if len(rooms) == 0 {
		return nsp.To(nobody)
	}
	return nsp.To(rooms...)
}

// nobody is a room no socket joins (room names the service gives have a
// prefix or are socket ids), for a Target that selects nothing.
const nobody = "\x00nobody"
