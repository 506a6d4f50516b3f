package socketio

import (
	"bytes"
	"errors"
	"testing"
)

// msg is one Engine.IO message fed to a Decoder.
type msg struct {
	data   string
	binary bool
}

func TestDecoder(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []msg
		out  []string // AppendText and attachments of each packet returned, in order
		err  error    // of the last message
	}{
		{name: "text", in: []msg{{`2["a",1]`, false}}, out: []string{`2["a",1]`}},
		{name: "binary", in: []msg{{`52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, false}, {"x", true}, {"y", true}, {`2["b"]`, false}},
			out: []string{`52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]|x|y`, `2["b"]`}},
		{name: "binary ack", in: []msg{{`61-/n,7[{"_placeholder":true,"num":0}]`, false}, {"z", true}},
			out: []string{`61-/n,7[{"_placeholder":true,"num":0}]|z`}},
		{name: "unexpected binary", in: []msg{{"x", true}}, err: ErrUnexpectedBinary},
		{name: "text before attachments", in: []msg{{`51-["a",{"_placeholder":true,"num":0}]`, false}, {`2["b"]`, false}}, err: ErrBadPacket},
		{name: "bad packet", in: []msg{{`9`, false}}, err: ErrBadPacket},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d Decoder
			var got []string
			var err error
			for _, m := range tc.in {
				var p *Packet
				p, err = d.Feed([]byte(m.data), m.binary)
				if p != nil {
					got = append(got, packetString(p))
				}
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if len(got) != len(tc.out) {
				t.Fatalf("got %q, want %q", got, tc.out)
			}
			for i := range got {
				if got[i] != tc.out[i] {
					t.Fatalf("packet %d: %q, want %q", i, got[i], tc.out[i])
				}
			}
			if err != nil && d.Awaiting() != nil {
				t.Fatal("an error kept the awaited packet")
			}
		})
	}
}

func TestDecoderDrop(t *testing.T) {
	var d Decoder
	d.Drop() // nothing awaited: no effect
	if p, err := d.Feed([]byte(`51-["a",{"_placeholder":true,"num":0}]`), false); p != nil || err != nil {
		t.Fatal(p, err)
	}
	if a := d.Awaiting(); a == nil || a.Nsp != "/" {
		t.Fatal("nothing awaited")
	}
	d.Drop()
	if !d.Dropping() {
		t.Fatal("not dropping")
	}
	if p, err := d.Feed([]byte("x"), true); p != nil || err != nil {
		t.Fatal(p, err)
	}
	if d.Awaiting() != nil || d.Dropping() {
		t.Fatal("a dropped packet is still awaited")
	}
	if p, _ := d.Feed([]byte(`2["b"]`), false); p == nil || p.EventName() != "b" {
		t.Fatal("the next packet is lost")
	}
}

func packetString(p *Packet) string {
	s := string(p.AppendText(nil))
	for _, a := range p.Attachments {
		s += "|" + string(a)
	}
	return s
}

// FuzzDecoder feeds a sequence of messages, split at NUL bytes; a message
// beginning with 0x01 is binary. Every packet returned has the
// attachments it announced, and its text decodes to the same packet.
func FuzzDecoder(f *testing.F) {
	for _, s := range []string{
		`2["a",1]`,
		"52-[\"a\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]\x00\x01x\x00\x01y\x002[\"b\"]",
		"61-/n,7[{\"_placeholder\":true,\"num\":0}]\x00\x01z",
		"\x01x",
		"51-[\"a\",{\"_placeholder\":true,\"num\":0}]\x002[\"b\"]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var d Decoder
		for _, m := range bytes.Split(in, []byte{0}) {
			binary := len(m) > 0 && m[0] == 1
			if binary {
				m = m[1:]
			}
			p, err := d.Feed(m, binary)
			if err != nil {
				if d.Awaiting() != nil {
					t.Fatal("an error kept the awaited packet")
				}
				continue
			}
			if p == nil {
				continue
			}
			text := p.AppendText(nil)
			q, n, err := Decode(text)
			if err != nil {
				t.Fatalf("%q: %v", text, err)
			}
			if n != len(p.Attachments) || q.Type != p.Type || q.Nsp != p.Nsp || q.ID != p.ID || q.HasID != p.HasID {
				t.Fatalf("%q: decoded again as %+v, %d attachments", text, q, n)
			}
			_ = p.Args().Values()
		}
	})
}
