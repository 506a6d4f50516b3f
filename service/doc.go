// Package service is Herald's ready-to-run real-time service, as a Go
// package: JWT authentication, chat with persisted history, typing
// indicators, presence, notifications, the server API under /api/v1, rate
// limits, metrics, health checks and graceful shutdown, over the socketio
// server. The herald command is a thin main over it; a Go program embeds
// it the same way and adds its own events next to the built-in ones.
//
// # Running
//
// Build a Service from a Config (DefaultConfig, or Load for flags, HERALD_*
// variables and a YAML file), then Run it until a context ends:
//
//	cfg := service.DefaultConfig()
//	cfg.JWTSecret = os.Getenv("JWT_SECRET")
//	svc, err := service.New(ctx, cfg, service.WithLogger(log))
//	if err != nil { ... }
//	err = svc.Run(ctx) // listens on cfg.Addr; shuts down when ctx ends
//
// Or mount Handler on a server of your own (it serves /socket.io/, /api/,
// /healthz, /readyz, /metrics and the web app) and call Shutdown to stop.
//
// # Adding events
//
// Namespace returns a namespace set up as the built-in ones: every
// connection is authenticated (auth.UserOf gives its user) and joins its
// user's and roles' rooms (UserRoom, RoleRoom). On adds an event handler
// behind the service's rate limits; the namespaces "/" (notifications,
// presence) and "/chat" (chat) take handlers next to the service's own.
//
//	svc.On("/", "order:create", func(e *socketio.Event) {
//		u, _ := auth.UserOf(e.Socket)
//		...
//		_ = svc.Namespace("/").To(service.RoleRoom("admin")).Emit("admin:new-order", order)
//		_ = e.Ack(map[string]any{"ok": true})
//	})
//
// # Operations
//
// What the server API does over HTTP, a Go program calls directly: emit to
// a target through Namespace(name).To(rooms...), Notifier().Send for
// stored notifications, Chat().Post and the room operations, Revoke for a
// user's sessions, Online for presence, Server for the whole socketio
// server.
//
// # Replacing parts
//
// WithStore puts the service's data in a store.Store of your own;
// WithAuthenticator authenticates connections with an Authenticator (a
// token to a user) instead of the JWT verifier.
//
// # Configuration
//
// Every Config field is a setting with a flag, a HERALD_* variable and a
// key of the YAML file (see Load); a flag wins over the environment, which
// wins over the file. Check validates without touching the disk, and
// WriteYAML prints the effective configuration with its secrets masked.
package service
