package packet_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/heraldio/herald/engineio/packet"
)

func TestUTF16Len(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int
	}{
		{"", 0},
		{"hello", 5},
		{"é", 1},     // 2 bytes, 1 unit
		{"€", 1},     // 3 bytes, 1 unit
		{"😀", 2},     // 4 bytes, a surrogate pair
		{"a😀b𝄞c", 7}, // two astral characters
		{"👩‍👩‍👧", 8}, // a ZWJ sequence: 3 astral + 2 ZWJ
	} {
		n, ok := packet.UTF16Len([]byte(tt.in))
		if !ok || n != tt.want {
			t.Errorf("%q: %d %v, want %d", tt.in, n, ok, tt.want)
		}
	}
	if _, ok := packet.UTF16Len([]byte{'a', 0xff}); ok {
		t.Error("invalid UTF-8 accepted")
	}
}

// What socket.io-client 2.x's engine.io-parser 2.x produces and expects:
// lengths of JavaScript strings (UTF-16 code units).
func TestPayloadV3(t *testing.T) {
	packets := []*packet.Packet{
		{Type: packet.Open, Data: []byte(`{"sid":"x"}`)},
		{Type: packet.Message, Data: []byte(`2["hi","😀é"]`)},
		{Type: packet.Message, Data: []byte{1, 2, 3}, Binary: true},
		{Type: packet.Pong},
	}
	const want = `12:0{"sid":"x"}14:42["hi","😀é"]6:b4AQID1:3`
	got := packet.EncodePayloadV3(nil, packets)
	if string(got) != want {
		t.Fatalf("encoded %q, want %q", got, want)
	}
	if s := packet.EncodePayloadV3(nil, nil); string(s) != "0:" {
		t.Errorf("no packets: %q", s)
	}
	var back []*packet.Packet
	err := packet.DecodePayloadV3(got, func(p *packet.Packet) error { back = append(back, p); return nil })
	if err != nil || len(back) != len(packets) {
		t.Fatalf("decoded %d, %v", len(back), err)
	}
	for i, p := range back {
		if p.Type != packets[i].Type || !bytes.Equal(p.Data, packets[i].Data) || p.Binary != packets[i].Binary {
			t.Errorf("packet %d: %+v, want %+v", i, p, packets[i])
		}
	}
	// "0:" records are skipped, as the reference's decoder does.
	n := 0
	if err := packet.DecodePayloadV3([]byte("0:1:21:6"), func(*packet.Packet) error { n++; return nil }); err != nil || n != 2 {
		t.Errorf("empty record: %d packets, %v", n, err)
	}
}

func TestBinaryPayloadV3(t *testing.T) {
	packets := []*packet.Packet{
		{Type: packet.Message, Data: []byte(`451-["f",{"_placeholder":true,"num":0}]`)},
		{Type: packet.Message, Data: bytes.Repeat([]byte{0xff}, 10), Binary: true},
		{Type: packet.Message, Data: []byte("😀")},
	}
	got := packet.EncodeBinaryPayloadV3(nil, packets)
	want := append([]byte{0, 4, 0, 0xff}, "4"+string(packets[0].Data)...)
	want = append(want, 1, 1, 1, 0xff, 4)
	want = append(want, packets[1].Data...)
	want = append(want, 0, 5, 0xff) // bytes, not UTF-16 units, in the binary framing
	want = append(want, "4😀"...)
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded\n%v\nwant\n%v", got, want)
	}
	var back []*packet.Packet
	if err := packet.DecodeBinaryPayloadV3(got, func(p *packet.Packet) error { back = append(back, p); return nil }); err != nil || len(back) != 3 {
		t.Fatalf("decoded %d, %v", len(back), err)
	}
	for i, p := range back {
		if p.Type != packets[i].Type || !bytes.Equal(p.Data, packets[i].Data) || p.Binary != packets[i].Binary {
			t.Errorf("packet %d: %+v, want %+v", i, p, packets[i])
		}
	}
}

func TestPayloadV3Malformed(t *testing.T) {
	for _, in := range []string{
		"",
		":4a",            // no length
		"x:4a",           // not a number
		"3:4a",           // longer than the body
		"2:4a1",          // a trailing length with no colon
		"2",              // no colon at all
		"1:😀",            // half of a surrogate pair
		"2:4\xff",        // not UTF-8
		"1:9",            // unknown type
		"1:b",            // "b" alone
		"4:b4!!",         // bad base64
		"4:b3AQ",         // base64 of something not a message
		"99999999999:4a", // too many digits
		"2:4a-1:2",       // garbage between records
	} {
		err := packet.DecodePayloadV3([]byte(in), func(*packet.Packet) error { return nil })
		if !errors.Is(err, packet.ErrInvalid) {
			t.Errorf("%q: %v, want ErrInvalid", in, err)
		}
	}
	for _, in := range [][]byte{
		{},
		{2, 1, 0xff, '4'},       // marker neither 0 nor 1
		{0, 0xff, '4'},          // no digits
		{0, 1, 0},               // no 0xff
		{0, 12, 0xff, '4'},      // a digit over 9
		{0, 5, 0xff, '4', 'a'},  // longer than the body
		{0, 0, 0xff},            // empty packet
		{0, 2, 0xff, '4', 0xff}, // text not UTF-8
		{0, 1, 0xff, '9'},       // unknown type
		{1, 2, 0xff, 3, 1},      // binary, not a message
		{0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0xff}, // too many digits
	} {
		err := packet.DecodeBinaryPayloadV3(in, func(*packet.Packet) error { return nil })
		if !errors.Is(err, packet.ErrInvalid) {
			t.Errorf("%v: %v, want ErrInvalid", in, err)
		}
	}
}

// FuzzDecodePayloadV3 checks that the v3 decoders never panic and that
// what they accept encodes back to a payload that decodes to the same
// packets.
func FuzzDecodePayloadV3(f *testing.F) {
	for _, s := range []string{"1:2", "6:4hello1:3", "6:b4AQID", "0:", "15:42[\"hi\",\"😀é\"]", "3:4a"} {
		f.Add([]byte(s))
	}
	f.Add([]byte{0, 1, 0xff, '2', 1, 3, 0xff, 4, 1, 2})
	decode := func(binary bool, in []byte) ([]*packet.Packet, error) {
		var got []*packet.Packet
		collect := func(p *packet.Packet) error { got = append(got, p); return nil }
		if binary {
			return got, packet.DecodeBinaryPayloadV3(in, collect)
		}
		return got, packet.DecodePayloadV3(in, collect)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, binary := range []bool{false, true} {
			got, err := decode(binary, in)
			if err != nil || len(got) == 0 {
				continue
			}
			enc := packet.EncodePayloadV3(nil, got)
			if binary {
				enc = packet.EncodeBinaryPayloadV3(nil, got)
			}
			again, err := decode(binary, enc)
			if err != nil || len(again) != len(got) {
				t.Fatalf("re-encoded %q: %d packets, %v; want %d", enc, len(again), err, len(got))
			}
			for i := range got {
				if got[i].Type != again[i].Type || got[i].Binary != again[i].Binary || !bytes.Equal(got[i].Data, again[i].Data) {
					t.Fatalf("packet %d: %+v, then %+v", i, got[i], again[i])
				}
			}
		}
	})
}
