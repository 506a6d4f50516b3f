package socketio_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/heraldio/herald/socketio"
	"github.com/heraldio/herald/test/support"
)

// handshake reads a CONNECT reply with state recovery on.
func handshake(t *testing.T, c *support.Conn) (sid, pid string) {
	t.Helper()
	return parseHandshake(t, c.Expect("40"))
}

func parseHandshake(t *testing.T, reply string) (sid, pid string) {
	t.Helper()
	var hs struct{ SID, PID string }
	if err := json.Unmarshal([]byte(reply[2:]), &hs); err != nil || hs.SID == "" || hs.PID == "" {
		t.Fatalf("CONNECT reply %q: %v", reply, err)
	}
	return hs.SID, hs.PID
}

// offsetOf returns the offset, the last argument, of an event frame.
func offsetOf(t *testing.T, frame string) string {
	t.Helper()
	var arr []any
	if err := json.Unmarshal([]byte(frame[2:]), &arr); err != nil || len(arr) == 0 {
		t.Fatalf("event %q: %v", frame, err)
	}
	off, ok := arr[len(arr)-1].(string)
	if !ok {
		t.Fatalf("event %q has no offset", frame)
	}
	return off
}

func memAdapter(io *socketio.Server) *socketio.MemoryAdapter {
	return io.Of("/").Adapter().(*socketio.MemoryAdapter)
}

func TestRecoveryBufferBoundedByBytes(t *testing.T) {
	const bound = 64 << 10
	io, _ := newServer(t, &socketio.Options{Recovery: &socketio.RecoveryOptions{MaxBufferBytes: bound}})
	a := memAdapter(io)
	text := strings.Repeat("x", 4000)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var peak int64
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				_ = io.To("user:1").Emit("message", text)
				if b := a.RecoveryStats().Bytes; b > 0 {
					mu.Lock()
					peak = max(peak, b)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	st := a.RecoveryStats()
	if peak > bound || st.Bytes > bound {
		t.Fatalf("buffer reached %d bytes (now %+v), bound %d", peak, st, bound)
	}
	if st.Packets < 10 || st.Dropped == 0 || st.Dropped+uint64(st.Packets) != 800 {
		t.Fatalf("stats %+v: want the newest packets kept and the rest dropped", st)
	}
}

func TestRecoveryAfterDrops(t *testing.T) {
	const bound = 16 << 10
	load := func(io *socketio.Server) { // 40 kB: more than the bound
		for i := 0; i < 20; i++ {
			_ = io.To("elsewhere").Emit("load", strings.Repeat("y", 2000))
		}
	}
	for _, tc := range []struct {
		name          string
		withOffset    bool
		loadBefore    bool // load before the client's last packet
		loadAfter     bool // load while the client is away
		wantRecovered bool
	}{
		{"offset dropped", true, false, true, false},
		{"offset kept", true, true, false, true},
		{"no offset, missed packets dropped", false, false, true, false},
		{"no offset, nothing dropped", false, true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			io, url := newServer(t, &socketio.Options{Recovery: &socketio.RecoveryOptions{MaxBufferBytes: bound}})
			a := memAdapter(io)
			recovered := make(chan bool, 2)
			io.OnConnection(func(s *socketio.Socket) {
				if !s.Recovered() {
					s.Join("room")
				}
				recovered <- s.Recovered()
			})
			c := dial(t, url)
			c.Send("40")
			sid, pid := handshake(t, c)
			<-recovered
			if tc.loadBefore {
				load(io)
			}
			auth := `{"pid":"` + pid + `"}`
			if tc.withOffset {
				_ = io.To("room").Emit("m", 1)
				off := offsetOf(t, c.Expect(`42["m",1,`))
				auth = `{"pid":"` + pid + `","offset":"` + off + `"}`
			}
			c.Close()
			waitFor(t, "session kept", func() bool { return a.RecoveryStats().Sessions == 1 })
			_ = io.To("room").Emit("m", 2)
			if tc.loadAfter {
				load(io)
			}
			c2 := dial(t, url)
			c2.Send("40" + auth)
			var replayed []string
			f := c2.Next()
			for ; !strings.HasPrefix(string(f.Data), "40"); f = c2.Next() {
				replayed = append(replayed, string(f.Data))
			}
			sid2, pid2 := parseHandshake(t, string(f.Data))
			got := <-recovered
			if got != tc.wantRecovered {
				t.Fatalf("Recovered() = %v, want %v (replayed %.60q)", got, tc.wantRecovered, replayed)
			}
			if tc.wantRecovered && (len(replayed) != 1 || !strings.HasPrefix(replayed[0], `42["m",2,`)) {
				t.Fatalf("replayed %.60q, want m 2", replayed)
			}
			if tc.wantRecovered != (sid2 == sid) || tc.wantRecovered != (pid2 == pid) {
				t.Fatalf("ids after reconnect: sid %s→%s pid %s→%s", sid, sid2, pid, pid2)
			}
			if !tc.wantRecovered && len(replayed) > 0 {
				t.Fatalf("fresh session got %d replayed packets", len(replayed))
			}
			if st := a.RecoveryStats(); st.Bytes > bound || st.Dropped == 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestRecoveryRunsMiddlewares(t *testing.T) {
	io, url := newServer(t, &socketio.Options{Recovery: &socketio.RecoveryOptions{RunMiddlewares: true}})
	type seen struct {
		recovered bool
		user      any
	}
	mw := make(chan seen, 4)
	io.Use(func(s *socketio.Socket) error {
		var auth struct{ Token string }
		_ = s.Handshake().BindAuth(&auth)
		u, _ := s.Get("user")
		mw <- seen{s.Recovered(), u}
		if auth.Token != "ok" {
			return &socketio.ConnectError{Message: "Invalid token"}
		}
		if !s.Recovered() {
			s.Set("user", "u1")
		}
		return nil
	})
	connected := make(chan bool, 4)
	io.OnConnection(func(s *socketio.Socket) {
		if !s.Recovered() {
			s.Join("room")
		}
		connected <- s.Recovered()
	})
	reconnect := func(c *support.Conn, pid, token string) *support.Conn {
		_ = io.To("room").Emit("m", 1)
		off := offsetOf(t, c.Expect(`42["m",1,`))
		c.Close()
		waitFor(t, "session kept", func() bool { return memAdapter(io).RecoveryStats().Sessions == 1 })
		c2 := dial(t, url)
		c2.Send(`40{"pid":"` + pid + `","offset":"` + off + `","token":"` + token + `"}`)
		return c2
	}

	c := dial(t, url)
	c.Send(`40{"token":"ok"}`)
	sid, pid := handshake(t, c)
	if s := <-mw; s.recovered || s.user != nil {
		t.Fatalf("first connection: middleware saw %+v", s)
	}
	<-connected

	// A recovered session goes through the middleware with its data.
	c = reconnect(c, pid, "ok")
	if sid2, _ := handshake(t, c); sid2 != sid {
		t.Fatalf("not recovered: sid %s, want %s", sid2, sid)
	}
	if s := <-mw; !s.recovered || s.user != "u1" {
		t.Fatalf("recovery: middleware saw %+v", s)
	}
	if !<-connected {
		t.Fatal("socket not marked recovered")
	}

	// A middleware error refuses the recovered connection.
	c = reconnect(c, pid, "expired")
	c.ExpectExact(`44{"message":"Invalid token"}`)
	if s := <-mw; !s.recovered || s.user != "u1" {
		t.Fatalf("refused recovery: middleware saw %+v", s)
	}
	select {
	case r := <-connected:
		t.Fatalf("refused socket connected (recovered %v)", r)
	default:
	}
	// The session is kept before the closed socket leaves the namespace:
	// wait for it to go rather than catch it on the way out.
	waitFor(t, "no socket after the refusal", func() bool { return len(io.Sockets()) == 0 })
}

// EmitTransient reaches the client at once and is not kept for recovery;
// Emit is.
func TestEmitTransientIsNotRecorded(t *testing.T) {
	io, url := newServer(t, &socketio.Options{Recovery: &socketio.RecoveryOptions{}})
	io.OnConnection(func(s *socketio.Socket) {
		_ = s.EmitTransient("snapshot", strings.Repeat("s", 1000))
		_ = s.Emit("kept", 1)
	})
	c := dial(t, url)
	c.Connect("/", "")
	c.ExpectExact(`42["snapshot","` + strings.Repeat("s", 1000) + `"]`) // no offset
	c.Expect(`42["kept",1,"`)                                           // with its offset
	if st := memAdapter(io).RecoveryStats(); st.Packets != 1 {
		t.Fatalf("recovery keeps %d packets, want the Emit alone", st.Packets)
	}
}

// plainAdapter is an Adapter without the optional capabilities of the
// MemoryAdapter it wraps.
type plainAdapter struct{ socketio.Adapter }

// Recovery needs a SessionAwareAdapter: with another adapter, sessions
// are neither kept nor restored (the client gets a fresh session).
func TestRecoveryNeedsASessionAwareAdapter(t *testing.T) {
	io, url := newServer(t, &socketio.Options{
		Recovery: &socketio.RecoveryOptions{},
		Adapter:  func(n *socketio.Namespace) socketio.Adapter { return plainAdapter{socketio.NewMemoryAdapter(n)} },
	})
	c := dial(t, url)
	c.Send("40")
	sid, pid := handshake(t, c)
	c.Close()
	waitFor(t, "the socket gone", func() bool { return len(io.Sockets()) == 0 })
	c2 := dial(t, url)
	c2.Send(`40{"pid":"` + pid + `"}`)
	if sid2, pid2 := handshake(t, c2); sid2 == sid || pid2 == pid {
		t.Fatalf("recovered without a SessionAwareAdapter: %s %s", sid2, pid2)
	}
}

// TestRecoveryReplaysWhatWasSentToTheSocketsOwnRoom: a broadcast to the
// socket's id while it is away is among the packets a restored session
// replays, as with the reference's in-memory adapter.
func TestRecoveryReplaysWhatWasSentToTheSocketsOwnRoom(t *testing.T) {
	io, url := newServer(t, &socketio.Options{Recovery: &socketio.RecoveryOptions{}})
	a := memAdapter(io)
	recovered := make(chan bool, 2)
	io.OnConnection(func(s *socketio.Socket) { recovered <- s.Recovered() })
	c := dial(t, url)
	c.Send("40")
	sid, pid := handshake(t, c)
	<-recovered
	c.Close()
	waitFor(t, "session kept", func() bool { return a.RecoveryStats().Sessions == 1 })
	_ = io.To(sid).Emit("direct", 1)
	_ = io.To("elsewhere").Emit("other", 2)

	c2 := dial(t, url)
	c2.Send(`40{"pid":"` + pid + `"}`)
	var replayed []string
	f := c2.Next()
	for ; !strings.HasPrefix(string(f.Data), "40"); f = c2.Next() {
		replayed = append(replayed, string(f.Data))
	}
	if sid2, _ := parseHandshake(t, string(f.Data)); sid2 != sid || !<-recovered {
		t.Fatalf("not recovered: sid %s→%s", sid, sid2)
	}
	if len(replayed) != 1 || !strings.HasPrefix(replayed[0], `42["direct",1,`) {
		t.Fatalf("replayed %q, want the event sent to the socket's id", replayed)
	}
}
