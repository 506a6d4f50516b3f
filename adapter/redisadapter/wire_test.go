package redisadapter

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/heraldio/herald/adapter/internal/wire"
	"github.com/heraldio/herald/socketio"
)

type captured struct {
	From     string          `json:"from"`
	Cmd      string          `json:"cmd"`
	Channel  string          `json:"channel"`
	Encoding string          `json:"encoding"`
	Hex      string          `json:"hex"`
	Value    json.RawMessage `json:"value"`
}

func loadCapture(t *testing.T, name string) []captured {
	t.Helper()
	raw, err := os.ReadFile("../../../shared/reference/redis-adapter-captures/" + name)
	if err != nil {
		t.Skip("captures not beside the repository:", err)
	}
	var c struct {
		Log []captured `json:"log"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c.Log
}

// Every msgpack message Node published decodes into JSON with
// placeholders, and encoding that JSON gives back Node's exact bytes.
func TestParserRoundTripsCapturedMessages(t *testing.T) {
	for _, name := range []string{"out-classic.json", "out-sharded.json"} {
		t.Run(name, func(t *testing.T) {
			n := 0
			for _, e := range loadCapture(t, name) {
				if e.Hex == "" {
					continue
				}
				b, err := hex.DecodeString(e.Hex)
				if err != nil {
					t.Fatal(err)
				}
				msg, att, err := MsgpackParser{}.Decode(b)
				if err != nil {
					t.Fatalf("%s: decode: %v", e.Channel, err)
				}
				if !json.Valid(msg) {
					t.Fatalf("%s: invalid JSON %s", e.Channel, msg)
				}
				// the same values as Node's
				var got, want any
				_ = json.Unmarshal(msg, &got)
				_ = json.Unmarshal(e.Value, &want)
				if len(att) == 0 && !jsonEqual(got, want) {
					t.Errorf("%s: decoded %s, captured %s", e.Channel, msg, e.Value)
				}
				re, err := MsgpackParser{}.Encode(msg, att)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(re, b) {
					t.Errorf("%s: re-encoded\n%x\nNode sent\n%x", e.Channel, re, b)
				}
				n++
			}
			if n == 0 {
				t.Fatal("no msgpack message in the capture")
			}
		})
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// The JSON messages decode too, with the fields the adapters read.
func TestCapturedJSONMessagesDecode(t *testing.T) {
	for _, e := range loadCapture(t, "out-classic.json") {
		if e.Encoding != "json" {
			continue
		}
		var r request
		if err := json.Unmarshal(e.Value, &r); err != nil {
			t.Errorf("%s: %v", e.Value, err)
		}
		if r.Type < 0 || r.Type > 9 {
			t.Errorf("type %d", r.Type)
		}
	}
}

// Herald's broadcasts are byte for byte what Node's adapter publishes for
// the same emit.
func TestBroadcastBytesMatchNode(t *testing.T) {
	log := loadCapture(t, "out-classic.json")
	want := map[string][]byte{}
	for _, e := range log {
		if e.From == "A" && e.Hex != "" {
			b, _ := hex.DecodeString(e.Hex)
			var v []any
			if msgpack.Unmarshal(b, &v) == nil && len(v) == 3 {
				ev := v[1].(map[string]any)["data"].([]any)[0].(string)
				want[ev] = b
			} else {
				want["request"] = b
			}
		}
	}
	ev := func(name string, args ...any) *socketio.Packet {
		p, err := socketio.EventPacket("/", name, args...)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name string
		p    *socketio.Packet
		opts socketio.BroadcastOptions
	}{
		{"hello", ev("hello", "world", 1), socketio.BroadcastOptions{}},
		{"room-msg", ev("room-msg", json.RawMessage(`{"a":1}`)), socketio.BroadcastOptions{Rooms: []string{"room1"}}},
		{"multi", ev("multi", "x"), socketio.BroadcastOptions{Rooms: []string{"room1", "room2"}, Except: []string{"room3"},
			Flags: socketio.BroadcastFlags{Volatile: true, NoCompress: true}}},
		{"bin", ev("bin", []byte{1, 2, 3}), socketio.BroadcastOptions{}},
	}
	for _, c := range cases {
		got, err := encodeBroadcast(MsgpackParser{}, "foKZCc", c.p, &c.opts)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want[c.name]) {
			t.Errorf("%s:\n got %x\nwant %x", c.name, got, want[c.name])
		}
	}
	// the request of a broadcast with acks
	p := ev("question", 42)
	msg := []byte(`{"uid":"foKZCc","requestId":"bi1-WU","type":7,"packet":`)
	msg = wire.AppendPacket(msg, p, true)
	msg = append(msg, `,"opts":`...)
	msg = wire.AppendOpts(msg, &socketio.BroadcastOptions{Flags: socketio.BroadcastFlags{Timeout: time.Second}}, true)
	msg = append(msg, '}')
	got, _ := MsgpackParser{}.Encode(msg, nil)
	if !bytes.Equal(got, want["request"]) {
		t.Errorf("broadcast request:\n got %x\nwant %x", got, want["request"])
	}
}

// Key order, integers, floats, escapes and nested binary survive the
// round trip JSON → msgpack → JSON.
func TestParserKeepsJSON(t *testing.T) {
	for _, in := range []string{
		`["ev",{"z":1,"a":[1.5,-3,1e21,0.1,null,true,false],"m":"\u003c\"\\\n\u0001é"},{"_placeholder":true,"num":0},[{"_placeholder":true,"num":1}],{},[]]`,
		`{"type":2,"data":["x",4294967296,-2147483649,255,256,65536]}`,
	} {
		b, err := MsgpackParser{}.Encode([]byte(in), [][]byte{{1}, {2, 3}})
		if err != nil {
			t.Fatal(err)
		}
		out, att, err := MsgpackParser{}.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		var x, y any
		_ = json.Unmarshal([]byte(in), &x)
		_ = json.Unmarshal(out, &y)
		if !jsonEqual(x, y) {
			t.Errorf("in  %s\nout %s", in, out)
		}
		if bytes.Contains([]byte(in), []byte("_placeholder")) && len(att) != 2 {
			t.Errorf("attachments %v", att)
		}
	}
	out, _, _ := MsgpackParser{}.Decode(mustEncode(t, `{"b":1,"a":2}`))
	if string(out) != `{"b":1,"a":2}` {
		t.Errorf("key order: %s", out)
	}
}

func mustEncode(t *testing.T, s string) []byte {
	b, err := MsgpackParser{}.Encode([]byte(s), nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Declared lengths larger than the message are refused before anything is
// sized from them (a fuzzer's map key of 2^32 entries once exhausted memory).
func TestMsgpackDecodeHugeLengths(t *testing.T) {
	for _, b := range [][]byte{
		{0x92, 'h', 0x81, 0xdf, 0xcb, 0x40, 0x04, 0, 0, 0, 0, 0, 0, 0}, // map32 as a map key
		{0xdb, 0xff, 0xff, 0xff, 0xff, 'a'},                            // str32
		{0xc6, 0x7f, 0xff, 0xff, 0xff},                                 // bin32
		{0xdd, 0xff, 0xff, 0xff, 0xff, 1, 2},                           // array32
		{0xdf, 0x00, 0x10, 0x00, 0x00, 0xa1, 'k', 1},                   // map32
		{0xc9, 0xff, 0xff, 0xff, 0xff, 1},                              // ext32
		{0x81, 0x91, 1, 1},                                             // array as a key
	} {
		if _, _, err := (MsgpackParser{}).Decode(b); err == nil {
			t.Errorf("% x decoded", b)
		}
	}
	if msg, _, err := (MsgpackParser{}).Decode([]byte{0x81, 0x01, 0xc3}); err != nil || string(msg) != `{"1":true}` {
		t.Errorf("integer key: %s %v", msg, err)
	}
}

func FuzzMsgpackDecode(f *testing.F) {
	f.Add([]byte{0x93, 0xa1, 'x', 0xc4, 1, 2, 0x80})
	f.Add(mustEncodeF(`["a",{"b":[1,2.5,null]}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, att, err := MsgpackParser{}.Decode(b)
		if err != nil {
			return
		}
		if !json.Valid(msg) {
			t.Fatalf("invalid JSON %q from %x", msg, b)
		}
		if _, err := (MsgpackParser{}).Encode(msg, att); err != nil {
			t.Fatalf("re-encode %q: %v", msg, err)
		}
	})
}

func FuzzJSONEncode(f *testing.F) {
	f.Add([]byte(`["a",{"b":[1,2.5,null,"\u0000"]},{"_placeholder":true,"num":0}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		m, err := MsgpackParser{}.Encode(b, [][]byte{{1}})
		if err != nil {
			t.Fatalf("valid JSON %q rejected: %v", b, err)
		}
		if _, _, err := (MsgpackParser{}).Decode(m); err != nil {
			t.Fatalf("decode: %v", err)
		}
	})
}

func mustEncodeF(s string) []byte {
	b, _ := MsgpackParser{}.Encode([]byte(s), nil)
	return b
}
