package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/heraldio/herald/engineio"
)

// PacketType is the Socket.IO packet type.
type PacketType byte

// The Socket.IO v5 packet types.
const (
	PacketConnect PacketType = iota
	PacketDisconnect
	PacketEvent
	PacketAck
	PacketConnectError
	PacketBinaryEvent
	PacketBinaryAck
)

// MaxAttachments caps the binary attachments of one packet, as the
// reference parser does.
const MaxAttachments = 10

// ErrBadPacket is returned by Decode for input that is not a valid packet.
var ErrBadPacket = errors.New("socketio: bad packet")

// reservedEvents cannot be sent by a client.
var reservedEvents = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true,
	"disconnecting": true, "newListener": true, "removeListener": true,
}

// Packet is one Socket.IO packet. Data is raw JSON (an array for events
// and acks, an object for CONNECT and CONNECT_ERROR); binary attachments
// stay in Attachments and are referenced from Data by placeholders.
type Packet struct {
	Type PacketType
	// Nsp is the namespace ("/" for the main one).
	Nsp string
	// ID is the ack id, when HasID.
	ID    uint64
	HasID bool
	Data  json.RawMessage
	// Attachments are a binary packet's attachments, in order.
	Attachments [][]byte

	name string // event name, set by Decode
}

// AppendText appends the packet's text form, the first Engine.IO message
// of the packet; attachments follow it as binary messages.
func (p *Packet) AppendText(dst []byte) []byte {
	t := p.Type
	if len(p.Attachments) > 0 {
		if t == PacketEvent {
			t = PacketBinaryEvent
		} else if t == PacketAck {
			t = PacketBinaryAck
		}
	}
	dst = append(dst, '0'+byte(t))
	if t == PacketBinaryEvent || t == PacketBinaryAck {
		dst = strconv.AppendInt(dst, int64(len(p.Attachments)), 10)
		dst = append(dst, '-')
	}
	if p.Nsp != "" && p.Nsp != "/" {
		dst = append(dst, p.Nsp...)
		dst = append(dst, ',')
	}
	if p.HasID {
		dst = strconv.AppendUint(dst, p.ID, 10)
	}
	return append(dst, p.Data...)
}

// Encode returns the Engine.IO messages that carry p: its text, then one
// binary message per attachment. The result may be sent to any number of
// connections.
func (p *Packet) Encode() []*engineio.Packet {
	text := engineio.NewFramedMessage(p.AppendText(engineio.MessageBuffer(len(p.Data) + len(p.Nsp) + 24)))
	if len(p.Attachments) == 0 {
		return []*engineio.Packet{text}
	}
	out := make([]*engineio.Packet, 0, 1+len(p.Attachments))
	out = append(out, text)
	for _, a := range p.Attachments {
		out = append(out, engineio.NewMessage(a, true))
	}
	return out
}

// Decode parses the text form of a packet. It returns the packet and how
// many binary attachments must follow before it is complete. Data aliases
// text.
func Decode(text []byte) (*Packet, int, error) {
	if len(text) == 0 || text[0] < '0' || text[0] > '6' {
		return nil, 0, ErrBadPacket
	}
	p := &Packet{Type: PacketType(text[0] - '0'), Nsp: "/"}
	i := 1
	n := 0
	if p.Type == PacketBinaryEvent || p.Type == PacketBinaryAck {
		start := i
		for i < len(text) && text[i] >= '0' && text[i] <= '9' {
			i++
		}
		if i == start || i >= len(text) || text[i] != '-' || i-start > 3 {
			return nil, 0, ErrBadPacket
		}
		n, _ = strconv.Atoi(string(text[start:i]))
		if n > MaxAttachments {
			return nil, 0, ErrBadPacket
		}
		i++
	}
	if i < len(text) && text[i] == '/' {
		start := i
		for i < len(text) && text[i] != ',' {
			i++
		}
		p.Nsp = string(text[start:i])
		if i < len(text) {
			i++ // comma
		}
	}
	if i < len(text) && text[i] >= '0' && text[i] <= '9' {
		start := i
		for i < len(text) && text[i] >= '0' && text[i] <= '9' {
			i++
		}
		id, err := strconv.ParseUint(string(text[start:i]), 10, 64)
		if err != nil || id > 1<<53-1 {
			return nil, 0, ErrBadPacket
		}
		p.ID, p.HasID = id, true
	}
	p.Data = text[i:]
	if !validPayload(p) {
		return nil, 0, ErrBadPacket
	}
	if (p.Type == PacketBinaryEvent || p.Type == PacketBinaryAck) && !validPlaceholders(p.Data, n) {
		return nil, 0, ErrBadPacket
	}
	return p, n, nil
}

// validPlaceholders reports whether every placeholder in data refers to
// one of the n attachments, as the reference requires ("illegal
// attachments" otherwise). Binary packets are rare: a full decode is
// affordable there.
func validPlaceholders(data []byte, n int) bool {
	if !bytes.Contains(data, []byte(`"_placeholder"`)) {
		return true
	}
	var v any
	if json.Unmarshal(data, &v) != nil {
		return false
	}
	var ok func(any) bool
	ok = func(v any) bool {
		switch t := v.(type) {
		case map[string]any:
			if ph, _ := t["_placeholder"].(bool); ph {
				num, isNum := t["num"].(float64)
				return isNum && num >= 0 && num < float64(n) && num == float64(int(num))
			}
			for _, e := range t {
				if !ok(e) {
					return false
				}
			}
		case []any:
			for _, e := range t {
				if !ok(e) {
					return false
				}
			}
		}
		return true
	}
	return ok(v)
}

func validPayload(p *Packet) bool {
	d := p.Data
	switch p.Type {
	case PacketConnect:
		return len(d) == 0 || isObject(d)
	case PacketDisconnect:
		return len(d) == 0
	case PacketConnectError:
		return isObject(d) || len(d) > 0 && d[0] == '"' && json.Valid(d)
	case PacketEvent, PacketBinaryEvent:
		if len(d) == 0 || d[0] != '[' || !json.Valid(d) {
			return false
		}
		first, ok := firstElement(d)
		if !ok {
			return false
		}
		if first[0] == '"' {
			name, ok := jsonString(first)
			if !ok || reservedEvents[name] {
				return false
			}
			p.name = name
			return true
		}
		return first[0] == '-' || first[0] >= '0' && first[0] <= '9'
	case PacketAck, PacketBinaryAck:
		return p.HasID && len(d) > 0 && d[0] == '[' && json.Valid(d)
	}
	return false
}

func isObject(d []byte) bool { return len(d) > 0 && d[0] == '{' && json.Valid(d) }

// firstElement returns the first element of a valid JSON array.
func firstElement(arr []byte) ([]byte, bool) {
	var first []byte
	err := eachElement(arr, func(e []byte) bool { first = e; return false })
	return first, err == nil && first != nil
}

// eachElement calls fn with each top-level element of a valid JSON array,
// until fn returns false.
func eachElement(arr []byte, fn func([]byte) bool) error {
	i := skipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return ErrBadPacket
	}
	i = skipSpace(arr, i+1)
	if i < len(arr) && arr[i] == ']' {
		return nil
	}
	for i < len(arr) {
		start := i
		depth := 0
		for i < len(arr) {
			c := arr[i]
			if c == '"' {
				i++
				for i < len(arr) && arr[i] != '"' {
					if arr[i] == '\\' {
						i++
					}
					i++
				}
				i++
				continue
			}
			if c == '[' || c == '{' {
				depth++
			} else if c == ']' || c == '}' {
				if depth == 0 {
					break
				}
				depth--
			} else if c == ',' && depth == 0 {
				break
			}
			i++
		}
		if i >= len(arr) {
			return ErrBadPacket
		}
		if !fn(bytes.TrimRight(arr[start:i], " \t\r\n")) {
			return nil
		}
		if arr[i] == ']' {
			return nil
		}
		i = skipSpace(arr, i+1)
	}
	return ErrBadPacket
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// EventName returns the event name of an EVENT packet.
func (p *Packet) EventName() string {
	if p.name != "" {
		return p.name
	}
	first, ok := firstElement(p.Data)
	if !ok {
		return ""
	}
	if s, ok := jsonString(first); ok {
		return s
	}
	return string(first)
}

// jsonString decodes a valid JSON string; the common case, without
// escapes, costs one small allocation.
func jsonString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}
