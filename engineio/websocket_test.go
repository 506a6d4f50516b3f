package engineio_test

import (
	"bytes"
	"compress/flate"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"

	"github.com/heraldio/herald/engineio"
)

// maxTestFrame bounds what readFrame reads of a frame the server sent.
const maxTestFrame = 64 << 20

// readFrame reads one frame the server sent, its payload bounded by
// maxTestFrame rather than by the length the frame announces.
func readFrame(r io.Reader) (ws.Frame, error) {
	h, err := ws.ReadHeader(r)
	if err != nil {
		return ws.Frame{}, err
	}
	if h.Length > maxTestFrame {
		return ws.Frame{}, fmt.Errorf("frame of %d bytes", h.Length)
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(r, p); err != nil {
		return ws.Frame{}, err
	}
	if h.Masked {
		ws.Cipher(p, h.Mask, 0)
	}
	return ws.Frame{Header: h, Payload: p}, nil
}

func dialWS(t *testing.T, base string, d ws.Dialer) (net.Conn, io.Reader) {
	t.Helper()
	conn, br, _, err := d.Dial(context.Background(), strings.Replace(base, "http", "ws", 1)+"?EIO=4&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if br != nil {
		return conn, io.MultiReader(br, conn)
	}
	return conn, conn
}

// A frame whose header announces a large payload that never comes: the
// server allocates as the bytes arrive, and closes the connection when
// the rest does not come within ReadTimeout. So does a header cut short
// and a fragmented message whose last frame does not come.
func TestWebSocketUnfinishedFrame(t *testing.T) {
	for _, netpoll := range []bool{true, false} {
		t.Run(fmt.Sprintf("netpoll=%v", netpoll), func(t *testing.T) { testUnfinishedFrame(t, !netpoll) })
	}
}

func testUnfinishedFrame(t *testing.T, disableNetpoll bool) {
	const (
		clients  = 15
		announce = 999000
	)
	_, base, closed := newServer(t, &engineio.Options{ReadTimeout: 500 * time.Millisecond, PingTimeout: 10 * time.Second,
		DisableNetpoll: disableNetpoll})
	type client struct {
		conn net.Conn
		rd   io.Reader
	}
	cs := make([]client, clients)
	for i := range cs {
		cs[i].conn, cs[i].rd = dialWS(t, base, ws.Dialer{})
	}
	before := heapAfterGC()
	start := time.Now()
	for i, c := range cs {
		var b bytes.Buffer
		switch i % 5 {
		case 0:
			b.WriteByte(0x82) // the first byte of a header only
		case 1:
			_ = ws.WriteFrame(&b, ws.MaskFrame(ws.NewFrame(ws.OpText, false, []byte("4first part"))))
		default:
			_ = ws.WriteHeader(&b, ws.Header{Fin: true, OpCode: ws.OpBinary, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Length: announce})
			b.WriteString("4abc")
		}
		if _, err := c.conn.Write(b.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	const headers = clients * 3 / 5
	if grown := heapGrowth(before, headers*announce/2); grown > headers*announce/4 {
		t.Errorf("heap grew by %d bytes for %d frame headers: the announced lengths were allocated", grown, headers)
	}
	for i, c := range cs {
		_ = c.conn.SetReadDeadline(start.Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, c.rd); err != nil {
			t.Fatalf("client %d: not closed %v after an unfinished frame (ReadTimeout 500ms): %v", i, time.Since(start), err)
		}
	}
	expectClosed(t, closed, clients, "transport error")
}

// deflateBomb returns the payload of a compressed text frame that inflates
// to "4" and then mib MiB of zeros: one MiB compressed once and repeated
// (each piece ends with a sync flush, so the pieces chain).
func deflateBomb(t *testing.T, mib int) []byte {
	t.Helper()
	var piece bytes.Buffer
	w, _ := flate.NewWriter(&piece, flate.BestCompression)
	_, _ = w.Write(make([]byte, 1<<20))
	_ = w.Flush()
	var head bytes.Buffer
	w.Reset(&head)
	_, _ = w.Write([]byte("4"))
	_ = w.Flush()
	out := append([]byte(nil), head.Bytes()...)
	for range mib {
		out = append(out, piece.Bytes()...)
	}
	return bytes.TrimSuffix(out, []byte{0, 0, 0xff, 0xff}) // the tail the receiver adds back
}

// A compressed frame is inflated only up to MaxPayload: a decompression
// bomb closes with 1009 without the server inflating it.
func TestWebSocketDeflateBomb(t *testing.T) {
	_, base, closed := newServer(t, &engineio.Options{PerMessageDeflate: true})
	d := ws.Dialer{Extensions: []httphead.Option{wsflate.Parameters{
		ServerNoContextTakeover: true, ClientNoContextTakeover: true,
	}.Option()}}
	conn, rd := dialWS(t, base, d)
	if f, err := readFrame(rd); err != nil || f.Payload[0] != '0' {
		t.Fatalf("open: %q %v", f.Payload, err)
	}
	payload := deflateBomb(t, 100)
	if len(payload) > 1e6 {
		t.Fatalf("bomb of %d bytes is over MaxPayload", len(payload))
	}
	f := ws.MaskFrame(ws.NewFrame(ws.OpText, true, payload))
	f.Header.Rsv = ws.Rsv(true, false, false)
	var frame bytes.Buffer
	_ = ws.WriteFrame(&frame, f)

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	allocBefore := ms.TotalAlloc
	if _, err := conn.Write(frame.Bytes()); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var code ws.StatusCode
	for {
		f, err := readFrame(rd)
		if err != nil {
			t.Fatalf("no close frame: %v", err)
		}
		if f.Header.OpCode == ws.OpClose {
			code, _ = ws.ParseCloseFrameData(f.Payload)
			break
		}
	}
	expectClosed(t, closed, 1, "transport error")
	runtime.ReadMemStats(&ms)
	if code != ws.StatusMessageTooBig {
		t.Errorf("close code %d, want 1009", code)
	}
	if alloc := ms.TotalAlloc - allocBefore; alloc > 20<<20 {
		t.Errorf("a %d KiB compressed frame made the server allocate %d MiB", len(payload)>>10, alloc>>20)
	}
}
