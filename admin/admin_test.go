package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"

	"github.com/heraldio/herald/admin"
	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/socketio"
	"github.com/heraldio/herald/test/support"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("time.Sleep"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

const password = "changeit"

var hash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

func basic() *admin.BasicAuth { return &admin.BasicAuth{Username: "admin", PasswordHash: hash} }

// note is one event the UI received.
type note struct {
	name string
	args []json.RawMessage
}

// ui is an admin UI's connection: every event it gets, in order.
type ui struct {
	s     *client.Socket
	notes chan note
}

func (u *ui) next(t *testing.T, name string, match func(args []json.RawMessage) bool) []json.RawMessage {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case n := <-u.notes:
			if n.name == name && (match == nil || match(n.args)) {
				return n.args
			}
		case <-timeout:
			t.Fatalf("no %s", name)
		}
	}
}

// dialUI connects to the admin namespace with auth; it returns the
// connect error, if any.
func dialUI(t *testing.T, url string, auth any) (*ui, error) {
	t.Helper()
	s, err := client.NewSocket(url+"/admin", &client.Options{DisableReconnection: true,
		SocketOptions: client.SocketOptions{Auth: auth}})
	if err != nil {
		t.Fatal(err)
	}
	u := &ui{s: s, notes: make(chan note, 1000)}
	s.OnAny(func(e *client.Event) {
		args := make([]json.RawMessage, e.Args.Len())
		for i := range args {
			args[i] = append(json.RawMessage(nil), e.Args.Raw(i)...)
		}
		select {
		case u.notes <- note{e.Name, args}:
		default:
		}
	})
	t.Cleanup(func() { _ = s.Close() })
	s.Connect()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitConnected(ctx); err != nil {
		return nil, err
	}
	return u, nil
}

func mustUI(t *testing.T, url string, auth any) *ui {
	t.Helper()
	u, err := dialUI(t, url, auth)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func login() map[string]any { return map[string]any{"username": "admin", "password": password} }

// serve runs a server with the admin instrumented and a "join" event for
// its users.
func serve(t *testing.T, opts admin.Options, sopts *socketio.Options) (*socketio.Server, *admin.Admin, string) {
	t.Helper()
	io := socketio.NewServer(sopts)
	io.On("join", func(e *socketio.Event) {
		r, _ := e.Args.String(0)
		e.Socket.Join(r)
		_ = e.Ack()
	})
	a, err := admin.Instrument(io, opts)
	if err != nil {
		t.Fatal(err)
	}
	url := support.Serve(t, io)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return io, a, url
}

func dialUser(t *testing.T, url string) *client.Socket {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := client.Dial(ctx, url, &client.Options{DisableReconnection: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func ack(t *testing.T, s *client.Socket, event string, args ...any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := s.EmitWithAck(ctx, event, args...)
	if err != nil {
		t.Fatal(err)
	}
	if a.Len() == 0 {
		return ""
	}
	return string(a.Raw(0))
}

func TestInstrumentRefusesBadOptions(t *testing.T) {
	io := socketio.NewServer(nil)
	for name, tc := range map[string]struct {
		opts admin.Options
		want error
	}{
		"no auth":          {admin.Options{}, admin.ErrNoAuth},
		"not bcrypt":       {admin.Options{Auth: &admin.BasicAuth{Username: "admin", PasswordHash: "changeit"}}, admin.ErrBadHash},
		"sha256 crypt":     {admin.Options{Auth: &admin.BasicAuth{Username: "admin", PasswordHash: "$5$rounds=5000$salt$hash"}}, admin.ErrBadHash},
		"empty user":       {admin.Options{Auth: &admin.BasicAuth{PasswordHash: hash}}, nil},
		"truncated bcrypt": {admin.Options{Auth: &admin.BasicAuth{Username: "admin", PasswordHash: hash[:20]}}, admin.ErrBadHash},
	} {
		t.Run(name, func(t *testing.T) {
			a, err := admin.Instrument(io, tc.opts)
			if err == nil {
				_ = a.Close(context.Background())
				t.Fatal("accepted")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

func TestLogin(t *testing.T) {
	_, _, url := serve(t, admin.Options{Auth: basic()}, nil)
	for name, auth := range map[string]any{
		"no auth":         nil,
		"wrong password":  map[string]any{"username": "admin", "password": "changeme"},
		"wrong user":      map[string]any{"username": "root", "password": password},
		"no password":     map[string]any{"username": "admin"},
		"password number": map[string]any{"username": "admin", "password": 42},
		"forged session":  map[string]any{"sessionId": "zzzzzz.0011223344556677.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		"session garbage": map[string]any{"sessionId": strings.Repeat("x", 10000)},
		"session object":  map[string]any{"sessionId": map[string]any{"a": 1}},
		"hash as session": map[string]any{"sessionId": hash},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := dialUI(t, url, auth)
			var ce *client.ConnectError
			if !errors.As(err, &ce) || ce.Message != "invalid credentials" {
				t.Fatalf("err %v, want invalid credentials", err)
			}
		})
	}

	u := mustUI(t, url, login())
	var session string
	if err := json.Unmarshal(u.next(t, "session", nil)[0], &session); err != nil || session == "" {
		t.Fatalf("session %q: %v", session, err)
	}
	var config struct {
		SupportedFeatures []string `json:"supportedFeatures"`
	}
	_ = json.Unmarshal(u.next(t, "config", nil)[0], &config)
	if got := strings.Join(config.SupportedFeatures, ","); got != "EMIT,JOIN,LEAVE,DISCONNECT,MJOIN,MLEAVE,MDISCONNECT,AGGREGATED_EVENTS,ALL_EVENTS" {
		t.Fatalf("features %s", got)
	}
	u.next(t, "all_sockets", nil)

	// The session logs in again without the password; a session with one
	// character changed does not.
	again := mustUI(t, url, map[string]any{"sessionId": session})
	again.next(t, "config", nil)
	i := len(session) - 5
	c := byte('A')
	if session[i] == 'A' {
		c = 'B'
	}
	forged := session[:i] + string(c) + session[i+1:]
	if _, err := dialUI(t, url, map[string]any{"sessionId": forged}); err == nil {
		t.Fatal("forged session accepted")
	}
}

func TestSessionOfAnotherKey(t *testing.T) {
	key := []byte("shared by the nodes of a cluster")
	_, _, url1 := serve(t, admin.Options{Auth: basic(), SessionKey: key}, nil)
	_, _, url2 := serve(t, admin.Options{Auth: basic(), SessionKey: key}, nil)
	_, _, url3 := serve(t, admin.Options{Auth: basic()}, nil)
	u := mustUI(t, url1, login())
	var session string
	_ = json.Unmarshal(u.next(t, "session", nil)[0], &session)
	mustUI(t, url2, map[string]any{"sessionId": session}) // same key: accepted
	if _, err := dialUI(t, url3, map[string]any{"sessionId": session}); err == nil {
		t.Fatal("a session of another key accepted")
	}
}

func TestNoAuth(t *testing.T) {
	_, _, url := serve(t, admin.Options{NoAuth: true}, nil)
	u := mustUI(t, url, nil)
	u.next(t, "config", nil)
	select {
	case n := <-u.notes:
		if n.name == "session" {
			t.Fatal("a session without authentication")
		}
	default:
	}
}

func TestSocketsRoomsAndEvents(t *testing.T) {
	_, _, url := serve(t, admin.Options{Auth: basic()}, nil)
	early := dialUser(t, url)
	ack(t, early, "join", "early-room")

	u := mustUI(t, url, login())
	all := u.next(t, "all_sockets", nil)
	var sockets []struct {
		ID, ClientID, Transport, Nsp string
		Rooms                        []string
		Data                         map[string]any
		Handshake                    struct {
			Address string
			Headers map[string]string
			Query   map[string]string
		}
	}
	if err := json.Unmarshal(all[0], &sockets); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range sockets {
		if s.ID == early.ID() {
			found = true
			if s.Nsp != "/" || s.ClientID == "" || s.Transport == "" || !strings.Contains(strings.Join(s.Rooms, ","), "early-room") {
				t.Fatalf("socket %+v", s)
			}
			if _, ok := s.Data["_admin"]; ok {
				t.Fatal("_admin in data")
			}
			if s.Handshake.Address != "127.0.0.1" || s.Handshake.Query["EIO"] != "4" || s.Handshake.Headers["user-agent"] == "" {
				t.Fatalf("handshake %+v", s.Handshake)
			}
		}
	}
	if !found {
		t.Fatalf("all_sockets %s without %s", all[0], early.ID())
	}

	s := dialUser(t, url)
	id := s.ID()
	is := func(i int, want string) func([]json.RawMessage) bool {
		return func(a []json.RawMessage) bool { return len(a) > i && string(a[i]) == `"`+want+`"` }
	}
	u.next(t, "socket_connected", func(a []json.RawMessage) bool { return strings.Contains(string(a[0]), `"id":"`+id+`"`) })
	ack(t, s, "join", "lobby")
	u.next(t, "room_joined", func(a []json.RawMessage) bool { return is(1, "lobby")(a) && is(2, id)(a) })
	if err := s.Emit("hello", map[string]any{"n": 1}, []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	got := u.next(t, "event_received", is(1, id))
	if string(got[0]) != `"/"` || !strings.HasPrefix(string(got[2]), `["hello",{"n":1}`) {
		t.Fatalf("event_received %s", got)
	}
	_ = s.Close()
	// It leaves its rooms (its own id's too), then the namespace.
	left := map[string]bool{}
	for len(left) < 2 {
		a := u.next(t, "room_left", is(2, id))
		left[string(a[1])] = true
	}
	if !left[`"lobby"`] || !left[`"`+id+`"`] {
		t.Fatalf("left %v", left)
	}
	d := u.next(t, "socket_disconnected", is(1, id))
	if string(d[2]) != `"client namespace disconnect"` {
		t.Fatalf("reason %s", d[2])
	}
}

func TestServerStats(t *testing.T) {
	io, _, url := serve(t, admin.Options{Auth: basic(), ServerID: "node-a", StatsInterval: 50 * time.Millisecond}, nil)
	io.Of("/chat")
	u := mustUI(t, url, login())
	dialUser(t, url)
	var stats struct {
		ServerID            string `json:"serverId"`
		Hostname            string
		PID                 int
		ClientsCount        int `json:"clientsCount"`
		PollingClientsCount int `json:"pollingClientsCount"`
		AggregatedEvents    []struct {
			Timestamp int64
			Type      string
			Count     int
		} `json:"aggregatedEvents"`
		Namespaces []struct {
			Name         string
			SocketsCount int `json:"socketsCount"`
		}
	}
	conns := 0
	for conns == 0 || stats.ClientsCount != 2 {
		args := u.next(t, "server_stats", nil)
		if err := json.Unmarshal(args[0], &stats); err != nil {
			t.Fatal(err)
		}
		if stats.ServerID != "node-a" || stats.PID == 0 || stats.Hostname == "" {
			t.Fatalf("stats %s", args[0])
		}
		for _, e := range stats.AggregatedEvents {
			if e.Type == "rawConnection" {
				conns += e.Count
			}
		}
	}
	names := ""
	for _, n := range stats.Namespaces {
		names += n.Name + "=" + string(rune('0'+n.SocketsCount)) + " "
	}
	if names != "/=1 /admin=1 /chat=0 " {
		t.Fatalf("namespaces %q", names)
	}
}

func TestActions(t *testing.T) {
	io, _, url := serve(t, admin.Options{Auth: basic()}, nil)
	s := dialUser(t, url)
	other := dialUser(t, url)
	u := mustUI(t, url, login())
	u.next(t, "all_sockets", nil)

	sock := io.Of("/").Socket(s.ID())
	has := func(room string) bool {
		for _, r := range sock.Rooms() {
			if r == room {
				return true
			}
		}
		return false
	}
	if got := ack(t, u.s, "join", "/", "vip", s.ID()); got != `{"ok":true}` {
		t.Fatalf("join: %s", got)
	}
	if !has("vip") || io.Of("/").Socket(other.ID()).Rooms()[0] != other.ID() || len(io.Of("/").Socket(other.ID()).Rooms()) != 1 {
		t.Fatalf("rooms %v", sock.Rooms())
	}
	ack(t, u.s, "leave", "/", "vip", s.ID())
	if has("vip") {
		t.Fatal("still in vip")
	}
	// Without a filter: every socket of the namespace.
	ack(t, u.s, "join", "/", "all", nil)
	if infos, _ := io.In("all").FetchSockets(context.Background()); !has("all") || len(infos) != 2 {
		t.Fatal("not all joined")
	}

	got := make(chan string, 1)
	other.On("news", func(e *client.Event) { got <- string(e.Args.Raw(0)) })
	ack(t, u.s, "emit", "/", other.ID(), "news", map[string]any{"a": 1})
	if m := <-got; m != `{"a":1}` {
		t.Fatalf("news %s", m)
	}

	for name, args := range map[string][]any{
		"join, no room":          {"join", "/"},
		"join, empty room":       {"join", "/", ""},
		"join, room number":      {"join", "/", 7},
		"join, long room":        {"join", "/", strings.Repeat("r", 2000)},
		"join, filter object":    {"join", "/", "r", map[string]any{}},
		"join, unknown nsp":      {"join", "/nowhere", "r"},
		"join, nsp number":       {"join", 1, "r"},
		"leave, nothing":         {"leave"},
		"disconnect, close text": {"_disconnect", "/", "yes", s.ID()},
		"disconnect, unknown":    {"_disconnect", "/nowhere", false},
		"emit, reserved":         {"emit", "/", nil, "disconnect"},
		"emit, no event":         {"emit", "/", nil},
		"emit, event number":     {"emit", "/", nil, 5},
	} {
		if got := ack(t, u.s, args[0].(string), args[1:]...); !strings.Contains(got, `"error"`) {
			t.Errorf("%s: %s", name, got)
		}
	}
	if io.Namespace("/nowhere") != nil {
		t.Fatal("an action created a namespace")
	}

	disconnected := make(chan client.Reason, 1)
	s.OnDisconnect(func(r client.Reason) { disconnected <- r })
	ack(t, u.s, "_disconnect", "/", false, s.ID())
	if r := <-disconnected; r != "io server disconnect" {
		t.Fatalf("reason %s", r)
	}
	if !other.Connected() {
		t.Fatal("the other socket was disconnected too")
	}
}

func TestReadOnly(t *testing.T) {
	io, _, url := serve(t, admin.Options{Auth: basic(), ReadOnly: true}, nil)
	s := dialUser(t, url)
	u := mustUI(t, url, login())
	var config struct {
		SupportedFeatures []string `json:"supportedFeatures"`
	}
	_ = json.Unmarshal(u.next(t, "config", nil)[0], &config)
	if got := strings.Join(config.SupportedFeatures, ","); got != "AGGREGATED_EVENTS,ALL_EVENTS" {
		t.Fatalf("features %s", got)
	}
	for _, args := range [][]any{
		{"join", "/", "vip", s.ID()},
		{"leave", "/", s.ID(), s.ID()},
		{"_disconnect", "/", true, s.ID()},
		{"emit", "/", s.ID(), "news", 1},
	} {
		if got := ack(t, u.s, args[0].(string), args[1:]...); got != `{"error":"read-only"}` {
			t.Errorf("%v: %s", args, got)
		}
	}
	if rooms := io.Of("/").Socket(s.ID()).Rooms(); len(rooms) != 1 || !s.Connected() {
		t.Fatalf("changed in read-only mode: %v", rooms)
	}
}

func TestProduction(t *testing.T) {
	io, _, url := serve(t, admin.Options{Auth: basic(), Production: true, StatsInterval: 20 * time.Millisecond}, nil)
	greet(io)
	u := mustUI(t, url, login())
	ack(t, dialUser(t, url), "greet") // no event_sent in production
	// Two stats after the user connected, and never a socket's details.
	u.next(t, "server_stats", nil)
	u.next(t, "server_stats", nil)
	u.next(t, "server_stats", nil)
	for len(u.notes) > 0 {
		if n := <-u.notes; n.name != "server_stats" && n.name != "config" && n.name != "session" {
			t.Fatalf("%s in production mode", n.name)
		}
	}
}

func TestCloseRefusesLogins(t *testing.T) {
	io := socketio.NewServer(nil)
	a, err := admin.Instrument(io, admin.Options{Auth: basic()})
	if err != nil {
		t.Fatal(err)
	}
	url := support.Serve(t, io)
	u := mustUI(t, url, login())
	closed := make(chan struct{})
	u.s.OnDisconnect(func(client.Reason) { close(closed) })
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-closed
	if _, err := dialUI(t, url, login()); err == nil {
		t.Fatal("login after Close")
	}
}

// greet answers "greet" with the socket's own "welcome" (reported as
// event_sent) and a broadcast (not reported), then acks.
func greet(io *socketio.Server) {
	io.On("greet", func(e *socketio.Event) {
		_ = e.Socket.Emit("welcome", map[string]any{"n": 2}, []byte{3})
		_ = io.Emit("everyone", 1)
		_ = e.Ack()
	})
}

func TestEventSent(t *testing.T) {
	io, _, url := serve(t, admin.Options{Auth: basic()}, nil)
	greet(io)
	u := mustUI(t, url, login())
	s := dialUser(t, url)
	ack(t, s, "greet")
	got := u.next(t, "event_sent", func(a []json.RawMessage) bool { return string(a[1]) == `"`+s.ID()+`"` })
	if len(got) != 4 || string(got[0]) != `"/"` || !strings.HasPrefix(string(got[2]), `["welcome",{"n":2},`) {
		t.Fatalf("event_sent %s", got)
	}
	var at time.Time
	if err := json.Unmarshal(got[3], &at); err != nil || time.Since(at) > time.Hour {
		t.Fatalf("event_sent's timestamp %s: %v", got[3], err)
	}
	// The admin's own emits to the UI are not reported, nor the broadcast.
	ack(t, s, "join", "after")
	u.next(t, "room_joined", func(a []json.RawMessage) bool { return string(a[1]) == `"after"` })
	for len(u.notes) > 0 {
		if n := <-u.notes; n.name == "event_sent" {
			t.Fatalf("a second event_sent: %s", n.args)
		}
	}
}

func TestServerStatsTraffic(t *testing.T) {
	_, _, url := serve(t, admin.Options{Auth: basic(), StatsInterval: 20 * time.Millisecond}, nil)
	u := mustUI(t, url, login())
	s := dialUser(t, url)
	totals := map[string]int{}
	read := func() {
		t.Helper()
		var stats struct {
			AggregatedEvents []struct {
				Type  string
				Count int
			} `json:"aggregatedEvents"`
		}
		if err := json.Unmarshal(u.next(t, "server_stats", nil)[0], &stats); err != nil {
			t.Fatal(err)
		}
		for _, e := range stats.AggregatedEvents {
			totals[e.Type] += e.Count
		}
	}
	kinds := []string{"packetsIn", "bytesIn", "packetsOut", "bytesOut"}
	grown := func(than map[string]int) bool {
		for _, k := range kinds {
			if totals[k] <= than[k] {
				return false
			}
		}
		return true
	}
	for !grown(nil) { // the connections' CONNECTs and the UI's stats
		read()
	}
	before := maps.Clone(totals)
	for range 3 {
		ack(t, s, "join", strings.Repeat("r", 100))
	}
	for !grown(before) {
		read()
	}
	// Three events and their acks of more than 100 bytes each.
	if in := totals["bytesIn"] - before["bytesIn"]; in < 300 || totals["packetsIn"]-before["packetsIn"] < 3 {
		t.Fatalf("in: %d bytes, %d packets", in, totals["packetsIn"]-before["packetsIn"])
	}
}
