package socketio

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// Vectors written by notepack.io 3.0.1, the encoder of
// socket.io-msgpack-parser, for the objects in the comments.
var (
	// {type:2, data:["hi", Buffer[1,2,3], {n:1.5, big:2**40, neg:-200,
	// s:'é"x', arr:[true,false,null]}], options:{compress:true}, id:7, nsp:"/chat"}
	clientEventVector = "85a47479706502a46461746193a26869c40301020385a16ecb3ff8000000000000a3626967cf0000010000000000a36e6567d1ff38a173a4c3a92278a361727293c3c2c0a76f7074696f6e7381a8636f6d7072657373c3a2696407a36e7370a52f63686174"
	// {type:0, data:{token:"abc", pid:"p", offset:"o"}, nsp:"/"}
	clientConnectVector = "83a47479706500a46461746183a5746f6b656ea3616263a3706964a170a66f6666736574a16fa36e7370a12f"
	// {type:0, nsp:"/"}
	clientConnectNoDataVector = "82a47479706500a36e7370a12f"
	// {type:2, data:["d", new Date(Date.UTC(2026,11,1,17,0,0,123))], nsp:"/"}
	dateVector = "83a47479706502a46461746192a164d7ff1d5353006b0efd10a36e7370a12f"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMsgpackDecodesClientPackets(t *testing.T) {
	tests := []struct {
		name, vector string
		typ          PacketType
		nsp          string
		id           int64 // -1: none
		data         string
		bin          []string
	}{
		{"event", clientEventVector, PacketEvent, "/chat", 7,
			`["hi",{"_placeholder":true,"num":0},{"n":1.5,"big":1099511627776,"neg":-200,"s":"é\"x","arr":[true,false,null]}]`,
			[]string{"\x01\x02\x03"}},
		{"connect", clientConnectVector, PacketConnect, "/", -1, `{"token":"abc","pid":"p","offset":"o"}`, nil},
		{"connect without data", clientConnectNoDataVector, PacketConnect, "/", -1, "", nil},
		// the official client's CONNECT without auth: {type:0, data:undefined, nsp:"/"}
		{"connect with undefined data", "83a47479706500a464617461d40000a36e7370a12f", PacketConnect, "/", -1, "", nil},
		{"date", dateVector, PacketEvent, "/", -1, `["d","2026-12-01T17:00:00.123Z"]`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := decodeMsgpackPacket(unhex(t, tt.vector))
			if err != nil {
				t.Fatal(err)
			}
			id := int64(-1)
			if p.HasID {
				id = int64(p.ID)
			}
			if p.Type != tt.typ || p.Nsp != tt.nsp || id != tt.id || string(p.Data) != tt.data {
				t.Fatalf("got type %d nsp %q id %d data %s", p.Type, p.Nsp, id, p.Data)
			}
			if len(p.Attachments) != len(tt.bin) {
				t.Fatalf("attachments %q, want %q", p.Attachments, tt.bin)
			}
			for i, b := range tt.bin {
				if string(p.Attachments[i]) != b {
					t.Fatalf("attachment %d: %q, want %q", i, p.Attachments[i], b)
				}
			}
			if tt.typ == PacketEvent {
				if b, ok := p.Args().Bytes(0); tt.bin != nil && (!ok || string(b) != tt.bin[0]) {
					t.Fatalf("Args.Bytes(0) = %q, %v", b, ok)
				}
			}
		})
	}
}

func TestMsgpackEncodesAsNotepack(t *testing.T) {
	tests := []struct {
		name   string
		p      Packet
		vector string // notepack.io's bytes for the same object
	}{
		// {type:3, data:["ok", Buffer[9]], nsp:"/", id:12}
		{"binary ack", Packet{Type: PacketAck, Nsp: "/", ID: 12, HasID: true, Data: json.RawMessage(`["ok",{"_placeholder":true,"num":0}]`), Attachments: [][]byte{{9}}},
			"84a47479706503a46461746192a26f6bc40109a36e7370a12fa269640c"},
		// {type:0, data:{sid:"abc"}, nsp:"/"}
		{"connect", Packet{Type: PacketConnect, Nsp: "/", Data: json.RawMessage(`{"sid":"abc"}`)},
			"83a47479706500a46461746181a3736964a3616263a36e7370a12f"},
		// {type:1, nsp:"/x"}
		{"disconnect", Packet{Type: PacketDisconnect, Nsp: "/x"}, "82a47479706501a36e7370a22f78"},
		// {type:2, data:["data", {nested:Buffer[7], f:0.25, i:-1, u:300, k:70000, e:2**53}, "x"*40], nsp:"/"}
		// (notepack.io writes integral numbers past 2^64 as wrapped
		// uint64s; Herald writes them as float64.)
		{"event", Packet{Type: PacketBinaryEvent, Nsp: "/", Data: json.RawMessage(
			`["data", {"nested":{"num":0,"_placeholder":true},"f":0.25,"i":-1,"u":300,"k":7e4,"e":9007199254740992},"` + strings.Repeat("x", 40) + `"]`),
			Attachments: [][]byte{{7}}},
			"83a47479706502a46461746193a46461746186a66e6573746564c40107a166cb3fd0000000000000a169ffa175cd012ca16bce00011170a165cf0020000000000000d92878787878787878787878787878787878787878787878787878787878787878787878787878787878a36e7370a12f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := appendMsgpackPacket(nil, &tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, tt.vector); !bytes.Equal(got, want) {
				t.Fatalf("got  %x\nwant %x", got, want)
			}
		})
	}
}

// TestMsgpackTranscodesBothWays: JSON to msgpack and back gives the same
// JSON, through containers of every header size, strings that need
// escapes and numbers of each form; vmihailenco/msgpack reads what is
// written.
func TestMsgpackTranscodesBothWays(t *testing.T) {
	long := make([]string, 70000)
	for i := range long {
		long[i] = "1"
	}
	wide := make([]string, 20)
	for i := range wide {
		wide[i] = `"k` + strings.Repeat("x", i) + `":` + strings.Repeat("[", i%3) + "0" + strings.Repeat("]", i%3)
	}
	for _, in := range []string{
		`["e"]`, `["e",[]]`, `["e",{}]`, `["e","a\"b\\c\n\u0001\u00e9\ud83d\ude00","` + strings.Repeat("é", 200) + `"]`,
		`["e",0,-1,-32,-33,127,128,255,256,65535,65536,4294967295,4294967296,-128,-129,-32768,-32769,-2147483648,-2147483649,9223372036854775807,18446744073709551615,-9223372036854775808]`,
		`["e",0.5,-0.25,1.7976931348623157e+308,5e-324,1e-7,123456.789]`,
		`["e",[` + strings.Join(long[:20], ",") + `]]`,
		`["e",[` + strings.Join(long, ",") + `]]`,
		`["e",{` + strings.Join(wide, ",") + `}]`,
		`["e",[[[[{"a":[{"b":null}]}]]]],true,false,null]`,
	} {
		mp, err := appendMsgpackPacket(nil, &Packet{Type: PacketEvent, Nsp: "/", Data: json.RawMessage(in)})
		if err != nil {
			t.Fatalf("%.60s: %v", in, err)
		}
		var generic map[string]any
		if err := msgpack.Unmarshal(mp, &generic); err != nil {
			t.Fatalf("%.60s: vmihailenco/msgpack cannot read it: %v", in, err)
		}
		p, err := decodeMsgpackPacket(mp)
		if err != nil {
			t.Fatalf("%.60s: %v", in, err)
		}
		var want, got any
		_ = json.Unmarshal([]byte(in), &want)
		if err := json.Unmarshal(p.Data, &got); err != nil {
			t.Fatalf("%.60s: back as %s: %v", in, p.Data, err)
		}
		w, _ := json.Marshal(want)
		g, _ := json.Marshal(got)
		if !bytes.Equal(w, g) {
			t.Fatalf("back as %.200s\nwant %.200s", g, w)
		}
	}
}

// msgpackPacket encodes a packet's map with vmihailenco/msgpack, the
// way a client other than the official one might.
func msgpackPacket(t testing.TB, m map[string]any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMsgpackRefusesBadPackets(t *testing.T) {
	deep := bytes.Repeat([]byte{0x91}, maxMsgpackDepth+5)
	deep = append(deep, 0xc0)
	manyBins := []byte{0xdc, 0x04, 0x00} // an array of 1024 empty bins
	for range 1024 {
		manyBins = append(manyBins, 0xc4, 0x00)
	}
	ev := func(data any) []byte {
		return msgpackPacket(t, map[string]any{"type": 2, "nsp": "/", "data": data})
	}
	withData := func(data []byte) []byte {
		// {type:2, nsp:"/", data:<data>}
		return append(unhex(t, "83a47479706502a36e7370a12fa464617461"), data...)
	}
	bad := map[string][]byte{
		"empty":               {},
		"not a map":           {0x92, 0x02, 0xc0},
		"truncated":           unhex(t, clientEventVector)[:40],
		"trailing bytes":      append(unhex(t, clientConnectVector), 0xc0),
		"type a string":       msgpackPacket(t, map[string]any{"type": "2", "nsp": "/", "data": []any{"x"}}),
		"type a fraction":     msgpackPacket(t, map[string]any{"type": 2.5, "nsp": "/", "data": []any{"x"}}),
		"type 5 (binary)":     msgpackPacket(t, map[string]any{"type": 5, "nsp": "/", "data": []any{"x"}}),
		"type negative":       msgpackPacket(t, map[string]any{"type": -1, "nsp": "/", "data": []any{"x"}}),
		"no type":             msgpackPacket(t, map[string]any{"nsp": "/", "data": []any{"x"}}),
		"nsp not a string":    msgpackPacket(t, map[string]any{"type": 2, "nsp": 1, "data": []any{"x"}}),
		"no nsp":              msgpackPacket(t, map[string]any{"type": 2, "data": []any{"x"}}),
		"event data a map":    ev(map[string]any{"a": 1}),
		"event without data":  msgpackPacket(t, map[string]any{"type": 2, "nsp": "/"}),
		"event empty":         ev([]any{}),
		"event name a map":    ev([]any{map[string]any{}}),
		"event name binary":   ev([]any{[]byte{1}}),
		"reserved event":      ev([]any{"disconnect"}),
		"id a string":         msgpackPacket(t, map[string]any{"type": 2, "nsp": "/", "data": []any{"x"}, "id": "1"}),
		"id negative":         msgpackPacket(t, map[string]any{"type": 2, "nsp": "/", "data": []any{"x"}, "id": -1}),
		"id past 2^53":        msgpackPacket(t, map[string]any{"type": 2, "nsp": "/", "data": []any{"x"}, "id": uint64(1) << 60}),
		"ack without id":      msgpackPacket(t, map[string]any{"type": 3, "nsp": "/", "data": []any{"x"}}),
		"connect data array":  msgpackPacket(t, map[string]any{"type": 0, "nsp": "/", "data": []any{"x"}}),
		"disconnect data":     msgpackPacket(t, map[string]any{"type": 1, "nsp": "/", "data": map[string]any{}}),
		"connect error array": msgpackPacket(t, map[string]any{"type": 4, "nsp": "/", "data": []any{"x"}}),
		"map key a bool":      withData([]byte{0x92, 0xa1, 'x', 0x81, 0xc3, 0xc0}),
		"never used 0xc1":     withData([]byte{0x92, 0xa1, 'x', 0xc1}),
		"unknown ext":         withData([]byte{0x92, 0xa1, 'x', 0xd4, 0x05, 0x00}),
		"str of 4 GB":         withData([]byte{0x92, 0xa1, 'x', 0xdb, 0xff, 0xff, 0xff, 0xff, 'a'}),
		"bin of 4 GB":         withData([]byte{0x92, 0xa1, 'x', 0xc6, 0xff, 0xff, 0xff, 0xff, 'a'}),
		"array of 4 G":        withData([]byte{0x92, 0xa1, 'x', 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0}),
		"map of 4 G":          withData([]byte{0x92, 0xa1, 'x', 0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0}),
		"packet map of 4 G":   {0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0},
		"ext of 4 GB":         withData([]byte{0x92, 0xa1, 'x', 0xc9, 0xff, 0xff, 0xff, 0xff, 0x00}),
		"deep nesting":        withData(append([]byte{0x92, 0xa1, 'x'}, deep...)),
		"too many bins":       withData(append([]byte{0x92, 0xa1, 'x'}, manyBins...)),
		"duplicate type":      append([]byte{0x83}, unhex(t, "a47479706502a47479706502a36e7370a12f")...),
	}
	for name, in := range bad {
		t.Run(name, func(t *testing.T) {
			if p, err := decodeMsgpackPacket(in); err == nil {
				t.Fatalf("accepted: %+v", p)
			}
		})
	}
	// The same shapes within the bounds are fine.
	ok := map[string][]byte{
		"nesting at the bound": withData(append([]byte{0x92, 0xa1, 'x'}, append(bytes.Repeat([]byte{0x91}, maxMsgpackDepth-2), 0xc0)...)),
		"integral float type":  msgpackPacket(t, map[string]any{"type": 2.0, "nsp": "/", "data": []any{"x"}}),
		"integer map key":      withData([]byte{0x92, 0xa1, 'x', 0x81, 0x01, 0xc0}),
		"undefined":            withData([]byte{0x92, 0xa1, 'x', 0xd4, 0x00, 0x00}),
		"connect error string": msgpackPacket(t, map[string]any{"type": 4, "nsp": "/", "data": "refused"}),
	}
	for name, in := range ok {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeMsgpackPacket(in); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// FuzzMsgpackDecode: any input is refused or gives a packet whose data is
// valid JSON with valid placeholders, which encodes back to msgpack that
// decodes to the same packet.
func FuzzMsgpackDecode(f *testing.F) {
	for _, v := range []string{clientEventVector, clientConnectVector, clientConnectNoDataVector, dateVector} {
		b, _ := hex.DecodeString(v)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := decodeMsgpackPacket(in)
		if err != nil {
			return
		}
		if len(p.Data) > 0 && !json.Valid(p.Data) {
			t.Fatalf("data is not JSON: %q", p.Data)
		}
		if !validPlaceholders(p.Data, len(p.Attachments)) {
			t.Fatalf("bad placeholders: %s", p.Data)
		}
		out, err := appendMsgpackPacket(nil, p)
		if err != nil {
			t.Fatalf("re-encode %s: %v", p.Data, err)
		}
		q, err := decodeMsgpackPacket(out)
		if err != nil {
			t.Fatalf("re-decode %x: %v", out, err)
		}
		var a, b any
		_ = json.Unmarshal(p.Data, &a)
		_ = json.Unmarshal(q.Data, &b)
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if q.Type != p.Type || q.Nsp != p.Nsp || q.ID != p.ID || !bytes.Equal(ja, jb) || len(q.Attachments) != len(p.Attachments) {
			t.Fatalf("round trip: %+v -> %+v", p, q)
		}
	})
}
