package packet_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/heraldio/herald/engineio/packet"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		in     string
		typ    packet.Type
		data   string
		binary bool
		err    bool
	}{
		{in: "4hello", typ: packet.Message, data: "hello"},
		{in: "2", typ: packet.Ping},
		{in: "2probe", typ: packet.Ping, data: "probe"},
		{in: "6", typ: packet.Noop},
		{in: "bAQIDBA==", typ: packet.Message, data: "\x01\x02\x03\x04", binary: true},
		{in: "", err: true},
		{in: "7", err: true},
		{in: "a", err: true},
		{in: "b!!", err: true},
	}
	for _, tt := range tests {
		p, err := packet.Decode([]byte(tt.in))
		if tt.err {
			if !errors.Is(err, packet.ErrInvalid) {
				t.Errorf("%q: want ErrInvalid, got %v", tt.in, err)
			}
			continue
		}
		if err != nil || p.Type != tt.typ || string(p.Data) != tt.data || p.Binary != tt.binary {
			t.Errorf("%q: got %+v, %v", tt.in, p, err)
		}
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	pkts := []*packet.Packet{
		{Type: packet.Message, Data: []byte("hello")},
		{Type: packet.Message, Data: []byte{1, 2, 3, 4}, Binary: true},
		{Type: packet.Ping},
	}
	enc := packet.EncodePayload(nil, pkts)
	if string(enc) != "4hello\x1ebAQIDBA==\x1e2" {
		t.Fatalf("encoded %q", enc)
	}
	var got []*packet.Packet
	if err := packet.DecodePayload(enc, func(p *packet.Packet) error { got = append(got, p); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !bytes.Equal(got[1].Data, []byte{1, 2, 3, 4}) || got[2].Type != packet.Ping {
		t.Fatalf("decoded %+v", got)
	}
	for _, bad := range []string{"", "4a\x1e", "\x1e4a", "4a\x1e\x1e4b", "x"} {
		if err := packet.DecodePayload([]byte(bad), func(*packet.Packet) error { return nil }); !errors.Is(err, packet.ErrInvalid) {
			t.Errorf("%q: want ErrInvalid, got %v", bad, err)
		}
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
		var pkts []*packet.Packet
		if err := packet.DecodePayload(in, func(p *packet.Packet) error { pkts = append(pkts, p); return nil }); err != nil {
			return
		}
		// What decodes re-encodes to something that decodes the same.
		again := packet.EncodePayload(nil, pkts)
		n := 0
		if err := packet.DecodePayload(again, func(p *packet.Packet) error {
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

func BenchmarkDecodePayload(b *testing.B) {
	payload := []byte("4hello\x1e4" + string(bytes.Repeat([]byte("x"), 200)) + "\x1ebAQIDBA==\x1e3")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = packet.DecodePayload(payload, func(*packet.Packet) error { return nil })
	}
}

func BenchmarkEncodePayload(b *testing.B) {
	pkts := []*packet.Packet{
		{Type: packet.Message, Data: []byte(`2["message","hello"]`)},
		{Type: packet.Message, Data: []byte{1, 2, 3}, Binary: true},
		{Type: packet.Ping},
	}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = packet.EncodePayload(buf[:0], pkts)
	}
}
