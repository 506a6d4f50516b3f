package socketio_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/socketio"
	"github.com/heraldio/herald/test/support"
)

func newV2Server(t *testing.T) (*socketio.Server, string) {
	t.Helper()
	return newServer(t, &socketio.Options{Engine: engineio.Options{AllowEIO3: true}})
}

// sidOf returns the Engine.IO session id of an open packet.
func sidOf(t *testing.T, open string) string {
	t.Helper()
	var hs struct{ Sid string }
	if err := json.Unmarshal([]byte(open[1:]), &hs); err != nil || hs.Sid == "" {
		t.Fatalf("open packet %q: %v", open, err)
	}
	return hs.Sid
}

// A v2 client is connected to "/" by the server, with a CONNECT that
// carries nothing and the Engine.IO id as its socket id; events, acks and
// binary work as for v5 (the binary frame with v3's type byte).
func TestV2ClientMainNamespace(t *testing.T) {
	io, url := newV2Server(t)
	ids := make(chan string, 1)
	gone := make(chan socketio.Reason, 1)
	io.OnConnection(func(s *socketio.Socket) {
		ids <- s.ID()
		s.OnDisconnect(func(r socketio.Reason) { gone <- r })
		_ = s.Emit("query", s.Handshake().Query.Get("token"), json.RawMessage(s.Handshake().Auth))
		s.On("echo", func(e *socketio.Event) { _ = e.Ack(e.Args) })
		s.On("bin", func(e *socketio.Event) {
			b, _ := e.Args.Bytes(0)
			_ = s.Emit("bin-back", append(b, 9))
		})
	})
	c := support.DialEIO3(t, url, "/socket.io/", "&token=abc")
	sid := sidOf(t, c.Open)
	c.ExpectExact("40")
	if id := <-ids; id != sid {
		t.Errorf("socket id %q, want the engine id %q", id, sid)
	}
	c.ExpectExact(`42["query","abc",{}]`)
	c.Send(`423["echo","😀"]`)
	c.ExpectExact(`433["😀"]`)
	c.Send(`451-["bin",{"_placeholder":true,"num":0}]`)
	c.SendBinary([]byte{4, 1, 2})
	c.ExpectExact(`451-["bin-back",{"_placeholder":true,"num":0}]`)
	if f := c.Next(); !f.Binary || !bytes.Equal(f.Data, []byte{4, 1, 2, 9}) {
		t.Fatalf("attachment %v (binary %v), want the type byte and 1 2 9", f.Data, f.Binary)
	}
	c.Send("2") // the client's ping
	c.ExpectExact("3")
	c.Send("41")
	if r := <-gone; r != socketio.ReasonClientNamespaceDisconnect {
		t.Errorf("disconnect reason %q", r)
	}
}

// A custom namespace: the query of its CONNECT is the auth payload, the
// socket id "<nsp>#<engine id>"; a middleware's refusal is the v2 ERROR
// with the message as a string, or the error's data.
func TestV2ClientNamespaces(t *testing.T) {
	io, url := newV2Server(t)
	io.Of("/admin").OnConnection(func(s *socketio.Socket) {
		_ = s.Emit("hello", s.ID(), json.RawMessage(s.Handshake().Auth))
	})
	io.Of("/refused").Use(func(*socketio.Socket) error { return errors.New("not allowed") })
	io.Of("/refused-data").Use(func(*socketio.Socket) error {
		return &socketio.ConnectError{Message: "no", Data: map[string]any{"code": 42}}
	})
	c := support.DialEIO3(t, url, "/socket.io/", "")
	sid := sidOf(t, c.Open)
	c.ExpectExact("40")
	c.Send("40/admin?token=abc&x=1&x=2,")
	c.ExpectExact("40/admin,")
	c.ExpectExact(`42/admin,["hello","/admin#` + sid + `",{"token":"abc","x":"2"}]`)
	c.Send(`42/admin?ignored=1,["ev"]`) // a query elsewhere is dropped, as the reference does
	c.Send("40/refused,")
	c.ExpectExact(`44/refused,"not allowed"`)
	c.Send("40/refused-data,")
	c.ExpectExact(`44/refused-data,{"code":42}`)
	c.Send("40/nowhere,")
	c.ExpectExact(`44/nowhere,"Invalid namespace"`)
	c.Send("40/admin?bad=%zz,") // a second CONNECT: the connection is closed
	c.WaitClosed()
}

// A middleware of "/" refuses a v2 client at once, as it opens.
func TestV2ClientRefusedOnMain(t *testing.T) {
	io, url := newV2Server(t)
	io.Use(func(s *socketio.Socket) error {
		if s.Handshake().Query.Get("token") != "ok" {
			return errors.New("Authentication required")
		}
		return nil
	})
	c := support.DialEIO3(t, url, "/socket.io/", "")
	c.ExpectExact(`44"Authentication required"`)
	c = support.DialEIO3(t, url, "/socket.io/", "&token=ok")
	c.ExpectExact("40")
}

// v2 and v5 clients in one room get the same broadcast.
func TestV2AndV5ClientsShareARoom(t *testing.T) {
	io, url := newV2Server(t)
	io.OnConnection(func(s *socketio.Socket) { s.Join("room") })
	v2 := support.DialEIO3(t, url, "/socket.io/", "")
	v2.ExpectExact("40")
	v5 := dial(t, url)
	v5.Connect("/", "")
	if err := io.To("room").Emit("news", "hi", []byte{7}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*support.Conn{v2, v5} {
		c.ExpectExact(`451-["news","hi",{"_placeholder":true,"num":0}]`)
	}
	if f := v2.Next(); !bytes.Equal(f.Data, []byte{4, 7}) {
		t.Errorf("v2 attachment %v", f.Data)
	}
	if f := v5.Next(); !bytes.Equal(f.Data, []byte{7}) {
		t.Errorf("v5 attachment %v", f.Data)
	}
	if !strings.Contains(v2.Open, `"upgrades":[]`) {
		t.Errorf("open %q", v2.Open)
	}
}

// With connection state recovery, an emit goes through the adapter to the
// socket's own room: a v2 client's id, longer than 20 characters outside
// "/", is found there too.
func TestV2ClientEmitWithRecovery(t *testing.T) {
	io, url := newServer(t, &socketio.Options{
		Engine:   engineio.Options{AllowEIO3: true},
		Recovery: &socketio.RecoveryOptions{MaxDisconnectionDuration: time.Second},
	})
	io.Of("/custom").OnConnection(func(s *socketio.Socket) { _ = s.Emit("hello", s.ID()) })
	c := support.DialEIO3(t, url, "/socket.io/", "")
	sid := sidOf(t, c.Open)
	c.ExpectExact("40")
	c.Send("40/custom,")
	c.ExpectExact("40/custom,")
	c.Expect(`42/custom,["hello","/custom#` + sid + `",`) // then the offset
}
