package socketio_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldio/herald/socketio"
)

// A polling-only client: the whole Socket.IO exchange over HTTP requests,
// binary as base64.
func TestPollingTransport(t *testing.T) {
	srv, url := newServer(t, nil)
	srv.OnConnection(func(s *socketio.Socket) {
		s.On("echo", func(e *socketio.Event) { _ = e.Ack(e.Args) })
	})
	base := url + "/socket.io/?EIO=4&transport=polling"
	res, err := http.Get(base)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var hs struct{ Sid string }
	if err := json.Unmarshal(body[1:], &hs); err != nil {
		t.Fatalf("handshake %q", body)
	}
	u := base + "&sid=" + hs.Sid
	post := func(s string) {
		t.Helper()
		res, err := http.Post(u, "text/plain;charset=UTF-8", strings.NewReader(s))
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("post %q: %v %v", s, res, err)
		}
		res.Body.Close()
	}
	poll := func() string {
		t.Helper()
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	post("40")
	if got := poll(); !strings.HasPrefix(got, `40{"sid":"`) {
		t.Fatalf("connect: %q", got)
	}
	post("421[\"echo\",\"hi\"]\x1e451-2[\"echo\",{\"_placeholder\":true,\"num\":0}]\x1ebAQID")
	if got := poll(); got != "431[\"hi\"]\x1e461-2[{\"_placeholder\":true,\"num\":0}]\x1ebAQID" {
		t.Fatalf("acks: %q", got)
	}
}
