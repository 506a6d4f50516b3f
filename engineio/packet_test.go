package engineio

import (
	"bytes"
	"testing"

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
