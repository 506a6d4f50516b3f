package chaos

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// wsConn is a raw WebSocket connection speaking Engine.IO v4 from the
// client side, for the probes that must send what a real client never
// would (unfinished frames, unnegotiated compression) or stop reading.
type wsConn struct {
	conn     net.Conn
	rd       io.Reader
	deflate  bool // the server accepted permessage-deflate
	wmu      sync.Mutex
	closedCh chan struct{}

	mu        sync.Mutex
	closedAt  time.Time
	closeCode ws.StatusCode
	mute      bool     // pump stops answering pings (a frame is left unfinished)
	frames    []string // text frames read by pump, bounded by maxKeptFrames
}

// maxKeptFrames bounds what pump keeps: the probes look only at the first
// answers.
const maxKeptFrames = 64

// wsOptions are the unusual parts of a probe's connection.
type wsOptions struct {
	rcvBuf  int  // SO_RCVBUF before connecting (0: the kernel's)
	deflate bool // offer permessage-deflate
}

// dialWS opens an Engine.IO WebSocket session on n and reads the open
// packet.
func dialWS(ctx context.Context, baseURL string, o wsOptions) (*wsConn, error) {
	d := ws.Dialer{Timeout: 10 * time.Second}
	if o.rcvBuf > 0 {
		nd := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, o.rcvBuf)
			})
			if err != nil {
				return err
			}
			return serr
		}}
		d.NetDial = nd.DialContext
	}
	if o.deflate {
		d.Extensions = []httphead.Option{httphead.NewOption("permessage-deflate", map[string]string{
			"client_no_context_takeover": "", "server_no_context_takeover": "",
		})}
	}
	u := strings.Replace(baseURL, "http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
	conn, br, hs, err := d.Dial(ctx, u)
	if err != nil {
		return nil, err
	}
	c := &wsConn{conn: conn, rd: conn, closedCh: make(chan struct{})}
	if br != nil {
		c.rd = br
	}
	for _, e := range hs.Extensions {
		if string(e.Name) == "permessage-deflate" {
			c.deflate = true
		}
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	open, err := c.readText()
	_ = conn.SetReadDeadline(time.Time{})
	if err != nil || !strings.HasPrefix(open, "0{") {
		conn.Close()
		return nil, fmt.Errorf("open packet %q: %v", open, err)
	}
	return c, nil
}

// readText reads the next text or binary message, answering nothing.
func (c *wsConn) readText() (string, error) {
	for {
		h, err := ws.ReadHeader(c.rd)
		if err != nil {
			return "", err
		}
		b := make([]byte, h.Length)
		if _, err := io.ReadFull(c.rd, b); err != nil {
			return "", err
		}
		switch h.OpCode {
		case ws.OpClose:
			code, _ := ws.ParseCloseFrameData(b)
			c.mu.Lock()
			c.closeCode = code
			c.mu.Unlock()
			return "", fmt.Errorf("closed by the server: %d", code)
		case ws.OpText, ws.OpBinary, ws.OpContinuation:
			return string(b), nil
		}
	}
}

// pump reads in the background until the connection ends: it answers
// Engine.IO pings, keeps the first text frames and records the close.
func (c *wsConn) pump() {
	go func() {
		defer c.markClosed()
		for {
			s, err := c.readText()
			if err != nil {
				return
			}
			if s == "2" {
				_ = c.sendText("3") // refused once a frame is left unfinished
				continue
			}
			c.mu.Lock()
			if len(c.frames) < maxKeptFrames {
				c.frames = append(c.frames, s)
			}
			c.mu.Unlock()
		}
	}()
}

func (c *wsConn) markClosed() {
	c.mu.Lock()
	c.closedAt = time.Now()
	c.mu.Unlock()
	close(c.closedCh)
	c.conn.Close()
}

// closed reports when the server ended the connection (pump only).
func (c *wsConn) closed() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closedAt, !c.closedAt.IsZero()
}

func (c *wsConn) code() ws.StatusCode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeCode
}

func (c *wsConn) sendText(s string) error {
	return c.write(ws.OpText, []byte(s))
}

func (c *wsConn) sendBinary(b []byte) error {
	return c.write(ws.OpBinary, b)
}

var errMuted = errors.New("chaos: a frame was left unfinished on this connection")

func (c *wsConn) write(op ws.OpCode, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	mute := c.mute
	c.mu.Unlock()
	if mute {
		return errMuted
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return wsutil.WriteClientMessage(c.conn, op, b)
}

// writeRaw writes a frame header (masked, as a client must) and payload
// as given, without completing anything. With a payload shorter than the
// header says, the frame stays unfinished and pump stops answering pings
// (a pong would land inside the frame).
func (c *wsConn) writeRaw(h ws.Header, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if int64(len(payload)) < h.Length {
		c.mu.Lock()
		c.mute = true
		c.mu.Unlock()
	}
	h.Masked = true
	_, _ = rand.Read(h.Mask[:])
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := ws.WriteHeader(c.conn, h); err != nil {
		return err
	}
	if len(payload) == 0 {
		return nil
	}
	masked := append([]byte(nil), payload...)
	ws.Cipher(masked, h.Mask, 0)
	_, err := c.conn.Write(masked)
	return err
}

func (c *wsConn) close() { c.conn.Close() }

// connectNsp sends a Socket.IO CONNECT and waits for its answer (before
// pump is started).
func (c *wsConn) connectNsp(nsp, auth string) error {
	prefix := "40"
	if nsp != "/" {
		prefix += nsp + ","
	}
	if err := c.sendText(prefix + auth); err != nil {
		return err
	}
	return c.expect(prefix)
}

// expect reads until a text frame starting with prefix, answering pings.
func (c *wsConn) expect(prefix string) error {
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.conn.SetReadDeadline(time.Time{})
	for {
		s, err := c.readText()
		if err != nil {
			return fmt.Errorf("waiting for %q: %w", prefix, err)
		}
		if s == "2" {
			_ = c.sendText("3")
			continue
		}
		if strings.HasPrefix(s, prefix) {
			return nil
		}
	}
}

// dialWSAll opens n connections in parallel (at most 20 dials at once),
// calling setup on each.
func dialWSAll(t testing.TB, baseURL string, n int, o wsOptions, setup func(i int, c *wsConn) error) []*wsConn {
	t.Helper()
	conns := make([]*wsConn, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 20)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			c, err := dialWS(ctx, baseURL, o)
			if err == nil && setup != nil {
				if err = setup(i, c); err != nil {
					c.close()
				}
			}
			conns[i], errs[i] = c, err
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			for _, c := range conns {
				if c != nil {
					c.close()
				}
			}
			t.Fatalf("connection %d of %d: %v", i, n, err)
		}
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.close()
		}
	})
	return conns
}

// rawHTTP is a plain TCP connection for hand-written HTTP requests.
func rawHTTP(t testing.TB, n *node) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", n.port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readStatus reads the status line of an HTTP response ("" if the
// connection ended first).
func readStatus(c net.Conn, d time.Duration) string {
	_ = c.SetReadDeadline(time.Now().Add(d))
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line)
}

// wsTextHeader is a whole unfragmented text frame for writeRaw.
func wsTextHeader(s string) (ws.Header, []byte) {
	return ws.Header{Fin: true, OpCode: ws.OpText, Length: int64(len(s))}, []byte(s)
}
