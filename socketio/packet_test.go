package socketio

import (
	"encoding/json"
	"testing"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		in   string
		typ  PacketType
		nsp  string
		id   int64 // -1: none
		data string
		n    int
	}{
		{"0", PacketConnect, "/", -1, "", 0},
		{`0{"token":"x"}`, PacketConnect, "/", -1, `{"token":"x"}`, 0},
		{"0/admin,", PacketConnect, "/admin", -1, "", 0},
		{"0/admin", PacketConnect, "/admin", -1, "", 0},
		{`2["hello",1]`, PacketEvent, "/", -1, `["hello",1]`, 0},
		{`2/admin,456["project:delete",123]`, PacketEvent, "/admin", 456, `["project:delete",123]`, 0},
		{`3/admin,456[]`, PacketAck, "/admin", 456, `[]`, 0},
		{`51-["hello",{"_placeholder":true,"num":0}]`, PacketBinaryEvent, "/", -1, `["hello",{"_placeholder":true,"num":0}]`, 1},
		{`61-/admin,456[{"_placeholder":true,"num":0}]`, PacketBinaryAck, "/admin", 456, `[{"_placeholder":true,"num":0}]`, 1},
		{`4{"message":"Not authorized"}`, PacketConnectError, "/", -1, `{"message":"Not authorized"}`, 0},
		{"1/admin,", PacketDisconnect, "/admin", -1, "", 0},
		{`2[1,"numeric event"]`, PacketEvent, "/", -1, `[1,"numeric event"]`, 0},
	}
	for _, tt := range tests {
		p, n, err := Decode([]byte(tt.in))
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		id := int64(-1)
		if p.HasID {
			id = int64(p.ID)
		}
		if p.Type != tt.typ || p.Nsp != tt.nsp || id != tt.id || string(p.Data) != tt.data || n != tt.n {
			t.Errorf("%q: got %+v n=%d", tt.in, p, n)
		}
	}
	for _, bad := range []string{
		"", "7", "abc", `2{}`, `2[]`, `2["connect"]`, `2["disconnecting"]`, `2[null]`, `2[{}]`,
		`2abc["x"]`, `3[]`, `2["x"`, `5["x"]`, `5-["x"]`, `511-["x"]`, `51["x"]`, `0"str"`, `0[1]`, `1x`,
		`2` + "99999999999999999999" + `["x"]`, `4[1]`,
	} {
		if _, _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("%q: want error", bad)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"0", `0{"token":"123"}`, "0/admin,", `2["hello",1]`, `2/admin,456["x",{"a":[1,2]}]`,
		`51-["hello",{"_placeholder":true,"num":0}]`, `3/admin,456[]`, `4{"message":"x"}`, "1", `2["a\"]",1]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		p, n, err := Decode(in)
		if err != nil {
			return
		}
		if n < 0 || n > MaxAttachments {
			t.Fatalf("attachments %d", n)
		}
		if p.Type == PacketEvent || p.Type == PacketBinaryEvent {
			_ = p.EventName()
			a := p.Args()
			for i := 0; i < a.Len(); i++ {
				if !json.Valid(a.Raw(i)) {
					t.Fatalf("arg %d not valid JSON: %q", i, a.Raw(i))
				}
			}
			_ = a.Values()
		}
		// Re-encoding a decoded packet decodes to the same packet.
		for i := 0; i < n; i++ {
			p.Attachments = append(p.Attachments, []byte{byte(i)})
		}
		q, m, err := Decode(p.AppendText(nil))
		if err != nil || m != n || q.Type != p.Type || q.Nsp != p.Nsp || q.ID != p.ID || string(q.Data) != string(p.Data) {
			t.Fatalf("round trip of %q: %+v %v", in, q, err)
		}
	})
}

// A placeholder must name one of the packet's attachments.
func TestDecodeRefusesPlaceholdersBeyondAttachments(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{`51-["x",{"_placeholder":true,"num":0}]`, true},
		{`52-["x",{"_placeholder":true,"num":1},[{"_placeholder":true,"num":0}]]`, true},
		{`51-/chat,["x",{"_placeholder":true,"num":3}]`, false},
		{`51-["x",{"_placeholder":true,"num":-1}]`, false},
		{`51-["x",{"_placeholder":true,"num":0.5}]`, false},
		{`51-["x",{"_placeholder":true}]`, false},
		{`61-1[{"a":{"_placeholder":true,"num":1}}]`, false},
	} {
		_, _, err := Decode([]byte(tt.in))
		if (err == nil) != tt.ok {
			t.Errorf("Decode(%s): %v", tt.in, err)
		}
	}
}
