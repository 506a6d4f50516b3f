package engineio

import (
	"sync"
	"sync/atomic"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"

	"github.com/heraldio/herald/engineio/packet"
)

// Packet is an Engine.IO packet the server sends: a packet.Packet with
// its WebSocket frames. It is immutable once queued: the same *Packet may
// be queued on many connections, and its WebSocket frame and polling
// encoding are computed once and shared.
type Packet struct {
	packet.Packet
	// NoCompress keeps the packet out of permessage-deflate.
	NoCompress bool

	frameOnce   sync.Once
	frame       []byte
	deflateOnce sync.Once
	deflated    []byte
	// An Engine.IO v3 session's frames of a binary message, which start
	// with the type byte; made for the first v3 recipient, so that a
	// packet no v3 client gets carries one pointer for them.
	v3 atomic.Pointer[v3Frames]
}

// v3Frames are a binary message's frames for Engine.IO v3 sessions.
type v3Frames struct {
	plainOnce, deflateOnce sync.Once
	plain, deflated        []byte
}

// control returns a packet of type t carrying data.
func control(t packet.Type, data string) *Packet {
	p := &Packet{}
	p.Type = t
	if data != "" {
		p.Data = []byte(data)
	}
	return p
}

// NewMessage returns a message packet carrying data.
func NewMessage(data []byte, binary bool) *Packet {
	return &Packet{Packet: packet.Packet{Type: packet.Message, Data: data, Binary: binary}}
}

// frameHeadroom is the room MessageBuffer leaves in front of a message:
// the longest WebSocket frame header and the packet type digit.
const frameHeadroom = 11

// MessageBuffer returns a buffer to build a text message in: append the
// message to it and pass the result to NewFramedMessage, which puts the
// WebSocket frame header in front without copying the message.
func MessageBuffer(capacity int) []byte {
	return make([]byte, frameHeadroom, frameHeadroom+capacity)
}

// NewFramedMessage returns a text message packet from a buffer made by
// MessageBuffer; its frame shares the buffer.
func NewFramedMessage(buf []byte) *Packet {
	data := buf[frameHeadroom:]
	h := ws.Header{Fin: true, OpCode: ws.OpText, Length: int64(len(data) + 1)}
	start := frameHeadroom - 1 - ws.HeaderSize(h)
	w := fixedWriter{buf: buf[start:start]}
	_ = ws.WriteHeader(&w, h)
	buf[frameHeadroom-1] = '0' + byte(packet.Message)
	p := &Packet{Packet: packet.Packet{Type: packet.Message, Data: data}, frame: buf[start:]}
	p.frameOnce.Do(noop)
	return p
}

func noop() {}

// Static control packets, shared by every connection.
var (
	pingPacket  = control(packet.Ping, "")
	pongPacket  = control(packet.Pong, "")
	noopPacket  = control(packet.Noop, "")
	closePacket = control(packet.Close, "")
)

// wsFrame returns the complete server-to-client WebSocket frame (header and
// payload) for p, built on first use and shared afterwards.
func (p *Packet) wsFrame() []byte {
	p.frameOnce.Do(func() { p.frame = p.buildFrame() })
	return p.frame
}

func (p *Packet) buildFrame() []byte {
	var op ws.OpCode = ws.OpText
	n := len(p.Data)
	if p.Binary {
		op = ws.OpBinary
	} else {
		n++ // type digit
	}
	h := ws.Header{Fin: true, OpCode: op, Length: int64(n)}
	hl := ws.HeaderSize(h)
	w := fixedWriter{buf: make([]byte, 0, hl+n)}
	_ = ws.WriteHeader(&w, h)
	buf := w.buf
	if !p.Binary {
		buf = append(buf, '0'+byte(p.Type))
	}
	return append(buf, p.Data...)
}

// v3Frame returns the frame of p, a binary message, for an Engine.IO v3
// session, compressed or not, each built once.
func (p *Packet) v3Frame(compress bool) []byte {
	f := p.v3.Load()
	if f == nil {
		p.v3.CompareAndSwap(nil, new(v3Frames))
		f = p.v3.Load()
	}
	f.plainOnce.Do(func() {
		var w fixedWriter
		_ = ws.WriteFrame(&w, ws.NewFrame(ws.OpBinary, true, p.v3Payload()))
		f.plain = w.buf
	})
	if !compress {
		return f.plain
	}
	f.deflateOnce.Do(func() {
		f.deflated = f.plain
		if c, err := wsflate.CompressFrame(ws.NewFrame(ws.OpBinary, true, p.v3Payload())); err == nil {
			var w fixedWriter
			_ = ws.WriteFrame(&w, c)
			f.deflated = w.buf
		}
	})
	return f.deflated
}

// v3Payload is p's binary message as v3 frames it: the type byte first.
func (p *Packet) v3Payload() []byte {
	b := make([]byte, 1+len(p.Data))
	b[0] = byte(p.Type)
	copy(b[1:], p.Data)
	return b
}

type fixedWriter struct{ buf []byte }

func (w *fixedWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	return len(b), nil
}

// appendPayload appends packets joined by the record separator, as
// packet.EncodePayload does, for a polling response.
func appendPayload(dst []byte, packets []*Packet) []byte {
	for i, p := range packets {
		if i > 0 {
			dst = append(dst, packet.Separator)
		}
		dst = p.AppendText(dst)
	}
	return dst
}

// appendPayloadV3 appends packets as an Engine.IO v3 polling response,
// binary when one is binary and the client takes binary, and returns it
// with its content type.
func appendPayloadV3(dst []byte, packets []*Packet, binary bool) ([]byte, string) {
	if binary {
		for _, p := range packets {
			if p.Binary {
				for _, p := range packets {
					dst = p.AppendBinaryRecordV3(dst)
				}
				return dst, "application/octet-stream"
			}
		}
	}
	for _, p := range packets {
		dst = p.AppendRecordV3(dst)
	}
	return dst, "text/plain; charset=UTF-8"
}

// deflatedFrame returns the permessage-deflate frame of p, built once.
// Compression uses no context takeover, so the frame is the same for every
// connection that negotiated the extension.
func (p *Packet) deflatedFrame() []byte {
	p.deflateOnce.Do(func() {
		payload := p.Data
		op := ws.OpBinary
		if !p.Binary {
			payload = append([]byte{'0' + byte(p.Type)}, p.Data...)
			op = ws.OpText
		}
		f, err := wsflate.CompressFrame(ws.NewFrame(op, true, payload))
		if err != nil {
			p.deflated = p.buildFrame()
			return
		}
		var w fixedWriter
		_ = ws.WriteFrame(&w, f)
		p.deflated = w.buf
	})
	return p.deflated
}
