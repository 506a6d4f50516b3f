package engineio_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	"github.com/gobwas/ws/wsutil"

	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/test/support"
)

func TestPerMessageDeflate(t *testing.T) {
	_, base, _ := newServer(t, &engineio.Options{PerMessageDeflate: true, DeflateThreshold: 16})
	u := strings.Replace(base, "http", "ws", 1) + "?EIO=4&transport=websocket"
	d := ws.Dialer{Extensions: []httphead.Option{wsflate.Parameters{
		ServerNoContextTakeover: true, ClientNoContextTakeover: true,
	}.Option()}}
	conn, br, hs, err := d.Dial(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if len(hs.Extensions) != 1 {
		t.Fatalf("deflate not negotiated: %v", hs.Extensions)
	}
	var rd io.Reader = conn
	if br != nil {
		rd = br
	}
	readMsg := func() (string, bool) {
		f, err := readFrame(rd)
		if err != nil {
			t.Fatal(err)
		}
		compressed := f.Header.Rsv1()
		if compressed {
			if f, err = wsflate.DecompressFrame(f); err != nil {
				t.Fatal(err)
			}
		}
		return string(f.Payload), compressed
	}
	if open, _ := readMsg(); open[0] != '0' {
		t.Fatalf("open %q", open)
	}
	big := "4" + strings.Repeat("compress me ", 20)
	// The client sends a compressed frame too.
	f, _ := wsflate.CompressFrame(ws.NewTextFrame([]byte(big)))
	if err := ws.WriteFrame(conn, ws.MaskFrameInPlace(f)); err != nil {
		t.Fatal(err)
	}
	if got, compressed := readMsg(); got != big || !compressed {
		t.Fatalf("echo compressed=%v %q", compressed, got)
	}
	_ = wsutil.WriteClientText(conn, []byte("4tiny"))
	if got, compressed := readMsg(); got != "4tiny" || compressed {
		t.Fatalf("small frame compressed=%v %q", compressed, got)
	}
}

func TestHTTPCompressionCORSAndAllowRequest(t *testing.T) {
	_, base, _ := newServer(t, &engineio.Options{
		HTTPCompression: true, DeflateThreshold: 10,
		CORS: &engineio.CORS{Origins: []string{"https://app.example"}, Credentials: true},
		AllowRequest: func(r *http.Request) error {
			if r.Header.Get("X-Deny") != "" {
				return errors.New("denied by policy")
			}
			return nil
		},
	})
	sid := handshake(t, base)
	u := base + "?EIO=4&transport=polling&sid=" + sid
	post(t, u, "4"+strings.Repeat("z", 100))
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("Origin", "https://app.example")
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Header.Get("Content-Encoding") != "gzip" || res.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		res.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("headers %v", res.Header)
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(zr)
	res.Body.Close()
	if !bytes.Equal(body, []byte("4"+strings.Repeat("z", 100))) {
		t.Fatalf("body %q", body)
	}
	// Preflight, and an origin not on the list.
	req, _ = http.NewRequest("OPTIONS", base+"?EIO=4&transport=polling", nil)
	req.Header.Set("Origin", "https://evil.example")
	res, _ = http.DefaultClient.Do(req)
	res.Body.Close()
	if res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from other origin: %d %v", res.StatusCode, res.Header)
	}
	req, _ = http.NewRequest("GET", base+"?EIO=4&transport=polling", nil)
	req.Header.Set("X-Deny", "1")
	res, _ = http.DefaultClient.Do(req)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 403 || string(b) != `{"code":4,"message":"denied by policy"}` {
		t.Fatalf("allowRequest: %d %s", res.StatusCode, b)
	}
}

// Connections that come and go leave no goroutine behind.
func TestChurnLeavesNoGoroutines(t *testing.T) {
	s := engineio.NewServer(nil, func(c *engineio.Conn) engineio.Handler { return &echo{c: c} })
	hs := httptest.NewServer(s)
	for i := 0; i < 200; i++ {
		u := strings.Replace(hs.URL, "http", "ws", 1) + "/?EIO=4&transport=websocket"
		conn, _, _, err := ws.Dial(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		_ = wsutil.WriteClientText(conn, []byte("4x"))
		conn.Close()
	}
	_ = s.Shutdown(context.Background())
	hs.Close()
	// goleak in TestMain checks that nothing is left.
}

func TestTransportsAndCookie(t *testing.T) {
	_, pbase, _ := newServer(t, &engineio.Options{Cookie: &http.Cookie{Name: "io", Path: "/", HttpOnly: true}})
	res, err := http.Get(pbase + "?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if ck := res.Cookies(); len(ck) != 1 || ck[0].Name != "io" || len(ck[0].Value) != 20 {
		t.Fatalf("sticky cookie %v", ck)
	}
	_, base, _ := newServer(t, &engineio.Options{Transports: []string{engineio.TransportWebSocket}})
	if code, body := get(t, base+"?EIO=4&transport=polling"); code != 400 || body != `{"code":0,"message":"Transport unknown"}` {
		t.Fatalf("polling allowed: %d %s", code, body)
	}
	u := strings.Replace(base, "http", "ws", 1) + "?EIO=4&transport=websocket"
	conn, br, _, err := ws.Dial(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var rd io.Reader = conn
	if br != nil {
		rd = br
	}
	open, _ := wsutil.ReadServerText(struct {
		io.Reader
		io.Writer
	}{rd, conn})
	if !strings.Contains(string(open), `"upgrades":[]`) {
		t.Fatalf("open %s", open)
	}
}

// Large messages overflow the socket buffer: partial writes must resume
// exactly where they stopped, in order.
func TestLargeWritesStayOrdered(t *testing.T) {
	url, next := recordingServer(t, nil)
	c := support.Dial(t, url, "/")
	conn := next()
	const n, size = 200, 48 << 10
	go func() {
		for i := 0; i < n; i++ {
			b := bytes.Repeat([]byte{byte('a' + i%26)}, size)
			copy(b, fmt.Sprintf("%05d", i))
			if err := conn.Send(engineio.NewMessage(b, false)); err != nil {
				t.Errorf("send %d: %v", i, err)
				return
			}
		}
	}()
	for i := 0; i < n; i++ {
		f := c.Next()
		want := fmt.Sprintf("4%05d", i)
		if len(f.Data) != size+1 || string(f.Data[:6]) != want || f.Data[size] != byte('a'+i%26) {
			t.Fatalf("message %d: len %d head %q", i, len(f.Data), f.Data[:6])
		}
		if i%50 == 0 {
			time.Sleep(20 * time.Millisecond) // a slow reader now and then
		}
	}
}

// A write deadline set while a client was slow must not fail the writes
// that come after it (regression: every delivery stopped WriteTimeout
// after the first backlog).
//
// WriteTimeout is long enough for the big write to finish on a loaded
// machine (at 200 ms it timed out there now and then); the test then
// waits until the deadline of that write has passed.
func TestWritesAfterWriteTimeoutWindow(t *testing.T) {
	const timeout = 2 * time.Second
	url, next := recordingServer(t, &engineio.Options{WriteTimeout: timeout})
	c := support.Dial(t, url, "/")
	conn := next()
	big := bytes.Repeat([]byte("z"), 4<<20) // overflows the socket buffer: the writer path
	sent := time.Now()                      // the write's deadline is set after this
	if err := conn.Send(engineio.NewMessage(big, false)); err != nil {
		t.Fatal(err)
	}
	if f := c.Next(); len(f.Data) != len(big)+1 {
		t.Fatalf("big message: %d bytes", len(f.Data))
	}
	time.Sleep(time.Until(sent.Add(timeout + 500*time.Millisecond))) // past the deadline of that write
	for i := 0; i < 3; i++ {
		if err := conn.Send(engineio.NewMessage([]byte("small"), false)); err != nil {
			t.Fatal(err)
		}
		c.ExpectExact("4small")
	}
}
