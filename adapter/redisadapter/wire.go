package redisadapter

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

	"github.com/heraldio/herald/socketio"
)

// Request and response types of the classic adapter, as Node's
// @socket.io/redis-adapter numbers them.
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

// ErrBinaryServerSideEmit is returned by ServerSideEmit for binary
// arguments: the reference sends server-side events as JSON.
var ErrBinaryServerSideEmit = errors.New("redisadapter: serverSideEmit arguments cannot be binary")

func randomID(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// appendPacket appends the socket.io-parser object of an EVENT packet:
// {"type":2,"data":[...]} and, with nsp, "nsp". Its placeholders refer to
// p.Attachments.
func appendPacket(dst []byte, p *socketio.Packet, withNsp bool) []byte {
	dst = append(dst, `{"type":2,"data":`...)
	dst = append(dst, p.Data...)
	if withNsp {
		dst = append(dst, `,"nsp":`...)
		dst = appendJSONString(dst, p.Nsp)
	}
	return append(dst, '}')
}

// appendOpts appends broadcast options as Node encodes them:
// {"rooms":[...],"except":[...]} and, with flags, "flags".
func appendOpts(dst []byte, o *socketio.BroadcastOptions, withFlags bool) []byte {
	dst = append(dst, `{"rooms":`...)
	dst = appendStrings(dst, o.Rooms)
	dst = append(dst, `,"except":`...)
	dst = appendStrings(dst, o.Except)
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

func appendStrings(dst []byte, s []string) []byte {
	dst = append(dst, '[')
	for i, e := range s {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, e)
	}
	return append(dst, ']')
}

// wirePacket is a received socket.io-parser packet object.
type wirePacket struct {
	Type int             `json:"type"`
	Data json.RawMessage `json:"data"`
	Nsp  *string         `json:"nsp"`
}

// packet converts a received EVENT packet (its placeholders referring to
// att) into a Herald packet of namespace nsp, keeping its JSON as it is.
func (w *wirePacket) packet(nsp string, att [][]byte) (*socketio.Packet, error) {
	if w.Type != 2 && w.Type != 5 {
		return nil, fmt.Errorf("redisadapter: unsupported packet type %d", w.Type)
	}
	d := w.Data
	if bytes.ContainsAny(d, " \t\r\n") {
		var buf bytes.Buffer
		if json.Compact(&buf, d) == nil {
			d = buf.Bytes()
		}
	}
	if len(d) < 3 || d[0] != '[' || d[1] != '"' {
		return nil, errors.New("redisadapter: event packet without a name")
	}
	return &socketio.Packet{Type: socketio.PacketEvent, Nsp: nsp, Data: d, Attachments: att}, nil
}

// wireOpts are received broadcast options.
type wireOpts struct {
	Rooms  []string `json:"rooms"`
	Except []string `json:"except"`
	Flags  struct {
		Volatile bool     `json:"volatile"`
		Compress *bool    `json:"compress"`
		Local    bool     `json:"local"`
		Timeout  *float64 `json:"timeout"`
	} `json:"flags"`
}

func (w *wireOpts) options() *socketio.BroadcastOptions {
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

// firstArg returns the first argument of an ack (null when none) and the
// attachments it may refer to.
func firstArg(args socketio.Args) (json.RawMessage, [][]byte) {
	if args.Len() == 0 {
		return json.RawMessage("null"), nil
	}
	return args.Raw(0), args.Attachments()
}

// remoteSocket is a socket as Node's adapters describe it in a fetch
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
	data := s.Data
	if data == nil {
		data = map[string]any{}
	}
	return remoteSocket{ID: s.ID, Rooms: nonNil(s.Rooms), Data: data, Handshake: remoteHandshake{
		Headers: headers, Time: h.Time, Address: h.Address, XDomain: h.XDomain, Secure: h.Secure,
		Issued: h.Issued, URL: h.URL, Query: query, Auth: auth,
	}}
}

func (r remoteSocket) info() socketio.SocketInfo {
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

func fetchResponse(local []socketio.SocketInfo) []remoteSocket {
	out := make([]remoteSocket, 0, len(local))
	for _, s := range local {
		out = append(out, toRemote(s))
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// serverSideEmitData returns the JSON array [event, ...args] of a
// server-side event.
func serverSideEmitData(nsp, event string, args []any) (json.RawMessage, error) {
	p, err := socketio.EventPacket(nsp, event, args...)
	if err != nil {
		return nil, err
	}
	if len(p.Attachments) > 0 {
		return nil, ErrBinaryServerSideEmit
	}
	return p.Data, nil
}

// serverSideEvent splits a received [event, ...args] array.
func serverSideEvent(data json.RawMessage) (string, socketio.Args, bool) {
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

// answerOnce returns the ack of a server-side event: its first argument
// (null if there is none or it cannot be encoded) goes to send, once.
func answerOnce(send func(raw json.RawMessage, att [][]byte)) func(...any) {
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
