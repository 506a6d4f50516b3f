package engineio

import (
	"bytes"
	"errors"
	"testing"
)

func TestDecodePacket(t *testing.T) {
	tests := []struct {
		in     string
		typ    PacketType
		data   string
		binary bool
		err    bool
	}{
		{in: "4hello", typ: Message, data: "hello"},
		{in: "2", typ: Ping},
		{in: "2probe", typ: Ping, data: "probe"},
		{in: "6", typ: Noop},
		{in: "bAQIDBA==", typ: Message, data: "\x01\x02\x03\x04", binary: true},
		{in: "", err: true},
		{in: "7", err: true},
		{in: "a", err: true},
		{in: "b!!", err: true},
	}
	for _, tt := range tests {
		p, err := DecodePacket([]byte(tt.in))
		if tt.err {
			if err == nil {
				t.Errorf("%q: want error", tt.in)
			}
			continue
		}
		if err != nil || p.Type != tt.typ || string(p.Data) != tt.data || p.Binary != tt.binary {
			t.Errorf("%q: got %+v, %v", tt.in, p, err)
		}
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	pkts := []*Packet{NewMessage([]byte("hello"), false), NewMessage([]byte{1, 2, 3, 4}, true), pingPacket}
	enc := EncodePayload(nil, pkts)
	if string(enc) != "4hello\x1ebAQIDBA==\x1e2" {
		t.Fatalf("encoded %q", enc)
	}
	var got []*Packet
	if err := DecodePayload(enc, func(p *Packet) error { got = append(got, p); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !bytes.Equal(got[1].Data, []byte{1, 2, 3, 4}) || got[2].Type != Ping {
		t.Fatalf("decoded %+v", got)
	}
	for _, bad := range []string{"", "4a\x1e", "\x1e4a", "4a\x1e\x1e4b", "x"} {
		if err := DecodePayload([]byte(bad), func(*Packet) error { return nil }); !errors.Is(err, ErrBadPacket) {
			t.Errorf("%q: want ErrBadPacket, got %v", bad, err)
		}
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

// FuzzDecodePayload decodes arbitrary polling payloads, text packets mixed
// with binary ("b"+base64) ones: never a panic, and what decodes encodes
// back to the same packets.
func FuzzDecodePayload(f *testing.F) {
	for _, s := range []string{"4hello", "4hello\x1ebAQIDBA==", "2probe", "b", "1", "6\x1e6", "4\x1e", "bAA",
		"451-[\"ev\",{\"_placeholder\":true,\"num\":0}]\x1ebAQI=", "bAQID\x1e2\x1e4x", "bAQ\r\nI=\x1e4", "b!!", "9"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var pkts []*Packet
		if err := DecodePayload(in, func(p *Packet) error { pkts = append(pkts, p); return nil }); err != nil {
			return
		}
		// What decodes re-encodes to something that decodes the same.
		again := EncodePayload(nil, pkts)
		n := 0
		if err := DecodePayload(again, func(p *Packet) error {
			if n >= len(pkts) || p.Type != pkts[n].Type || p.Binary != pkts[n].Binary || !bytes.Equal(p.Data, pkts[n].Data) {
				t.Fatalf("round trip changed packet %d", n)
			}
			n++
			return nil
		}); err != nil {
			t.Fatalf("re-encoded payload does not decode: %v", err)
		}
		if n != len(pkts) {
			t.Fatalf("%d packets, %d after a round trip", len(pkts), n)
		}
	})
}
