package socketio

import (
	"encoding/json"
	"math"
	"testing"
)

func TestEncodeArgs(t *testing.T) {
	type point struct {
		X int    `json:"x"`
		S string `json:"s"`
	}
	p, err := eventPacket("/chat", "ev", []any{
		"str\"\n<>&\u2028", 1, int64(-2), 1.5, true, nil, json.RawMessage(`{"b":1,"a":2}`),
		map[string]any{"z": 1, "a": []any{[]byte{1}, "x"}}, point{3, "y"}, math.NaN(), "\xff",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `/chat,["ev","str\"\n<>&` + "\u2028" + `",1,-2,1.5,true,null,{"b":1,"a":2},{"a":[{"_placeholder":true,"num":0},"x"],"z":1},{"x":3,"s":"y"},null,"\ufffd"]`
	got := string(p.AppendText(nil))
	if got != "51-"+want {
		t.Fatalf("got  %s\nwant 51-%s", got, want)
	}
	if len(p.Attachments) != 1 {
		t.Fatal("attachment missing")
	}
	if _, err := eventPacket("/", "ev", []any{func() {}}); err == nil {
		t.Fatal("func encoded")
	}
	if _, err := eventPacket("/", "ev", []any{make(chan int)}); err == nil {
		t.Fatal("chan encoded")
	}
}
