package socketio_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/heraldio/herald/internal/rawsock"
	"github.com/heraldio/herald/socketio"
)

// devNull backs the sinks' writes, so that the server takes its real path
// (non-blocking writes straight to a descriptor, as a socket taken out of
// the runtime's poller does) at no cost.
var (
	devNull, _ = os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	devNullFd  = int(devNull.Fd())
)

// sinkConn is a client that sent one CONNECT frame and then only
// receives: writes go to /dev/null.
type sinkConn struct {
	in      []byte
	mu      sync.Mutex
	closed  chan struct{}
	once    sync.Once
	written atomic.Int64
}

func newSink(parser socketio.Parser) *sinkConn {
	var b bytes.Buffer
	connect := ws.NewTextFrame([]byte("40"))
	if parser == socketio.MsgpackParser {
		connect = ws.NewBinaryFrame([]byte("\x82\xa4type\x00\xa3nsp\xa1/")) // {type: 0, nsp: "/"}
	}
	_ = ws.WriteFrame(&b, ws.MaskFrame(connect))
	return &sinkConn{in: b.Bytes(), closed: make(chan struct{})}
}

func (c *sinkConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if len(c.in) > 0 {
		n := copy(p, c.in)
		c.in = c.in[n:]
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	<-c.closed
	return 0, net.ErrClosed
}
func (c *sinkConn) Write(p []byte) (int, error)           { c.written.Add(int64(len(p))); return len(p), nil }
func (c *sinkConn) SyscallConn() (syscall.RawConn, error) { return devNull.SyscallConn() }
func (c *sinkConn) WriteNow(b [][]byte) (int, error) { // as rawsock.Conn's
	if len(b) == 1 {
		return rawsock.Write(devNullFd, b[0])
	}
	return rawsock.Writev(devNullFd, b)
}
func (c *sinkConn) Close() error                     { c.once.Do(func() { close(c.closed) }); return nil }
func (c *sinkConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *sinkConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *sinkConn) SetDeadline(time.Time) error      { return nil }
func (c *sinkConn) SetReadDeadline(time.Time) error  { return nil }
func (c *sinkConn) SetWriteDeadline(time.Time) error { return nil }

func benchServer(b *testing.B, n int, parser socketio.Parser) (*socketio.Server, []*sinkConn) {
	io := socketio.NewServer(&socketio.Options{Parser: parser})
	var wg sync.WaitGroup
	wg.Add(n)
	io.OnConnection(func(s *socketio.Socket) { s.Join("room"); wg.Done() })
	sinks := make([]*sinkConn, n)
	req := httptest.NewRequest("GET", "/socket.io/?EIO=4&transport=websocket", nil)
	for i := range sinks {
		sinks[i] = newSink(parser)
		if _, err := io.Engine().ServeWebSocket(sinks[i], req); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	b.Cleanup(func() {
		for _, s := range sinks {
			s.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = io.Shutdown(ctx) // stops the engine's poller
	})
	return io, sinks
}

// BenchmarkBroadcast measures one broadcast to a room of N sockets: the
// packet is encoded once and the same frame is queued on every socket.
// allocs/op must not grow with N. The msgpack/ runs use MsgpackParser.
func BenchmarkBroadcast(b *testing.B) {
	for _, parser := range []socketio.Parser{socketio.JSONParser, socketio.MsgpackParser} {
		for _, n := range []int{1, 100, 1000, 10000} {
			name := fmt.Sprintf("sockets=%d", n)
			if parser == socketio.MsgpackParser {
				name = "msgpack/" + name
			}
			benchBroadcast(b, name, n, parser)
		}
	}
}

func benchBroadcast(b *testing.B, name string, n int, parser socketio.Parser) {
	b.Run(name, func(b *testing.B) {
		io, sinks := benchServer(b, n, parser)
		payload := map[string]any{"text": "hello everyone", "n": 42}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			_ = io.To("room").Emit("fanout", payload)
		}
		b.StopTimer()
		var total int64
		for _, s := range sinks {
			total += s.written.Load()
		}
		b.ReportMetric(float64(n), "recipients/op")
	})
}

func BenchmarkEncodeEvent(b *testing.B) {
	args := []any{"some text", 12345, map[string]any{"id": "abc", "list": []any{1, 2, 3}}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p, _ := socketio.EventPacket("/", "message", args...)
		_ = p.Encode()
	}
}

func BenchmarkDecodeEvent(b *testing.B) {
	in := []byte(`2/chat,12["send-message",{"roomId":"general","content":"hello world, how are you?"}]`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p, _, err := socketio.Decode(in)
		if err != nil {
			b.Fatal(err)
		}
		_ = p.EventName()
		_ = p.Args()
	}
}

func BenchmarkEncodeBinary(b *testing.B) {
	blob := make([]byte, 4096)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p, _ := socketio.EventPacket("/", "file", map[string]any{"name": "a.bin", "data": blob})
		_ = p.Encode()
	}
}

// BenchmarkMsgpack is BenchmarkEncodeEvent and BenchmarkDecodeEvent with
// the msgpack parser: the JSON form transcoded to msgpack and back.
func BenchmarkMsgpack(b *testing.B) {
	b.Run("encode", func(b *testing.B) {
		args := []any{"some text", 12345, map[string]any{"id": "abc", "list": []any{1, 2, 3}}}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			p, _ := socketio.EventPacket("/", "message", args...)
			if _, err := socketio.EncodeMsgpack(p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		p := &socketio.Packet{Type: socketio.PacketEvent, Nsp: "/chat", ID: 12, HasID: true,
			Data: []byte(`["send-message",{"roomId":"general","content":"hello world, how are you?"}]`)}
		in, _ := socketio.EncodeMsgpack(p)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			p, err := socketio.DecodeMsgpack(in)
			if err != nil {
				b.Fatal(err)
			}
			_ = p.EventName()
			_ = p.Args()
		}
	})
}
