package service

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/service/servicetest"
	"github.com/heraldio/herald/test/support"
)

func newTestService(t *testing.T, env map[string]string) (*Service, string) {
	t.Helper()
	return newTestServiceWith(t, env, nil)
}

// newTestServiceWith is newTestService with a last change to the
// configuration (fields no flag sets).
func newTestServiceWith(t *testing.T, env map[string]string, change func(*Config)) (*Service, string) {
	t.Helper()
	svc := buildTestService(t, env, change)
	return svc, servicetest.Serve(t, svc)
}

// buildTestService loads env's configuration, applies change, and builds
// the service without serving it.
func buildTestService(t testing.TB, env map[string]string, change func(*Config)) *Service {
	t.Helper()
	cfg, err := Load(nil, servicetest.Env(t, env))
	if err != nil {
		t.Fatal(err)
	}
	if change != nil {
		change(&cfg)
	}
	svc, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func TestConfigValidation(t *testing.T) {
	env := testEnv(t.TempDir())
	if _, err := Load([]string{"-ping-interval=-1s"}, env(nil)); err == nil {
		t.Fatal("negative interval accepted")
	}
	if _, err := Load(nil, env(map[string]string{"HERALD_LOG_FORMAT": "xml"})); err == nil {
		t.Fatal("bad log format accepted")
	}
	if _, err := Load([]string{"-no-such-flag"}, env(nil)); err == nil {
		t.Fatal("unknown flag accepted")
	}
	if _, err := Load(nil, env(map[string]string{"HERALD_REDIS_SUBSCRIPTION_MODE": "private"})); err == nil || !strings.Contains(err.Error(), "HERALD_REDIS_SUBSCRIPTION_MODE") {
		t.Errorf("an unknown subscription mode: %v", err)
	}
	for _, m := range []string{"dynamic", "static", "dynamic-private"} {
		if c, err := Load(nil, env(map[string]string{"HERALD_REDIS_SUBSCRIPTION_MODE": m})); err != nil || c.RedisSubscriptionMode != m {
			t.Errorf("subscription mode %s: %v %v", m, c.RedisSubscriptionMode, err)
		}
	}
	if _, err := Load(nil, env(map[string]string{"HERALD_REDIS_ADAPTER": "kafka"})); err == nil {
		t.Fatal("unknown redis adapter accepted")
	}
	for _, a := range []string{"pubsub", "sharded", "streams", "streams-only"} {
		if c, err := Load(nil, env(map[string]string{"HERALD_REDIS_ADAPTER": a})); err != nil || c.RedisAdapter != a {
			t.Fatalf("redis adapter %s: %v", a, err)
		}
	}
	c, err := Load(nil, env(map[string]string{"HERALD_ADDR": ":9999", "HERALD_MAX_PAYLOAD": "2048"}))
	if err != nil || c.Addr != "127.0.0.1:9999" || c.MaxPayload != 2048 || !c.Dev || c.JWTSecret == "" || c.APIKey == "" {
		t.Fatalf("env config %+v %v", c, err)
	}
	again, _ := Load(nil, env(nil))
	if again.JWTSecret != c.JWTSecret {
		t.Fatal("generated secret not kept across starts")
	}
	prod, err := Load([]string{"-jwt-secret=abc"}, env(nil))
	if err != nil || prod.Dev || prod.APIKey != "" {
		t.Fatalf("a configured secret must not enable dev mode: %+v", prod)
	}
}

func post(t *testing.T, url, auth, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(b, &out)
	return res.StatusCode, out
}

func TestHTTPEndpointsRejectBadInput(t *testing.T) {
	svc, url := newTestService(t, nil)
	for _, tt := range []struct {
		path, auth, body string
		code             int
	}{
		{"/api/dev/token", "", `{"name":"Alice"}`, 200},
		{"/api/dev/token", "", `{"name":""}`, 400},
		{"/api/dev/token", "", `{"name":"<script>"}`, 400},
		{"/api/dev/token", "", `not json`, 400},
		{"/api/dev/token", "", `{"name":"` + strings.Repeat("a", 100) + `"}`, 400},
		{"/api/notifications", "", `{"userId":"a","type":"t","title":"x"}`, 401},
		{"/api/notifications", "Bearer nope", `{"userId":"a","type":"t","title":"x"}`, 401},
		{"/api/notifications", "Bearer " + svc.Config().APIKey, `{"userId":"a","type":"t","title":"x"}`, 202},
		{"/api/notifications", "Bearer " + svc.Config().APIKey, `{"type":"t","title":"x"}`, 400},
		{"/api/notifications", "Bearer " + svc.Config().APIKey, `{"userIds":[],"role":"","type":"t","title":"x"}`, 400},
		{"/api/notifications", "Bearer " + svc.Config().APIKey, `[1,2]`, 400},
	} {
		code, body := post(t, url+tt.path, tt.auth, tt.body)
		if code != tt.code {
			t.Errorf("%s %s: %d %v, want %d", tt.path, tt.body, code, body, tt.code)
		}
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/"} {
		res, err := http.Get(url + p)
		if err != nil || res.StatusCode != 200 {
			t.Errorf("GET %s: %v %v", p, res, err)
		}
		res.Body.Close()
	}
}

func TestDevTokenOffOutsideDevMode(t *testing.T) {
	_, url := newTestService(t, map[string]string{"HERALD_JWT_SECRET": "s3cret-s3cret-s3cret-s3cret-s3cret"})
	if code, _ := post(t, url+"/api/dev/token", "", `{"name":"Alice"}`); code != 404 {
		t.Fatalf("dev token in production: %d", code)
	}
}

// The raw protocol view: auth refusal, then a connected chat socket that
// answers bad events with errors and keeps going.
func TestSocketBadInput(t *testing.T) {
	svc, url := newTestService(t, nil)
	c := support.Dial(t, url, "/socket.io/")
	c.Send(`40/chat,{"token":"garbage"}`)
	c.ExpectExact(`44/chat,{"message":"Invalid token"}`)
	tok, _ := auth.Mint([]byte(svc.Config().JWTSecret), auth.User{ID: "u1", Name: "U1"}, time.Hour)
	c.Connect("/chat", `{"token":"`+tok+`"}`)
	for _, ev := range []string{
		`["send-message"]`, `["send-message",null]`, `["send-message",[1,2]]`, `["join-room",{}]`,
		`["history",{"roomId":"general","before":"not-a-cursor"}]`, `["sync-state",{"lastMessageIds":"x"}]`,
		`["create-room",{"name":""}]`, `["unknown-event",1]`,
	} {
		c.Send(`42/chat,7` + ev)
		if strings.Contains(ev, "unknown-event") {
			continue
		}
		for {
			f := c.Next()
			if strings.HasPrefix(string(f.Data), `43/chat,7`) {
				if !strings.Contains(string(f.Data), `"error"`) {
					t.Errorf("%s: %s", ev, f.Data)
				}
				break
			}
		}
	}
	c.Send(`42/chat,8["rooms:list"]`)
	for {
		f := c.Next()
		if strings.HasPrefix(string(f.Data), `43/chat,8`) {
			if !strings.Contains(string(f.Data), `"general"`) {
				t.Fatalf("rooms: %s", f.Data)
			}
			break
		}
	}
}
