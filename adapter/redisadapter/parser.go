package redisadapter

import "github.com/heraldio/herald/internal/msgpackjson"

// Parser encodes the messages that may carry binary: broadcasts, broadcasts
// with acks and their answers. Messages are handled as JSON whose binary
// values are socket.io placeholders ({"_placeholder":true,"num":i})
// referring to attachments, the form Herald packets already have; a Parser
// turns that into bytes for Redis and back.
type Parser interface {
	// Encode encodes a JSON message, replacing its placeholders with the
	// attachments they refer to.
	Encode(msg []byte, attachments [][]byte) ([]byte, error)
	// Decode decodes a message into JSON, binary values becoming
	// placeholders referring to the returned attachments.
	Decode(data []byte) (msg []byte, attachments [][]byte, err error)
}

// MsgpackParser is the default Parser, the encoding of Node's adapters
// (notepack.io): maps keep their key order, integers take the smallest
// form, other numbers are float64, binary is msgpack bin. Encoding the
// JSON of a message Node sent gives back Node's bytes.
type MsgpackParser struct{}

// Encode implements Parser.
func (MsgpackParser) Encode(msg []byte, attachments [][]byte) ([]byte, error) {
	return msgpackjson.Encode(msg, attachments)
}

// Decode implements Parser.
func (MsgpackParser) Decode(data []byte) ([]byte, [][]byte, error) {
	return msgpackjson.Decode(data)
}
