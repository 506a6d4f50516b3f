package socketio

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/heraldio/herald/internal/jsonstr"
)

// Parser is the wire format a server speaks with every client.
type Parser uint8

const (
	// JSONParser is Socket.IO's default parser (socket.io-parser): a text
	// message per packet, each binary argument a binary message after it.
	JSONParser Parser = iota
	// MsgpackParser is socket.io-msgpack-parser, the official client's
	// parser option: each packet is one binary message, a msgpack map
	// {type, data, nsp, id?} with binary arguments as native bin values.
	// Handlers see the same Args as with JSON: the data is transcoded to
	// raw JSON, each bin value an attachment with its placeholder, and
	// what is sent is transcoded back.
	MsgpackParser
)

// Bounds of an incoming msgpack packet, besides the engine's MaxPayload.
const (
	// maxMsgpackDepth bounds nesting (arrays and maps).
	maxMsgpackDepth = 1000
	// maxMsgpackBins bounds the bin values of one packet: each becomes an
	// attachment and a placeholder of some 30 bytes.
	maxMsgpackBins = 1000
)

// EncodeMsgpack returns p as socket.io-msgpack-parser writes it, for a
// client sharing the codec (one binary message per packet).
func EncodeMsgpack(p *Packet) ([]byte, error) {
	return appendMsgpackPacket(nil, p)
}

// DecodeMsgpack parses one socket.io-msgpack-parser packet, as the server
// does: Data becomes raw JSON, bin values Attachments (aliasing data).
func DecodeMsgpack(data []byte) (*Packet, error) {
	return decodeMsgpackPacket(data)
}

// appendMsgpackPacket appends p as socket.io-msgpack-parser writes it:
// {type, data, nsp, id?}, with no binary packet types (binary arguments
// are bin values in data, where the JSON form has placeholders).
func appendMsgpackPacket(dst []byte, p *Packet) ([]byte, error) {
	t := p.Type
	switch t {
	case PacketBinaryEvent:
		t = PacketEvent
	case PacketBinaryAck:
		t = PacketAck
	}
	n := byte(2) // type, nsp
	if len(p.Data) > 0 {
		n++
	}
	if p.HasID {
		n++
	}
	dst = append(dst, 0x80|n)
	dst = appendMsgpackStr(dst, "type")
	dst = append(dst, byte(t))
	if len(p.Data) > 0 {
		dst = appendMsgpackStr(dst, "data")
		tr := jsonToMsgpack{in: p.Data, out: dst, bin: p.Attachments}
		if err := tr.value(0); err != nil {
			return dst, err
		}
		if tr.skipSpace(); tr.i != len(tr.in) {
			return dst, ErrBadPacket
		}
		dst = tr.out
	}
	nsp := p.Nsp
	if nsp == "" {
		nsp = "/"
	}
	dst = appendMsgpackStr(dst, "nsp")
	dst = appendMsgpackStr(dst, nsp)
	if p.HasID {
		dst = appendMsgpackStr(dst, "id")
		dst = appendMsgpackInt(dst, int64(p.ID))
	}
	return dst, nil
}

func appendMsgpackStrHeader(dst []byte, n int) []byte {
	switch {
	case n < 32:
		return append(dst, 0xa0|byte(n))
	case n < 1<<8:
		return append(dst, 0xd9, byte(n))
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(dst, 0xda), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, 0xdb), uint32(n))
}

func appendMsgpackStr(dst []byte, s string) []byte {
	return append(appendMsgpackStrHeader(dst, len(s)), s...)
}

func appendMsgpackBin(dst, b []byte) []byte {
	switch n := len(b); {
	case n < 1<<8:
		dst = append(dst, 0xc4, byte(n))
	case n < 1<<16:
		dst = binary.BigEndian.AppendUint16(append(dst, 0xc5), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, 0xc6), uint32(n))
	}
	return append(dst, b...)
}

// appendMsgpackInt writes v in the smallest form, as notepack.io does.
func appendMsgpackInt(dst []byte, v int64) []byte {
	switch {
	case v >= 0 && v < 0x80, v < 0 && v >= -0x20:
		return append(dst, byte(v))
	case v >= 0 && v < 1<<8:
		return append(dst, 0xcc, byte(v))
	case v >= 0 && v < 1<<16:
		return binary.BigEndian.AppendUint16(append(dst, 0xcd), uint16(v))
	case v >= 0 && v < 1<<32:
		return binary.BigEndian.AppendUint32(append(dst, 0xce), uint32(v))
	case v >= 0:
		return binary.BigEndian.AppendUint64(append(dst, 0xcf), uint64(v))
	case v >= -0x80:
		return append(dst, 0xd0, byte(v))
	case v >= -0x8000:
		return binary.BigEndian.AppendUint16(append(dst, 0xd1), uint16(v))
	case v >= -0x80000000:
		return binary.BigEndian.AppendUint32(append(dst, 0xd2), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xd3), uint64(v))
}

// jsonToMsgpack transcodes raw JSON to msgpack, placeholders of bin to
// their attachments. Numbers become what JSON.parse then notepack.io
// would make of them: integers the smallest int form, the rest float64.
type jsonToMsgpack struct {
	in  []byte
	i   int
	out []byte
	bin [][]byte
}

func (t *jsonToMsgpack) skipSpace() { t.i = skipSpace(t.in, t.i) }

func (t *jsonToMsgpack) value(depth int) error {
	if depth > maxMsgpackDepth {
		return ErrBadPacket
	}
	t.skipSpace()
	if t.i >= len(t.in) {
		return ErrBadPacket
	}
	switch c := t.in[t.i]; c {
	case '{':
		return t.object(depth + 1)
	case '[':
		return t.array(depth + 1)
	case '"':
		return t.str()
	case 't':
		return t.literal("true", 0xc3)
	case 'f':
		return t.literal("false", 0xc2)
	case 'n':
		return t.literal("null", 0xc0)
	}
	return t.number()
}

func (t *jsonToMsgpack) literal(word string, b byte) error {
	if len(t.in)-t.i < len(word) || string(t.in[t.i:t.i+len(word)]) != word {
		return ErrBadPacket
	}
	t.i += len(word)
	t.out = append(t.out, b)
	return nil
}

// strSpan returns the contents of the string at t.i and whether it has
// escapes, leaving t.i after it.
func (t *jsonToMsgpack) strSpan() ([]byte, bool, error) {
	start := t.i + 1
	escaped := false
	for j := start; j < len(t.in); j++ {
		switch t.in[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			t.i = j + 1
			return t.in[start:j], escaped, nil
		}
	}
	return nil, false, ErrBadPacket
}

func (t *jsonToMsgpack) str() error {
	start := t.i
	s, escaped, err := t.strSpan()
	if err != nil {
		return err
	}
	if !escaped {
		t.out = append(appendMsgpackStrHeader(t.out, len(s)), s...)
		return nil
	}
	var u string
	if json.Unmarshal(t.in[start:t.i], &u) != nil {
		return ErrBadPacket
	}
	t.out = appendMsgpackStr(t.out, u)
	return nil
}

func (t *jsonToMsgpack) number() error {
	start := t.i
	integer := true
	for t.i < len(t.in) {
		c := t.in[t.i]
		if c == '.' || c == 'e' || c == 'E' || c == '+' {
			integer = false
		} else if (c < '0' || c > '9') && c != '-' {
			break
		}
		t.i++
	}
	num := t.in[start:t.i]
	if integer {
		if v, ok := smallInt(num); ok {
			t.out = appendMsgpackInt(t.out, v)
			return nil
		}
	}
	text := string(num)
	if integer {
		if v, err := strconv.ParseInt(text, 10, 64); err == nil {
			t.out = appendMsgpackInt(t.out, v)
			return nil
		}
		if v, err := strconv.ParseUint(text, 10, 64); err == nil {
			t.out = binary.BigEndian.AppendUint64(append(t.out, 0xcf), v)
			return nil
		}
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil && !isRangeErr(err) || text == "" {
		return ErrBadPacket
	}
	switch {
	case f == math.Trunc(f) && math.Abs(f) < 1<<63:
		t.out = appendMsgpackInt(t.out, int64(f))
		return nil
	case f == math.Trunc(f) && f > 0 && f < 1<<64:
		t.out = binary.BigEndian.AppendUint64(append(t.out, 0xcf), uint64(f))
		return nil
	}
	t.out = binary.BigEndian.AppendUint64(append(t.out, 0xcb), math.Float64bits(f))
	return nil
}

// smallInt parses a JSON integer of up to 18 digits without the
// allocation strconv's string argument would cost.
func smallInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 || len(b) > 1 && b[0] == '0' {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// open reserves a one-byte container header at the end of out.
func (t *jsonToMsgpack) open() int {
	t.out = append(t.out, 0)
	return len(t.out) - 1
}

// close writes the header of the container opened at pos with n
// elements, moving them when it needs more than the one byte reserved.
func (t *jsonToMsgpack) close(pos, n int, fix, h16, h32 byte) {
	switch {
	case n < 16:
		t.out[pos] = fix | byte(n)
		return
	case n < 1<<16:
		t.out = append(t.out, 0, 0)
		copy(t.out[pos+3:], t.out[pos+1:len(t.out)-2])
		t.out[pos] = h16
		binary.BigEndian.PutUint16(t.out[pos+1:], uint16(n))
	default:
		t.out = append(t.out, 0, 0, 0, 0)
		copy(t.out[pos+5:], t.out[pos+1:len(t.out)-4])
		t.out[pos] = h32
		binary.BigEndian.PutUint32(t.out[pos+1:], uint32(n))
	}
}

// separator reads what follows an element: a comma, or end, which ends
// the container (done).
func (t *jsonToMsgpack) separator(end byte) (done bool, err error) {
	t.skipSpace()
	if t.i >= len(t.in) {
		return false, ErrBadPacket
	}
	c := t.in[t.i]
	t.i++
	if c == end {
		return true, nil
	}
	if c != ',' {
		return false, ErrBadPacket
	}
	return false, nil
}

func (t *jsonToMsgpack) array(depth int) error {
	pos := t.open()
	t.i++ // [
	n := 0
	for {
		t.skipSpace()
		if t.i < len(t.in) && t.in[t.i] == ']' && n == 0 {
			t.i++
			break
		}
		if err := t.value(depth); err != nil {
			return err
		}
		n++
		if done, err := t.separator(']'); done || err != nil {
			if err != nil {
				return err
			}
			break
		}
	}
	t.close(pos, n, 0x90, 0xdc, 0xdd)
	return nil
}

func (t *jsonToMsgpack) object(depth int) error {
	pos := t.open()
	t.i++ // {
	n := 0
	// A placeholder {"_placeholder":true,"num":N} becomes attachment N.
	placeholder, num := false, -1
	for {
		t.skipSpace()
		if t.i < len(t.in) && t.in[t.i] == '}' && n == 0 {
			t.i++
			break
		}
		if t.i >= len(t.in) || t.in[t.i] != '"' {
			return ErrBadPacket
		}
		keyStart := t.i
		if err := t.str(); err != nil {
			return err
		}
		keyEnd := t.i
		t.skipSpace()
		if t.i >= len(t.in) || t.in[t.i] != ':' {
			return ErrBadPacket
		}
		t.i++
		t.skipSpace()
		valStart, outStart := t.i, len(t.out)
		if err := t.value(depth); err != nil {
			return err
		}
		if len(t.bin) > 0 {
			switch string(t.in[keyStart:keyEnd]) {
			case `"_placeholder"`:
				placeholder = string(t.in[valStart:t.i]) == "true"
			case `"num"`:
				if v := t.out[outStart:]; len(v) == 1 && v[0] < 0x80 {
					num = int(v[0])
				}
			}
		}
		n++
		if done, err := t.separator('}'); done || err != nil {
			if err != nil {
				return err
			}
			break
		}
	}
	if n == 2 && placeholder && num >= 0 && num < len(t.bin) {
		t.out = appendMsgpackBin(t.out[:pos], t.bin[num])
		return nil
	}
	t.close(pos, n, 0x80, 0xde, 0xdf)
	return nil
}

// decodeMsgpackPacket parses one socket.io-msgpack-parser packet and
// checks it as the reference's Decoder does, with Herald's bounds. Data is
// transcoded to raw JSON, bin values to attachments (which alias data).
func decodeMsgpackPacket(data []byte) (*Packet, error) {
	// JSON is mostly longer than msgpack: one buffer fits most packets.
	r := msgpackToJSON{in: data, out: make([]byte, 0, 2*len(data))}
	n, ok := r.mapLen()
	if !ok {
		return nil, ErrBadPacket
	}
	p := &Packet{Nsp: "/"}
	var seen struct{ typ, nsp, data, id bool }
	var dataKind byte // the msgpack family of data: 'a'rray, 'm'ap, 's'tring, other
	for ; n > 0; n-- {
		key, ok := r.strBytes()
		if !ok {
			return nil, ErrBadPacket
		}
		if r.undefined() {
			continue // as if absent: the official client sends {data: undefined}
		}
		switch string(key) {
		case "type":
			v, ok := r.intValue()
			if !ok || seen.typ || v < int64(PacketConnect) || v > int64(PacketConnectError) {
				return nil, ErrBadPacket
			}
			p.Type, seen.typ = PacketType(v), true
		case "nsp":
			b, ok := r.strBytes()
			if !ok || seen.nsp {
				return nil, ErrBadPacket
			}
			if string(b) != "/" { // the main namespace costs no allocation
				p.Nsp = string(b)
			}
			seen.nsp = true
		case "id":
			v, ok := r.intValue()
			if !ok || seen.id || v < 0 || v > 1<<53-1 {
				return nil, ErrBadPacket
			}
			p.ID, p.HasID, seen.id = uint64(v), true, true
		case "data":
			if seen.data || r.i >= len(r.in) {
				return nil, ErrBadPacket
			}
			dataKind = msgpackKind(r.in[r.i])
			if r.value(0) != nil {
				return nil, ErrBadPacket
			}
			seen.data = true
		default: // the client's options, anything else: skipped
			mark, bins := len(r.out), len(r.bin)
			if r.value(0) != nil {
				return nil, ErrBadPacket
			}
			r.out, r.bin = r.out[:mark], r.bin[:bins]
		}
	}
	if r.i != len(r.in) || !seen.typ || !seen.nsp {
		return nil, ErrBadPacket
	}
	switch p.Type {
	case PacketConnect:
		ok = !seen.data || dataKind == 'm'
	case PacketDisconnect:
		ok = !seen.data
	case PacketConnectError:
		ok = dataKind == 'm' || dataKind == 's'
	default:
		ok = dataKind == 'a'
	}
	if !ok {
		return nil, ErrBadPacket
	}
	if seen.data {
		p.Data = r.out
	}
	if len(r.bin) > 0 {
		p.Attachments = r.bin
	}
	if !validPayload(p) {
		return nil, ErrBadPacket
	}
	return p, nil
}

// undefined skips notepack.io's undefined (fixext 1 of type 0), which its
// browser build writes for a key set to undefined.
func (r *msgpackToJSON) undefined() bool {
	if len(r.in)-r.i >= 3 && r.in[r.i] == 0xd4 && r.in[r.i+1] == 0 {
		r.i += 3
		return true
	}
	return false
}

func msgpackKind(b byte) byte {
	switch {
	case b >= 0x80 && b <= 0x8f, b == 0xde, b == 0xdf:
		return 'm'
	case b >= 0x90 && b <= 0x9f, b == 0xdc, b == 0xdd:
		return 'a'
	case b >= 0xa0 && b <= 0xbf, b >= 0xd9 && b <= 0xdb:
		return 's'
	}
	return 0
}

// msgpackToJSON transcodes msgpack to raw JSON as JSON.stringify would
// write what notepack.io decodes, bin values to placeholders and
// attachments. Every length is checked against the input left before it
// is used: nothing is allocated from a declared length.
type msgpackToJSON struct {
	in  []byte
	i   int
	out []byte
	bin [][]byte
}

// take returns the next n bytes.
func (r *msgpackToJSON) take(n uint64) ([]byte, bool) {
	if n > uint64(len(r.in)-r.i) {
		return nil, false
	}
	b := r.in[r.i : r.i+int(n)]
	r.i += int(n)
	return b, true
}

// length reads a big-endian length of size bytes.
func (r *msgpackToJSON) length(size int) (uint64, bool) {
	b, ok := r.take(uint64(size))
	if !ok {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		n = n<<8 | uint64(c)
	}
	return n, true
}

func (r *msgpackToJSON) mapLen() (uint64, bool) {
	if r.i >= len(r.in) {
		return 0, false
	}
	c := r.in[r.i]
	r.i++
	switch {
	case c >= 0x80 && c <= 0x8f:
		return uint64(c & 0x0f), true
	case c == 0xde:
		return r.length(2)
	case c == 0xdf:
		return r.length(4)
	}
	return 0, false
}

// strBytes reads a str value.
func (r *msgpackToJSON) strBytes() ([]byte, bool) {
	if r.i >= len(r.in) {
		return nil, false
	}
	c := r.in[r.i]
	r.i++
	var n uint64
	ok := true
	switch {
	case c >= 0xa0 && c <= 0xbf:
		n = uint64(c & 0x1f)
	case c == 0xd9:
		n, ok = r.length(1)
	case c == 0xda:
		n, ok = r.length(2)
	case c == 0xdb:
		n, ok = r.length(4)
	default:
		return nil, false
	}
	if !ok {
		return nil, false
	}
	return r.take(n)
}

// intValue reads an integer: an int value, or a float one with an
// integral value (Number.isInteger's view).
func (r *msgpackToJSON) intValue() (int64, bool) {
	if r.i >= len(r.in) {
		return 0, false
	}
	c := r.in[r.i]
	switch {
	case c < 0x80:
		r.i++
		return int64(c), true
	case c >= 0xe0:
		r.i++
		return int64(int8(c)), true
	}
	r.i++
	switch c {
	case 0xcc, 0xcd, 0xce, 0xcf:
		v, ok := r.length(1 << (c - 0xcc))
		if !ok || v > math.MaxInt64 {
			return 0, false
		}
		return int64(v), true
	case 0xd0, 0xd1, 0xd2, 0xd3:
		size := 1 << (c - 0xd0)
		v, ok := r.length(size)
		if !ok {
			return 0, false
		}
		shift := 64 - 8*size
		return int64(v<<shift) >> shift, true
	case 0xca, 0xcb:
		f, ok := r.float(c)
		if !ok || f != math.Trunc(f) || math.Abs(f) >= 1<<63 {
			return 0, false
		}
		return int64(f), true
	}
	return 0, false
}

func (r *msgpackToJSON) float(c byte) (float64, bool) {
	if c == 0xca {
		v, ok := r.length(4)
		return float64(math.Float32frombits(uint32(v))), ok
	}
	v, ok := r.length(8)
	return math.Float64frombits(v), ok
}

// appendStr writes b as a JSON string; one without anything to escape is
// copied as it is.
func (r *msgpackToJSON) appendStr(b []byte) {
	for _, c := range b {
		if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			if c >= utf8.RuneSelf && utf8.Valid(b) && !needsEscape(b) {
				break
			}
			r.out = jsonstr.Append(r.out, string(b))
			return
		}
	}
	r.out = append(r.out, '"')
	r.out = append(r.out, b...)
	r.out = append(r.out, '"')
}

func needsEscape(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == '"' || c == '\\' {
			return true
		}
	}
	return false
}

// appendFloat writes f as JSON.stringify does (NaN and infinities as null).
func (r *msgpackToJSON) appendFloat(f float64, bits int) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		r.out = append(r.out, "null"...)
		return
	}
	r.out = appendJSONFloat(r.out, f, bits)
}

// appendJSONFloat formats as encoding/json does: decimal within
// [1e-6, 1e21), exponent form outside, as JavaScript numbers print.
func appendJSONFloat(dst []byte, f float64, bits int) []byte {
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		start := len(dst)
		dst = strconv.AppendFloat(dst, f, 'e', -1, bits)
		// e-07 -> e-7, as JavaScript writes exponents
		if n := len(dst); n-start >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
		return dst
	}
	return strconv.AppendFloat(dst, f, 'f', -1, bits)
}

func (r *msgpackToJSON) value(depth int) error {
	if depth > maxMsgpackDepth || r.i >= len(r.in) {
		return ErrBadPacket
	}
	c := r.in[r.i]
	switch {
	case c == 0xcf: // uint64, which may be past int64
		r.i++
		u, ok := r.length(8)
		if !ok {
			return ErrBadPacket
		}
		r.out = strconv.AppendUint(r.out, u, 10)
		return nil
	case c < 0x80 || c >= 0xe0 || c >= 0xcc && c <= 0xd3:
		v, ok := r.intValue()
		if !ok {
			return ErrBadPacket
		}
		r.out = strconv.AppendInt(r.out, v, 10)
		return nil
	case c >= 0xa0 && c <= 0xbf, c >= 0xd9 && c <= 0xdb:
		b, ok := r.strBytes()
		if !ok {
			return ErrBadPacket
		}
		r.appendStr(b)
		return nil
	case c >= 0x80 && c <= 0x8f, c == 0xde, c == 0xdf:
		n, ok := r.mapLen()
		if !ok || n > uint64(len(r.in)-r.i)/2 {
			return ErrBadPacket
		}
		return r.object(n, depth+1)
	case c >= 0x90 && c <= 0x9f, c == 0xdc, c == 0xdd:
		r.i++
		var n uint64
		ok := true
		switch c {
		case 0xdc:
			n, ok = r.length(2)
		case 0xdd:
			n, ok = r.length(4)
		default:
			n = uint64(c & 0x0f)
		}
		if !ok || n > uint64(len(r.in)-r.i) {
			return ErrBadPacket
		}
		r.out = append(r.out, '[')
		for k := uint64(0); k < n; k++ {
			if k > 0 {
				r.out = append(r.out, ',')
			}
			if err := r.value(depth + 1); err != nil {
				return err
			}
		}
		r.out = append(r.out, ']')
		return nil
	}
	r.i++
	switch c {
	case 0xc0:
		r.out = append(r.out, "null"...)
	case 0xc2:
		r.out = append(r.out, "false"...)
	case 0xc3:
		r.out = append(r.out, "true"...)
	case 0xca, 0xcb:
		f, ok := r.float(c)
		if !ok {
			return ErrBadPacket
		}
		bits := 64
		if c == 0xca {
			bits = 32
		}
		r.appendFloat(f, bits)
	case 0xc4, 0xc5, 0xc6:
		n, ok := r.length(1 << (c - 0xc4))
		if !ok {
			return ErrBadPacket
		}
		b, ok := r.take(n)
		if !ok {
			return ErrBadPacket
		}
		return r.appendBin(b)
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16
		return r.ext(uint64(1) << (c - 0xd4))
	case 0xc7, 0xc8, 0xc9: // ext 8, 16, 32
		n, ok := r.length(1 << (c - 0xc7))
		if !ok {
			return ErrBadPacket
		}
		return r.ext(n)
	default: // 0xc1, never used
		return ErrBadPacket
	}
	return nil
}

func (r *msgpackToJSON) appendBin(b []byte) error {
	if len(r.bin) >= maxMsgpackBins {
		return ErrBadPacket
	}
	r.out = append(r.out, `{"_placeholder":true,"num":`...)
	r.out = strconv.AppendInt(r.out, int64(len(r.bin)), 10)
	r.out = append(r.out, '}')
	r.bin = append(r.bin, b)
	return nil
}

// ext reads the extension types notepack.io decodes: timestamps (a Date,
// which JSON.stringify writes as its ISO string), its undefined (null in
// JSON) and its ArrayBuffer (binary). Others fail: notepack.io would hand
// them over as [type, buffer], which no JSON client can send.
func (r *msgpackToJSON) ext(n uint64) error {
	typ, ok := r.take(1)
	if !ok {
		return ErrBadPacket
	}
	b, ok := r.take(n)
	if !ok {
		return ErrBadPacket
	}
	switch int8(typ[0]) {
	case 0:
		if n == 1 {
			r.out = append(r.out, "null"...)
			return nil
		}
		return r.appendBin(b)
	case -1:
		var sec int64
		var nsec uint32
		switch n {
		case 4:
			sec = int64(binary.BigEndian.Uint32(b))
		case 8:
			v := binary.BigEndian.Uint64(b)
			nsec, sec = uint32(v>>34), int64(v&(1<<34-1))
		case 12:
			nsec, sec = binary.BigEndian.Uint32(b), int64(binary.BigEndian.Uint64(b[4:]))
		default:
			return ErrBadPacket
		}
		tm := time.Unix(sec, int64(nsec)).UTC()
		if y := tm.Year(); y < 0 || y > 9999 {
			return ErrBadPacket // JavaScript's Date range differs; refused rather than guessed
		}
		r.out = append(r.out, '"')
		r.out = tm.Truncate(time.Millisecond).AppendFormat(r.out, "2006-01-02T15:04:05.000Z")
		r.out = append(r.out, '"')
		return nil
	}
	return ErrBadPacket
}

func (r *msgpackToJSON) object(n uint64, depth int) error {
	if depth > maxMsgpackDepth {
		return ErrBadPacket
	}
	r.out = append(r.out, '{')
	for k := uint64(0); k < n; k++ {
		if k > 0 {
			r.out = append(r.out, ',')
		}
		if r.i >= len(r.in) {
			return ErrBadPacket
		}
		if c := r.in[r.i]; c < 0x80 || c >= 0xe0 || c >= 0xcc && c <= 0xd3 {
			// an integer key, a property name in JavaScript
			v, ok := r.intValue()
			if !ok {
				return ErrBadPacket
			}
			r.out = append(r.out, '"')
			r.out = strconv.AppendInt(r.out, v, 10)
			r.out = append(r.out, '"')
		} else {
			b, ok := r.strBytes()
			if !ok {
				return ErrBadPacket
			}
			r.appendStr(b)
		}
		r.out = append(r.out, ':')
		if err := r.value(depth); err != nil {
			return err
		}
	}
	r.out = append(r.out, '}')
	return nil
}
