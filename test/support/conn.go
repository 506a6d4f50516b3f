package support

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// Frame is one message received from the server.
type Frame struct {
	Data   []byte
	Binary bool
}

// Conn is a raw WebSocket connection speaking Engine.IO v4.
type Conn struct {
	t      testing.TB
	conn   net.Conn
	rd     io.Reader
	frames chan Frame
	closed chan struct{}
	wmu    sync.Mutex
	// AutoPong answers the server's pings (default true).
	AutoPong bool
	// Open is the Engine.IO handshake packet received first.
	Open string
}

// Dial opens a WebSocket Engine.IO session at baseURL (http://host:port)
// under path (such as "/socket.io/") and reads the handshake.
func Dial(t testing.TB, baseURL, path string) *Conn {
	t.Helper()
	return DialHeader(t, baseURL, path, nil)
}

// DialHeader is Dial with extra request headers.
func DialHeader(t testing.TB, baseURL, path string, header http.Header) *Conn {
	t.Helper()
	return dial(t, strings.Replace(baseURL, "http", "ws", 1)+path+"?EIO=4&transport=websocket", header)
}

// DialEIO3 opens a WebSocket session of Engine.IO v3 (a Socket.IO v2
// client) with query ("&token=x", may be empty) added to the URL. A v3
// client pings: AutoPong does nothing for it.
func DialEIO3(t testing.TB, baseURL, path, query string) *Conn {
	t.Helper()
	return dial(t, strings.Replace(baseURL, "http", "ws", 1)+path+"?EIO=3&transport=websocket"+query, nil)
}

func dial(t testing.TB, u string, header http.Header) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d := ws.Dialer{}
	if header != nil {
		d.Header = ws.HandshakeHeaderHTTP(header)
	}
	conn, br, _, err := d.Dial(ctx, u)
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	var rd io.Reader = conn
	if br != nil {
		rd = br // frames that came with the handshake response
	}
	c := &Conn{t: t, conn: conn, rd: rd, frames: make(chan Frame, 1024), closed: make(chan struct{}), AutoPong: true}
	go c.read()
	t.Cleanup(func() { c.Close() })
	f := c.Next()
	if len(f.Data) == 0 || f.Data[0] != '0' {
		t.Fatalf("want open packet, got %q", f.Data)
	}
	c.Open = string(f.Data)
	return c
}

func (c *Conn) read() {
	defer close(c.closed)
	for {
		data, op, err := wsutil.ReadServerData(struct {
			io.Reader
			io.Writer
		}{c.rd, c.conn})
		if err != nil {
			return
		}
		if op == ws.OpText && string(data) == "2" && c.AutoPong {
			c.Send("3")
			continue
		}
		c.frames <- Frame{Data: data, Binary: op == ws.OpBinary}
	}
}

// Send writes a text frame.
func (c *Conn) Send(s string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = wsutil.WriteClientMessage(c.conn, ws.OpText, []byte(s))
}

// SendBinary writes a binary frame.
func (c *Conn) SendBinary(b []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = wsutil.WriteClientMessage(c.conn, ws.OpBinary, b)
}

// Next returns the next frame, failing the test after 5 s.
func (c *Conn) Next() Frame {
	c.t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-c.closed:
		select {
		case f := <-c.frames:
			return f
		default:
		}
		c.t.Fatalf("connection closed while waiting for a frame")
	case <-time.After(5 * time.Second):
		c.t.Fatalf("timed out waiting for a frame")
	}
	return Frame{}
}

// Expect returns the next text frame and fails unless it starts with prefix.
func (c *Conn) Expect(prefix string) string {
	c.t.Helper()
	f := c.Next()
	if f.Binary || !strings.HasPrefix(string(f.Data), prefix) {
		c.t.Fatalf("want frame starting with %q, got %q (binary %v)", prefix, f.Data, f.Binary)
	}
	return string(f.Data)
}

// ExpectExact fails unless the next text frame is exactly want.
func (c *Conn) ExpectExact(want string) {
	c.t.Helper()
	f := c.Next()
	if f.Binary || string(f.Data) != want {
		c.t.Fatalf("want %q, got %q (binary %v)", want, f.Data, f.Binary)
	}
}

// ExpectNothing fails if a frame arrives within d.
func (c *Conn) ExpectNothing(d time.Duration) {
	c.t.Helper()
	select {
	case f := <-c.frames:
		c.t.Fatalf("want nothing, got %q", f.Data)
	case <-time.After(d):
	}
}

// WaitClosed fails unless the server closes the connection within 5 s.
func (c *Conn) WaitClosed() {
	c.t.Helper()
	deadline := time.After(20 * time.Second) // reading megabytes queued for it, under -race on a loaded machine
	for {
		select {
		case <-c.closed:
			return
		case <-c.frames:
		case <-deadline:
			c.t.Fatalf("connection not closed by the server")
		}
	}
}

// Close closes the connection.
func (c *Conn) Close() { _ = c.conn.Close() }

// Connect sends a Socket.IO CONNECT for nsp with auth (may be "") and
// returns the socket id from the answer.
func (c *Conn) Connect(nsp, auth string) string {
	c.t.Helper()
	prefix := "40"
	if nsp != "/" {
		prefix += nsp + ","
	}
	c.Send(prefix + auth)
	got := c.Expect(prefix)
	const key = `"sid":"`
	i := strings.Index(got, key)
	if i < 0 {
		c.t.Fatalf("no sid in %q", got)
	}
	rest := got[i+len(key):]
	return rest[:strings.IndexByte(rest, '"')]
}

// TryNext returns the next frame if one arrives within d.
func (c *Conn) TryNext(d time.Duration) (Frame, bool) {
	select {
	case f := <-c.frames:
		return f, true
	case <-time.After(d):
		return Frame{}, false
	}
}
