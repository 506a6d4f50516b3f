package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
)

// codec writes the few packets the load tool sends and reads what it
// needs of the server's, in the server's parser: socket.io-parser's text
// packets or socket.io-msgpack-parser's binary ones. Both are written by
// hand into the caller's buffer and read without decoding the arguments,
// so the tool's cost per message stays small beside the server's.
type codec struct{ msgpack bool }

func newCodec(name string) (codec, error) {
	switch name {
	case "json":
		return codec{}, nil
	case "msgpack":
		return codec{msgpack: true}, nil
	}
	return codec{}, fmt.Errorf("unknown parser %q (json or msgpack)", name)
}

// Socket.IO packet types.
const (
	typeConnect = 0
	typeEvent   = 2
	typeAck     = 3
)

// connect returns the CONNECT of the main namespace.
func (k codec) connect() []byte {
	if k.msgpack {
		return mpStr(append([]byte{0x82}, "\xa4type\x00\xa3nsp"...), "/")
	}
	return []byte("40")
}

// event appends an EVENT of name with string arguments (written as they
// are: the tool's strings need no escaping), with ack id id unless id < 0.
func (k codec) event(dst []byte, id int, name string, args ...string) []byte {
	if !k.msgpack {
		dst = append(dst, "42"...)
		if id >= 0 {
			dst = strconv.AppendInt(dst, int64(id), 10)
		}
		dst = append(dst, `["`...)
		dst = append(dst, name...)
		for _, a := range args {
			dst = append(dst, `","`...)
			dst = append(dst, a...)
		}
		return append(dst, `"]`...)
	}
	dst = k.eventHead(dst, id, 1+len(args))
	dst = mpStr(dst, name)
	for _, a := range args {
		dst = mpStr(dst, a)
	}
	return k.eventTail(dst, id)
}

// fanout appends the fan-out event, ["fanout", "bench", {t, p}], t the
// send time in Unix nanoseconds.
func (k codec) fanout(dst []byte, t int64, body string) []byte {
	if !k.msgpack {
		dst = append(dst, `42["fanout","bench",{"t":`...)
		dst = strconv.AppendInt(dst, t, 10)
		dst = append(dst, `,"p":"`...)
		dst = append(dst, body...)
		return append(dst, `"}]`...)
	}
	dst = k.eventHead(dst, -1, 3)
	dst = mpStr(mpStr(dst, "fanout"), "bench")
	dst = append(dst, 0x82, 0xa1, 't', 0xd3)
	dst = binary.BigEndian.AppendUint64(dst, uint64(t))
	dst = mpStr(append(dst, 0xa1, 'p'), body)
	return k.eventTail(dst, -1)
}

// eventHead starts a msgpack EVENT {type, data: [n elements], nsp, id?}
// up to its data's elements.
func (codec) eventHead(dst []byte, id, n int) []byte {
	keys := byte(3)
	if id >= 0 {
		keys++
	}
	dst = append(dst, 0x80|keys)
	dst = append(dst, "\xa4type\x02\xa4data"...)
	return append(dst, 0x90|byte(n)) // n < 16
}

func (codec) eventTail(dst []byte, id int) []byte {
	dst = append(dst, "\xa3nsp\xa1/"...)
	if id >= 0 {
		dst = append(dst, "\xa2id\xce"...)
		dst = binary.BigEndian.AppendUint32(dst, uint32(id))
	}
	return dst
}

// mpStr appends a msgpack str.
func mpStr(dst []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		dst = append(dst, 0xa0|byte(n))
	case n < 1<<8:
		dst = append(dst, 0xd9, byte(n))
	case n < 1<<16:
		dst = append(dst, 0xda, byte(n>>8), byte(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, 0xdb), uint32(n))
	}
	return append(dst, s...)
}

// packet returns the type and ack id of message m (id -1 when it has
// none); ok is false for anything that is not a Socket.IO packet of the
// codec's parser.
func (k codec) packet(m []byte, bin bool) (typ, id int, ok bool) {
	if !k.msgpack {
		if bin || len(m) < 2 || m[0] != '4' || m[1] < '0' || m[1] > '6' {
			return 0, 0, false
		}
		typ, id = int(m[1]-'0'), -1
		i := 2
		for ; i < len(m) && m[i] >= '0' && m[i] <= '9'; i++ {
			if id < 0 {
				id = 0
			}
			id = id*10 + int(m[i]-'0')
		}
		return typ, id, true
	}
	if !bin {
		return 0, 0, false
	}
	r := mpReader{b: m}
	n, ok := r.mapLen()
	typ, id = -1, -1
	for ; ok && n > 0; n-- {
		var key []byte
		if key, ok = r.str(); !ok {
			break
		}
		switch string(key) {
		case "type":
			var v int64
			v, ok = r.int()
			typ = int(v)
		case "id":
			var v int64
			if v, ok = r.int(); !ok && r.undefined() { // notepack's undefined
				v, ok = -1, true
			}
			id = int(v)
		default:
			ok = r.skip(0)
		}
	}
	return typ, id, ok && typ >= 0 && r.i == len(m)
}

// fanoutTime returns t of a fan-out event.
func (k codec) fanoutTime(m []byte, bin bool) (int64, bool) {
	if !k.msgpack {
		// 42["fanout",{"t":<unix ns>,"p":"..."}]
		i := bytes.Index(m, []byte(`"t":`))
		if i < 0 || bin {
			return 0, false
		}
		t := int64(0)
		for j := i + 4; j < len(m) && m[j] >= '0' && m[j] <= '9'; j++ {
			t = t*10 + int64(m[j]-'0')
		}
		return t, true
	}
	// The map {t, p}: the key t (fixstr "t") is found in no other place of
	// the packet (its keys are longer, the payload is "xxx…").
	i := bytes.Index(m, []byte{0xa1, 't'})
	if i < 0 || !bin {
		return 0, false
	}
	r := mpReader{b: m, i: i + 2}
	return r.int()
}

// mpReader reads the msgpack the servers send.
type mpReader struct {
	b []byte
	i int
}

func (r *mpReader) take(n int) ([]byte, bool) {
	if n < 0 || n > len(r.b)-r.i {
		return nil, false
	}
	r.i += n
	return r.b[r.i-n : r.i], true
}

func (r *mpReader) uint(size int) (uint64, bool) {
	b, ok := r.take(size)
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v, ok
}

func (r *mpReader) mapLen() (int, bool) {
	b, ok := r.take(1)
	switch {
	case !ok:
		return 0, false
	case b[0]&0xf0 == 0x80:
		return int(b[0] & 0x0f), true
	case b[0] == 0xde:
		v, ok := r.uint(2)
		return int(v), ok
	case b[0] == 0xdf:
		v, ok := r.uint(4)
		return int(v), ok
	}
	return 0, false
}

func (r *mpReader) str() ([]byte, bool) {
	b, ok := r.take(1)
	if !ok {
		return nil, false
	}
	var n uint64
	switch c := b[0]; {
	case c&0xe0 == 0xa0:
		n = uint64(c & 0x1f)
	case c >= 0xd9 && c <= 0xdb:
		n, ok = r.uint(1 << (c - 0xd9))
	default:
		return nil, false
	}
	if !ok || n > uint64(len(r.b)) {
		return nil, false
	}
	return r.take(int(n))
}

// int reads an integer in any of msgpack's forms, or a float64 with an
// integral value (JavaScript's numbers past 2^53).
func (r *mpReader) int() (int64, bool) {
	b, ok := r.take(1)
	if !ok {
		return 0, false
	}
	switch c := b[0]; {
	case c < 0x80:
		return int64(c), true
	case c >= 0xe0:
		return int64(int8(c)), true
	case c >= 0xcc && c <= 0xcf:
		v, ok := r.uint(1 << (c - 0xcc))
		return int64(v), ok
	case c >= 0xd0 && c <= 0xd3:
		size := 1 << (c - 0xd0)
		v, ok := r.uint(size)
		shift := 64 - 8*size
		return int64(v<<shift) >> shift, ok
	case c == 0xcb:
		v, ok := r.uint(8)
		return int64(math.Float64frombits(v)), ok
	}
	r.i--
	return 0, false
}

// undefined skips notepack.io's undefined (fixext 1 of type 0).
func (r *mpReader) undefined() bool {
	if len(r.b)-r.i >= 3 && r.b[r.i] == 0xd4 && r.b[r.i+1] == 0 {
		r.i += 3
		return true
	}
	return false
}

// skip passes over one value.
func (r *mpReader) skip(depth int) bool {
	if depth > 100 || r.i >= len(r.b) {
		return false
	}
	c := r.b[r.i]
	var n uint64 // bytes to skip after the header, or elements for containers
	elems, ok := 0, true
	switch {
	case c < 0x80 || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		r.i++
		return true
	case c&0xf0 == 0x80:
		r.i++
		elems = 2 * int(c&0x0f)
	case c&0xf0 == 0x90:
		r.i++
		elems = int(c & 0x0f)
	case c&0xe0 == 0xa0:
		r.i++
		n = uint64(c & 0x1f)
	default:
		r.i++
		switch c {
		case 0xc4, 0xc5, 0xc6: // bin
			n, ok = r.uint(1 << (c - 0xc4))
		case 0xd9, 0xda, 0xdb: // str
			n, ok = r.uint(1 << (c - 0xd9))
		case 0xc7, 0xc8, 0xc9: // ext
			n, ok = r.uint(1 << (c - 0xc7))
			n++
		case 0xca:
			n = 4
		case 0xcb:
			n = 8
		case 0xcc, 0xcd, 0xce, 0xcf:
			n = 1 << (c - 0xcc)
		case 0xd0, 0xd1, 0xd2, 0xd3:
			n = 1 << (c - 0xd0)
		case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext
			n = 1 + 1<<(c-0xd4)
		case 0xdc, 0xdd:
			var v uint64
			v, ok = r.uint(2 << (c - 0xdc))
			elems = int(v)
		case 0xde, 0xdf:
			var v uint64
			v, ok = r.uint(2 << (c - 0xde))
			elems = 2 * int(v)
		default:
			return false
		}
	}
	if !ok || n > uint64(len(r.b)-r.i) || elems > len(r.b)-r.i {
		return false
	}
	r.i += int(n)
	for ; elems > 0; elems-- {
		if !r.skip(depth + 1) {
			return false
		}
	}
	return true
}
