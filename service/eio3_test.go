package service

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/test/support"
)

// HERALD_ALLOW_EIO3 (or allow-eio3 in the file) lets Socket.IO v2 clients
// in, their token in the query: on "/", which the server connects them to,
// and as the auth of "/chat". Off by default: refused as before.
func TestSocketIOv2Clients(t *testing.T) {
	if c, err := Load([]string{"-config", writeConfig(t, "allow-eio3: true\n")}, testEnv(t.TempDir())(nil)); err != nil || !c.AllowEIO3 {
		t.Fatalf("allow-eio3 in the file: %v %v", c.AllowEIO3, err)
	}
	if _, err := Load(nil, testEnv(t.TempDir())(map[string]string{"HERALD_ALLOW_EIO3": "maybe"})); err == nil {
		t.Error("HERALD_ALLOW_EIO3=maybe accepted")
	}
	_, off := newTestService(t, nil)
	res, err := http.Get(off + "/socket.io/?EIO=3&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 400 || string(body) != `{"code":5,"message":"Unsupported protocol version"}` {
		t.Errorf("v2 client with the setting off: %d %s", res.StatusCode, body)
	}

	svc, url := newTestService(t, map[string]string{"HERALD_ALLOW_EIO3": "1"})
	tok, _ := auth.Mint([]byte(svc.Config().JWTSecret), auth.User{ID: "u-v2", Name: "Vee"}, time.Hour)
	c := support.DialEIO3(t, url, "/socket.io/", "")
	c.ExpectExact(`44"Authentication required"`)
	c = support.DialEIO3(t, url, "/socket.io/", "&token=garbage")
	c.ExpectExact(`44"Invalid token"`)

	c = support.DialEIO3(t, url, "/socket.io/", "&token="+tok)
	c.ExpectExact("40")
	c.Send("40/chat?token=" + tok + ",")
	skipTo(t, c, "40/chat,") // past what "/" sends on connect (presence)
	c.Send(`42/chat,1["join-room","general"]`)
	c.Send(`42/chat,2["send-message",{"roomId":"general","content":"from v2 😀"}]`)
	if s := skipTo(t, c, `43/chat,2[`); !strings.Contains(s, `"content":"from v2 😀"`) || !strings.Contains(s, `"name":"Vee"`) {
		t.Fatalf("ack %s", s)
	}
}
