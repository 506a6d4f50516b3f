// Package rawclient is the wire client of Herald's load tools: Engine.IO v4
// over WebSocket, frames written and parsed by hand into reused buffers, so
// that a tool sharing the machine with the server it measures costs little
// per message. It also reads a server's CPU time and memory from /proc.
//
// A Conn's writes are safe for concurrent use; its reads are for one
// goroutine.
package rawclient

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/gobwas/ws"
)

// ErrFrame reports a frame neither server sends: fragmented or huge.
var ErrFrame = errors.New("rawclient: unexpected frame")

// maxFrame bounds one frame read.
const maxFrame = 1 << 24

// Conn is one client connection speaking Engine.IO over WebSocket.
type Conn struct {
	net.Conn
	br   *bufio.Reader
	buf  []byte // the last payload read
	wmu  sync.Mutex
	wbuf []byte
}

// Dial opens a WebSocket Engine.IO session at base ("http://host:port")
// from source address 127.0.0.<1+i%src> and reads its open packet.
func Dial(ctx context.Context, base string, i, src int) (*Conn, error) {
	u := strings.Replace(base, "http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
	ip := net.IPv4(127, 0, 0, byte(1+i%max(src, 1)))
	d := ws.Dialer{NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return (&net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}).DialContext(ctx, network, addr)
	}}
	nc, br, _, err := d.Dial(ctx, u)
	if err != nil {
		return nil, err
	}
	var rd io.Reader = nc
	if br != nil {
		rd = io.MultiReader(br, nc)
	}
	c := &Conn{Conn: nc, br: bufio.NewReaderSize(rd, 8192)}
	if _, err := c.Next(); err != nil { // open packet
		nc.Close()
		return nil, err
	}
	return c, nil
}

// Send writes one text message.
func (c *Conn) Send(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = AppendClientText(c.wbuf[:0], s)
	_, err := c.Write(c.wbuf)
	return err
}

// SendFrames writes the messages in one write: binary messages (a binary
// parser's packets) or text ones.
func (c *Conn) SendFrames(binary bool, msgs ...[]byte) error {
	op := ws.OpText
	if binary {
		op = ws.OpBinary
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = c.wbuf[:0]
	for _, m := range msgs {
		c.wbuf = appendClientFrame(c.wbuf, op, m)
	}
	_, err := c.Write(c.wbuf)
	return err
}

// Buffered returns how many bytes were read from the socket and not yet
// parsed: zero when nothing more can be read without waiting.
func (c *Conn) Buffered() int { return c.br.Buffered() }

// AppendClientText appends a masked text frame.
func AppendClientText(dst []byte, s string) []byte { return appendClientFrame(dst, ws.OpText, s) }

// appendClientFrame appends a masked frame of p.
func appendClientFrame[T string | []byte](dst []byte, op ws.OpCode, p T) []byte {
	n := len(p)
	fin := 0x80 | byte(op)
	switch {
	case n < 126:
		dst = append(dst, fin, 0x80|byte(n))
	case n < 1<<16:
		dst = append(dst, fin, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, fin, 0x80|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	k := rand.Uint32()
	mask := [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
	dst = append(dst, mask[:]...)
	start := len(dst)
	dst = append(dst, p...)
	ws.Cipher(dst[start:], mask, 0)
	return dst
}

// NextBytes returns the next text message, valid until the next call,
// answering pings on the way; binary messages are skipped.
func (c *Conn) NextBytes() ([]byte, error) {
	for {
		b, binary, err := c.NextMessage()
		if err != nil || !binary {
			return b, err
		}
	}
}

// NextMessage returns the next message, text or binary (a binary
// parser's packet), valid until the next call, answering pings on the way.
func (c *Conn) NextMessage() (b []byte, binary bool, err error) {
	for {
		h, err := ws.ReadHeader(c.br)
		if err != nil {
			return nil, false, err
		}
		if h.Length > maxFrame || (!h.Fin && h.OpCode != ws.OpContinuation) {
			return nil, false, ErrFrame
		}
		n := int(h.Length)
		if cap(c.buf) < n {
			c.buf = make([]byte, n)
		}
		b := c.buf[:n]
		if _, err := io.ReadFull(c.br, b); err != nil {
			return nil, false, err
		}
		if h.Masked {
			ws.Cipher(b, h.Mask, 0)
		}
		switch h.OpCode {
		case ws.OpClose:
			return nil, false, io.EOF
		case ws.OpBinary:
			return b, true, nil
		case ws.OpText:
			if n == 1 && b[0] == '2' {
				if err := c.Send("3"); err != nil {
					return nil, false, err
				}
				continue
			}
			return b, false, nil
		}
	}
}

// Next returns the next text message as a string, answering pings.
func (c *Conn) Next() (string, error) {
	b, err := c.NextBytes()
	return string(b), err
}

// CPU returns the user and system CPU seconds of process pid (zeros for
// pid 0 or a process that is gone).
func CPU(pid int) (user, sys float64) {
	if pid == 0 {
		return 0, 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(fields[11], 64)
	st, _ := strconv.ParseFloat(fields[12], 64)
	return ut / 100, st / 100 // clock ticks
}

// RSSKB returns the resident memory of process pid in KB.
func RSSKB(pid int) int64 {
	if pid == 0 {
		return 0
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}
