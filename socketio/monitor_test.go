package socketio_test

import (
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
