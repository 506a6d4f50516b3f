package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

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
