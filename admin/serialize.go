package admin

import (
	"bytes"
	"encoding/json"
	"net"
	"strings"

	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/socketio"
)

// adminKey is the socket data the UI reads a socket's client id and
// transport from, as the npm package names it.
const adminKey = "_admin"

func adminData(c *engineio.Conn, transport string) map[string]any {
	id := c.ID()
	if len(id) > 12 {
		id = id[:12]
	}
	return map[string]any{"clientId": id, "transport": transport}
}

// serializedSocket is a socket as the UI reads it (SerializedSocket of
// the npm package).
type serializedSocket struct {
	ID        string         `json:"id"`
	ClientID  string         `json:"clientId"`
	Transport string         `json:"transport"`
	Nsp       string         `json:"nsp"`
	Data      map[string]any `json:"data"`
	Handshake handshake      `json:"handshake"`
	Rooms     []string       `json:"rooms"`
}

// handshake is the part of a socket's handshake the UI shows, in Node's
// forms: header names in lower case with one value, query values
// single, the address without its port. Auth is left out.
type handshake struct {
	Address string            `json:"address"`
	Headers map[string]string `json:"headers"`
	Query   map[string]string `json:"query"`
	Issued  int64             `json:"issued"`
	Secure  bool              `json:"secure"`
	Time    string            `json:"time"`
	URL     string            `json:"url"`
	XDomain bool              `json:"xdomain"`
}

func serializeSocket(s *socketio.Socket) serializedSocket {
	info := socketio.SocketInfo{ID: s.ID(), Handshake: *s.Handshake(), Rooms: s.Rooms()}
	return serialize(info, s.Namespace().Name(), s.Data())
}

func serialize(info socketio.SocketInfo, nsp string, data map[string]any) serializedSocket {
	out := serializedSocket{ID: info.ID, Nsp: nsp, Rooms: info.Rooms, Data: map[string]any{}}
	if out.Rooms == nil {
		out.Rooms = []string{}
	}
	for k, v := range data {
		if k == adminKey {
			if m, ok := v.(map[string]any); ok {
				out.ClientID, _ = m["clientId"].(string)
				out.Transport, _ = m["transport"].(string)
			}
			continue
		}
		out.Data[k] = v
	}
	h := info.Handshake
	out.Handshake = handshake{
		Headers: make(map[string]string, len(h.Headers)),
		Query:   make(map[string]string, len(h.Query)),
		Issued:  h.Issued,
		Secure:  h.Secure,
		Time:    h.Time,
		URL:     h.URL,
		XDomain: h.XDomain,
	}
	for k, vs := range h.Headers {
		out.Handshake.Headers[strings.ToLower(k)] = strings.Join(vs, ", ")
	}
	for k, vs := range h.Query {
		if len(vs) > 0 {
			out.Handshake.Query[k] = vs[0]
		}
	}
	out.Handshake.Address = clientAddress(h)
	return out
}

// clientAddress is the address the npm package shows: a proxy's
// cf-connecting-ip or x-forwarded-for, else the peer's address.
func clientAddress(h socketio.Handshake) string {
	for _, k := range []string{"Cf-Connecting-Ip", "X-Forwarded-For"} {
		if v := h.Headers.Get(k); v != "" {
			return v
		}
	}
	if host, _, err := net.SplitHostPort(h.Address); err == nil {
		return host
	}
	return h.Address
}

// eventArgs copies an event as event_received carries it: its name, then
// its arguments. Its arguments alias the connection's read buffer.
func eventArgs(e *socketio.Event) []any {
	out := make([]any, 0, e.Args.Len()+1)
	out = append(out, e.Name)
	if len(e.Args.Attachments()) == 0 {
		for i := range e.Args.Len() {
			out = append(out, json.RawMessage(bytes.Clone(e.Args.Raw(i))))
		}
		return out
	}
	for _, v := range e.Args.Values() {
		out = append(out, cloneBytes(v))
	}
	return out
}

// cloneBytes copies the []byte values in v, at any depth.
func cloneBytes(v any) any {
	switch t := v.(type) {
	case []byte:
		return bytes.Clone(t)
	case []any:
		c := make([]any, len(t))
		for i, x := range t {
			c[i] = cloneBytes(x)
		}
		return c
	case map[string]any:
		c := make(map[string]any, len(t))
		for k, x := range t {
			c[k] = cloneBytes(x)
		}
		return c
	}
	return v
}
