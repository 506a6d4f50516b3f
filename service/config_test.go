package service

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldio/herald/socketio"
)

// writeConfig writes a config file in a test directory.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "herald.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A flag wins over the environment, which wins over the file, which wins
// over the default; each source is named in the effective config.
func TestConfigPrecedence(t *testing.T) {
	file := writeConfig(t, "ping-interval: 7s\nmax-payload: 3000\nlog-level: warn\n")
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want time.Duration
		from string
	}{
		{"default", nil, nil, 25 * time.Second, "default"},
		{"file", []string{"-config", file}, nil, 7 * time.Second, "line 1"},
		{"file named by HERALD_CONFIG", nil, map[string]string{"HERALD_CONFIG": file}, 7 * time.Second, "line 1"},
		{"env over file", []string{"-config", file}, map[string]string{"HERALD_PING_INTERVAL": "8s"}, 8 * time.Second, "HERALD_PING_INTERVAL"},
		{"flag over env and file", []string{"-config", file, "-ping-interval", "9s"},
			map[string]string{"HERALD_PING_INTERVAL": "8s"}, 9 * time.Second, "flag -ping-interval"},
		{"flag over file", []string{"-config", file, "-ping-interval=9s"}, nil, 9 * time.Second, "flag -ping-interval"},
		{"env without file", nil, map[string]string{"HERALD_PING_INTERVAL": "8s"}, 8 * time.Second, "HERALD_PING_INTERVAL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(tc.args, testEnv(t.TempDir())(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.PingInterval != tc.want {
				t.Fatalf("ping interval %v, want %v", c.PingInterval, tc.want)
			}
			var out bytes.Buffer
			if err := c.WriteYAML(&out); err != nil {
				t.Fatal(err)
			}
			line := grepLine(out.String(), "ping-interval:")
			if !strings.Contains(line, "# "+tc.from) && !strings.Contains(line, tc.from) {
				t.Fatalf("source of ping-interval: %q, want %q", line, tc.from)
			}
			if tc.from == "line 1" && (c.MaxPayload != 3000 || c.LogLevel != "warn") {
				t.Fatalf("other file settings: %d %s", c.MaxPayload, c.LogLevel)
			}
		})
	}
}

func grepLine(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// A bad file fails with the file, the line and the key, whatever is wrong
// with it, even where a flag overrides the value.
func TestConfigFileBadInput(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"unknown key", "addr: :9000\nping-intervall: 5s\n", `line 2: unknown key "ping-intervall"`},
		{"wrong type: list", "addr: :9000\ncors-origins: [a, b]\n", "line 2: cors-origins: want a single value"},
		{"wrong type: mapping", "ping-timeout:\n  seconds: 5\n", "line 2: ping-timeout: want a single value"},
		{"wrong type: number", "max-payload: lots\n", `line 1: max-payload: "lots": want a whole number`},
		{"wrong type: boolean", "dev: maybe\n", `line 1: dev: "maybe": want true or false`},
		{"bad duration", "\n\ntyping-timeout: 5 seconds\n", `line 3: typing-timeout: "5 seconds"`},
		{"out of range", "max-sync-rooms: 0\n", "line 1: max-sync-rooms: 0: must be positive"},
		{"negative", "presence-tick: -1s\n", "line 1: presence-tick: -1s: must not be negative"},
		{"coalesce window too long", "coalesce-window: 5s\n", "line 1: coalesce-window: 5s: must be at most 1s"},
		{"not a choice", "redis-adapter: kafka\n", `line 1: redis-adapter: "kafka": want one of`},
		{"not a parser", "parser: protobuf\n", `line 1: parser: "protobuf": want one of json, msgpack`},
		{"bad address", "debug-addr: nowhere\n", `line 1: debug-addr: "nowhere": want host:port`},
		{"given twice", "addr: :1\naddr: :2\n", "line 2: addr: given twice (first on line 1)"},
		{"not a mapping", "- addr\n", "line 1: want a mapping"},
		{"not YAML", "addr: [\n", "yaml:"},
		{"bad rate limits", "rate-limits: send-message=fast\n", "line 1: rate-limits"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := writeConfig(t, tc.body)
			_, err := Load([]string{"-config", file}, testEnv(t.TempDir())(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), file) {
				t.Fatalf("error %v, want it to name %s and say %q", err, file, tc.want)
			}
			if _, err := Check([]string{"-config", file}, testEnv(t.TempDir())(nil)); err == nil {
				t.Fatal("Check accepted it")
			}
		})
	}
	t.Run("overridden by a flag", func(t *testing.T) {
		file := writeConfig(t, "max-payload: lots\n")
		if _, err := Load([]string{"-config", file, "-max-payload=10"}, testEnv(t.TempDir())(nil)); err == nil {
			t.Fatal("a bad value under a flag accepted")
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "none.yaml")
		if _, err := Load([]string{"-config", missing}, testEnv(t.TempDir())(nil)); err == nil || !strings.Contains(err.Error(), "none.yaml") {
			t.Fatalf("missing file: %v", err)
		}
		dir := t.TempDir() // a directory cannot be read as a file
		if _, err := Load([]string{"-config", dir}, testEnv(t.TempDir())(nil)); err == nil {
			t.Fatal("a directory read as a config file")
		}
	})
	t.Run("empty file", func(t *testing.T) {
		if _, err := Load([]string{"-config", writeConfig(t, "# nothing\n")}, testEnv(t.TempDir())(nil)); err != nil {
			t.Fatal(err)
		}
	})
}

// Bad environment values are errors naming the variable, not silently
// replaced by the default.
func TestConfigEnvBadInput(t *testing.T) {
	cases := []struct{ env, value, want string }{
		{"HERALD_COALESCE_WINDOW", "abc", `HERALD_COALESCE_WINDOW="abc"`},
		{"HERALD_COALESCE_WINDOW", "10", `HERALD_COALESCE_WINDOW="10"`}, // a duration needs a unit
		{"HERALD_COALESCE_WINDOW", "-5ms", "HERALD_COALESCE_WINDOW: -5ms: must not be negative"},
		{"HERALD_COALESCE_WINDOW", "2s", "HERALD_COALESCE_WINDOW: 2s: must be at most 1s"},
		{"HERALD_DEBUG_ADDR", "nonsense", `HERALD_DEBUG_ADDR: "nonsense": want host:port`},
		{"HERALD_DEBUG_ADDR", "127.0.0.1:99999", `HERALD_DEBUG_ADDR: "127.0.0.1:99999": want host:port`},
		{"HERALD_DEBUG_ADDR", "127.0.0.1:pprof", `HERALD_DEBUG_ADDR: "127.0.0.1:pprof"`},
		{"HERALD_MAX_PAYLOAD", "1e6", `HERALD_MAX_PAYLOAD="1e6": want a whole number`},
		{"HERALD_MAX_PAYLOAD", "99999999999999999999", "out of range"},
		{"HERALD_DEV", "yes please", `HERALD_DEV="yes please": want true or false`},
		{"HERALD_PING_TIMEOUT", "0s", "HERALD_PING_TIMEOUT: 0s: must be positive"},
		{"HERALD_PRESENCE_AUDIENCE", "friends", "HERALD_PRESENCE_AUDIENCE"},
		{"HERALD_PARSER", "cbor", `HERALD_PARSER: "cbor": want one of json, msgpack`},
		{"HERALD_PARSER", "MSGPACK", `HERALD_PARSER: "MSGPACK": want one of json, msgpack`},
		{"HERALD_ADDR", "8080", `HERALD_ADDR: "8080": want host:port`},
	}
	for _, tc := range cases {
		t.Run(tc.env+"="+tc.value, func(t *testing.T) {
			_, err := Load(nil, testEnv(t.TempDir())(map[string]string{tc.env: tc.value}))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	for _, ok := range []map[string]string{
		{"HERALD_COALESCE_WINDOW": "0"}, {"HERALD_COALESCE_WINDOW": "1s"}, {"HERALD_DEBUG_ADDR": "127.0.0.1:6060"},
		{"HERALD_DEBUG_ADDR": "localhost:0"}, {"HERALD_DEV": "1"}, {"HERALD_PARSER": "json"}, {"HERALD_PARSER": "msgpack"},
	} {
		if _, err := Load(nil, testEnv(t.TempDir())(ok)); err != nil {
			t.Fatalf("%v: %v", ok, err)
		}
	}
}

// The effective config masks secrets and passwords, and reads back as a
// config file giving the same settings.
func TestConfigWriteYAMLMasksSecrets(t *testing.T) {
	file := writeConfig(t, strings.Join([]string{
		"jwt-secret: s3cret-s3cret-s3cret",
		"api-key: k3y-k3y",
		"database-url: postgres://herald:dbpass@db:5432/herald?sslmode=disable",
		"redis-url: redis://:redispass@cache:6379/0",
		"addr: 0.0.0.0:9000",
		"cors-origins: '*'",
		"presence-tick: 0s",
	}, "\n"))
	c, err := Check([]string{"-config", file}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := c.WriteYAML(&out); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"s3cret", "k3y", "dbpass", "redispass"} {
		if strings.Contains(out.String(), secret) {
			t.Fatalf("%q shown:\n%s", secret, out.String())
		}
	}
	for _, want := range []string{"postgres://herald:xxxxx@db:5432/herald", "redis://:xxxxx@cache:6379/0", `jwt-secret: "********"`} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("want %q in:\n%s", want, out.String())
		}
	}
	// Without the secrets, the output is a config file of its own.
	var kept []string
	for _, l := range strings.Split(out.String(), "\n") {
		if !strings.HasPrefix(l, "jwt-secret:") && !strings.HasPrefix(l, "api-key:") && !strings.HasPrefix(l, "database-url:") &&
			!strings.HasPrefix(l, "redis-url:") && !strings.HasPrefix(l, "data-dir:") {
			kept = append(kept, l)
		}
	}
	again, err := Check([]string{"-config", writeConfig(t, strings.Join(kept, "\n")), "-jwt-secret=x"}, func(string) string { return "" })
	if err != nil {
		t.Fatalf("%v\n%s", err, strings.Join(kept, "\n"))
	}
	if again.Addr != c.Addr || again.CORSOrigins != "*" || again.PresenceTick != 0 || again.PingInterval != c.PingInterval {
		t.Fatalf("round trip: %+v", again)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:p@h/db":               "postgres://u:xxxxx@h/db",
		"postgres://u@h/db?password=p&x=1":  "postgres://u@h/db?password=xxxxx&x=1",
		"host=h user=u password=p dbname=d": "host=h user=u password=xxxxx dbname=d",
		"herald.db":                         "herald.db",
		"redis://:p@h:6379":                 "redis://:xxxxx@h:6379",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// The parser is json unless a setting says msgpack, from any source.
func TestConfigParser(t *testing.T) {
	if p := DefaultConfig().Parser; p != "json" {
		t.Fatalf("default parser %q", p)
	}
	file := writeConfig(t, "parser: msgpack\n")
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, "json"},
		{[]string{"-config", file}, nil, "msgpack"},
		{nil, map[string]string{"HERALD_PARSER": "msgpack"}, "msgpack"},
		{[]string{"-config", file}, map[string]string{"HERALD_PARSER": "json"}, "json"},
		{[]string{"-parser", "json", "-config", file}, nil, "json"},
	} {
		c, err := Load(tc.args, testEnv(t.TempDir())(tc.env))
		if err != nil || c.Parser != tc.want || (parserOf(c.Parser) == socketio.MsgpackParser) != (tc.want == "msgpack") {
			t.Errorf("%v %v: parser %q %v, want %s", tc.args, tc.env, c.Parser, err, tc.want)
		}
	}
}
