// Package msgpackjson transcodes between JSON with socket.io binary
// placeholders ({"_placeholder":true,"num":i}) and msgpack with native
// bin values, the encoding of Node's adapters and emitters (notepack.io,
// @msgpack/msgpack): maps keep their key order, integers take the
// smallest form, other numbers are float64. Lengths declared in msgpack
// input are checked against the bytes left before anything is sized
// from them.
package msgpackjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/heraldio/herald/internal/jsonstr"
)

// ErrMalformed is returned for input that is not what it should be.
var ErrMalformed = errors.New("msgpackjson: malformed message")

// Encode writes the JSON msg as msgpack, each placeholder replaced by the
// attachment it refers to as bin.
func Encode(msg []byte, attachments [][]byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(msg))
	enc := msgpack.NewEncoder(&buf)
	t := jsonTranscoder{enc: enc, att: attachments}
	if err := t.value(bytes.TrimSpace(msg)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Decode reads msgpack data as JSON, each bin value becoming a
// placeholder referring to the returned attachments.
func Decode(data []byte) ([]byte, [][]byte, error) {
	r := bytes.NewReader(data)
	t := msgpackTranscoder{dec: msgpack.NewDecoder(r), r: r, data: data}
	if err := t.value(0); err != nil {
		return nil, nil, err
	}
	return t.out, t.att, nil
}

// jsonTranscoder writes a JSON value as msgpack.
type jsonTranscoder struct {
	enc *msgpack.Encoder
	att [][]byte
}

// value transcodes v, which is exactly one JSON value (no surrounding
// space).
func (t *jsonTranscoder) value(v []byte) error {
	if len(v) == 0 {
		return ErrMalformed
	}
	switch c := v[0]; {
	case c == '{':
		members, err := split(v, '}')
		if err != nil {
			return err
		}
		if b, ok := t.placeholder(members); ok {
			return t.enc.EncodeBytes(b)
		}
		if err := t.enc.EncodeMapLen(len(members) / 2); err != nil {
			return err
		}
		for i := 0; i < len(members); i += 2 {
			k, err := unquote(members[i])
			if err != nil {
				return err
			}
			if err := t.enc.EncodeString(k); err != nil {
				return err
			}
			if err := t.value(members[i+1]); err != nil {
				return err
			}
		}
		return nil
	case c == '[':
		elems, err := split(v, ']')
		if err != nil {
			return err
		}
		if err := t.enc.EncodeArrayLen(len(elems)); err != nil {
			return err
		}
		for _, e := range elems {
			if err := t.value(e); err != nil {
				return err
			}
		}
		return nil
	case c == '"':
		s, err := unquote(v)
		if err != nil {
			return err
		}
		return t.enc.EncodeString(s)
	case string(v) == "true":
		return t.enc.EncodeBool(true)
	case string(v) == "false":
		return t.enc.EncodeBool(false)
	case string(v) == "null":
		return t.enc.EncodeNil()
	default:
		return t.number(v)
	}
}

// number writes a JSON number as JavaScript's encoder would: integers
// (whatever their JSON spelling) as the smallest msgpack integer, other
// values as float64.
func (t *jsonTranscoder) number(v []byte) error {
	if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
		return t.enc.EncodeInt(i)
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) { // out of range: ±Inf or 0, as JavaScript reads it
		return ErrMalformed
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<63 && !(f == 0 && math.Signbit(f)) {
		return t.enc.EncodeInt(int64(f))
	}
	return t.enc.EncodeFloat64(f)
}

// placeholder returns the attachment an object refers to, if it is a
// placeholder.
func (t *jsonTranscoder) placeholder(members [][]byte) ([]byte, bool) {
	if len(members) != 4 {
		return nil, false
	}
	isPh, num := false, -1
	for i := 0; i < 4; i += 2 {
		switch string(members[i]) {
		case `"_placeholder"`:
			isPh = string(members[i+1]) == "true"
		case `"num"`:
			if n, err := strconv.Atoi(string(members[i+1])); err == nil {
				num = n
			}
		}
	}
	if !isPh || num < 0 || num >= len(t.att) {
		return nil, false
	}
	return t.att[num], true
}

// split returns the elements of a JSON array, or the keys and values
// (alternating) of a JSON object, without surrounding space.
func split(v []byte, closer byte) ([][]byte, error) {
	if v[len(v)-1] != closer {
		return nil, ErrMalformed
	}
	var out [][]byte
	i := skipWS(v, 1)
	if i < len(v) && v[i] == closer {
		return out, nil
	}
	for i < len(v) {
		if closer == '}' {
			end, err := skipValue(v, i)
			if err != nil || v[i] != '"' {
				return nil, ErrMalformed
			}
			out = append(out, v[i:end])
			i = skipWS(v, end)
			if i >= len(v) || v[i] != ':' {
				return nil, ErrMalformed
			}
			i = skipWS(v, i+1)
		}
		end, err := skipValue(v, i)
		if err != nil {
			return nil, err
		}
		out = append(out, v[i:end])
		i = skipWS(v, end)
		if i >= len(v) {
			return nil, ErrMalformed
		}
		if v[i] == closer {
			if i != len(v)-1 {
				return nil, ErrMalformed
			}
			return out, nil
		}
		if v[i] != ',' {
			return nil, ErrMalformed
		}
		i = skipWS(v, i+1)
	}
	return nil, ErrMalformed
}

func skipWS(v []byte, i int) int {
	for i < len(v) && (v[i] == ' ' || v[i] == '\t' || v[i] == '\n' || v[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the JSON value starting at v[i].
func skipValue(v []byte, i int) (int, error) {
	if i >= len(v) {
		return 0, ErrMalformed
	}
	switch v[i] {
	case '"':
		for j := i + 1; j < len(v); j++ {
			switch v[j] {
			case '\\':
				j++
			case '"':
				return j + 1, nil
			}
		}
		return 0, ErrMalformed
	case '{', '[':
		depth := 0
		for j := i; j < len(v); j++ {
			switch v[j] {
			case '"':
				end, err := skipValue(v, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, ErrMalformed
	default:
		j := i
		for j < len(v) && v[j] != ',' && v[j] != ']' && v[j] != '}' && v[j] != ' ' && v[j] != '\n' && v[j] != '\t' && v[j] != '\r' && v[j] != ':' {
			j++
		}
		if j == i {
			return 0, ErrMalformed
		}
		return j, nil
	}
}

func unquote(v []byte) (string, error) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", ErrMalformed
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return string(v[1 : len(v)-1]), nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", ErrMalformed
	}
	return s, nil
}

// msgpackTranscoder writes a msgpack value as JSON, binary values as
// placeholders.
type msgpackTranscoder struct {
	dec  *msgpack.Decoder
	r    *bytes.Reader // the decoder reads it unbuffered (it is a ByteScanner)
	data []byte
	out  []byte
	att  [][]byte
}

const maxDepth = 64

func (t *msgpackTranscoder) value(depth int) error {
	if depth > maxDepth || !t.fits() {
		return ErrMalformed
	}
	c, err := t.dec.PeekCode()
	if err != nil {
		return err
	}
	switch {
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err := t.dec.DecodeMapLen()
		if err != nil {
			return err
		}
		t.out = append(t.out, '{')
		for i := 0; i < n; i++ {
			if i > 0 {
				t.out = append(t.out, ',')
			}
			ks, err := t.key()
			if err != nil {
				return err
			}
			t.out = jsonstr.Append(t.out, ks)
			t.out = append(t.out, ':')
			if err := t.value(depth + 1); err != nil {
				return err
			}
		}
		t.out = append(t.out, '}')
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := t.dec.DecodeArrayLen()
		if err != nil {
			return err
		}
		t.out = append(t.out, '[')
		for i := 0; i < n; i++ {
			if i > 0 {
				t.out = append(t.out, ',')
			}
			if err := t.value(depth + 1); err != nil {
				return err
			}
		}
		t.out = append(t.out, ']')
	case msgpcode.IsString(c):
		s, err := t.dec.DecodeString()
		if err != nil {
			return err
		}
		t.out = jsonstr.Append(t.out, s)
	case msgpcode.IsBin(c):
		b, err := t.dec.DecodeBytes()
		if err != nil {
			return err
		}
		t.out = append(t.out, `{"_placeholder":true,"num":`...)
		t.out = strconv.AppendInt(t.out, int64(len(t.att)), 10)
		t.out = append(t.out, '}')
		t.att = append(t.att, b)
	default:
		v, err := t.dec.DecodeInterfaceLoose()
		if err != nil {
			return err
		}
		switch n := v.(type) {
		case float64:
			if math.IsNaN(n) || math.IsInf(n, 0) {
				t.out = append(t.out, "null"...)
				return nil
			}
		case float32:
			v = float64(n)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.out = append(t.out, "null"...) // as JSON.stringify does with what it cannot write
			return nil
		}
		t.out = append(t.out, b...)
	}
	return nil
}

// fits reports whether the length the next value declares fits in the
// input left, so that no declared length, however large, makes the
// decoder allocate more than the message holds.
func (t *msgpackTranscoder) fits() bool {
	p := len(t.data) - t.r.Len()
	if p >= len(t.data) {
		return true // the decoder reports the EOF
	}
	c, rest := t.data[p], t.data[p+1:]
	var size, unit, extra int // size bytes of length; bytes per declared unit; bytes before the body
	switch c {
	case msgpcode.Str8, msgpcode.Bin8:
		size, unit = 1, 1
	case msgpcode.Str16, msgpcode.Bin16:
		size, unit = 2, 1
	case msgpcode.Str32, msgpcode.Bin32:
		size, unit = 4, 1
	case msgpcode.Ext8:
		size, unit, extra = 1, 1, 1
	case msgpcode.Ext16:
		size, unit, extra = 2, 1, 1
	case msgpcode.Ext32:
		size, unit, extra = 4, 1, 1
	case msgpcode.Array16:
		size, unit = 2, 1
	case msgpcode.Array32:
		size, unit = 4, 1
	case msgpcode.Map16:
		size, unit = 2, 2
	case msgpcode.Map32:
		size, unit = 4, 2
	default:
		return true // fixed sizes, or lengths of at most 31 elements
	}
	if len(rest) < size {
		return false
	}
	n := 0
	for _, b := range rest[:size] {
		n = n<<8 | int(b)
	}
	return n <= (len(rest)-size-extra)/unit
}

// key decodes a map key. JavaScript's keys are strings; a scalar key is
// written as its JSON text, and a container key is refused rather than
// decoded, since the library would size it from the untrusted length.
func (t *msgpackTranscoder) key() (string, error) {
	if !t.fits() {
		return "", ErrMalformed
	}
	c, err := t.dec.PeekCode()
	if err != nil {
		return "", err
	}
	switch {
	case msgpcode.IsString(c):
		return t.dec.DecodeString()
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32,
		msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32,
		msgpcode.IsBin(c), msgpcode.IsExt(c):
		return "", ErrMalformed
	}
	k, err := t.dec.DecodeInterfaceLoose()
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(k)
	if err != nil {
		return "", ErrMalformed
	}
	return string(bytes.Trim(b, `"`)), nil
}
