package socketio_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/heraldio/herald/socketio"
	"github.com/heraldio/herald/test/support"
)

// mp is a msgpack client on a raw Engine.IO connection: packets are maps
// encoded with vmihailenco/msgpack, as another implementation would.
type mp struct {
	t *testing.T
	c *support.Conn
}

func dialMsgpack(t *testing.T, url string) mp {
	return mp{t, dial(t, url)}
}

func (m mp) send(p map[string]any) {
	m.t.Helper()
	b, err := msgpack.Marshal(p)
	if err != nil {
		m.t.Fatal(err)
	}
	m.c.SendBinary(b)
}

func (m mp) next() map[string]any {
	m.t.Helper()
	f := m.c.Next()
	if !f.Binary {
		m.t.Fatalf("want a binary message, got text %q", f.Data)
	}
	var p map[string]any
	if err := msgpack.Unmarshal(f.Data, &p); err != nil {
		m.t.Fatalf("%x: %v", f.Data, err)
	}
	return normalize(p).(map[string]any)
}

// normalize makes every integer an int64, as the tests write them.
func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = normalize(e)
		}
	case []any:
		for i, e := range t {
			t[i] = normalize(e)
		}
	case int8, int16, int32, int, uint8, uint16, uint32, uint64, uint:
		return reflect.ValueOf(t).Convert(reflect.TypeFor[int64]()).Interface()
	}
	return v
}

func (m mp) expect(want map[string]any) {
	m.t.Helper()
	if got := m.next(); !reflect.DeepEqual(got, want) {
		m.t.Fatalf("got  %#v\nwant %#v", got, want)
	}
}

func (m mp) connect(nsp string) string {
	m.t.Helper()
	m.send(map[string]any{"type": 0, "nsp": nsp})
	p := m.next()
	d, _ := p["data"].(map[string]any)
	sid, _ := d["sid"].(string)
	if p["type"] != int64(0) || p["nsp"] != nsp || sid == "" {
		m.t.Fatalf("CONNECT answer %#v", p)
	}
	return sid
}

func TestMsgpackParser(t *testing.T) {
	io, url := newServer(t, &socketio.Options{Parser: socketio.MsgpackParser})
	gotBin := make(chan []byte, 1)
	socks := make(chan *socketio.Socket, 2)
	io.OnConnection(func(s *socketio.Socket) {
		socks <- s
		s.Join("room")
		s.On("echo", func(e *socketio.Event) { _ = e.Ack(e.Args) })
		s.On("bin", func(e *socketio.Event) {
			var b []byte
			_ = e.Args.Decode(1, &b)
			gotBin <- b
			_ = s.Emit("bin-back", []byte{9, 8}, map[string]any{"nested": []byte{7}, "n": 1.5})
		})
		s.On("shout", func(e *socketio.Event) { _ = io.To("room").Emit("shouted", e.Args) })
	})
	a := dialMsgpack(t, url)
	a.connect("/")
	sa := recv(t, socks, "a's socket")
	b := dialMsgpack(t, url)
	b.connect("/")

	// An event with an ack; the client's options map is ignored.
	a.send(map[string]any{"type": 2, "nsp": "/", "id": 5, "data": []any{"echo", "x", int64(-3), map[string]any{"k": []any{true, nil}}},
		"options": map[string]any{"compress": true}})
	a.expect(map[string]any{"type": int64(3), "nsp": "/", "id": int64(5), "data": []any{"x", int64(-3), map[string]any{"k": []any{true, nil}}}})

	// Binary both ways, nested binary as native bin.
	a.send(map[string]any{"type": 2, "nsp": "/", "data": []any{"bin", "label", []byte{1, 2, 3}}})
	if got := <-gotBin; string(got) != "\x01\x02\x03" {
		t.Fatalf("handler got %v", got)
	}
	a.expect(map[string]any{"type": int64(2), "nsp": "/", "data": []any{"bin-back", []byte{9, 8}, map[string]any{"n": 1.5, "nested": []byte{7}}}})

	// A broadcast to a room, a received binary argument passed on.
	a.send(map[string]any{"type": 2, "nsp": "/", "data": []any{"shout", []byte{5}, "hi"}})
	want := map[string]any{"type": int64(2), "nsp": "/", "data": []any{"shouted", []byte{5}, "hi"}}
	a.expect(want)
	b.expect(want)

	// A server-to-client ack, answered with binary.
	done := make(chan socketio.Args, 1)
	go func() {
		args, err := sa.EmitWithAck(t.Context(), "ask", "q")
		if err == nil {
			done <- args
		}
	}()
	p := a.next()
	if d, _ := p["data"].([]any); len(d) != 2 || d[0] != "ask" || p["id"] == nil {
		t.Fatalf("want the ask event, got %#v", p)
	}
	a.send(map[string]any{"type": 3, "nsp": "/", "id": p["id"], "data": []any{"answer", []byte{4}}})
	args := recv(t, done, "the ack")
	if s, _ := args.String(0); s != "answer" {
		t.Fatalf("ack %s", args.Raw(0))
	}
	if bin, ok := args.Bytes(1); !ok || string(bin) != "\x04" {
		t.Fatalf("ack binary %v %v", bin, ok)
	}

	// A namespace that does not exist.
	a.send(map[string]any{"type": 0, "nsp": "/nowhere"})
	a.expect(map[string]any{"type": int64(4), "nsp": "/nowhere", "data": map[string]any{"message": "Invalid namespace"}})
}

func TestMsgpackParserClosesOnBadInput(t *testing.T) {
	io, url := newServer(t, &socketio.Options{Parser: socketio.MsgpackParser})
	io.OnConnection(func(s *socketio.Socket) {
		s.On("echo", func(e *socketio.Event) { _ = e.Ack(e.Args) })
	})
	good := dialMsgpack(t, url)
	good.connect("/")
	for name, send := range map[string]func(m mp){
		"text message":      func(m mp) { m.c.Send(`42["echo"]`) },
		"malformed msgpack": func(m mp) { m.c.SendBinary([]byte{0x85, 0xa4, 't'}) },
		"type a string":     func(m mp) { m.send(map[string]any{"type": "2", "nsp": "/", "data": []any{"echo"}}) },
		"nsp not a string":  func(m mp) { m.send(map[string]any{"type": 2, "nsp": 7, "data": []any{"echo"}}) },
		"data not an array": func(m mp) { m.send(map[string]any{"type": 2, "nsp": "/", "data": "echo"}) },
		"declared 4 GB str": func(m mp) {
			m.c.SendBinary([]byte{0x83, 0xa4, 't', 'y', 'p', 'e', 0x02, 0xa3, 'n', 's', 'p', 0xa1, '/', 0xa4, 'd', 'a', 't', 'a', 0x91, 0xdb, 0xff, 0xff, 0xff, 0xff})
		},
		"deep nesting": func(m mp) {
			b := []byte{0x83, 0xa4, 't', 'y', 'p', 'e', 0x02, 0xa3, 'n', 's', 'p', 0xa1, '/', 0xa4, 'd', 'a', 't', 'a', 0x92, 0xa1, 'x'}
			m.c.SendBinary(append(append(b, bytes.Repeat([]byte{0x91}, 100000)...), 0xc0))
		},
	} {
		t.Run(name, func(t *testing.T) {
			m := dialMsgpack(t, url)
			m.connect("/")
			send(m)
			m.c.WaitClosed()
		})
	}
	good.send(map[string]any{"type": 2, "nsp": "/", "id": 1, "data": []any{"echo", "still here"}})
	good.expect(map[string]any{"type": int64(3), "nsp": "/", "id": int64(1), "data": []any{"still here"}})
}
