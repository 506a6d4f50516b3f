package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/heraldio/herald/socketio"
)

// TestCodecWritesWhatServersRead: the packets the tool writes by hand are
// what the server's parser reads (socketio's own decoders).
func TestCodecWritesWhatServersRead(t *testing.T) {
	body := strings.Repeat("x", 64)
	for _, tt := range []struct {
		name string
		msg  func(codec) []byte
		want socketio.Packet
	}{
		{"connect", codec.connect, socketio.Packet{Type: socketio.PacketConnect, Nsp: "/"}},
		{"echo", func(k codec) []byte { return k.event(nil, 70000, "echo", body) },
			socketio.Packet{Type: socketio.PacketEvent, Nsp: "/", ID: 70000, HasID: true, Data: json.RawMessage(`["echo","` + body + `"]`)}},
		{"join", func(k codec) []byte { return k.event(nil, 1, "join", "bench") },
			socketio.Packet{Type: socketio.PacketEvent, Nsp: "/", ID: 1, HasID: true, Data: json.RawMessage(`["join","bench"]`)}},
		{"fanout", func(k codec) []byte { return k.fanout(nil, 1796000000123456789, body) },
			socketio.Packet{Type: socketio.PacketEvent, Nsp: "/", Data: json.RawMessage(`["fanout","bench",{"t":1796000000123456789,"p":"` + body + `"}]`)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []codec{{}, {msgpack: true}} {
				var p *socketio.Packet
				var err error
				if m := tt.msg(k); k.msgpack {
					p, err = socketio.DecodeMsgpack(m)
				} else {
					p, err = decodeText(string(m))
				}
				if err != nil {
					t.Fatalf("msgpack %v: %v", k.msgpack, err)
				}
				if p.Type != tt.want.Type || p.Nsp != tt.want.Nsp || p.ID != tt.want.ID || p.HasID != tt.want.HasID || string(p.Data) != string(tt.want.Data) {
					t.Fatalf("msgpack %v: got %+v (data %s), want %+v (data %s)", k.msgpack, p, p.Data, tt.want, tt.want.Data)
				}
			}
		})
	}
}

// decodeText reads an Engine.IO message "4<packet>".
func decodeText(s string) (*socketio.Packet, error) {
	if !strings.HasPrefix(s, "4") {
		return nil, socketio.ErrBadPacket
	}
	p, _, err := socketio.Decode([]byte(s[1:]))
	return p, err
}

// TestCodecReadsWhatServersWrite: the type, ack id and send time are read
// from the packets a server writes, in either parser.
func TestCodecReadsWhatServersWrite(t *testing.T) {
	body := strings.Repeat("x", 64)
	ack := &socketio.Packet{Type: socketio.PacketAck, Nsp: "/", ID: 123456, HasID: true, Data: json.RawMessage(`["` + body + `"]`)}
	fan := &socketio.Packet{Type: socketio.PacketEvent, Nsp: "/", Data: json.RawMessage(`["fanout",{"t":1796000000123456789,"p":"` + body + `"}]`)}
	conn := &socketio.Packet{Type: socketio.PacketConnect, Nsp: "/", Data: json.RawMessage(`{"sid":"abc"}`)}
	for _, k := range []codec{{}, {msgpack: true}} {
		enc := func(p *socketio.Packet) []byte {
			if k.msgpack {
				b, err := socketio.EncodeMsgpack(p)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			return p.AppendText([]byte("4"))
		}
		if typ, id, ok := k.packet(enc(ack), k.msgpack); !ok || typ != typeAck || id != 123456 {
			t.Errorf("msgpack %v: ack read as %d %d %v", k.msgpack, typ, id, ok)
		}
		if typ, id, ok := k.packet(enc(conn), k.msgpack); !ok || typ != typeConnect || id != -1 {
			t.Errorf("msgpack %v: connect read as %d %d %v", k.msgpack, typ, id, ok)
		}
		m := enc(fan)
		if typ, id, ok := k.packet(m, k.msgpack); !ok || typ != typeEvent || id != -1 {
			t.Errorf("msgpack %v: event read as %d %d %v", k.msgpack, typ, id, ok)
		}
		if ts, ok := k.fanoutTime(m, k.msgpack); !ok || ts != 1796000000123456789 {
			t.Errorf("msgpack %v: fan-out time %d %v", k.msgpack, ts, ok)
		}
		// The other parser's messages, and every cut of this one's, are
		// not packets (and nothing panics).
		if _, _, ok := k.packet(m, !k.msgpack); ok {
			t.Errorf("msgpack %v: a message of the other kind read as a packet", k.msgpack)
		}
		if k.msgpack {
			for i := range m {
				if _, _, ok := k.packet(m[:i], true); ok {
					t.Errorf("a packet cut at %d of %d read as whole", i, len(m))
				}
				k.fanoutTime(m[:i], true)
			}
		}
	}
}

// TestCodecNodeForms: what Node's encoder (notepack.io) writes: keys in
// another order, undefined for an absent id, numbers past 2^53 as float64.
func TestCodecNodeForms(t *testing.T) {
	k := codec{msgpack: true}
	// {id: 7, type: 3, data: ["x"], nsp: "/"}
	m := []byte("\x84\xa2id\x07\xa4type\x03\xa4data\x91\xa1x\xa3nsp\xa1/")
	if typ, id, ok := k.packet(m, true); !ok || typ != typeAck || id != 7 {
		t.Errorf("ack read as %d %d %v", typ, id, ok)
	}
	// {type: 2, data: [...], nsp: "/", id: undefined}
	m = []byte("\x84\xa4type\x02\xa4data\x92\xa6fanout\x82\xa1t\xcb\x43\xb8\xec\x5c\x3f\x7a\x00\x00\xa1p\xa1x\xa3nsp\xa1/\xa2id\xd4\x00\x00")
	if typ, id, ok := k.packet(m, true); !ok || typ != typeEvent || id != -1 {
		t.Errorf("event read as %d %d %v", typ, id, ok)
	}
	if ts, ok := k.fanoutTime(m, true); !ok || ts <= 0 {
		t.Errorf("float time read as %d %v", ts, ok)
	}
}

func TestNewCodec(t *testing.T) {
	for name, want := range map[string]bool{"json": false, "msgpack": true} {
		if k, err := newCodec(name); err != nil || k.msgpack != want {
			t.Errorf("%s: %+v %v", name, k, err)
		}
	}
	for _, bad := range []string{"", "JSON", "msgpack ", "cbor"} {
		if _, err := newCodec(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
