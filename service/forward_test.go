package service

import (
	"context"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/service/servicetest"
)

// listeningNode starts a node on a port of its own with Listen and Serve,
// as the binary does (it publishes the address it listens on).
func listeningNode(t testing.TB, env map[string]string) (*Service, string) {
	t.Helper()
	env["HERALD_ADDR"] = "127.0.0.1:0"
	svc := buildTestService(t, env, nil)
	return svc, servicetest.Listen(t, svc)
}

func httpDo(t testing.TB, method, url, body string, header http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// A polling session opened on node A is served through node B, which
// proxies its requests and its WebSocket upgrade to A; a sid naming no
// registered node, and a request already forwarded, get the usual 400.
func TestPollingWithoutAffinity(t *testing.T) { testPollingWithoutAffinity(t, clusterEnv(t)) }

func testPollingWithoutAffinity(t *testing.T, env map[string]string) {
	a, urlA := listeningNode(t, env)
	_, urlB := listeningNode(t, env)
	tok, _ := auth.Mint([]byte(env["HERALD_JWT_SECRET"]), auth.User{ID: "ann", Name: "Ann", Roles: []string{"user"}}, time.Hour)

	code, body := httpDo(t, "GET", urlA+"/socket.io/?EIO=4&transport=polling", "", nil)
	if code != 200 || !strings.HasPrefix(body, `0{"sid":"`+a.fwd.route+".") {
		t.Fatalf("handshake on A: %d %s", code, body)
	}
	sid := body[len(`0{"sid":"`):]
	sid = sid[:strings.IndexByte(sid, '"')]
	viaB := urlB + "/socket.io/?EIO=4&transport=polling&sid=" + sid
	// B may see A's registration a moment after A listens.
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body = httpDo(t, "POST", viaB, `40{"token":"`+tok+`"}`, nil)
		if code == 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code != 200 || body != "ok" {
		t.Fatalf("POST through B: %d %s", code, body)
	}
	if code, body = httpDo(t, "GET", viaB, "", nil); code != 200 || !strings.HasPrefix(body, `40{"sid":"`) {
		t.Fatalf("GET through B: %d %s", code, body)
	}
	// Never forwarded twice, nor to a node not in the registry.
	loop := http.Header{forwardedHeader: {"00000000"}}
	for _, tt := range []struct {
		url    string
		header http.Header
	}{
		{viaB, loop},
		{urlB + "/socket.io/?EIO=4&transport=polling&sid=ffffffff.nobody", nil},
		{urlB + "/socket.io/?EIO=4&transport=polling&sid=../../x.y", nil},
	} {
		if code, body := httpDo(t, "GET", tt.url, "", tt.header); code != 400 || body != `{"code":1,"message":"Session ID unknown"}` {
			t.Errorf("%s %v: %d %s", tt.url, tt.header, code, body)
		}
	}
	// Too large a body is refused by B before it reaches A.
	if code, _ := httpDo(t, "POST", viaB, "4"+strings.Repeat("x", int(a.cfg.MaxPayload)+10), nil); code != 413 {
		t.Errorf("oversized POST through B: %d", code)
	}
	if _, body := httpDo(t, "GET", urlB+"/metrics", "", nil); !strings.Contains(body, `herald_forwarded_requests_total{transport="polling"}`) ||
		!strings.Contains(body, `herald_forward_errors_total{kind="unknown_node"} 1`) {
		t.Errorf("B's metrics:\n%s", grepLines(body, "herald_forward"))
	}

	// The upgrade of a second session through B: probe, upgrade, then an
	// event with an ack over the proxied WebSocket.
	code, body = httpDo(t, "GET", urlA+"/socket.io/?EIO=4&transport=polling", "", nil)
	if code != 200 {
		t.Fatal(code, body)
	}
	sid = body[len(`0{"sid":"`):]
	sid = sid[:strings.IndexByte(sid, '"')]
	poll := urlB + "/socket.io/?EIO=4&transport=polling&sid=" + sid
	if code, _ := httpDo(t, "POST", poll, `40{"token":"`+tok+`"}`, nil); code != 200 {
		t.Fatal("connect", code)
	}
	if code, body := httpDo(t, "GET", poll, "", nil); code != 200 || !strings.HasPrefix(body, "40") {
		t.Fatal("connect answer", code, body)
	}
	conn, _, _, err := ws.Dial(context.Background(), "ws"+strings.TrimPrefix(urlB, "http")+"/socket.io/?EIO=4&transport=websocket&sid="+sid)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	_ = wsutil.WriteClientText(conn, []byte("2probe"))
	next := func(prefix string) string {
		t.Helper()
		for {
			msg, err := wsutil.ReadServerText(conn)
			if err != nil {
				t.Fatalf("waiting for %q: %v", prefix, err)
			}
			if strings.HasPrefix(string(msg), prefix) {
				return string(msg)
			}
		}
	}
	next("3probe")
	_ = wsutil.WriteClientText(conn, []byte("5"))
	_ = wsutil.WriteClientText(conn, []byte(`421["presence:status","away"]`))
	if got := next("431"); got != `431[{"ok":true}]` {
		t.Fatalf("ack over the upgraded, proxied session: %s", got)
	}
	if _, body := httpDo(t, "GET", urlB+"/metrics", "", nil); !strings.Contains(body, `herald_forwarded_requests_total{transport="websocket"} 1`) {
		t.Errorf("B's metrics:\n%s", grepLines(body, "herald_forward"))
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestAdvertisedURLAndNodeURLSetting(t *testing.T) {
	for _, bad := range []string{"ftp://x:1", "http://", "http://h:1/path", "http://u:p@h:1", "h:1"} {
		if err := checkNodeURL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := checkNodeURL("http://herald1:8080"); err != nil {
		t.Error(err)
	}
}

// BenchmarkPollingPost is the cost of forwarding: a polling POST (a
// packet the server reads and drops) sent to the node that holds the
// session, and the same sent to the other node, which proxies it. Both
// nodes run in this process: cpu-ns/op is the whole process's CPU time
// per request (client, the forwarding node and the owner).
func BenchmarkPollingPost(b *testing.B) {
	env := clusterEnv(b)
	env["HERALD_LOG_LEVEL"] = "warn"
	_, urlA := listeningNode(b, env)
	_, urlB := listeningNode(b, env)
	tok, _ := auth.Mint([]byte(env["HERALD_JWT_SECRET"]), auth.User{ID: "bench", Name: "Bench", Roles: []string{"user"}}, time.Hour)
	do := func(method, url, body string) (int, string) { return httpDo(b, method, url, body, nil) }
	_, body := do("GET", urlA+"/socket.io/?EIO=4&transport=polling", "")
	sid := body[len(`0{"sid":"`):]
	sid = sid[:strings.IndexByte(sid, '"')]
	q := "/socket.io/?EIO=4&transport=polling&sid=" + sid
	do("POST", urlA+q, `40{"token":"`+tok+`"}`)
	do("GET", urlA+q, "")
	// B may see A's registration a moment after A listens.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if code, _ := do("POST", urlB+q, `42/bench,["x"]`); code == 200 {
			break
		} else if time.Now().After(deadline) {
			b.Fatal("B does not forward to A:", code)
		}
	}
	for _, bb := range []struct{ name, url string }{{"direct", urlA + q}, {"forwarded", urlB + q}} {
		b.Run(bb.name, func(b *testing.B) {
			cpu0 := processCPU()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// A packet for a namespace the socket is not in: read and dropped.
				if code, body := do("POST", bb.url, `42/bench,["x"]`); code != 200 || body != "ok" {
					b.Fatalf("%d %s", code, body)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the user and system CPU time this process has used, in ns.
func processCPU() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
