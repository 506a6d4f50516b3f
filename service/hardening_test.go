package service

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/service/servicetest"
	"github.com/heraldio/herald/test/support"
)

const testSecret = "hardening-secret-hardening-secret-hardening"

func hardeningService(t *testing.T, extra map[string]string) (*Service, string) {
	t.Helper()
	env := map[string]string{"HERALD_JWT_SECRET": testSecret, "HERALD_API_KEY": "key", "HERALD_PRESENCE_GRACE": "1s"}
	for k, v := range extra {
		env[k] = v
	}
	svc, url := newTestService(t, env)
	return svc, url
}

func token(t *testing.T, id string, ttl time.Duration) string {
	t.Helper()
	tok, err := auth.Mint([]byte(testSecret), auth.User{ID: id, Name: id, Roles: []string{"user"}}, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// ack sends event with ack id n on nsp and returns the ack frame.
func ack(t *testing.T, c *support.Conn, nsp string, n int, event string) string {
	t.Helper()
	p := "42"
	if nsp != "/" {
		p += nsp + ","
	}
	c.Send(fmt.Sprintf("%s%d%s", p, n, event))
	return skipTo(t, c, fmt.Sprintf("43%s%d", p[2:], n))
}

// One refusal for a room that does not exist and one that is private:
// a client cannot probe which room ids exist.
func TestRoomExistenceDoesNotLeak(t *testing.T) {
	svc, url := hardeningService(t, nil)
	c := support.Dial(t, url, "/socket.io/")
	c.Connect("/chat", `{"token":"`+token(t, "owner", time.Hour)+`"}`)
	created := ack(t, c, "/chat", 1, `["create-room",{"name":"secret","public":false}]`)
	id := created[strings.Index(created, `"id":"`)+6:]
	id = id[:strings.IndexByte(id, '"')]
	_ = svc

	o := support.Dial(t, url, "/socket.io/")
	o.Connect("/chat", `{"token":"`+token(t, "outsider", time.Hour)+`"}`)
	for _, ev := range []string{"join-room", "history"} {
		private := ack(t, o, "/chat", 1, `["`+ev+`","`+id+`"]`)
		missing := ack(t, o, "/chat", 2, `["`+ev+`","no-such-room"]`)
		if strings.TrimPrefix(private, "43/chat,1") != strings.TrimPrefix(missing, "43/chat,2") ||
			!strings.Contains(private, `"Access denied"`) {
			t.Errorf("%s: private %s, missing %s", ev, private, missing)
		}
	}
	private := ack(t, o, "/chat", 3, `["send-message",{"roomId":"`+id+`","content":"x"}]`)
	missing := ack(t, o, "/chat", 4, `["send-message",{"roomId":"nope","content":"x"}]`)
	if strings.TrimPrefix(private, "43/chat,3") != strings.TrimPrefix(missing, "43/chat,4") {
		t.Errorf("send-message: private %s, missing %s", private, missing)
	}
}

// A notification sent while the user's only tab reloads (within the
// presence grace) reaches the new tab live.
func TestNotificationDuringReloadIsDelivered(t *testing.T) {
	svc, url := hardeningService(t, map[string]string{"HERALD_PRESENCE_GRACE": "5s"})
	tok := token(t, "reloader", time.Hour)
	a := support.Dial(t, url, "/socket.io/")
	a.Connect("/", `{"token":"`+tok+`"}`)
	skipTo(t, a, `42["presence:list"`)
	a.Close()
	time.Sleep(100 * time.Millisecond)
	code, _ := post(t, url+"/api/notifications", "Bearer "+svc.Config().APIKey,
		`{"userId":"reloader","type":"t","title":"while away","message":"m"}`)
	if code != 202 {
		t.Fatalf("notify: %d", code)
	}
	b := support.Dial(t, url, "/socket.io/")
	b.Connect("/", `{"token":"`+tok+`"}`)
	if n := skipTo(t, b, `42["notification"`); !strings.Contains(n, `"title":"while away"`) {
		t.Fatalf("notification: %s", n)
	}
	// The notification already shown is not sent again to a later tab.
	b2 := support.Dial(t, url, "/socket.io/")
	b2.Connect("/", `{"token":"`+tok+`"}`)
	skipTo(t, b2, `42["presence:list"`)
	if f, ok := b2.TryNext(300 * time.Millisecond); ok && strings.Contains(string(f.Data), `"notification"`) {
		t.Fatalf("sent twice: %s", f.Data)
	}
}

// A token that expires during a connection ends it, with a reason the
// client can act on.
func TestTokenExpiryDisconnects(t *testing.T) {
	_, url := hardeningService(t, nil)
	// The verifier allows 30 s of clock skew: a token that expired 29 s
	// ago is still accepted, and must be cut off a second later.
	tok := tokenExpiringAt(t, testSecret, "shortlived", time.Now().Add(-29*time.Second))
	c := support.Dial(t, url, "/socket.io/")
	c.Connect("/chat", `{"token":"`+tok+`"}`)
	got := skipTo(t, c, `42/chat,["auth:expired"`)
	if !strings.Contains(got, `"Token expired"`) {
		t.Fatalf("expiry event: %s", got)
	}
	skipTo(t, c, `41/chat`)
}

// One user cannot open unlimited sockets on a node.
func TestConnectionsPerUserCapped(t *testing.T) {
	_, url := hardeningService(t, map[string]string{"HERALD_MAX_CONNECTIONS_PER_USER": "3"})
	tok := token(t, "greedy", time.Hour)
	c := support.Dial(t, url, "/socket.io/")
	for i := 0; i < 3; i++ {
		c.Send(`40/chat,{"token":"` + tok + `"}`)
		if got := connectAnswer(t, c, "/chat"); !strings.HasPrefix(got, "40/chat,") {
			t.Fatalf("connection %d refused: %s", i, got)
		}
		c = support.Dial(t, url, "/socket.io/")
	}
	c.Send(`40/chat,{"token":"` + tok + `"}`)
	if got := connectAnswer(t, c, "/chat"); got != `44/chat,{"message":"Too many connections"}` {
		t.Fatalf("4th connection: %s", got)
	}
	// Another user is not affected.
	o := support.Dial(t, url, "/socket.io/")
	o.Connect("/chat", `{"token":"`+token(t, "other", time.Hour)+`"}`)
}

// presence:status toggled from many tabs reaches the others at a
// bounded rate, and a status that does not change sends nothing.
func TestPresenceStatusIsRateLimited(t *testing.T) {
	_, url := hardeningService(t, nil)
	watcher := support.Dial(t, url, "/socket.io/")
	watcher.Connect("/", `{"token":"`+token(t, "watcher", time.Hour)+`"}`)
	tok := token(t, "toggler", time.Hour)
	var tabs []*support.Conn
	for i := 0; i < 10; i++ {
		c := support.Dial(t, url, "/socket.io/")
		c.Connect("/", `{"token":"`+tok+`"}`)
		tabs = append(tabs, c)
	}
	time.Sleep(200 * time.Millisecond)
	drain(watcher)
	for round := 0; round < 10; round++ {
		for i, c := range tabs {
			status := "away"
			if (round+i)%2 == 0 {
				status = "busy"
			}
			c.Send(`42["presence:status","` + status + `"]`)
		}
	}
	time.Sleep(time.Second)
	updates := 0
	for {
		f, ok := watcher.TryNext(100 * time.Millisecond)
		if !ok {
			break
		}
		if strings.HasPrefix(string(f.Data), `42["presence:update"`) {
			updates++
		}
	}
	// 100 changes in about a second: the per-user budget lets a handful
	// through.
	if updates == 0 || updates > 10 {
		t.Fatalf("%d presence updates for 100 toggles", updates)
	}
}

func drain(c *support.Conn) {
	for {
		if _, ok := c.TryNext(50 * time.Millisecond); !ok {
			return
		}
	}
}

// "*" never goes with credentials, and the "null" origin is refused
// unless listed.
func TestCORS(t *testing.T) {
	for _, tt := range []struct {
		origins, origin string
		code            int
		allow, creds    string
	}{
		{"*", "https://a.example", 200, "*", ""},
		{"*", "null", 403, "", ""},
		{"https://a.example", "https://a.example", 200, "https://a.example", "true"},
		{"https://a.example", "https://b.example", 200, "", ""},
		{"https://a.example,null", "null", 200, "null", "true"},
	} {
		_, url := hardeningService(t, map[string]string{"HERALD_CORS_ORIGINS": tt.origins})
		req, _ := http.NewRequest("GET", url+"/socket.io/?EIO=4&transport=polling", nil)
		req.Header.Set("Origin", tt.origin)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tt.code || res.Header.Get("Access-Control-Allow-Origin") != tt.allow ||
			res.Header.Get("Access-Control-Allow-Credentials") != tt.creds {
			t.Errorf("origins %q, Origin %q: %d allow %q creds %q", tt.origins, tt.origin, res.StatusCode,
				res.Header.Get("Access-Control-Allow-Origin"), res.Header.Get("Access-Control-Allow-Credentials"))
		}
	}
}

// testEnv returns an environment of settings in a data directory.
func testEnv(dir string) func(map[string]string) func(string) string {
	return func(m map[string]string) func(string) string {
		return func(k string) string {
			if k == "HERALD_DATA_DIR" {
				return dir
			}
			return m[k]
		}
	}
}

// Dev mode (anyone can mint tokens) refuses an address beyond loopback
// unless allowed explicitly.
func TestDevModeStaysOnLoopback(t *testing.T) {
	env := testEnv(t.TempDir())
	if _, err := Load(nil, env(map[string]string{"HERALD_ADDR": "0.0.0.0:8080"})); err == nil ||
		!strings.Contains(err.Error(), "loopback") {
		t.Fatalf("dev mode on 0.0.0.0: %v", err)
	}
	if c, err := Load(nil, env(map[string]string{"HERALD_ADDR": "0.0.0.0:8080", "HERALD_DEV_ALLOW_REMOTE": "1"})); err != nil || c.Addr != "0.0.0.0:8080" {
		t.Fatalf("allowed remote dev mode: %+v %v", c.Addr, err)
	}
	if c, err := Load(nil, env(map[string]string{"HERALD_ADDR": ":8080"})); err != nil || c.Addr != "127.0.0.1:8080" {
		t.Fatalf("default dev address: %q %v", c.Addr, err)
	}
	if c, err := Load(nil, env(map[string]string{"HERALD_ADDR": "0.0.0.0:8080", "HERALD_JWT_SECRET": testSecret})); err != nil || c.Addr != "0.0.0.0:8080" {
		t.Fatalf("production address: %q %v", c.Addr, err)
	}
}

// Behind a trusted proxy each client has its own connection budget;
// X-Forwarded-For from anyone else is ignored.
func TestTrustedProxies(t *testing.T) {
	for _, tt := range []struct {
		trusted, via string // via: proxies after the client in X-Forwarded-For
		perIP        bool   // clients with different forwarded addresses have separate budgets
	}{
		{"127.0.0.1", "", true},
		{"127.0.0.1,10.0.0.0/8", ", 10.1.1.1", true},
		{"127.0.0.1", ", 10.1.1.1", false}, // an untrusted hop: it is the client
		{"", "", false},
		{"10.0.0.0/8", "", false},
	} {
		_, url := hardeningService(t, map[string]string{"HERALD_CONN_PER_IP_PER_MINUTE": "2", "HERALD_TRUSTED_PROXIES": tt.trusted})
		refused := 0
		for i := 0; i < 4; i++ {
			req, _ := http.NewRequest("GET", url+"/socket.io/?EIO=4&transport=polling", nil)
			req.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d%s", i, tt.via))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 200 {
				refused++
			}
		}
		if tt.perIP && refused != 0 || !tt.perIP && refused != 2 {
			t.Errorf("trusted %q: %d of 4 refused", tt.trusted, refused)
		}
	}
}

// A request with huge headers is refused before it costs anything.
func TestRequestHeadersCapped(t *testing.T) {
	env := map[string]string{"HERALD_JWT_SECRET": testSecret, "HERALD_ADDR": "127.0.0.1:0", "HERALD_DATA_DIR": t.TempDir()}
	cfg, err := Load(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(servicetest.Listen(t, svc), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	go fmt.Fprintf(conn, "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 1<<20))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("1 MB of headers: %d", res.StatusCode)
	}
}

// One user cannot fill the server with rooms; rooms:list comes in pages
// and sync-state re-syncs a bounded number of rooms.
func TestRoomsAreBounded(t *testing.T) {
	_, url := hardeningService(t, map[string]string{"HERALD_MAX_ROOMS_PER_USER": "5", "HERALD_MAX_SYNC_ROOMS": "3"})
	c := support.Dial(t, url, "/socket.io/")
	c.Connect("/chat", `{"token":"`+token(t, "builder", time.Hour)+`"}`)
	for i := 0; i < 6; i++ {
		got := ack(t, c, "/chat", i, fmt.Sprintf(`["create-room",{"name":"room %d","public":true}]`, i))
		if i < 5 && !strings.Contains(got, `"room":{`) || i == 5 && !strings.Contains(got, `"Room limit reached"`) {
			t.Fatalf("create-room %d: %s", i, got)
		}
	}
	// 6 rooms (general and 5 new), in pages of 4.
	first := ack(t, c, "/chat", 10, `["rooms:list",{"limit":4}]`)
	if strings.Count(first, `"id":`) != 4 || strings.Contains(first, `"nextCursor":null`) {
		t.Fatalf("first page: %s", first)
	}
	cursor := first[strings.Index(first, `"nextCursor":"`)+14:]
	cursor = cursor[:strings.IndexByte(cursor, '"')]
	second := ack(t, c, "/chat", 11, `["rooms:list",{"limit":4,"after":"`+cursor+`"}]`)
	if strings.Count(second, `"id":`) != 2 || !strings.Contains(second, `"nextCursor":null`) {
		t.Fatalf("second page: %s", second)
	}
	if bad := ack(t, c, "/chat", 12, `["rooms:list",{"after":"@@@"}]`); !strings.Contains(bad, `"Invalid payload"`) {
		t.Fatalf("bad cursor: %s", bad)
	}
	// The seed's call without arguments still answers.
	if all := ack(t, c, "/chat", 13, `["rooms:list"]`); strings.Count(all, `"id":`) != 6 {
		t.Fatalf("rooms:list: %s", all)
	}
	// The creator is a member of 5 rooms; sync-state takes 3.
	sync := ack(t, c, "/chat", 14, `["sync-state",{"lastMessageIds":{}}]`)
	rooms := sync[strings.Index(sync, `"rooms":[`):]
	rooms = rooms[:strings.IndexByte(rooms, ']')]
	if strings.Count(rooms, `"`) != 2+3*2 {
		t.Fatalf("sync-state rooms: %s", sync)
	}
}

// What recovery keeps is bounded in bytes, and the bound is visible.
func TestRecoveryBufferBounded(t *testing.T) {
	_, url := hardeningService(t, map[string]string{"HERALD_RECOVERY_BUFFER_BYTES": "65536",
		"HERALD_RATE_LIMITS": "send-message=1000:1000"})
	c := support.Dial(t, url, "/socket.io/")
	c.Connect("/chat", `{"token":"`+token(t, "talker", time.Hour)+`"}`)
	ack(t, c, "/chat", 1, `["join-room","general"]`)
	big := strings.Repeat("x", 4000)
	for i := 0; i < 40; i++ { // 160 KB of broadcasts
		ack(t, c, "/chat", 2+i, `["send-message",{"roomId":"general","content":"`+big+`"}]`)
	}
	bytes, dropped := metric(t, url, "herald_recovery_buffer_bytes"), metric(t, url, "herald_recovery_dropped_total")
	if bytes < 0 || bytes > 65536 || dropped <= 0 {
		t.Fatalf("recovery buffer %v bytes, %v dropped", bytes, dropped)
	}
	for _, name := range []string{"herald_slow_clients_total", "herald_coalesced_writes_total", "herald_coalesced_packets_total"} {
		if metric(t, url, name) < 0 {
			t.Fatalf("no %s", name)
		}
	}
	if n := metric(t, url, "herald_store_messages_committed_total"); n != 40 {
		t.Fatalf("herald_store_messages_committed_total %v", n)
	}
}

// Rate limits are settings; malformed ones stop the start with a clear
// error.
func TestRateLimitSettings(t *testing.T) {
	env := testEnv(t.TempDir())
	for _, bad := range []map[string]string{
		{"HERALD_RATE_LIMITS": "send-message=5"}, {"HERALD_RATE_LIMITS": "send-message=-1:3"},
		{"HERALD_RATE_LIMITS": "=1:1"}, {"HERALD_USER_MESSAGE_RATE": "30"}, {"HERALD_USER_MESSAGE_RATE": "0/1s"},
		{"HERALD_TRUSTED_PROXIES": "10.0.0.0/99"}, {"HERALD_CORS_ORIGINS": "*,https://a.example"},
		{"HERALD_MAX_CONNECTIONS_PER_USER": "0"}, {"HERALD_RECOVERY_BUFFER_BYTES": "0"}, {"HERALD_MAX_QUEUED_PACKETS": "-1"},
	} {
		if _, err := Load(nil, env(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	c, err := Load(nil, env(map[string]string{"HERALD_RATE_LIMITS": "send-message=100:200, default=50:60"}))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := c.EventRules()
	if r.Events["send-message"].Rate != 100 || r.Default.Burst != 60 || r.Events["typing-start"].Rate != 2 {
		t.Fatalf("rules %+v", r)
	}
}

// metric reads one sample of the service's /metrics.
func metric(t *testing.T, url, name string) float64 {
	t.Helper()
	res, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	v := -1.0
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		fmt.Sscanf(sc.Text(), name+" %g", &v)
	}
	return v
}

// The adapters' queue to Redis is visible, for every variant.
func TestRedisOutboxMetrics(t *testing.T) {
	for _, a := range []string{"pubsub", "sharded", "streams", "streams-only"} {
		t.Run(a, func(t *testing.T) {
			_, url := hardeningService(t, map[string]string{"HERALD_REDIS_URL": support.RedisURL(),
				"HERALD_REDIS_ADAPTER": a, "HERALD_REDIS_PREFIX": support.UniqueKey()})
			c := support.Dial(t, url, "/socket.io/")
			c.Connect("/chat", `{"token":"`+token(t, "metered", time.Hour)+`"}`)
			ack(t, c, "/chat", 1, `["join-room","general"]`)
			ack(t, c, "/chat", 2, `["send-message",{"roomId":"general","content":"counted"}]`)
			deadline := time.Now().Add(5 * time.Second)
			for metric(t, url, "herald_redis_sent_total") < 1 {
				if time.Now().After(deadline) {
					t.Fatalf("herald_redis_sent_total %v", metric(t, url, "herald_redis_sent_total"))
				}
				time.Sleep(50 * time.Millisecond)
			}
			if q := metric(t, url, "herald_redis_queued"); q < 0 {
				t.Fatal("no herald_redis_queued")
			}
		})
	}
}

// Reading a notification in one tab marks it read in the user's others.
func TestNotificationReadStateSyncsTabs(t *testing.T) {
	svc, url := hardeningService(t, nil)
	tok := token(t, "reader", time.Hour)
	a := support.Dial(t, url, "/socket.io/")
	a.Connect("/", `{"token":"`+tok+`"}`)
	b := support.Dial(t, url, "/socket.io/")
	b.Connect("/", `{"token":"`+tok+`"}`)
	post(t, url+"/api/notifications", "Bearer "+svc.Config().APIKey, `{"userId":"reader","type":"t","title":"one","message":""}`)
	n := skipTo(t, a, `42["notification"`)
	id := n[strings.Index(n, `"id":"`)+6:]
	id = id[:strings.IndexByte(id, '"')]
	skipTo(t, b, `42["notification"`)
	ack(t, a, "/", 1, `["notifications:read","`+id+`"]`)
	if got := skipTo(t, b, `42["notifications:state"`); !strings.HasPrefix(got, `42["notifications:state",{"read":["`+id+`"]}`) {
		t.Fatalf("other tab: %s", got)
	}
	ack(t, b, "/", 2, `["notifications:read-all"]`)
	if got := skipTo(t, a, `42["notifications:state"`); !strings.HasPrefix(got, `42["notifications:state",{"all":true}`) {
		t.Fatalf("first tab: %s", got)
	}
}

// Events a handler takes are counted under their names, the chat's newer
// ones too; whatever else a client sends is "other" (bounded labels).
func TestEventMetricsLabels(t *testing.T) {
	_, url := hardeningService(t, nil)
	c := support.Dial(t, url, "/socket.io/")
	c.Connect("/chat", `{"token":"`+token(t, "counter", time.Hour)+`"}`)
	ack(t, c, "/chat", 1, `["dm:open",{"userId":"someone"}]`)
	c.Send(`42/chat,["no-such-event-` + strings.Repeat("x", 40) + `"]`)
	ack(t, c, "/chat", 2, `["rooms:list"]`)
	if n := metric(t, url, `herald_events_in_total{event="dm:open"}`); n != 1 {
		t.Errorf("dm:open counted %v times under its name", n)
	}
	if n := metric(t, url, `herald_events_in_total{event="rooms:list"}`); n != 1 {
		t.Errorf("rooms:list counted %v", n)
	}
}
