package socketio

import (
	"strings"
	"testing"
)

func TestArgs(t *testing.T) {
	p, _, err := Decode([]byte(`52-["ev","s",{"_placeholder":true,"num":1},{"k":[{"_placeholder":true,"num":0}]},3]`))
	if err != nil {
		t.Fatal(err)
	}
	p.Attachments = [][]byte{{0}, {1}}
	if p.EventName() != "ev" {
		t.Fatal(p.EventName())
	}
	a := p.Args()
	if a.Len() != 4 {
		t.Fatalf("len %d", a.Len())
	}
	if s, ok := a.String(0); !ok || s != "s" {
		t.Fatal("String")
	}
	if b, ok := a.Bytes(1); !ok || b[0] != 1 {
		t.Fatal("Bytes")
	}
	var b []byte
	if err := a.Decode(1, &b); err != nil || b[0] != 1 {
		t.Fatal("Decode bytes", err)
	}
	var n int
	if err := a.Decode(3, &n); err != nil || n != 3 {
		t.Fatal("Decode int")
	}
	if err := a.Decode(9, &n); err == nil {
		t.Fatal("out of range")
	}
	v := a.Values()
	if nested := v[2].(map[string]any)["k"].([]any)[0].([]byte); nested[0] != 0 {
		t.Fatal("nested binary")
	}
	// Splicing keeps placeholders valid when re-encoded after other binary.
	q, _ := eventPacket("/", "back", []any{[]byte{9}, a})
	if !strings.HasPrefix(string(q.AppendText(nil)), `53-["back",{"_placeholder":true,"num":0},"s",{"_placeholder":true,"num":1}`) || len(q.Attachments) != 3 {
		t.Fatalf("spliced %s (%d)", q.AppendText(nil), len(q.Attachments))
	}
	if string(q.Attachments[1]) != "\x01" {
		t.Fatal("spliced attachment order")
	}
}
