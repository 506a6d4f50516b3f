package service

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/service/webhook"
	"github.com/heraldio/herald/test/support"
)

const hookSecret = "webhook-secret-webhook-secret"

// hookReceiver is a webhook backend: it verifies each delivery and keeps
// the envelopes it accepted.
type hookReceiver struct {
	t   *testing.T
	url string
	mu  sync.Mutex
	got []webhook.Envelope
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{t: t}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if err := webhook.Verify([]byte(hookSecret), req.Header.Get(webhook.HeaderSignature), body, time.Now(), 0); err != nil {
			t.Errorf("webhook fails verification: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var e webhook.Envelope
		if err := json.Unmarshal(body, &e); err != nil {
			t.Errorf("webhook body %q: %v", body, err)
		}
		r.mu.Lock()
		r.got = append(r.got, e)
		r.mu.Unlock()
	}))
	t.Cleanup(hs.Close)
	r.url = hs.URL
	return r
}

// types returns the accepted events' types, in order, with the data of
// each as a map.
func (r *hookReceiver) events() ([]string, []map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var types []string
	var data []map[string]any
	for _, e := range r.got {
		var d map[string]any
		_ = json.Unmarshal(e.Data, &d)
		types, data = append(types, e.Type), append(data, d)
	}
	return types, data
}

// waitTypes waits until the accepted events' types are want, in any
// order across keys, and returns their payloads in want's order (the k-th
// event of a type in want is the k-th received). Events of one key — a
// user (user.*, notification.*) or a room (the rest) — must have arrived
// in want's order: the service orders per key, and different keys'
// deliveries may overtake each other.
func (r *hookReceiver) waitTypes(want ...string) []map[string]any {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	sorted := func(v []string) string {
		c := slices.Clone(v)
		slices.Sort(c)
		return strings.Join(c, " ")
	}
	key := func(ty string, d map[string]any) string {
		if strings.HasPrefix(ty, "user.") || strings.HasPrefix(ty, "notification.") {
			return "user:" + fmt.Sprint(d["userId"])
		}
		if v, ok := d["roomId"]; ok {
			return "room:" + fmt.Sprint(v)
		}
		return "room:" + fmt.Sprint(d["id"])
	}
	for {
		types, data := r.events()
		if sorted(types) == sorted(want) {
			pos := make([]int, len(want)) // want[i] is received event pos[i]
			seen := map[string]int{}
			for i, w := range want {
				k := seen[w]
				seen[w]++
				for j, ty := range types {
					if ty == w {
						if k == 0 {
							pos[i] = j
							break
						}
						k--
					}
				}
			}
			out := make([]map[string]any, len(want))
			for i, w := range want {
				out[i] = data[pos[i]]
				for e := range i {
					if key(want[e], data[pos[e]]) == key(w, data[pos[i]]) && pos[e] > pos[i] {
						r.t.Fatalf("webhooks %v: %s came before %s of the same key", types, w, want[e])
					}
				}
			}
			return out
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("webhooks %v, want %v", types, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Every webhook event of the service, signed, in order, with the
// payloads the README shows; a receiver subscribed to one type gets only
// it.
func TestWebhooksOfTheService(t *testing.T) {
	all, some := newHookReceiver(t), newHookReceiver(t)
	svc, url := hardeningService(t, map[string]string{
		"HERALD_WEBHOOKS":       all.url + "; " + some.url + " user.offline,notification.read",
		"HERALD_WEBHOOK_SECRET": hookSecret,
		"HERALD_PRESENCE_GRACE": "200ms",
	})
	c := support.Dial(t, url, "/socket.io/")
	c.Connect("/chat", `{"token":"`+token(t, "alice", time.Hour)+`"}`)
	c.Connect("/", `{"token":"`+token(t, "alice", time.Hour)+`"}`)
	all.waitTypes(webhook.UserOnline)

	created := ack(t, c, "/chat", 1, `["create-room",{"name":"Ops","public":true}]`)
	id := created[strings.Index(created, `"id":"`)+6:]
	id = id[:strings.IndexByte(id, '"')]
	ack(t, c, "/chat", 2, `["join-room","`+id+`"]`)
	ack(t, c, "/chat", 3, `["send-message",{"roomId":"`+id+`","content":"hello"}]`)
	ack(t, c, "/chat", 4, `["leave-room","`+id+`"]`)
	post(t, url+"/api/notifications", "Bearer key", `{"userId":"alice","type":"t","title":"one"}`)
	n := skipTo(t, c, `42["notification"`)
	nid := n[strings.Index(n, `"id":"`)+6:]
	nid = nid[:strings.IndexByte(nid, '"')]
	ack(t, c, "/", 5, `["notifications:read","`+nid+`"]`)
	c.Close()
	data := all.waitTypes(webhook.UserOnline, webhook.RoomCreated, webhook.MemberJoined, webhook.MessageCreated,
		webhook.MemberLeft, webhook.NotificationRead, webhook.UserOffline)
	check := func(i int, key string, want any) {
		t.Helper()
		if got := fmt.Sprint(data[i][key]); got != fmt.Sprint(want) {
			t.Errorf("event %d %s = %s, want %v (%v)", i, key, got, want, data[i])
		}
	}
	check(0, "userId", "alice")
	check(0, "status", "online")
	check(1, "id", id)
	check(1, "createdBy", "alice")
	check(2, "roomId", id)
	check(2, "user", map[string]any{"id": "alice", "name": "alice"})
	check(3, "content", "hello")
	check(3, "author", map[string]any{"id": "alice", "name": "alice"})
	check(4, "roomId", id)
	check(5, "ids", []any{nid})
	check(6, "userId", "alice")
	if data[6]["lastSeen"] == nil {
		t.Error("user.offline without lastSeen")
	}
	some.waitTypes(webhook.NotificationRead, webhook.UserOffline)
	ids := map[string]bool{}
	all.mu.Lock()
	for _, e := range all.got {
		if !strings.HasPrefix(e.ID, "evt_") || ids[e.ID] {
			t.Errorf("id %q", e.ID)
		}
		ids[e.ID] = true
	}
	all.mu.Unlock()
	// The backend's own operations are reported too.
	code, _ := post(t, url+"/api/v1/rooms", "Bearer key", `{"id":"api-room","name":"API","public":false}`)
	if code != 201 && code != 200 {
		t.Fatalf("create room: %d", code)
	}
	req, _ := http.NewRequest(http.MethodPut, url+"/api/v1/rooms/api-room/members/bob", nil)
	req.Header.Set("Authorization", "Bearer key")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode/100 != 2 {
		t.Fatalf("add member: %v %v", res, err)
	}
	all.waitTypes(webhook.UserOnline, webhook.RoomCreated, webhook.MemberJoined, webhook.MessageCreated,
		webhook.MemberLeft, webhook.NotificationRead, webhook.UserOffline, webhook.RoomCreated, webhook.MemberJoined)
	if m := metric(t, url, "herald_webhook_delivered_total"); m < 9 {
		t.Fatalf("herald_webhook_delivered_total %v", m)
	}
	_ = svc
}

// On a cluster a user online on both nodes is reported online once, and
// offline once when the last node lets them go.
func TestWebhookPresenceOncePerCluster(t *testing.T) {
	r := newHookReceiver(t)
	env := clusterEnv(t)
	env["HERALD_WEBHOOKS"] = r.url + " user.online,user.offline"
	env["HERALD_WEBHOOK_SECRET"] = hookSecret
	env["HERALD_PRESENCE_GRACE"] = "200ms"
	_, urlA := newTestService(t, env)
	_, urlB := newTestService(t, env)
	tok := func() string {
		tok, err := auth.Mint([]byte(env["HERALD_JWT_SECRET"]), auth.User{ID: "carol", Name: "Carol"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	a := support.Dial(t, urlA, "/socket.io/")
	a.Connect("/", `{"token":"`+tok()+`"}`)
	r.waitTypes(webhook.UserOnline)
	b := support.Dial(t, urlB, "/socket.io/")
	b.Connect("/", `{"token":"`+tok()+`"}`)
	skipTo(t, b, `42["presence:list"`)
	a.Close()
	time.Sleep(600 * time.Millisecond) // past the grace: still online on B
	b.Close()
	r.waitTypes(webhook.UserOnline, webhook.UserOffline)
	time.Sleep(500 * time.Millisecond)
	if types, _ := r.events(); len(types) != 2 {
		t.Fatalf("webhooks %v", types)
	}
}

// hookBackend is an RPC / connect proxy backend: answer writes the reply
// to one request.
func hookBackend(t *testing.T, answer func(w http.ResponseWriter, req map[string]any)) string {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req map[string]any
		dec := json.NewDecoder(r.Body)
		dec.UseNumber() // numbers as the client wrote them
		if err := dec.Decode(&req); err != nil {
			t.Errorf("proxy request: %v", err)
		}
		answer(w, req)
	}))
	t.Cleanup(hs.Close)
	return hs.URL
}

func TestRPCProxy(t *testing.T) {
	var mu sync.Mutex
	var seen []map[string]any
	release := make(chan struct{})
	defer close(release)
	backend := hookBackend(t, func(w http.ResponseWriter, req map[string]any) {
		mu.Lock()
		seen = append(seen, req)
		mu.Unlock()
		switch req["event"] {
		case "rpc:echo":
			_ = json.NewEncoder(w).Encode(map[string]any{"result": map[string]any{"args": req["args"], "user": req["user"]}})
		case "rpc:refuse":
			_, _ = io.WriteString(w, `{"error":{"code":"out_of_stock","message":"Out of stock"}}`)
		case "rpc:slow":
			select {
			case <-release:
			case <-time.After(5 * time.Second):
			}
		case "rpc:garbage":
			_, _ = io.WriteString(w, `<html>oops`)
		case "rpc:huge":
			_, _ = io.WriteString(w, `{"result":"`+strings.Repeat("x", 2<<20)+`"}`)
		case "rpc:status":
			w.WriteHeader(http.StatusBadGateway)
		case "rpc:act":
			_, _ = io.WriteString(w, `{"result":"done","actions":[
				{"type":"join","rooms":["vip"]},
				{"type":"emit","event":"order:mine","data":{"n":1}},
				{"type":"emit","to":["vip"],"event":"order:vip","args":["a",2]},
				{"type":"emit","to":["user:bob"],"namespace":"/","event":"order:bob"},
				{"type":"nonsense"}]}`)
		case "rpc:bye":
			_, _ = io.WriteString(w, `{"result":"bye","actions":[{"type":"disconnect"}]}`)
		}
	})
	_, url := hardeningService(t, map[string]string{
		"HERALD_RPC_URL": backend, "HERALD_RPC_EVENTS": "rpc:*,/=order:place", "HERALD_RPC_TIMEOUT": "500ms",
		"HERALD_RPC_MAX_PER_CONNECTION": "2",
	})
	c := support.Dial(t, url, "/socket.io/")
	sid := c.Connect("/chat", `{"token":"`+token(t, "alice", time.Hour)+`"}`)
	bob := support.Dial(t, url, "/socket.io/")
	bob.Connect("/", `{"token":"`+token(t, "bob", time.Hour)+`"}`)

	// A slow call does not hold the next event of the same socket.
	c.Send(`42/chat,1["rpc:slow"]`)
	got := ack(t, c, "/chat", 2, `["rpc:echo",{"x":1},"two",9007199254740993]`)
	if !strings.Contains(got, `"args":[{"x":1},"two",9007199254740993]`) || !strings.Contains(got, `"user":{"id":"alice","name":"alice","roles":["user"]}`) {
		t.Fatalf("echo ack %s", got)
	}
	// Two in flight for this socket: a third is refused at once.
	c.Send(`42/chat,3["rpc:slow"]`)
	if got := ack(t, c, "/chat", 4, `["rpc:echo"]`); !strings.Contains(got, `"code":"busy"`) {
		t.Fatalf("over the per-connection bound: %s", got)
	}
	for range 2 {
		if got := skipTo(t, c, "43/chat,"); !strings.Contains(got, `"code":"timeout"`) {
			t.Fatalf("slow call: %s", got)
		}
	}
	for i, tc := range []struct{ event, want string }{
		{"rpc:refuse", `43/chat,10[{"error":{"code":"out_of_stock","message":"Out of stock"}}]`},
		{"rpc:garbage", `43/chat,11[{"error":{"code":"bad_answer","message":"Backend answer invalid"}}]`},
		{"rpc:huge", `43/chat,12[{"error":{"code":"bad_answer","message":"Backend answer invalid"}}]`},
		{"rpc:status", `43/chat,13[{"error":{"code":"unavailable","message":"Backend unavailable"}}]`},
	} {
		if got := ack(t, c, "/chat", 10+i, `["`+tc.event+`"]`); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.event, got, tc.want)
		}
	}
	// Not configured here: order:place is proxied on "/" only.
	c.Send(`42/chat,20["order:place"]`)
	c.ExpectNothing(300 * time.Millisecond)

	c.Send(`42/chat,21["rpc:act"]`)
	skipTo(t, c, `42/chat,["order:mine",{"n":1}`) // and the recovery offset
	skipTo(t, c, `42/chat,["order:vip","a",2`)
	skipTo(t, c, `43/chat,21["done"]`)
	skipTo(t, bob, `42["order:bob"`)

	ack(t, c, "/chat", 22, `["rpc:bye"]`)
	skipTo(t, c, "41/chat,")

	mu.Lock()
	defer mu.Unlock()
	first := seen[0]
	if first["socketId"] != sid || first["namespace"] != "/chat" {
		t.Fatalf("request %v", first)
	}
	if m := metric(t, url, "herald_rpc_refused_total"); m != 1 {
		t.Fatalf("herald_rpc_refused_total %v", m)
	}
}

// The node-wide bound: past HERALD_RPC_MAX_CONCURRENT calls in flight,
// any socket's next event is refused at once; binary arguments reach the
// backend as base64.
func TestRPCNodeBoundAndBinaryArgs(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	args := make(chan string, 4)
	backend := hookBackend(t, func(w http.ResponseWriter, req map[string]any) {
		if req["event"] == "rpc:hold" {
			<-release
			return
		}
		b, _ := json.Marshal(req["args"])
		args <- string(b)
		_, _ = io.WriteString(w, `{"result":"ok"}`)
	})
	_, url := hardeningService(t, map[string]string{"HERALD_RPC_URL": backend, "HERALD_RPC_MAX_CONCURRENT": "1", "HERALD_RPC_TIMEOUT": "10s"})
	a := support.Dial(t, url, "/socket.io/")
	a.Connect("/", `{"token":"`+token(t, "a", time.Hour)+`"}`)
	b := support.Dial(t, url, "/socket.io/")
	b.Connect("/", `{"token":"`+token(t, "b", time.Hour)+`"}`)
	a.Send(`421["rpc:hold"]`)
	deadline := time.Now().Add(10 * time.Second)
	for metric(t, url, "herald_rpc_in_flight") != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the held call never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := ack(t, b, "/", 2, `["rpc:x"]`); !strings.Contains(got, `"code":"busy"`) {
		t.Fatalf("other socket over the node bound: %s", got)
	}
	release <- struct{}{}
	skipTo(t, a, "431")
	b.Send(`451-3["rpc:bin",{"_placeholder":true,"num":0}]`)
	b.SendBinary([]byte{0, 1, 2, 255})
	if got := skipTo(t, b, "433"); got != `433["ok"]` {
		t.Fatalf("binary call: %s", got)
	}
	if got := <-args; got != `["AAEC/w=="]` {
		t.Fatalf("binary args at the backend: %s", got)
	}
}

// "*" takes the events no handler of the namespace takes: the built-in
// ones are answered as always.
func TestRPCCatchAllLeavesHandledEvents(t *testing.T) {
	var mu sync.Mutex
	var proxied []string
	backend := hookBackend(t, func(w http.ResponseWriter, req map[string]any) {
		mu.Lock()
		proxied = append(proxied, fmt.Sprint(req["event"]))
		mu.Unlock()
		_, _ = io.WriteString(w, `{"result":"backend"}`)
	})
	_, url := hardeningService(t, map[string]string{"HERALD_RPC_URL": backend, "HERALD_RPC_EVENTS": "*"})
	c := support.Dial(t, url, "/socket.io/")
	c.Connect("/chat", `{"token":"`+token(t, "alice", time.Hour)+`"}`)
	if got := ack(t, c, "/chat", 1, `["join-room","general"]`); !strings.Contains(got, `"ok":true`) {
		t.Fatalf("join-room: %s", got)
	}
	if got := ack(t, c, "/chat", 2, `["dm:open",{"userId":"bob"}]`); strings.Contains(got, "backend") {
		t.Fatalf("dm:open went to the backend: %s", got)
	}
	if got := ack(t, c, "/chat", 3, `["anything:else"]`); got != `43/chat,3["backend"]` {
		t.Fatalf("unhandled event: %s", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(proxied, ",") != "anything:else" {
		t.Fatalf("proxied %v", proxied)
	}
}

func TestRPCBackendDown(t *testing.T) {
	hs := httptest.NewServer(http.NotFoundHandler())
	down := hs.URL
	hs.Close()
	_, url := hardeningService(t, map[string]string{"HERALD_RPC_URL": down})
	c := support.Dial(t, url, "/socket.io/")
	c.Connect("/", `{"token":"`+token(t, "alice", time.Hour)+`"}`)
	if got := ack(t, c, "/", 1, `["rpc:x"]`); got != `431[{"error":{"code":"unavailable","message":"Backend unavailable"}}]` {
		t.Fatalf("ack %s", got)
	}
	// The service is still up.
	if got := ack(t, c, "/", 2, `["presence:status","away"]`); !strings.Contains(got, `"ok":true`) {
		t.Fatalf("after: %s", got)
	}
}

// connectResult returns the CONNECT or CONNECT_ERROR answer for "/".
func connectResult(t *testing.T, url, auth string, header http.Header) string {
	t.Helper()
	c := support.DialHeader(t, url, "/socket.io/", header)
	c.Send("40" + auth)
	for range 100 {
		f := string(c.Next().Data)
		if strings.HasPrefix(f, "40") || strings.HasPrefix(f, "44") {
			return f
		}
	}
	t.Fatal("no answer to CONNECT")
	return ""
}

func TestConnectProxy(t *testing.T) {
	var mu sync.Mutex
	var last map[string]any
	backend := hookBackend(t, func(w http.ResponseWriter, req map[string]any) {
		mu.Lock()
		last = req
		mu.Unlock()
		a, _ := req["auth"].(map[string]any)
		switch a["ticket"] {
		case "good":
			_, _ = io.WriteString(w, `{"user":{"id":"t-1","name":"Ticket","roles":["user","agent"],"data":{"plan":"pro"}},"rooms":["vip"]}`)
		case "banned":
			_, _ = io.WriteString(w, `{"error":{"message":"Banned","data":{"until":"tomorrow"}}}`)
		case "slow":
			time.Sleep(2 * time.Second)
		case "garbage":
			_, _ = io.WriteString(w, `[1,2`)
		case "nobody":
			_, _ = io.WriteString(w, `{}`)
		default:
			if u, ok := req["user"].(map[string]any); ok { // after the JWT
				_ = json.NewEncoder(w).Encode(map[string]any{"user": map[string]any{"id": u["id"], "name": "Checked"}})
				return
			}
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	_, url := hardeningService(t, map[string]string{
		"HERALD_CONNECT_PROXY_URL": backend, "HERALD_CONNECT_PROXY_MODE": "replace",
		"HERALD_CONNECT_PROXY_HEADERS": "X-Tenant", "HERALD_CONNECT_PROXY_TIMEOUT": "300ms",
		"HERALD_RPC_URL": hookBackend(t, func(w http.ResponseWriter, req map[string]any) {
			_ = json.NewEncoder(w).Encode(map[string]any{"result": req["user"]})
		}),
	})
	h := http.Header{"X-Tenant": {"acme"}, "X-Secret": {"not passed"}}
	if got := connectResult(t, url, `{"ticket":"good"}`, h); !strings.HasPrefix(got, `40{"sid":`) {
		t.Fatalf("good ticket: %s", got)
	}
	mu.Lock()
	if hd := fmt.Sprint(last["headers"]); hd != "map[X-Tenant:acme]" || last["address"] == "" || last["user"] != nil {
		t.Fatalf("request %v", last)
	}
	mu.Unlock()
	for _, tc := range []struct{ auth, want string }{
		{`{"ticket":"banned"}`, `44{"message":"Banned","data":{"until":"tomorrow"}}`},
		{`{"ticket":"slow"}`, `44{"message":"Authentication unavailable","data":{"reason":"backend_timeout"}}`},
		{`{"ticket":"garbage"}`, `44{"message":"Authentication unavailable","data":{"reason":"backend_unavailable"}}`},
		{`{"ticket":"nobody"}`, `44{"message":"Authentication unavailable","data":{"reason":"backend_answer_invalid"}}`},
		{`{"ticket":"other"}`, `44{"message":"Authentication unavailable","data":{"reason":"backend_unavailable"}}`},
	} {
		if got := connectResult(t, url, tc.auth, nil); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.auth, got, tc.want)
		}
	}
	// The backend's user, data and rooms are the socket's.
	c := support.Dial(t, url, "/socket.io/")
	c.Connect("/", `{"ticket":"good"}`)
	got := ack(t, c, "/", 1, `["rpc:whoami"]`)
	if !strings.Contains(got, `"id":"t-1"`) || !strings.Contains(got, `"roles":["user","agent"]`) || !strings.Contains(got, `"data":{"plan":"pro"}`) {
		t.Fatalf("rpc user: %s", got)
	}
	if code, body := post(t, url+"/api/v1/emit", "Bearer key", `{"room":"vip","event":"vip-news"}`); code != 200 {
		t.Fatalf("emit: %d %v", code, body)
	}
	skipTo(t, c, `42["vip-news"`)
}

func TestConnectProxyAfterJWT(t *testing.T) {
	backend := hookBackend(t, func(w http.ResponseWriter, req map[string]any) {
		u, _ := req["user"].(map[string]any)
		if u["id"] == "mallory" {
			_, _ = io.WriteString(w, `{"error":{"message":"Suspended"}}`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"user": map[string]any{"id": u["id"], "name": "Checked " + fmt.Sprint(u["id"])}})
	})
	_, url := hardeningService(t, map[string]string{"HERALD_CONNECT_PROXY_URL": backend})
	if got := connectResult(t, url, `{}`, nil); got != `44{"message":"Authentication required"}` {
		t.Fatalf("no token: %s", got)
	}
	if got := connectResult(t, url, `{"token":"`+token(t, "mallory", time.Hour)+`"}`, nil); got != `44{"message":"Suspended"}` {
		t.Fatalf("refused: %s", got)
	}
	c := support.Dial(t, url, "/socket.io/")
	c.Connect("/", `{"token":"`+token(t, "ann", time.Hour)+`"}`)
	if got := skipTo(t, c, `42["presence:list"`); !strings.Contains(got, `"name":"Checked ann"`) {
		t.Fatalf("presence of the checked user: %s", got)
	}
}

func TestHooksConfigRejectsBadValues(t *testing.T) {
	env := testEnv(t.TempDir())
	for _, bad := range []map[string]string{
		{"HERALD_WEBHOOKS": "http://x/hook"}, // no secret
		{"HERALD_WEBHOOKS": "http://x/hook", "HERALD_WEBHOOK_SECRET": "short"},
		{"HERALD_WEBHOOKS": "ftp://x/hook", "HERALD_WEBHOOK_SECRET": hookSecret},
		{"HERALD_WEBHOOKS": "not a url", "HERALD_WEBHOOK_SECRET": hookSecret},
		{"HERALD_WEBHOOKS": "http://x/hook user.deleted", "HERALD_WEBHOOK_SECRET": hookSecret},
		{"HERALD_WEBHOOKS": "http://x/hook user.online extra", "HERALD_WEBHOOK_SECRET": hookSecret},
		{"HERALD_WEBHOOK_TIMEOUT": "-1s"},
		{"HERALD_WEBHOOK_ATTEMPTS": "0"},
		{"HERALD_WEBHOOK_QUEUE": "-5"},
		{"HERALD_RPC_URL": "localhost:9000"},
		{"HERALD_RPC_URL": "http://x/rpc", "HERALD_RPC_EVENTS": "a*b"},
		{"HERALD_RPC_URL": "http://x/rpc", "HERALD_RPC_EVENTS": "/chat"},
		{"HERALD_RPC_URL": "http://x/rpc", "HERALD_RPC_EVENTS": " , "},
		{"HERALD_RPC_MAX_CONCURRENT": "0"},
		{"HERALD_CONNECT_PROXY_MODE": "instead"},
		{"HERALD_CONNECT_PROXY_URL": "//no-scheme"},
		{"HERALD_CONNECT_PROXY_TIMEOUT": "0s"},
	} {
		if _, err := Load(nil, env(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	c, err := Load(nil, env(map[string]string{
		"HERALD_WEBHOOKS":       " http://a/h ; https://u:pw@b/h user.online,member.left ",
		"HERALD_WEBHOOK_SECRET": hookSecret, "HERALD_RPC_URL": "http://x/rpc", "HERALD_RPC_EVENTS": "rpc:*, /chat=order:*",
	}))
	if err != nil {
		t.Fatal(err)
	}
	h := c.Hooks
	if len(h.endpoints) != 2 || h.endpoints[1].URL != "https://u:pw@b/h" || len(h.endpoints[1].Events) != 2 ||
		len(h.rpcEvents) != 2 || h.rpcEvents[1].Namespace != "/chat" {
		t.Fatalf("parsed %+v", h)
	}
	// "herald config check" masks each receiver's password and the secret.
	var out strings.Builder
	if err := c.WriteYAML(&out); err != nil {
		t.Fatal(err)
	}
	if y := out.String(); strings.Contains(y, "pw") || strings.Contains(y, hookSecret) ||
		!strings.Contains(y, "https://u:xxxxx@b/h user.online,member.left") {
		t.Fatalf("config check output:\n%s", y)
	}
	// The config file takes the same keys.
	file := t.TempDir() + "/herald.yaml"
	if err := os.WriteFile(file, []byte("webhooks: http://c/h user.offline\nwebhook-secret: "+hookSecret+"\nrpc-url: http://c/rpc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fc, err := Load([]string{"-config", file}, env(nil))
	if err != nil || len(fc.Hooks.endpoints) != 1 || fc.Hooks.endpoints[0].Events[0] != "user.offline" || fc.Hooks.RPCURL != "http://c/rpc" {
		t.Fatalf("from the file: %+v %v", fc.Hooks, err)
	}
}
