// Package packet is the Engine.IO v4 packet codec that the server
// (package engineio) and the Go client share: the packet types, a
// packet's text form ("4hello", "b" and base64 for binary), and the
// payloads of HTTP long-polling (packets joined by the record separator).
//
// It knows nothing of transports or sessions. What the server adds to a
// packet it sends (its WebSocket frame, built once for all recipients)
// stays in engineio.
package packet

import (
	"encoding/base64"
	"errors"
)

// Type is the Engine.IO packet type, sent as a single digit.
type Type byte

// The Engine.IO v4 packet types.
const (
	Open Type = iota
	Close
	Ping
	Pong
	Message
	Upgrade
	Noop
)

// ErrInvalid is returned by the decoders for input that is not a valid
// packet or payload.
var ErrInvalid = errors.New("engineio: bad packet")

// Separator joins packets in an HTTP long-polling payload.
const Separator = 0x1e

// Packet is one Engine.IO packet.
type Packet struct {
	// Type is the packet type; Data its payload, without the type.
	Type Type
	Data []byte
	// Binary marks a binary message: a binary WebSocket frame, or "b" and
	// base64 in text.
	Binary bool
}

// AppendText appends the packet in its text form (as in a polling payload
// or a WebSocket text frame) to dst.
func (p *Packet) AppendText(dst []byte) []byte {
	if p.Binary {
		dst = append(dst, 'b')
		return base64.StdEncoding.AppendEncode(dst, p.Data)
	}
	dst = append(dst, '0'+byte(p.Type))
	return append(dst, p.Data...)
}

// EncodePayload appends packets joined by the record separator, as sent in
// an HTTP long-polling response or request body.
func EncodePayload(dst []byte, packets []*Packet) []byte {
	for i, p := range packets {
		if i > 0 {
			dst = append(dst, Separator)
		}
		dst = p.AppendText(dst)
	}
	return dst
}

// Decode decodes one packet in its text form ("4hello", "bAQID"). The
// returned packet's Data aliases data, except for a binary message.
func Decode(data []byte) (*Packet, error) {
	if len(data) == 0 {
		return nil, ErrInvalid
	}
	if data[0] == 'b' {
		out := make([]byte, base64.StdEncoding.DecodedLen(len(data)-1))
		n, err := base64.StdEncoding.Decode(out, data[1:])
		if err != nil {
			return nil, ErrInvalid
		}
		return &Packet{Type: Message, Data: out[:n], Binary: true}, nil
	}
	t := data[0] - '0'
	if t > byte(Noop) {
		return nil, ErrInvalid
	}
	return &Packet{Type: Type(t), Data: data[1:]}, nil
}

// DecodePayload splits an HTTP long-polling payload into packets and calls
// fn for each; it stops at the first error, from the decoder or from fn.
func DecodePayload(payload []byte, fn func(*Packet) error) error {
	if len(payload) == 0 {
		return ErrInvalid
	}
	for len(payload) > 0 {
		i := 0
		for i < len(payload) && payload[i] != Separator {
			i++
		}
		p, err := Decode(payload[:i])
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
		if i == len(payload) {
			break
		}
		payload = payload[i+1:]
		if len(payload) == 0 {
			return ErrInvalid // trailing separator
		}
	}
	return nil
}
