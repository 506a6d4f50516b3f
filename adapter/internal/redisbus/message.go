package redisbus

import (
	"encoding/json"
	"strconv"

	"github.com/heraldio/herald/adapter/cluster"
	"github.com/heraldio/herald/adapter/internal/wire"
)

// Codec encodes the messages that carry binary; redisadapter.Parser is
// one.
type Codec interface {
	Encode(msg []byte, attachments [][]byte) ([]byte, error)
	Decode(data []byte) (msg []byte, attachments [][]byte, err error)
}

// whole is a cluster message sent whole over pub/sub.
type whole struct {
	UID  string              `json:"uid"`
	Nsp  string              `json:"nsp"`
	Type cluster.MessageType `json:"type"`
	Data json.RawMessage     `json:"data"`
}

// DecodeMessage decodes a cluster message sent whole over pub/sub: JSON,
// or msgpack (c) when it carries binary (always msgpack from Node's
// streams adapter).
func DecodeMessage(c Codec, payload []byte) (*cluster.Message, bool) {
	var h whole
	msg := payload
	var att [][]byte
	if len(payload) == 0 || payload[0] != '{' {
		var err error
		if msg, att, err = c.Decode(payload); err != nil {
			return nil, false
		}
	}
	if json.Unmarshal(msg, &h) != nil {
		return nil, false
	}
	return &cluster.Message{UID: h.UID, Nsp: h.Nsp, Type: h.Type, Data: h.Data, Attachments: att}, true
}

// EncodeMessage encodes m whole for pub/sub: JSON, or with c when it
// carries binary or msgpack is set.
func EncodeMessage(c Codec, m *cluster.Message, msgpack bool) ([]byte, error) {
	msg := wire.NewObject().Raw("type", strconv.AppendInt(nil, int64(m.Type), 10)).Raw("data", m.Data).Str("uid", m.UID).Str("nsp", m.Nsp).Done()
	if len(m.Attachments) == 0 && !msgpack {
		return msg, nil
	}
	return c.Encode(msg, m.Attachments)
}
