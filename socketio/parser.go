package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"sort"
	"strconv"
	"sync"
	"unicode/utf8"

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
	Type        PacketType
	Nsp         string
	ID          uint64
	HasID       bool
	Data        json.RawMessage
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

// Args are the arguments of an event or an ack, as received: raw JSON per
// argument, with binary attachments kept aside.
type Args struct {
	raw []json.RawMessage
	bin [][]byte
}

// NewArgs returns Args from raw JSON values and the attachments their
// placeholders refer to.
func NewArgs(raw []json.RawMessage, attachments [][]byte) Args {
	return Args{raw: raw, bin: attachments}
}

func argsFromArray(arr json.RawMessage, bin [][]byte, skip int) Args {
	var a Args
	a.bin = bin
	_ = eachElement(arr, func(e []byte) bool {
		if skip > 0 {
			skip--
			return true
		}
		a.raw = append(a.raw, e)
		return true
	})
	return a
}

// Len returns the number of arguments.
func (a Args) Len() int { return len(a.raw) }

// Raw returns argument i as raw JSON (nil when out of range). A binary
// argument is a placeholder object; use Bytes or Decode for it.
func (a Args) Raw(i int) json.RawMessage {
	if i < 0 || i >= len(a.raw) {
		return nil
	}
	return a.raw[i]
}

// Attachments returns the binary attachments the arguments refer to.
func (a Args) Attachments() [][]byte { return a.bin }

// Bytes returns argument i if it is binary.
func (a Args) Bytes(i int) ([]byte, bool) {
	return a.placeholder(a.Raw(i))
}

func (a Args) placeholder(raw []byte) ([]byte, bool) {
	if len(raw) == 0 || raw[0] != '{' || !bytes.Contains(raw, []byte(`"_placeholder"`)) {
		return nil, false
	}
	var ph struct {
		Placeholder bool `json:"_placeholder"`
		Num         *int `json:"num"`
	}
	if json.Unmarshal(raw, &ph) != nil || !ph.Placeholder || ph.Num == nil || *ph.Num < 0 || *ph.Num >= len(a.bin) {
		return nil, false
	}
	return a.bin[*ph.Num], true
}

// String returns argument i if it is a JSON string.
func (a Args) String(i int) (string, bool) {
	return jsonString(a.Raw(i))
}

// Decode stores argument i in v: into a *[]byte for a binary argument,
// otherwise with encoding/json.
func (a Args) Decode(i int, v any) error {
	raw := a.Raw(i)
	if raw == nil {
		return errors.New("socketio: missing argument " + strconv.Itoa(i))
	}
	if bp, ok := v.(*[]byte); ok {
		if b, ok := a.placeholder(raw); ok {
			*bp = b
			return nil
		}
	}
	return json.Unmarshal(raw, v)
}

// Values decodes every argument into generic Go values (maps, slices,
// float64, string, bool, nil), binary arguments into []byte at any depth.
func (a Args) Values() []any {
	out := make([]any, len(a.raw))
	for i, raw := range a.raw {
		var v any
		if json.Unmarshal(raw, &v) == nil {
			out[i] = a.resolve(v)
		}
	}
	return out
}

func (a Args) resolve(v any) any {
	switch t := v.(type) {
	case map[string]any:
		if ph, _ := t["_placeholder"].(bool); ph {
			if n, ok := t["num"].(float64); ok && int(n) >= 0 && int(n) < len(a.bin) {
				return a.bin[int(n)]
			}
		}
		for k, e := range t {
			t[k] = a.resolve(e)
		}
	case []any:
		for i, e := range t {
			t[i] = a.resolve(e)
		}
	}
	return v
}

// encoder writes JSON arrays of Go values, moving []byte values into
// attachments.
type encoder struct {
	buf []byte
	bin [][]byte
}

// appendArgs appends each value as an array element. A value of type Args
// is spliced in: its arguments are written as received.
func (e *encoder) appendArgs(args []any) error {
	for _, v := range args {
		if a, ok := v.(Args); ok {
			if err := e.appendSpliced(a); err != nil {
				return err
			}
			continue
		}
		e.comma()
		if err := e.appendValue(v); err != nil {
			return err
		}
	}
	return nil
}

func (e *encoder) comma() {
	if n := len(e.buf); n > 0 && e.buf[n-1] != '[' {
		e.buf = append(e.buf, ',')
	}
}

func (e *encoder) appendSpliced(a Args) error {
	if len(a.bin) == 0 || len(e.bin) == 0 {
		// Placeholder numbers stay valid as they are.
		for _, r := range a.raw {
			e.comma()
			e.buf = append(e.buf, r...)
		}
		e.bin = append(e.bin, a.bin...)
		return nil
	}
	for _, v := range a.Values() {
		e.comma()
		if err := e.appendValue(v); err != nil {
			return err
		}
	}
	return nil
}

func (e *encoder) appendValue(v any) error {
	switch t := v.(type) {
	case nil:
		e.buf = append(e.buf, "null"...)
	case string:
		e.buf = appendString(e.buf, t)
	case []byte:
		e.buf = append(e.buf, `{"_placeholder":true,"num":`...)
		e.buf = strconv.AppendInt(e.buf, int64(len(e.bin)), 10)
		e.buf = append(e.buf, '}')
		e.bin = append(e.bin, t)
	case json.RawMessage:
		if len(t) == 0 {
			e.buf = append(e.buf, "null"...)
		} else {
			e.buf = append(e.buf, t...)
		}
	case bool:
		e.buf = strconv.AppendBool(e.buf, t)
	case int:
		e.buf = strconv.AppendInt(e.buf, int64(t), 10)
	case int64:
		e.buf = strconv.AppendInt(e.buf, t, 10)
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			e.buf = append(e.buf, "null"...) // as JSON.stringify does
		} else {
			e.buf = strconv.AppendFloat(e.buf, t, 'f', -1, 64)
		}
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		e.buf = append(e.buf, '{')
		for i, k := range keys {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.buf = appendString(e.buf, k)
			e.buf = append(e.buf, ':')
			if err := e.appendValue(t[k]); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, '}')
	case []any:
		e.buf = append(e.buf, '[')
		for _, x := range t {
			e.comma()
			if err := e.appendValue(x); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, ']')
	default:
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Func || rv.Kind() == reflect.Chan {
			return errors.New("socketio: cannot encode a " + rv.Kind().String())
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return err
		}
		e.buf = append(e.buf, bytes.TrimRight(b.Bytes(), "\n")...)
	}
	return nil
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping as JSON.stringify does
// (no HTML escaping); invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

var encoderPool = sync.Pool{New: func() any { return &encoder{buf: make([]byte, 0, 512)} }}

// withArray encodes [event?, args...] in a pooled scratch encoder and
// passes the result to fn, which must copy what it keeps.
func withArray(event *string, args []any, fn func(data []byte, bin [][]byte)) error {
	e := encoderPool.Get().(*encoder)
	e.buf = append(e.buf[:0], '[')
	e.bin = e.bin[:0]
	if event != nil {
		e.buf = appendString(e.buf, *event)
	}
	err := e.appendArgs(args)
	if err == nil {
		e.buf = append(e.buf, ']')
		fn(e.buf, e.bin)
	}
	clear(e.bin)
	if cap(e.buf) <= 64<<10 {
		encoderPool.Put(e)
	}
	return err
}

func copyBin(bin [][]byte) [][]byte {
	if len(bin) == 0 {
		return nil
	}
	return append([][]byte(nil), bin...)
}

// eventPacket builds an EVENT packet for event and args.
func eventPacket(nsp, event string, args []any) (*Packet, error) {
	var p *Packet
	err := withArray(&event, args, func(data []byte, bin [][]byte) {
		p = &Packet{Type: PacketEvent, Nsp: nsp, Data: append(json.RawMessage(nil), data...), Attachments: copyBin(bin)}
	})
	return p, err
}

// encodeDirect encodes a packet for one socket straight into the messages
// that carry it, with no intermediate Packet.
func encodeDirect(t PacketType, nsp string, id uint64, hasID bool, event *string, args []any) ([]*engineio.Packet, error) {
	var out []*engineio.Packet
	err := withArray(event, args, func(data []byte, bin [][]byte) {
		p := Packet{Type: t, Nsp: nsp, ID: id, HasID: hasID, Data: data, Attachments: bin}
		out = p.Encode()
	})
	return out, err
}

// EventPacket builds an EVENT packet, as adapters and emitters need to.
func EventPacket(nsp, event string, args ...any) (*Packet, error) {
	return eventPacket(nsp, event, args)
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

// Args returns the arguments of an EVENT (without the name) or ACK packet.
func (p *Packet) Args() Args {
	skip := 0
	if p.Type == PacketEvent || p.Type == PacketBinaryEvent {
		skip = 1
	}
	return argsFromArray(p.Data, p.Attachments, skip)
}

// Slice returns the arguments from index i on.
func (a Args) Slice(i int) Args {
	if i > len(a.raw) {
		i = len(a.raw)
	}
	return Args{raw: a.raw[i:], bin: a.bin}
}
