package engineio

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"

	"github.com/heraldio/herald/engineio/packet"
)

// The server's polling payload is packet.EncodePayload's.
func TestAppendPayload(t *testing.T) {
	pkts := []*Packet{NewMessage([]byte("hello"), false), NewMessage([]byte{1, 2, 3, 4}, true), pingPacket}
	plain := make([]*packet.Packet, len(pkts))
	for i, p := range pkts {
		plain[i] = &p.Packet
	}
	got, want := appendPayload(nil, pkts), packet.EncodePayload(nil, plain)
	if string(got) != "4hello\x1ebAQIDBA==\x1e2" || !bytes.Equal(got, want) {
		t.Fatalf("appendPayload %q, packet.EncodePayload %q", got, want)
	}
}

func TestWSFrameSharedAndCorrect(t *testing.T) {
	p := NewMessage(bytes.Repeat([]byte("x"), 300), false)
	f := p.wsFrame()
	// FIN+text, 126 → 16-bit length 301.
	if f[0] != 0x81 || f[1] != 126 || int(f[2])<<8|int(f[3]) != 301 || f[4] != '4' {
		t.Fatalf("frame header % x", f[:5])
	}
	if &p.wsFrame()[0] != &f[0] {
		t.Fatal("frame rebuilt instead of shared")
	}
	b := NewMessage([]byte{1, 2}, true).wsFrame()
	if !bytes.Equal(b, []byte{0x82, 2, 1, 2}) {
		t.Fatalf("binary frame % x", b)
	}
}

// An Engine.IO v3 session's binary frames start with the type byte, plain
// and compressed; text frames are v4's.
func TestV3Frames(t *testing.T) {
	data := bytes.Repeat([]byte{1, 2, 3}, 1000)
	p := NewMessage(data, true)
	want := append([]byte{byte(packet.Message)}, data...)
	for _, deflate := range []bool{false, true} {
		raw := p.frameFor(deflate, true, 1024)
		r := bytes.NewReader(raw)
		h, err := ws.ReadHeader(r)
		if err != nil || h.Length != int64(r.Len()) {
			t.Fatalf("header %+v of a %d-byte frame: %v", h, len(raw), err)
		}
		f := ws.Frame{Header: h, Payload: raw[len(raw)-r.Len():]}
		if deflate {
			if f, err = wsflate.DecompressFrame(f); err != nil {
				t.Fatal(err)
			}
		}
		if f.Header.OpCode != ws.OpBinary || !bytes.Equal(f.Payload, want) {
			t.Errorf("deflate %v: op %v, payload of %d bytes starting %v", deflate, f.Header.OpCode, len(f.Payload), f.Payload[:4])
		}
		if &p.frameFor(deflate, true, 1024)[0] != &raw[0] {
			t.Errorf("deflate %v: the frame is built again", deflate)
		}
	}
	text := NewMessage([]byte("hi"), false)
	if &text.frameFor(false, true, 1024)[0] != &text.wsFrame()[0] {
		t.Error("a text frame differs for v3")
	}
}
