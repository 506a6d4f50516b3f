// Package wire holds the JSON forms that Node's socket.io adapters
// exchange between nodes: packets, broadcast options, sockets of a fetch
// response and server-side events, written and read without going
// through Go maps, so key order and numbers cross nodes as they were
// sent. The classic Redis adapter and the cluster adapter share them.
package wire

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/heraldio/herald/internal/jsonstr"
	"github.com/heraldio/herald/socketio"
)

// ErrBinaryServerSideEmit is returned by ServerSideEmit for binary
// arguments: the reference sends server-side events as JSON.
var ErrBinaryServerSideEmit = errors.New("adapter: serverSideEmit arguments cannot be binary")

// RandomID returns n random hexadecimal characters: node and request ids.
func RandomID(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// AppendPacket appends the socket.io-parser object of an EVENT packet:
// {"type":2,"data":[...]} and, with nsp, "nsp". Its placeholders refer to
// p.Attachments.
func AppendPacket(dst []byte, p *socketio.Packet, withNsp bool) []byte {
	dst = append(dst, `{"type":2,"data":`...)
	dst = append(dst, p.Data...)
	if withNsp {
		dst = append(dst, `,"nsp":`...)
		dst = jsonstr.Append(dst, p.Nsp)
	}
	return append(dst, '}')
}

// AppendOpts appends broadcast options as Node encodes them:
// {"rooms":[...],"except":[...]} and, with flags, "flags".
func AppendOpts(dst []byte, o *socketio.BroadcastOptions, withFlags bool) []byte {
	dst = append(dst, `{"rooms":`...)
	dst = jsonstr.AppendStrings(dst, o.Rooms)
	dst = append(dst, `,"except":`...)
	dst = jsonstr.AppendStrings(dst, o.Except)
	if withFlags {
		dst = append(dst, `,"flags":`...)
		dst = appendFlags(dst, o.Flags)
	}
	return append(dst, '}')
}

func appendFlags(dst []byte, f socketio.BroadcastFlags) []byte {
	dst = append(dst, '{')
	n := len(dst)
	if f.Volatile {
		dst = append(dst, `"volatile":true`...)
	}
	if f.NoCompress {
		if len(dst) > n {
			dst = append(dst, ',')
		}
		dst = append(dst, `"compress":false`...)
	}
	if f.Timeout > 0 {
		if len(dst) > n {
			dst = append(dst, ',')
		}
		dst = append(dst, `"timeout":`...)
		dst = strconv.AppendInt(dst, f.Timeout.Milliseconds(), 10)
	}
	return append(dst, '}')
}

// Packet is a received socket.io-parser packet object.
type Packet struct {
	Type int             `json:"type"`
	Data json.RawMessage `json:"data"`
	Nsp  *string         `json:"nsp"`
}

// Decode converts a received EVENT packet (its placeholders referring to
// att) into a Herald packet of namespace nsp, keeping its JSON as it is.
func (w *Packet) Decode(nsp string, att [][]byte) (*socketio.Packet, error) {
	if w.Type != 2 && w.Type != 5 {
		return nil, fmt.Errorf("adapter: unsupported packet type %d", w.Type)
	}
	d := w.Data
	if bytes.ContainsAny(d, " \t\r\n") {
		var buf bytes.Buffer
		if json.Compact(&buf, d) == nil {
			d = buf.Bytes()
		}
	}
	if len(d) < 3 || d[0] != '[' || d[1] != '"' {
		return nil, errors.New("adapter: event packet without a name")
	}
	return &socketio.Packet{Type: socketio.PacketEvent, Nsp: nsp, Data: d, Attachments: att}, nil
}

// Opts are received broadcast options.
type Opts struct {
	Rooms  []string `json:"rooms"`
	Except []string `json:"except"`
	Flags  struct {
		Volatile bool     `json:"volatile"`
		Compress *bool    `json:"compress"`
		Local    bool     `json:"local"`
		Timeout  *float64 `json:"timeout"`
	} `json:"flags"`
}

// Options returns the broadcast options w describes (none when w is nil).
func (w *Opts) Options() *socketio.BroadcastOptions {
	if w == nil {
		return &socketio.BroadcastOptions{}
	}
	o := &socketio.BroadcastOptions{Rooms: w.Rooms, Except: w.Except}
	o.Flags.Volatile = w.Flags.Volatile
	o.Flags.NoCompress = w.Flags.Compress != nil && !*w.Flags.Compress
	return o
}

// rawValue encodes one Go value as a socket.io argument: raw JSON, binary
// as placeholders into the returned attachments.
func rawValue(v any) (json.RawMessage, [][]byte, error) {
	p, err := socketio.EventPacket("/", "_", v)
	if err != nil {
		return nil, nil, err
	}
	args := p.Args()
	return args.Raw(0), args.Attachments(), nil
}

// FirstArg returns the first argument of an ack (null when none) and the
// attachments it may refer to.
func FirstArg(args socketio.Args) (json.RawMessage, [][]byte) {
	if args.Len() == 0 {
		return json.RawMessage("null"), nil
	}
	return args.Raw(0), args.Attachments()
}

// Arg returns raw, null when empty, as the only argument of an Args whose
// placeholders refer to att: an ack or an answer as Node sends it.
func Arg(raw json.RawMessage, att [][]byte) socketio.Args {
	if len(raw) == 0 {
		raw = json.RawMessage("null")
	}
	return socketio.NewArgs([]json.RawMessage{raw}, att)
}

// RemoteSocket is a socket as Node's adapters describe it in a fetch
// response.
type RemoteSocket struct {
	ID        string          `json:"id"`
	Handshake RemoteHandshake `json:"handshake"`
	Rooms     []string        `json:"rooms"`
	Data      map[string]any  `json:"data"`
}

// RemoteHandshake is the handshake of a RemoteSocket.
type RemoteHandshake struct {
	Headers map[string]any  `json:"headers"`
	Time    string          `json:"time"`
	Address string          `json:"address"`
	XDomain bool            `json:"xdomain"`
	Secure  bool            `json:"secure"`
	Issued  int64           `json:"issued"`
	URL     string          `json:"url"`
	Query   map[string]any  `json:"query"`
	Auth    json.RawMessage `json:"auth"`
}

func toRemote(s socketio.SocketInfo) RemoteSocket {
	h := s.Handshake
	headers := make(map[string]any, len(h.Headers))
	for k, v := range h.Headers {
		headers[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	query := make(map[string]any, len(h.Query))
	for k, v := range h.Query {
		if len(v) == 1 {
			query[k] = v[0]
		} else {
			query[k] = v
		}
	}
	auth := h.Auth
	if len(auth) == 0 {
		auth = json.RawMessage("{}")
	}
	data := s.Data
	if data == nil {
		data = map[string]any{}
	}
	return RemoteSocket{ID: s.ID, Rooms: NonNil(s.Rooms), Data: data, Handshake: RemoteHandshake{
		Headers: headers, Time: h.Time, Address: h.Address, XDomain: h.XDomain, Secure: h.Secure,
		Issued: h.Issued, URL: h.URL, Query: query, Auth: auth,
	}}
}

// Info returns the socket as socketio describes it.
func (r RemoteSocket) Info() socketio.SocketInfo {
	h := socketio.Handshake{Headers: http.Header{}, Query: map[string][]string{}, Time: r.Handshake.Time,
		Address: r.Handshake.Address, XDomain: r.Handshake.XDomain, Secure: r.Handshake.Secure,
		Issued: r.Handshake.Issued, URL: r.Handshake.URL, Auth: r.Handshake.Auth}
	for k, v := range r.Handshake.Headers {
		h.Headers[http.CanonicalHeaderKey(k)] = []string{fmt.Sprint(v)}
	}
	for k, v := range r.Handshake.Query {
		switch t := v.(type) {
		case []any:
			for _, e := range t {
				h.Query[k] = append(h.Query[k], fmt.Sprint(e))
			}
		default:
			h.Query[k] = []string{fmt.Sprint(v)}
		}
	}
	return socketio.SocketInfo{ID: r.ID, Handshake: h, Rooms: r.Rooms, Data: r.Data}
}

// FetchResponse returns local sockets in the form of a fetch response.
func FetchResponse(local []socketio.SocketInfo) []RemoteSocket {
	out := make([]RemoteSocket, 0, len(local))
	for _, s := range local {
		out = append(out, toRemote(s))
	}
	return out
}

// NonNil returns s, or an empty slice for nil (JSON [] rather than null).
func NonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ServerSideEmitData returns the JSON array [event, ...args] of a
// server-side event.
func ServerSideEmitData(nsp, event string, args []any) (json.RawMessage, error) {
	p, err := socketio.EventPacket(nsp, event, args...)
	if err != nil {
		return nil, err
	}
	if len(p.Attachments) > 0 {
		return nil, ErrBinaryServerSideEmit
	}
	return p.Data, nil
}

// ServerSideEvent splits a received [event, ...args] array.
func ServerSideEvent(data json.RawMessage) (string, socketio.Args, bool) {
	var parts []json.RawMessage
	if json.Unmarshal(data, &parts) != nil || len(parts) == 0 {
		return "", socketio.Args{}, false
	}
	var event string
	if json.Unmarshal(parts[0], &event) != nil {
		return "", socketio.Args{}, false
	}
	return event, socketio.NewArgs(parts[1:], nil), true
}

// AnswerOnce returns the ack of a server-side event: its first argument
// (null if there is none or it cannot be encoded) goes to send, once.
func AnswerOnce(send func(raw json.RawMessage, att [][]byte)) func(...any) {
	var once sync.Once
	return func(v ...any) {
		once.Do(func() {
			var arg any
			if len(v) > 0 {
				arg = v[0]
			}
			raw, att, err := rawValue(arg)
			if err != nil {
				raw, att = json.RawMessage("null"), nil
			}
			send(raw, att)
		})
	}
}

// IsSocketID reports whether a room is probably a socket's own room
// (20 characters), which gets no channel of its own.
func IsSocketID(room string) bool { return len(room) == 20 }

// Object builds a JSON object member by member.
type Object struct{ b []byte }

// NewObject returns an empty Object.
func NewObject() *Object { return &Object{b: []byte{'{'}} }

// Raw adds member k with the raw JSON v.
func (o *Object) Raw(k string, v []byte) *Object {
	if len(o.b) > 1 {
		o.b = append(o.b, ',')
	}
	o.b = jsonstr.Append(o.b, k)
	o.b = append(o.b, ':')
	o.b = append(o.b, v...)
	return o
}

// Str adds member k with the string v.
func (o *Object) Str(k, v string) *Object { return o.Raw(k, jsonstr.Append(nil, v)) }

// Done returns the object.
func (o *Object) Done() json.RawMessage { return append(o.b, '}') }
