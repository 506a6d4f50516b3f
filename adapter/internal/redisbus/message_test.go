package redisbus_test

import (
	"bytes"
	"testing"

	"github.com/heraldio/herald/adapter/cluster"
	"github.com/heraldio/herald/adapter/internal/redisbus"
	"github.com/heraldio/herald/adapter/redisadapter"
)

// A message encoded whole decodes to the same message, as JSON and as
// msgpack, with its attachments.
func TestMessageRoundTrip(t *testing.T) {
	p := redisadapter.MsgpackParser{}
	in := &cluster.Message{UID: "u1", Nsp: "/chat", Type: cluster.MsgBroadcast,
		Data: []byte(`{"packet":{"type":2,"data":["m",{"_placeholder":true,"num":0}]},"opts":{"rooms":[],"except":[]}}`), Attachments: [][]byte{{1, 2}}}
	for _, msgpack := range []bool{false, true} {
		for _, att := range [][][]byte{nil, in.Attachments} {
			m := *in
			m.Attachments = att
			b, err := redisbus.EncodeMessage(p, &m, msgpack)
			if err != nil {
				t.Fatal(err)
			}
			out, ok := redisbus.DecodeMessage(p, b)
			if !ok || out.UID != m.UID || out.Nsp != m.Nsp || out.Type != m.Type || !bytes.Equal(out.Data, m.Data) || len(out.Attachments) != len(att) {
				t.Fatalf("msgpack %v attachments %d: %+v", msgpack, len(att), out)
			}
		}
	}
}

func FuzzDecodeMessage(f *testing.F) {
	p := redisadapter.MsgpackParser{}
	f.Add([]byte(`{"type":3,"data":{"packet":{"type":2,"data":["m"]}},"uid":"u","nsp":"/"}`))
	b, _ := redisbus.EncodeMessage(p, &cluster.Message{UID: "u", Nsp: "/", Type: cluster.MsgHeartbeat, Data: []byte(`{}`)}, true)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, ok := redisbus.DecodeMessage(p, b)
		if !ok {
			return
		}
		if _, err := redisbus.EncodeMessage(p, m, true); err != nil && len(m.Data) > 0 {
			t.Fatalf("re-encode %+v: %v", m, err)
		}
	})
}
