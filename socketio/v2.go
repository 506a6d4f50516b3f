package socketio

import (
	"encoding/json"
	"net/url"
	"strings"

	"github.com/heraldio/herald/internal/jsonstr"
)

// Socket.IO v2 clients (socket.io-client 2.x) speak Socket.IO protocol 4
// over Engine.IO v3, accepted with engineio.Options.AllowEIO3. Their
// packets are v5's but for what follows, done as the reference does for
// such a connection (conn.protocol 3):
//
//   - the client sends no CONNECT for "/": the server connects it on its
//     own when the connection opens;
//   - a CONNECT names the namespace with the client's query,
//     "/admin?token=abc", which becomes the socket's auth payload
//     ({"token":"abc"}); its Handshake().Query is the connection's query;
//   - the CONNECT answer carries nothing: the client makes the socket id
//     itself, the Engine.IO session id, prefixed with "<namespace>#"
//     outside "/";
//   - a refusal (CONNECT_ERROR, the v2 client's ERROR) carries a
//     ConnectError's Data when it has any, else its message as a JSON
//     string: the v2 client emits it as the socket's "error" event.

// errInvalidNamespace refuses a CONNECT for a namespace that does not
// exist and matches no parent.
var errInvalidNamespace = &ConnectError{Message: "Invalid namespace"}

// v2Namespace splits the query off a v2 client's namespace; a CONNECT's
// becomes its auth payload, a JSON object of strings (the last value of
// a name repeated, as the reference's Object.fromEntries).
func v2Namespace(p *Packet) {
	nsp, query, ok := strings.Cut(p.Nsp, "?")
	if !ok {
		return
	}
	p.Nsp = nsp
	if p.Type != PacketConnect {
		return
	}
	q, err := url.ParseQuery(query)
	if err != nil || len(q) == 0 {
		return
	}
	last := make(map[string]string, len(q))
	for k, v := range q {
		last[k] = v[len(v)-1]
	}
	p.Data, _ = json.Marshal(last)
}

// v2SocketID is the id a v2 client gives its socket of namespace nsp on
// Engine.IO session sid.
func v2SocketID(nsp, sid string) string {
	if nsp == "/" {
		return sid
	}
	return nsp + "#" + sid
}

// v2ErrorData is the payload of a refusal to a v2 client: the error's
// data, or its message as a string.
func v2ErrorData(err error) json.RawMessage {
	msg := err.Error()
	if ce, ok := err.(*ConnectError); ok {
		msg = ce.Message
		if ce.Data != nil {
			e := encoder{}
			if e.appendValue(ce.Data) == nil {
				return e.buf
			}
		}
	}
	return jsonstr.Append(nil, msg)
}
