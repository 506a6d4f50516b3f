package socketio_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/socketio"
)

// recorder is a Monitor that writes down what it is told.
type recorder struct {
	mu  sync.Mutex
	log []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.log = append(r.log, s)
	r.mu.Unlock()
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.log, " ")
}

func (r *recorder) monitor() *socketio.Monitor {
	return &socketio.Monitor{
		ConnOpened:   func(*engineio.Conn) { r.add("open") },
		ConnClosed:   func(_ *engineio.Conn, reason socketio.Reason) { r.add("close:" + string(reason)) },
		Connected:    func(s *socketio.Socket) { r.add("connected:" + s.Namespace().Name()) },
		Disconnected: func(s *socketio.Socket, reason socketio.Reason) { r.add("disconnected:" + string(reason)) },
		Joined:       func(s *socketio.Socket, room string) { r.add("joined:" + room) },
		Left:         func(s *socketio.Socket, room string) { r.add("left:" + room) },
		Received:     func(e *socketio.Event) { r.add("event:" + e.Name + ":" + string(e.Args.Raw(0))) },
	}
}

func TestMonitor(t *testing.T) {
	io, url := newServer(t, nil)
	io.On("join", func(e *socketio.Event) {
		r, _ := e.Args.String(0)
		e.Socket.Join(r, r, e.Socket.ID()) // twice, and its own: joined once
		_ = e.Ack()
	})
	io.On("leave", func(e *socketio.Event) {
		r, _ := e.Args.String(0)
		e.Socket.Leave(r, "not-in-it")
		_ = e.Ack()
	})
	var rec recorder
	remove := io.AddMonitor(rec.monitor())
	if io.Namespace("/nowhere") != nil || io.Namespace("/") == nil || len(io.Namespaces()) != 1 {
		t.Fatal("Namespace, Namespaces")
	}

	c := dial(t, url)
	sid := c.Connect("/", "")
	c.Send(`421["join","a"]`)
	c.ExpectExact(`431[]`)
	if err := io.Of("/").SocketsJoin("b"); err != nil {
		t.Fatal(err)
	}
	c.Send(`422["leave","a"]`)
	c.ExpectExact(`432[]`)
	c.Close()
	for !strings.Contains(rec.String(), "close:") {
		time.Sleep(5 * time.Millisecond)
	}
	want := `open connected:/ event:join:"a" joined:a joined:b event:leave:"a" left:a ` +
		"left:SELF left:b disconnected:transport close close:transport close"
	if got := strings.ReplaceAll(rec.String(), sid, "SELF"); got != want {
		t.Fatalf("monitor told\n%s\nwant\n%s", got, want)
	}
	remove()
	dial(t, url).Connect("/", "")
	if got := rec.String(); strings.Count(got, "open") != 1 {
		t.Fatalf("told after remove: %s", got)
	}
}

func TestMonitorSent(t *testing.T) {
	io, url := newServer(t, nil)
	var rec recorder
	io.AddMonitor(&socketio.Monitor{Sent: func(e *socketio.Event) {
		_ = e.Ack("ignored") // the client asked nothing: a no-op
		rec.add(e.Socket.Namespace().Name() + ":" + e.Name + ":" + string(e.Args.Raw(0)) + ":" + strconv.FormatBool(e.HasAck()))
	}})
	acked := make(chan socketio.Args, 1)
	io.On("go", func(e *socketio.Event) {
		s := e.Socket
		_ = s.VolatileEmit("volatile", true) // first: nothing queued, not dropped
		_ = s.Emit("own", 1)
		_ = s.EmitTransient("transient", "t")
		_ = s.Emit("bin", []byte{1, 2})
		_ = io.Emit("broadcast", 2) // not the socket's own: not told
		_ = s.Broadcast().Emit("others", 3)
		go func() {
			a, _ := s.EmitWithAck(context.Background(), "ask", "q")
			acked <- a
		}()
	})
	c := dial(t, url)
	c.Connect("/", "")
	c.Send(`42["go"]`)
	c.ExpectExact(`42["volatile",true]`)
	c.ExpectExact(`42["own",1]`)
	c.ExpectExact(`42["transient","t"]`)
	c.ExpectExact(`451-["bin",{"_placeholder":true,"num":0}]`)
	if f := c.Next(); !f.Binary {
		t.Fatalf("want the attachment, got %q", f.Data)
	}
	c.ExpectExact(`42["broadcast",2]`)
	ask := c.Expect(`42`)
	c.Send(`43` + strings.TrimSuffix(strings.TrimPrefix(ask, `42`), `["ask","q"]`) + `["ok"]`)
	if a := <-acked; string(a.Raw(0)) != `"ok"` {
		t.Fatalf("ack %v", a)
	}
	want := `/:volatile:true:false /:own:1:false /:transient:"t":false /:bin:{"_placeholder":true,"num":0}:false /:ask:"q":true`
	if got := rec.String(); got != want {
		t.Fatalf("monitor told\n%s\nwant\n%s", got, want)
	}
}
