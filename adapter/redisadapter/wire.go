package redisadapter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/heraldio/herald/socketio"
)

// Request and response types of the wire protocol, as the Node adapter
// numbers them.
const (
	reqSockets          = 0
	reqAllRooms         = 1
	reqRemoteJoin       = 2
	reqRemoteLeave      = 3
	reqRemoteDisconnect = 4
	reqRemoteFetch      = 5
	reqServerSideEmit   = 6
	reqBroadcast        = 7
	resBroadcastCount   = 8
	resBroadcastAck     = 9
)

// wireOpts is the broadcast options object: {rooms, except, flags}.
type wireOpts struct {
	Rooms  []string       `json:"rooms" msgpack:"rooms"`
	Except []string       `json:"except" msgpack:"except"`
	Flags  map[string]any `json:"flags,omitempty" msgpack:"flags"`
}

func toWireOpts(o *socketio.BroadcastOptions, withFlags bool) wireOpts {
	w := wireOpts{Rooms: nonNil(o.Rooms), Except: nonNil(o.Except)}
	if withFlags {
		w.Flags = map[string]any{}
		if o.Flags.Volatile {
			w.Flags["volatile"] = true
		}
		if o.Flags.NoCompress {
			w.Flags["compress"] = false
		}
		if o.Flags.Timeout > 0 {
			w.Flags["timeout"] = o.Flags.Timeout.Milliseconds()
		}
	}
	return w
}

func (w wireOpts) options() *socketio.BroadcastOptions {
	o := &socketio.BroadcastOptions{Rooms: w.Rooms, Except: w.Except}
	if v, _ := w.Flags["volatile"].(bool); v {
		o.Flags.Volatile = true
	}
	if c, ok := w.Flags["compress"].(bool); ok && !c {
		o.Flags.NoCompress = true
	}
	return o
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// wirePacket is a socket.io-parser packet object: {type, data, nsp, id?}
// with binary as msgpack bin.
type wirePacket struct {
	Type int    `msgpack:"type"`
	Data []any  `msgpack:"data"`
	Nsp  string `msgpack:"nsp"`
	ID   *int64 `msgpack:"id,omitempty"`
}

// toWirePacket converts an EVENT packet: its raw JSON arguments become
// values, binary placeholders become bytes.
func toWirePacket(p *socketio.Packet) wirePacket {
	data := []any{p.EventName()}
	data = append(data, normalize(p.Args().Values())...)
	return wirePacket{Type: 2, Data: data, Nsp: p.Nsp}
}

// normalize turns JSON numbers that are integers into int64, so they are
// sent as msgpack integers like the Node side sends them.
func normalize(vs []any) []any {
	for i, v := range vs {
		vs[i] = normalizeValue(v)
	}
	return vs
}

func normalizeValue(v any) any {
	switch t := v.(type) {
	case float64:
		if t == float64(int64(t)) && t > -1e15 && t < 1e15 {
			return int64(t)
		}
	case map[string]any:
		for k, e := range t {
			t[k] = normalizeValue(e)
		}
	case []any:
		normalize(t)
	}
	return v
}

// packet converts a received packet object to a Herald EVENT packet.
func (w wirePacket) packet(nsp string) (*socketio.Packet, error) {
	if w.Type != 2 && w.Type != 5 || len(w.Data) == 0 {
		return nil, fmt.Errorf("redisadapter: unsupported packet type %d", w.Type)
	}
	name, ok := w.Data[0].(string)
	if !ok {
		return nil, fmt.Errorf("redisadapter: event name is %T", w.Data[0])
	}
	return socketio.EventPacket(nsp, name, fixValues(w.Data[1:])...)
}

// fixValues converts what msgpack decoding produced into values the
// Herald encoder writes as the Node side meant them.
func fixValues(vs []any) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = fixValue(v)
	}
	return out
}

func fixValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = fixValue(e)
		}
		return t
	case []any:
		return fixValues(t)
	case int8:
		return int64(t)
	case int16:
		return int64(t)
	case int32:
		return int64(t)
	case uint8:
		return int64(t)
	case uint16:
		return int64(t)
	case uint32:
		return int64(t)
	case uint64:
		return float64(t)
	case float32:
		return float64(t)
	}
	return v
}

// decodeAny decodes a message that may be JSON (first byte '{') or msgpack.
func decodeAny(b []byte, v any) error {
	if len(b) > 0 && b[0] == '{' {
		return json.Unmarshal(b, v)
	}
	return msgpack.Unmarshal(b, v)
}

func encodeMsgpack(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetCustomStructTag("msgpack")
	enc.UseCompactInts(true)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// remoteSocket is a socket as the Node adapter describes it in a fetch
// response.
type remoteSocket struct {
	ID        string          `json:"id"`
	Handshake remoteHandshake `json:"handshake"`
	Rooms     []string        `json:"rooms"`
	Data      map[string]any  `json:"data"`
}

type remoteHandshake struct {
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

func toRemote(s socketio.SocketInfo) remoteSocket {
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
	return remoteSocket{ID: s.ID, Rooms: s.Rooms, Data: s.Data, Handshake: remoteHandshake{
		Headers: headers, Time: h.Time, Address: h.Address, XDomain: h.XDomain, Secure: h.Secure,
		Issued: h.Issued, URL: h.URL, Query: query, Auth: auth,
	}}
}

func (r remoteSocket) info() socketio.SocketInfo {
	h := socketio.Handshake{Headers: http.Header{}, Query: map[string][]string{}, Time: r.Handshake.Time,
		Address: r.Handshake.Address, XDomain: r.Handshake.XDomain, Secure: r.Handshake.Secure,
		Issued: r.Handshake.Issued, URL: r.Handshake.URL, Auth: r.Handshake.Auth}
	for k, v := range r.Handshake.Headers {
		h.Headers[k] = []string{fmt.Sprint(v)}
	}
	for k, v := range r.Handshake.Query {
		h.Query[k] = []string{fmt.Sprint(v)}
	}
	return socketio.SocketInfo{ID: r.ID, Handshake: h, Rooms: r.Rooms, Data: r.Data}
}
