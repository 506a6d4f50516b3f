package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"sort"
	"strconv"

	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/internal/jsonstr"
	"sync"
)

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
		e.buf = jsonstr.Append(e.buf, t)
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
			e.buf = jsonstr.Append(e.buf, k)
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

var encoderPool = sync.Pool{New: func() any { return &encoder{buf: make([]byte, 0, 512)} }}

// withArray encodes [event?, args...] in a pooled scratch encoder and
// passes the result to fn, which must copy what it keeps.
func withArray(event *string, args []any, fn func(data []byte, bin [][]byte)) error {
	e := encoderPool.Get().(*encoder)
	e.buf = append(e.buf[:0], '[')
	e.bin = e.bin[:0]
	if event != nil {
		e.buf = jsonstr.Append(e.buf, *event)
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
func (s *Server) encodeDirect(t PacketType, nsp string, id uint64, hasID bool, event *string, args []any) ([]*engineio.Packet, error) {
	var out []*engineio.Packet
	err := withArray(event, args, func(data []byte, bin [][]byte) {
		p := Packet{Type: t, Nsp: nsp, ID: id, HasID: hasID, Data: data, Attachments: bin}
		out = s.encode(&p)
	})
	return out, err
}

// encode returns the Engine.IO messages that carry p in the server's
// wire format. The result may be sent to any number of connections. A
// nil server (an adapter used on its own) encodes as JSON.
func (s *Server) encode(p *Packet) []*engineio.Packet {
	if s == nil || s.opts.Parser != MsgpackParser {
		return p.Encode()
	}
	size := len(p.Data) + len(p.Nsp) + 24
	for _, a := range p.Attachments {
		size += len(a)
	}
	b, err := appendMsgpackPacket(make([]byte, 0, size), p)
	if err != nil {
		// Data is built by the encoder or checked on the way in: only an
		// adapter's corrupt packet comes here.
		s.log.Warn("socketio: packet not sent: its data is not valid JSON", "nsp", p.Nsp, "type", int(p.Type))
		return nil
	}
	return []*engineio.Packet{engineio.NewMessage(b, true)}
}

// EventPacket builds an EVENT packet, as adapters and emitters need to.
func EventPacket(nsp, event string, args ...any) (*Packet, error) {
	return eventPacket(nsp, event, args)
}
