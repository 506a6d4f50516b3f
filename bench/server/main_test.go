package main

import (
	"testing"

	"github.com/heraldio/herald/socketio"
)

func TestParserNamed(t *testing.T) {
	for name, want := range map[string]socketio.Parser{"": socketio.JSONParser, "json": socketio.JSONParser, "msgpack": socketio.MsgpackParser} {
		if p, err := parserNamed(name); err != nil || p != want {
			t.Errorf("%q: %v %v", name, p, err)
		}
	}
	for _, bad := range []string{"MSGPACK", "cbor", " json"} {
		if _, err := parserNamed(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
