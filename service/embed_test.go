package service_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldio/herald/service"
	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/service/chat"
	"github.com/heraldio/herald/service/servicetest"
	"github.com/heraldio/herald/service/store"
	"github.com/heraldio/herald/socketio"
	"github.com/heraldio/herald/test/support"
)

// tokens is an Authenticator of fixed tokens.
type tokens map[string]auth.User

func (tk tokens) Verify(_ context.Context, token string) (auth.User, error) {
	if u, ok := tk[token]; ok {
		return u, nil
	}
	return auth.User{}, errors.New("unknown token")
}

// counting is a store of the program's: the SQLite one, with its
// messages counted.
type counting struct {
	store.Store
	messages atomic.Int32
}

func (c *counting) CreateMessage(ctx context.Context, m store.Message) (store.Message, error) {
	c.messages.Add(1)
	return c.Store.CreateMessage(ctx, m)
}

// A program's own namespace and events get the service's authentication
// (here its own authenticator), user and role rooms and rate limits,
// next to the built-in namespaces, over a store it owns.
func TestEmbedNamespaceAuthenticatorAndStore(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "own.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	own := &counting{Store: st}
	cfg, err := service.Load(nil, servicetest.Env(t, map[string]string{
		"HERALD_JWT_SECRET": "embed-test-secret-embed-test-secret", "HERALD_RATE_LIMITS": "ping=1:2"}))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(ctx, cfg, service.WithStore(own),
		service.WithAuthenticator(tokens{"t-ann": {ID: "ann", Name: "Ann", Roles: []string{"user", "admin"}}}))
	if err != nil {
		t.Fatal(err)
	}
	svc.On("/orders", "ping", func(e *socketio.Event) {
		u, _ := auth.UserOf(e.Socket)
		_ = e.Ack(map[string]any{"user": u.ID})
	})
	connected := make(chan string, 1)
	svc.OnConnection("/orders", func(s *socketio.Socket) { connected <- s.ID() })
	url := servicetest.Serve(t, svc)

	for auth, want := range map[string]string{
		`{"token":"forged"}`: `44/orders,{"message":"Invalid token"}`,
		`{}`:                 `44/orders,{"message":"Authentication required"}`,
	} {
		c := support.Dial(t, url, "/socket.io/")
		c.Send("40/orders," + auth)
		c.ExpectExact(want)
	}
	c := support.Dial(t, url, "/socket.io/")
	c.Connect("/orders", `{"token":"t-ann"}`)
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatal("connection handler not called")
	}
	c.Send(`42/orders,1["ping"]`)
	c.ExpectExact(`43/orders,1[{"user":"ann"}]`)
	c.Send(`42/orders,2["ping"]`)
	c.ExpectExact(`43/orders,2[{"user":"ann"}]`)
	c.Send(`42/orders,3["ping"]`) // over the burst of 2
	if got := c.Expect(`42/orders,["error"`); !strings.Contains(got, "Rate limit exceeded") {
		t.Fatalf("rate limit: %s", got)
	}
	c.ExpectExact(`43/orders,3[{"error":"Rate limit exceeded"}]`)
	// The socket is in its user's and roles' rooms.
	if err := svc.Namespace("/orders").To(service.RoleRoom("admin")).Emit("hello", 1); err != nil {
		t.Fatal(err)
	}
	c.Expect(`42/orders,["hello",1,`) // and the recovery offset
	if err := svc.Namespace("/orders").To(service.UserRoom("ann")).Emit("hi"); err != nil {
		t.Fatal(err)
	}
	c.Expect(`42/orders,["hi",`)
	// The built-in namespaces take the same authenticator.
	c.Connect("/chat", `{"token":"t-ann"}`)
	if _, _, err := svc.Chat().Post(ctx, service.PublicRoom, chat.Author{ID: "ann", Name: "Ann"}, "from Go", chat.PostOptions{AsUser: true}); err != nil {
		t.Fatal(err)
	}
	if n := own.messages.Load(); n != 1 {
		t.Fatalf("the program's store took %d messages", n)
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := svc.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	// The store given with WithStore is the program's: still open.
	if msgs, _, err := st.History(ctx, service.PublicRoom, "", 10); err != nil || len(msgs) != 1 || msgs[0].Content != "from Go" {
		t.Fatalf("own store after shutdown: %v %v", msgs, err)
	}
}

// Run serves on the configured address until its context ends, then
// stops gracefully.
func TestEmbedRun(t *testing.T) {
	cfg, err := service.Load(nil, servicetest.Env(t, map[string]string{"HERALD_ADDR": "127.0.0.1:0", "HERALD_LOG_LEVEL": "error"}))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for svc.Addr() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if svc.Addr() == nil {
		t.Fatal("not listening")
	}
	res, err := http.Get("http://" + svc.Addr().String() + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", res, err)
	}
	res.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
	}
}

// A bad configuration is refused by New, naming the setting.
func TestEmbedNewChecksConfig(t *testing.T) {
	cfg := service.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.JWTSecret = "x"
	cfg.MaxSyncRooms = 0
	if _, err := service.New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "max-sync-rooms") {
		t.Fatalf("New: %v", err)
	}
}

// To selects sockets as the server API's targets do: users, rooms, roles,
// socket ids, all; a zero Target reaches no one.
func TestEmbedTo(t *testing.T) {
	ctx := context.Background()
	cfg, err := service.Load(nil, servicetest.Env(t, map[string]string{"HERALD_JWT_SECRET": "embed-test-secret-embed-test-secret"}))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(ctx, cfg, service.WithAuthenticator(tokens{
		"t-ann": {ID: "ann", Name: "Ann", Roles: []string{"admin"}},
		"t-bob": {ID: "bob", Name: "Bob", Roles: []string{"user"}},
	}))
	if err != nil {
		t.Fatal(err)
	}
	url := servicetest.Serve(t, svc)
	ann, bob := support.Dial(t, url, "/socket.io/"), support.Dial(t, url, "/socket.io/")
	ann.Connect("/", `{"token":"t-ann"}`)
	bobID := bob.Connect("/", `{"token":"t-bob"}`)
	emit := func(tg service.Target, n int) {
		t.Helper()
		if err := svc.To("/", tg).Emit("t", n); err != nil {
			t.Fatal(err)
		}
	}
	// want reads c's frames up to t n, passing over presence events,
	// and fails on another t.
	want := func(c *support.Conn, n int) {
		t.Helper()
		for {
			f, ok := c.TryNext(10 * time.Second)
			if !ok {
				t.Fatalf("t %d never came", n)
			}
			switch s := string(f.Data); {
			case strings.HasPrefix(s, `42["t",`+strconv.Itoa(n)+`,`) || s == `42["t",`+strconv.Itoa(n)+`]`:
				return
			case strings.HasPrefix(s, `42["t",`):
				t.Fatalf("want t %d, got %s", n, s)
			}
		}
	}
	emit(service.Target{UserIDs: []string{"bob"}}, 1)
	want(bob, 1)
	emit(service.Target{Roles: []string{"admin"}}, 2)
	want(ann, 2)
	emit(service.Target{SocketIDs: []string{bobID}}, 3)
	want(bob, 3)
	emit(service.Target{All: true}, 4)
	want(ann, 4)
	want(bob, 4)
	emit(service.Target{}, 5) // nobody
	emit(service.Target{UserIDs: []string{"ann"}, Roles: []string{"user"}}, 6)
	want(ann, 6)
	want(bob, 6) // 5 never came: 6 is next
}
