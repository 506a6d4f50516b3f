package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/heraldio/herald/engineio/packet"
)

// wsWriteTimeout bounds one write on a WebSocket.
const wsWriteTimeout = 10 * time.Second

// wsTransport is the client side of an Engine.IO WebSocket.
type wsTransport struct {
	conn net.Conn
	br   *bufio.Reader // frames that came with the handshake response
	rd   wsutil.Reader

	wmu sync.Mutex
	bw  *bufio.Writer

	closeOnce sync.Once
}

// newWSDialer returns the function that opens WebSockets with the given
// headers and TLS configuration.
func newWSDialer(header http.Header, tlsConfig *tls.Config) func(context.Context, string) (*wsTransport, error) {
	d := ws.Dialer{TLSConfig: tlsConfig}
	if len(header) > 0 {
		d.Header = ws.HandshakeHeaderHTTP(header)
	}
	return func(ctx context.Context, u string) (*wsTransport, error) {
		conn, br, _, err := d.Dial(ctx, u)
		if err != nil {
			return nil, err
		}
		t := &wsTransport{conn: conn, br: br, bw: bufio.NewWriterSize(conn, 4096)}
		var src io.Reader = conn
		if br != nil {
			src = br
		}
		t.rd = wsutil.Reader{Source: src, State: ws.StateClientSide, OnIntermediate: t.control}
		return t, nil
	}
}

// control answers the control frames the server sends; each answer is
// written whole under the write lock.
func (t *wsTransport) control(h ws.Header, r io.Reader) error {
	payload := make([]byte, h.Length)
	if _, err := io.ReadFull(r, payload); err != nil {
		return err
	}
	switch h.OpCode {
	case ws.OpPing:
		return t.writeFrame(ws.NewPongFrame(payload))
	case ws.OpClose:
		code, reason := ws.ParseCloseFrameData(payload)
		_ = t.writeFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(code, "")))
		return wsutil.ClosedError{Code: code, Reason: reason}
	}
	return nil
}

func (t *wsTransport) writeFrame(f ws.Frame) error {
	f = ws.MaskFrameInPlace(f)
	b, err := ws.CompileFrame(f)
	if err != nil {
		return err
	}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	_ = t.conn.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
	_, err = t.conn.Write(b)
	return err
}

// readPacket reads the next Engine.IO packet.
func (t *wsTransport) readPacket() (*packet.Packet, error) {
	for {
		h, err := t.rd.NextFrame()
		if err != nil {
			return nil, err
		}
		if h.OpCode.IsControl() {
			if err := t.control(h, &t.rd); err != nil {
				return nil, err
			}
			continue
		}
		data, err := readAll(&t.rd)
		if err != nil {
			return nil, err
		}
		if h.OpCode == ws.OpBinary {
			return &packet.Packet{Type: packet.Message, Data: data, Binary: true}, nil
		}
		if len(data) == 0 || data[0] == 'b' {
			return nil, packet.ErrInvalid
		}
		return packet.Decode(data)
	}
}

// readPacketCtx is readPacket bounded by ctx.
func (t *wsTransport) readPacketCtx(ctx context.Context) (*packet.Packet, error) {
	stop := context.AfterFunc(ctx, func() { _ = t.conn.SetReadDeadline(time.Unix(1, 0)) })
	p, err := t.readPacket()
	if !stop() {
		if err == nil {
			err = ctx.Err()
		} else {
			err = errors.Join(ctx.Err(), err)
		}
	}
	_ = t.conn.SetReadDeadline(time.Time{})
	return p, err
}

// write sends packets as frames: text for text packets, binary for binary
// messages.
func (t *wsTransport) write(pkts []*packet.Packet) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	_ = t.conn.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
	var text []byte
	for _, p := range pkts {
		var err error
		if p.Binary {
			err = wsutil.WriteClientMessage(t.bw, ws.OpBinary, p.Data)
		} else {
			text = append(append(text[:0], '0'+byte(p.Type)), p.Data...)
			err = wsutil.WriteClientMessage(t.bw, ws.OpText, text)
		}
		if err != nil {
			return err
		}
	}
	return t.bw.Flush()
}

// close sends a close frame, best effort, and closes the connection.
func (t *wsTransport) close() {
	t.closeOnce.Do(func() {
		if t.wmu.TryLock() {
			f := ws.MaskFrameInPlace(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
			if b, err := ws.CompileFrame(f); err == nil {
				_ = t.conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
				_, _ = t.conn.Write(b)
			}
			t.wmu.Unlock()
		}
		_ = t.conn.Close()
	})
}

// readAll reads r to the end.
func readAll(r io.Reader) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(r)
	return b.Bytes(), err
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
