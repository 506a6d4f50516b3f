package socketio

import (
	"encoding/json"
	"testing"
)

func TestAppendOffset(t *testing.T) {
	if got := string(appendOffset(json.RawMessage(`["ev",1]`), "o1")); got != `["ev",1,"o1"]` {
		t.Fatal(got)
	}
	if got := string(appendOffset(json.RawMessage(`[]`), "o1")); got != `["o1"]` {
		t.Fatal(got)
	}
}
