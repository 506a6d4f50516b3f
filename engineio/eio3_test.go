package engineio_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/heraldio/herald/engineio"
)

// handshakeV3 opens an Engine.IO v3 polling session; query is added to
// the handshake's (b64=1).
func handshakeV3(t *testing.T, base, query string) (sid, pollURL string) {
	t.Helper()
	code, body := get(t, base+"?EIO=3&transport=polling"+query)
	n, rest, ok := strings.Cut(body, ":")
	if code != 200 || !ok || !strings.HasPrefix(rest, "0{") || len(rest) != atoi(t, n) {
		t.Fatalf("v3 handshake %d %q", code, body)
	}
	var hs struct {
		Sid          string
		Upgrades     []string
		PingInterval int
	}
	if err := json.Unmarshal([]byte(rest[1:]), &hs); err != nil || hs.Sid == "" {
		t.Fatalf("open packet %q: %v", rest, err)
	}
	return hs.Sid, base + "?EIO=3&transport=polling&sid=" + hs.Sid
}

func atoi(t *testing.T, s string) int {
	var n int
	if err := json.Unmarshal([]byte(s), &n); err != nil {
		t.Fatalf("length %q: %v", s, err)
	}
	return n
}

func postAs(t *testing.T, url, ctype string, body []byte) (int, string) {
	t.Helper()
	res, err := http.Post(url, ctype, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func getRaw(t *testing.T, url string) (ctype string, body []byte) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d %q", url, res.StatusCode, b)
	}
	return res.Header.Get("Content-Type"), b
}

// Without AllowEIO3, v3 clients are refused as before; with it, JSONP is.
func TestEIO3Refused(t *testing.T) {
	_, base, _ := newServer(t, nil)
	if code, body := get(t, base+"?EIO=3&transport=polling"); code != 400 || body != `{"code":5,"message":"Unsupported protocol version"}` {
		t.Errorf("EIO=3 without AllowEIO3: %d %s", code, body)
	}
	_, base, _ = newServer(t, &engineio.Options{AllowEIO3: true})
	for _, q := range []string{"?EIO=3&transport=polling&j=0", "?EIO=2&transport=polling", "?transport=polling"} {
		if code, _ := get(t, base+q); code != 400 {
			t.Errorf("%s: %d", q, code)
		}
	}
	// A v3 session's requests must say EIO=3.
	sid, _ := handshakeV3(t, base, "")
	if code, body := get(t, base+"?EIO=4&transport=polling&sid="+sid); code != 400 || body != `{"code":3,"message":"Bad request"}` {
		t.Errorf("EIO=4 request for a v3 session: %d %s", code, body)
	}
}

// Text with astral characters is framed by UTF-16 length both ways;
// binary comes as a binary payload, or as "b4" and base64 to a client
// that asked b64=1, and goes back the same way.
func TestEIO3PollingPayloads(t *testing.T) {
	_, base, _ := newServer(t, &engineio.Options{AllowEIO3: true})
	_, u := handshakeV3(t, base, "")
	text := `4["😀 é 𝄞"]`
	if code, body := post(t, u, "12:"+text+"6:b4AQID"); code != 200 || body != "ok" {
		t.Fatalf("post %d %q", code, body)
	}
	ctype, body := getRaw(t, u)
	want := append([]byte{0, 1, 7, 0xff}, text...) // bytes in the binary framing
	want = append(want, 1, 4, 0xff, 4, 1, 2, 3)
	if ctype != "application/octet-stream" || !bytes.Equal(body, want) {
		t.Fatalf("poll %q %v, want %v", ctype, body, want)
	}
	// The same from a client that posts a binary payload.
	if code, _ := postAs(t, u, "application/octet-stream", want); code != 200 {
		t.Fatalf("binary post: %d", code)
	}
	if _, body := getRaw(t, u); !bytes.Equal(body, want) {
		t.Fatalf("binary round trip %v", body)
	}
	// Text only: a text payload.
	post(t, u, "12:"+text)
	if ctype, body := getRaw(t, u); ctype != "text/plain; charset=UTF-8" || string(body) != "12:"+text {
		t.Fatalf("text poll %q %q", ctype, body)
	}

	_, u = handshakeV3(t, base, "&b64=1")
	post(t, u, "12:"+text+"6:b4AQID")
	if ctype, body := getRaw(t, u); ctype != "text/plain; charset=UTF-8" || string(body) != "12:"+text+"6:b4AQID" {
		t.Fatalf("b64 poll %q %q", ctype, body)
	}
}

func TestEIO3PollingMalformed(t *testing.T) {
	_, base, closed := newServer(t, &engineio.Options{AllowEIO3: true, MaxPayload: 100})
	for _, tt := range []struct {
		name, ctype, body string
		code              int
		reason            string
	}{
		{"length past the body", "text/plain", "9:4a", 400, "parse error"},
		{"not a length", "text/plain", "x:4a", 400, "parse error"},
		{"v4 payload", "text/plain", "4a\x1e4b", 400, "parse error"},
		{"binary length past the body", "application/octet-stream", "\x00\x09\xff4a", 400, "parse error"},
		{"oversized", "text/plain", "201:4" + strings.Repeat("x", 200), 413, "transport error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, u := handshakeV3(t, base, "")
			if code, _ := postAs(t, u, tt.ctype, []byte(tt.body)); code != tt.code {
				t.Errorf("code %d, want %d", code, tt.code)
			}
			if r := <-closed; r != tt.reason {
				t.Errorf("reason %q, want %q", r, tt.reason)
			}
		})
	}
}

// The client pings, the server answers; a client that stops pinging is
// closed after PingInterval+PingTimeout.
func TestEIO3Heartbeat(t *testing.T) {
	_, base, closed := newServer(t, &engineio.Options{AllowEIO3: true, PingInterval: 50 * time.Millisecond, PingTimeout: 50 * time.Millisecond})
	_, u := handshakeV3(t, base, "")
	for i := 0; i < 3; i++ {
		post(t, u, "1:2")
		if _, body := get(t, u); body != "1:3" {
			t.Fatalf("want pong, got %q", body)
		}
	}
	if r := <-closed; r != "ping timeout" {
		t.Fatalf("reason %q", r)
	}
}

// A v3 WebSocket: text frames as v4's, binary frames with the type byte
// first, both ways; pings answered.
func TestEIO3WebSocket(t *testing.T) {
	_, base, closed := newServer(t, &engineio.Options{AllowEIO3: true})
	conn, br, _, err := ws.Dial(context.Background(), strings.Replace(base, "http", "ws", 1)+"?EIO=3&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rw := struct {
		io.Reader
		io.Writer
	}{io.Reader(conn), conn}
	if br != nil {
		rw.Reader = io.MultiReader(br, conn)
	}
	if d, err := wsutil.ReadServerText(rw); !bytes.HasPrefix(d, []byte(`0{"sid":`)) {
		t.Fatalf("open %q %v", d, err)
	}
	_ = wsutil.WriteClientText(conn, []byte("2"))
	if d, _ := wsutil.ReadServerText(rw); string(d) != "3" {
		t.Fatalf("pong %q", d)
	}
	_ = wsutil.WriteClientBinary(conn, []byte{4, 1, 2})
	if d, _ := wsutil.ReadServerBinary(rw); !bytes.Equal(d, []byte{4, 1, 2}) {
		t.Fatalf("binary echo %v", d)
	}
	_ = wsutil.WriteClientBinary(conn, []byte{2, 1}) // binary, not a message
	if r := <-closed; r != "parse error" {
		t.Fatalf("reason %q", r)
	}
}

// probeV3 opens the WebSocket of pollURL's upgrade and sends the probe.
func probeV3(t *testing.T, pollURL string) net.Conn {
	t.Helper()
	wsURL := strings.Replace(strings.Replace(pollURL, "http", "ws", 1), "transport=polling", "transport=websocket", 1)
	conn, _, _, err := ws.Dial(context.Background(), wsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = wsutil.WriteClientText(conn, []byte("2probe"))
	if d, _ := wsutil.ReadServerText(conn); string(d) != "3probe" {
		t.Fatalf("probe answer %q", d)
	}
	return conn
}

// The upgrade of a v3 session: the probe, the pending GET answered with
// a noop, then the session on the WebSocket.
func TestEIO3Upgrade(t *testing.T) {
	_, base, _ := newServer(t, &engineio.Options{AllowEIO3: true})
	_, pollURL := handshakeV3(t, base, "")
	pending := make(chan string, 1)
	go func() { _, b := get(t, pollURL); pending <- b }()
	time.Sleep(20 * time.Millisecond)
	conn := probeV3(t, pollURL)
	if b := <-pending; b != "1:6" {
		t.Fatalf("pending GET got %q", b)
	}
	post(t, pollURL, "7:4queued")
	_ = wsutil.WriteClientText(conn, []byte("5"))
	if d, _ := wsutil.ReadServerText(conn); string(d) != "4queued" {
		t.Fatalf("after upgrade %q", d)
	}
	_ = wsutil.WriteClientBinary(conn, []byte{4, 9})
	if d, _ := wsutil.ReadServerBinary(conn); !bytes.Equal(d, []byte{4, 9}) {
		t.Fatalf("binary echo %v", d)
	}
}

// A session closed by the server while its upgrade is under way still
// upgrades when the upgrade packet comes: what it queued goes out on the
// WebSocket, then the close.
func TestCloseDuringUpgrade(t *testing.T) {
	url, next := recordingServer(t, &engineio.Options{AllowEIO3: true})
	base := url + "/engine.io/"
	_, pollURL := handshakeV3(t, base, "")
	c := next()
	conn := probeV3(t, pollURL)
	_ = c.Send(engineio.NewMessage([]byte("41"), false))
	_ = c.Close()
	_ = wsutil.WriteClientText(conn, []byte("5"))
	if d, _ := wsutil.ReadServerText(conn); string(d) != "441" {
		t.Fatalf("after upgrade %q, want the packet queued before the close", d)
	}
	if _, err := wsutil.ReadServerText(conn); err == nil {
		t.Fatal("the WebSocket stayed open after the close")
	}
}
