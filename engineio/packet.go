package engineio

import (
	"encoding/base64"
	"errors"
	"sync"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
)

// PacketType is the Engine.IO packet type, sent as a single digit.
type PacketType byte

// The Engine.IO v4 packet types.
const (
	Open PacketType = iota
	Close
	Ping
	Pong
	Message
	Upgrade
	Noop
)

// ErrBadPacket is returned by the decoders for input that is not a valid packet.
var ErrBadPacket = errors.New("engineio: bad packet")

// separator joins packets in an HTTP long-polling payload.
const separator = 0x1e

// Packet is one Engine.IO packet. An outbound Packet is immutable once
// queued: the same *Packet may be queued on many connections, and its
// WebSocket frame and polling encoding are computed once and shared.
type Packet struct {
	Type   PacketType
	Data   []byte
	Binary bool // a binary message: sent as a binary frame, or "b"+base64 when polling
	// NoCompress keeps the packet out of permessage-deflate.
	NoCompress bool

	frameOnce   sync.Once
	frame       []byte
	deflateOnce sync.Once
	deflated    []byte
}

// NewMessage returns a message packet carrying data.
func NewMessage(data []byte, binary bool) *Packet {
	return &Packet{Type: Message, Data: data, Binary: binary}
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
	buf[frameHeadroom-1] = '0' + byte(Message)
	p := &Packet{Type: Message, Data: data, frame: buf[start:]}
	p.frameOnce.Do(noop)
	return p
}

func noop() {}

// Static control packets, shared by every connection.
var (
	pingPacket  = &Packet{Type: Ping}
	noopPacket  = &Packet{Type: Noop}
	closePacket = &Packet{Type: Close}
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

type fixedWriter struct{ buf []byte }

func (w *fixedWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	return len(b), nil
}

// appendText appends the packet in its text form (as in a polling payload or
// a WebSocket text frame) to dst.
func (p *Packet) appendText(dst []byte) []byte {
	if p.Binary {
		dst = append(dst, 'b')
		return base64.StdEncoding.AppendEncode(dst, p.Data)
	}
	dst = append(dst, '0'+byte(p.Type))
	return append(dst, p.Data...)
}

// EncodePayload appends packets joined by the record separator, as sent in
// an HTTP long-polling response or request body.
func EncodePayload(dst []byte, packets []*Packet) []byte {
	for i, p := range packets {
		if i > 0 {
			dst = append(dst, separator)
		}
		dst = p.appendText(dst)
	}
	return dst
}

// DecodePacket decodes one packet in its text form ("4hello", "bAQID").
// The returned packet's Data aliases data.
func DecodePacket(data []byte) (*Packet, error) {
	if len(data) == 0 {
		return nil, ErrBadPacket
	}
	if data[0] == 'b' {
		out := make([]byte, base64.StdEncoding.DecodedLen(len(data)-1))
		n, err := base64.StdEncoding.Decode(out, data[1:])
		if err != nil {
			return nil, ErrBadPacket
		}
		return &Packet{Type: Message, Data: out[:n], Binary: true}, nil
	}
	t := data[0] - '0'
	if t > byte(Noop) {
		return nil, ErrBadPacket
	}
	return &Packet{Type: PacketType(t), Data: data[1:]}, nil
}

// DecodePayload splits an HTTP long-polling payload into packets and calls fn
// for each; it stops at the first error, from the decoder or from fn.
func DecodePayload(payload []byte, fn func(*Packet) error) error {
	if len(payload) == 0 {
		return ErrBadPacket
	}
	for len(payload) > 0 {
		i := 0
		for i < len(payload) && payload[i] != separator {
			i++
		}
		p, err := DecodePacket(payload[:i])
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
		if i == len(payload) {
			break
		}
		payload = payload[i+1:]
		if len(payload) == 0 {
			return ErrBadPacket // trailing separator
		}
	}
	return nil
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
