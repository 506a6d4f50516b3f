package api_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldio/herald/test/support"
)

// next returns the next text frame that starts with prefix, skipping
// others (presence lists, updates).
func next(t *testing.T, c *support.Conn, prefix string) string {
	t.Helper()
	for i := 0; i < 100; i++ {
		f := c.Next()
		if !f.Binary && strings.HasPrefix(string(f.Data), prefix) {
			return string(f.Data)
		}
	}
	t.Fatalf("no frame starting with %q", prefix)
	return ""
}

// none fails if a frame starting with prefix arrives within d.
func none(t *testing.T, c *support.Conn, prefix string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		f, ok := c.TryNext(time.Until(deadline))
		if !ok {
			return
		}
		if strings.HasPrefix(string(f.Data), prefix) {
			t.Fatalf("unexpected %q", f.Data)
		}
	}
}

func TestEmitTargets(t *testing.T) {
	n := start(t, nil)
	alice, aliceSID := n.connect("alice", "Alice", "/")
	bob, _ := n.connect("bob", "Bob", "/", "user", "admin")
	carol, _ := n.connect("carol", "Carol", "/chat")
	carol.Send(`42/chat,1["join-room","general"]`)
	next(t, carol, `43/chat,1`)

	for _, tt := range []struct {
		name string
		body map[string]any
		want []*support.Conn // who gets it
		not  []*support.Conn
		nsp  string
	}{
		{"userId", map[string]any{"userId": "alice"}, []*support.Conn{alice}, []*support.Conn{bob}, "/"},
		{"userIds", map[string]any{"userIds": []string{"alice", "bob"}}, []*support.Conn{alice, bob}, nil, "/"},
		{"role", map[string]any{"role": "admin"}, []*support.Conn{bob}, []*support.Conn{alice}, "/"},
		{"room", map[string]any{"room": "user:bob"}, []*support.Conn{bob}, []*support.Conn{alice}, "/"},
		{"rooms", map[string]any{"rooms": []string{"user:bob", "user:alice"}}, []*support.Conn{alice, bob}, nil, "/"},
		{"socketId", map[string]any{"socketId": aliceSID}, []*support.Conn{alice}, []*support.Conn{bob}, "/"},
		{"all", map[string]any{"all": true}, []*support.Conn{alice, bob}, nil, "/"},
		{"all except", map[string]any{"all": true, "except": []string{"role:admin"}}, []*support.Conn{alice}, []*support.Conn{bob}, "/"},
		{"chat room", map[string]any{"room": "room:general", "namespace": "/chat"}, []*support.Conn{carol}, []*support.Conn{alice}, "/chat"},
		{"volatile", map[string]any{"userId": "alice", "volatile": true}, []*support.Conn{alice}, nil, "/"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := map[string]any{"event": "order:created", "data": map[string]any{"orderId": 42, "case": tt.name}}
			for k, v := range tt.body {
				body[k] = v
			}
			code, res := n.call("POST", "/api/v1/emit", body)
			if code != 200 || res["ok"] != true {
				t.Fatalf("emit: %d %v", code, res)
			}
			prefix := `42["order:created"`
			if tt.nsp != "/" {
				prefix = `42` + tt.nsp + `,["order:created"`
			}
			for _, c := range tt.want {
				got := next(t, c, prefix)
				if !strings.Contains(got, `"case":"`+tt.name+`"`) || !strings.Contains(got, `"orderId":42`) {
					t.Fatalf("got %s", got)
				}
			}
			for _, c := range tt.not {
				none(t, c, prefix, 100*time.Millisecond)
			}
		})
	}
}

// Arguments go out as given: several, big numbers intact, and binary
// from {"$binary": base64} as an attachment.
func TestEmitArgsAndBinary(t *testing.T) {
	n := start(t, nil)
	alice, _ := n.connect("alice", "Alice", "/")
	code, res := n.call("POST", "/api/v1/emit", `{"userId":"alice","event":"multi","args":[1, "two", {"n": 12345678901234567890}, null]}`)
	if code != 200 {
		t.Fatalf("%d %v", code, res)
	}
	if got := next(t, alice, `42["multi"`); !strings.HasPrefix(got, `42["multi",1,"two",{"n":12345678901234567890},null,`) {
		t.Fatalf("got %s", got)
	}
	payload := []byte{0, 1, 2, 255}
	b64 := base64.StdEncoding.EncodeToString(payload)
	code, res = n.call("POST", "/api/v1/emit", map[string]any{"userId": "alice", "event": "file",
		"data": map[string]any{"name": "a.bin", "body": map[string]any{"$binary": b64}}})
	if code != 200 {
		t.Fatalf("%d %v", code, res)
	}
	got := next(t, alice, `451-["file"`)
	if !strings.HasPrefix(got, `451-["file",{"body":{"_placeholder":true,"num":0},"name":"a.bin"}`) {
		t.Fatalf("got %s", got)
	}
	if f := alice.Next(); !f.Binary || string(f.Data) != string(payload) {
		t.Fatalf("attachment %v %q", f.Binary, f.Data)
	}
}

var ackID = regexp.MustCompile(`^42(\d+)\["confirm"`)

// A broadcast with acks returns every client's answer, binary included;
// a client that does not answer makes timedOut true with the others'.
func TestEmitWithAck(t *testing.T) {
	n := start(t, nil)
	alice, _ := n.connect("alice", "Alice", "/")
	bob, _ := n.connect("bob", "Bob", "/")
	done := make(chan struct {
		code int
		res  map[string]any
	})
	call := func(body string) {
		go func() {
			code, res := n.call("POST", "/api/v1/emit", body)
			done <- struct {
				code int
				res  map[string]any
			}{code, res}
		}()
	}
	answer := func(c *support.Conn, reply func(id string)) {
		for i := 0; i < 100; i++ {
			if m := ackID.FindStringSubmatch(string(c.Next().Data)); m != nil {
				reply(m[1])
				return
			}
		}
		t.Fatal("no event with an ack id")
	}
	call(`{"userIds":["alice","bob"],"event":"confirm","data":"sure?","ack":{"timeoutMs":5000}}`)
	answer(alice, func(id string) { alice.Send(`43` + id + `["yes",1]`) })
	answer(bob, func(id string) {
		bob.Send(`461-` + id + `[{"_placeholder":true,"num":0}]`)
		bob.SendBinary([]byte("hi"))
	})
	r := <-done
	if r.code != 200 || r.res["timedOut"] != false {
		t.Fatalf("%d %v", r.code, r.res)
	}
	acks := fmt.Sprint(r.res["acks"])
	if !strings.Contains(acks, "[yes 1]") || !strings.Contains(acks, "map[$binary:"+base64.StdEncoding.EncodeToString([]byte("hi"))+"]") {
		t.Fatalf("acks %s", acks)
	}

	call(`{"all":true,"event":"confirm","ack":{"timeoutMs":300}}`)
	answer(alice, func(id string) { alice.Send(`43` + id + `["late but here"]`) })
	answer(bob, func(string) {}) // bob never answers
	r = <-done
	if r.code != 200 || r.res["timedOut"] != true || !strings.Contains(fmt.Sprint(r.res["acks"]), "late but here") {
		t.Fatalf("%d %v", r.code, r.res)
	}
}

// Bad input of every kind gets its 4xx and code; the server goes on.
func TestEmitRejectsBadInput(t *testing.T) {
	n := start(t, nil)
	alice, _ := n.connect("alice", "Alice", "/")
	big := `{"userId":"alice","event":"x","data":"` + strings.Repeat("a", 1<<20) + `"}`
	for _, tt := range []struct {
		name, body string
		headers    map[string]string
		status     int
		code       string
	}{
		{"no key", `{"all":true,"event":"x"}`, map[string]string{"Authorization": ""}, 401, "unauthorized"},
		{"forged key", `{"all":true,"event":"x"}`, map[string]string{"Authorization": "Bearer " + testKey + "x"}, 401, "unauthorized"},
		{"not bearer", `{"all":true,"event":"x"}`, map[string]string{"Authorization": testKey}, 401, "unauthorized"},
		{"malformed", `{"all":true,"event":`, nil, 400, "invalid_json"},
		{"empty", ``, nil, 400, "invalid_json"},
		{"two objects", `{"all":true,"event":"x"}{}`, nil, 400, "invalid_json"},
		{"array", `[1,2]`, nil, 400, "invalid_type"},
		{"unknown field", `{"all":true,"event":"x","evnt":"y"}`, nil, 400, "unknown_field"},
		{"wrong type", `{"all":true,"event":7}`, nil, 400, "invalid_type"},
		{"wrong type in target", `{"userId":["alice"],"event":"x"}`, nil, 400, "invalid_type"},
		{"no target", `{"event":"x"}`, nil, 400, "invalid_target"},
		{"all false", `{"all":false,"event":"x"}`, nil, 400, "invalid_target"},
		{"two targets", `{"userId":"a","role":"admin","event":"x"}`, nil, 400, "invalid_target"},
		{"empty user", `{"userId":"","event":"x"}`, nil, 400, "invalid_field"},
		{"long user", `{"userId":"` + strings.Repeat("u", 129) + `","event":"x"}`, nil, 400, "invalid_field"},
		{"empty list", `{"userIds":[],"event":"x"}`, nil, 400, "invalid_field"},
		{"no event", `{"all":true}`, nil, 400, "invalid_field"},
		{"reserved event", `{"all":true,"event":"disconnect"}`, nil, 400, "invalid_field"},
		{"long event", `{"all":true,"event":"` + strings.Repeat("e", 257) + `"}`, nil, 400, "invalid_field"},
		{"data and args", `{"all":true,"event":"x","data":1,"args":[1]}`, nil, 400, "invalid_field"},
		{"bad base64", `{"all":true,"event":"x","data":{"$binary":"%%%"}}`, nil, 400, "invalid_field"},
		{"ack without timeout", `{"all":true,"event":"x","ack":{}}`, nil, 400, "invalid_field"},
		{"ack too long", `{"all":true,"event":"x","ack":{"timeoutMs":600000}}`, nil, 400, "invalid_field"},
		{"ack unknown field", `{"all":true,"event":"x","ack":{"timeout":5}}`, nil, 400, "unknown_field"},
		{"unknown namespace", `{"all":true,"event":"x","namespace":"/admin"}`, nil, 404, "unknown_namespace"},
		{"oversized", big, nil, 413, "body_too_large"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, res := n.bad("POST", "/api/v1/emit", tt.body, tt.headers)
			e, _ := res["error"].(map[string]any)
			if status != tt.status || e["code"] != tt.code || e["message"] == "" {
				t.Fatalf("%d %v, want %d %s", status, res, tt.status, tt.code)
			}
		})
	}
	for _, tt := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/api/v1/emit", 405, "method_not_allowed"},
		{"POST", "/api/v1/nothing", 404, "not_found"},
	} {
		status, res := n.bad(tt.method, tt.path, "", nil)
		if e, _ := res["error"].(map[string]any); status != tt.status || e["code"] != tt.code {
			t.Errorf("%s %s: %d %v", tt.method, tt.path, status, res)
		}
	}
	// Still serving, and nothing reached the client.
	if code, res := n.call("POST", "/api/v1/emit", `{"userId":"alice","event":"after"}`); code != 200 {
		t.Fatalf("%d %v", code, res)
	}
	for {
		got := next(t, alice, `42["`)
		if strings.HasPrefix(got, `42["after"`) {
			break
		}
		if !strings.HasPrefix(got, `42["presence:`) {
			t.Fatalf("the client got %s", got)
		}
	}
}

func TestDocumentIsServedAndValid(t *testing.T) {
	n := start(t, nil)
	res, err := http.Get(n.url + "/api/openapi.json")
	if err != nil || res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%v %v", res, err)
	}
	res.Body.Close()
	if ok, errs := specValidator(t).ValidateDocument(); !ok {
		for _, e := range errs {
			t.Error(describe(e))
		}
	}
}
