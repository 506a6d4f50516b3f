package engineio_test

import (
	"bytes"
	"io"
	"net"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/heraldio/herald/engineio"
)

// fakeConn feeds fixed bytes to the server and discards what it writes.
type fakeConn struct {
	r       *bytes.Reader
	mu      sync.Mutex
	closed  chan struct{}
	once    sync.Once
	drained chan struct{}
	dOnce   sync.Once
}

func (c *fakeConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	n, err := c.r.Read(p)
	c.mu.Unlock()
	if err == io.EOF {
		c.dOnce.Do(func() { close(c.drained) })
		<-c.closed
	}
	return n, err
}
func (c *fakeConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *fakeConn) Close() error                     { c.once.Do(func() { close(c.closed) }); return nil }
func (c *fakeConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *fakeConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *fakeConn) SetDeadline(time.Time) error      { return nil }
func (c *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }

func clientFrame(op ws.OpCode, payload string) []byte {
	var b bytes.Buffer
	_ = ws.WriteFrame(&b, ws.MaskFrame(ws.NewFrame(op, true, []byte(payload))))
	return b.Bytes()
}

// FuzzWebSocketInput sends arbitrary bytes as a client's WebSocket stream:
// the server must answer with a close, never a panic or a hang.
func FuzzWebSocketInput(f *testing.F) {
	f.Add(clientFrame(ws.OpText, "4hello"))
	f.Add(append(clientFrame(ws.OpText, "3"), clientFrame(ws.OpBinary, "\x01\x02")...))
	f.Add(clientFrame(ws.OpPing, "x"))
	f.Add(clientFrame(ws.OpClose, ""))
	f.Add([]byte{0x81, 0x85, 1, 2, 3, 4})
	f.Add([]byte{0x01, 0x81, 0, 0, 0, 0, '4', 0x80, 0x81, 0, 0, 0, 0, 'x'})
	f.Fuzz(func(t *testing.T, in []byte) {
		done := make(chan struct{})
		s := engineio.NewServer(&engineio.Options{MaxPayload: 1 << 16, DisableNetpoll: true}, func(c *engineio.Conn) engineio.Handler {
			return &echo{c: c, closed: nil}
		})
		conn := &fakeConn{r: bytes.NewReader(in), closed: make(chan struct{}), drained: make(chan struct{})}
		c, err := s.ServeWebSocket(conn, httptest.NewRequest("GET", "/engine.io/?EIO=4&transport=websocket", nil))
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			defer close(done)
			select { // the server read everything, or closed the connection itself
			case <-conn.drained:
			case <-conn.closed:
			case <-time.After(5 * time.Second):
				t.Error("server neither read the input nor closed")
			}
			_ = c.Close()
		}()
		<-done
		_ = s.Shutdown(contextWithTimeout(t))
	})
}
