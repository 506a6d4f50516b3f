package engineio

import (
	"testing"
)

// BenchmarkEncodePayload builds a polling response.
func BenchmarkEncodePayload(b *testing.B) {
	pkts := []*Packet{NewMessage([]byte(`2["message","hello"]`), false), NewMessage([]byte{1, 2, 3}, true), pingPacket}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = appendPayload(buf[:0], pkts)
	}
}

// BenchmarkFramedMessage builds a message and its WebSocket frame in one
// buffer, as a broadcast does once for all its recipients.
func BenchmarkFramedMessage(b *testing.B) {
	text := []byte(`2["fanout",{"t":1732500000000000000,"p":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}]`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf := append(MessageBuffer(len(text)), text...)
		p := NewFramedMessage(buf)
		_ = p.wsFrame()
	}
}
