package api

import (
	"context"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/heraldio/herald/service/chat"
	"github.com/heraldio/herald/service/notify"
	"github.com/heraldio/herald/service/store"
	"github.com/heraldio/herald/socketio"
)

// Options configures the API. Namespaces and APIKey are required.
type Options struct {
	// APIKey authenticates every request but the OpenAPI document; an
	// empty key refuses them all.
	APIKey string
	// Namespaces the API may address, by name ("/", "/chat"); a request
	// naming another gets unknown_namespace (no namespace is created).
	Namespaces map[string]*socketio.Namespace
	// Store, Chat: the service's persistence and chat rooms.
	Store store.Store
	Chat  *chat.Chat
	// Notifier sends, lists and marks notifications.
	Notifier *notify.Notifier
	// Presence tells who is online.
	Presence Presence
	// Revoke refuses a user's tokens issued until now, on every node, and
	// disconnects the user everywhere; it returns the revocation's time.
	Revoke func(ctx context.Context, userID string) (time.Time, error)
	// Timeout bounds the work of one request on the store and the
	// cluster (an ack wait has its own timeoutMs). Default 5s.
	Timeout time.Duration
	Logger  *slog.Logger
}

// API serves the HTTP API. Create it with New.
type API struct {
	opts Options
	mux  *http.ServeMux
}

// New returns the API.
func New(opts Options) *API {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	a := &API{opts: opts, mux: http.NewServeMux()}
	a.routes()
	return a
}

// Prefix is where the versioned API lives.
const Prefix = "/api/v1"

// DocumentPath is where the OpenAPI document is served.
const DocumentPath = "/api/openapi.json"

//go:embed openapi.json
var document []byte

// Document returns the OpenAPI 3.1 document of the API.
func Document() []byte { return document }

// ServeHTTP serves Prefix/... and DocumentPath.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// handler is one endpoint: it returns the status and body of a success,
// or an error.
type handler func(w http.ResponseWriter, r *http.Request) (int, any, error)

func (a *API) routes() {
	a.mux.HandleFunc("GET "+DocumentPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(document)
	})
	paths := map[string]bool{}
	handle := func(method, path string, h handler) {
		a.mux.Handle(method+" "+Prefix+path, a.authenticated(h))
		if !paths[path] {
			// The path without a method: the methods it does not take.
			paths[path] = true
			a.mux.HandleFunc(Prefix+path, func(w http.ResponseWriter, r *http.Request) {
				writeError(w, errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "%s does not take %s", r.URL.Path, r.Method))
			})
		}
	}
	handle("POST", "/emit", a.emit)
	handle("GET", "/sockets", a.listSockets)
	handle("POST", "/sockets/rooms", a.moveSockets)
	handle("POST", "/sockets/disconnect", a.disconnect)
	handle("POST", "/rooms", a.createRoom)
	handle("GET", "/rooms/{roomId}", a.getRoom)
	handle("GET", "/rooms/{roomId}/messages", a.history)
	handle("POST", "/rooms/{roomId}/messages", a.postMessage)
	handle("PUT", "/rooms/{roomId}/members/{userId}", a.member(true))
	handle("DELETE", "/rooms/{roomId}/members/{userId}", a.member(false))
	handle("POST", "/notifications", a.sendNotification)
	handle("GET", "/users/{userId}/notifications", a.listNotifications)
	handle("POST", "/users/{userId}/notifications/{id}/read", a.markRead)
	handle("POST", "/users/{userId}/notifications/read-all", a.markAllRead)
	handle("POST", "/users/{userId}/revoke", a.revoke)
	handle("GET", "/presence", a.listOnline)
	handle("GET", "/users/{userId}/presence", a.userPresence)
	handle("GET", "/rooms/{roomId}/presence", a.roomPresence)
	a.mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(http.StatusNotFound, CodeNotFound, "no endpoint %s", r.URL.Path))
	})
}

// authenticated checks the API key, as POST /api/notifications always
// has: "Authorization: Bearer <key>", compared in constant time.
func (a *API) authenticated(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || a.opts.APIKey == "" || subtle.ConstantTimeCompare([]byte(got), []byte(a.opts.APIKey)) != 1 {
			writeError(w, errorf(http.StatusUnauthorized, CodeUnauthorized, "missing or invalid API key"))
			return
		}
		status, body, err := h(w, r)
		if err != nil {
			e := asError(err)
			if e.Status >= 500 {
				a.opts.Logger.Warn("api: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			writeError(w, e)
			return
		}
		writeJSON(w, status, body)
	})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if body != nil {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(body)
	}
}

func writeError(w http.ResponseWriter, e *Error) {
	writeJSON(w, e.Status, map[string]any{"error": map[string]string{"code": e.Code, "message": e.Message}})
}

// ctx bounds a request's work on the store and the cluster.
func (a *API) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), a.opts.Timeout)
}

// namespace returns the namespace a request names ("/" when empty).
func (a *API) namespace(name string) (*socketio.Namespace, error) {
	if name == "" {
		name = "/"
	}
	n, ok := a.opts.Namespaces[name]
	if !ok {
		return nil, errorf(http.StatusNotFound, CodeUnknownNamespace, "no namespace %q", name)
	}
	return n, nil
}
