package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// "herald config check" prints the effective config with secrets masked
// and exits non-zero, naming the key and line, on a bad file.
func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(good, []byte("addr: 0.0.0.0:9000\njwt-secret: top-secret-value\nredis-url: redis://:pw@r:6379\n"), 0o600)
	_ = os.WriteFile(bad, []byte("addr: 0.0.0.0:9000\nmax-payload: big\n"), 0o600)
	env := func(k string) string {
		if k == "HERALD_API_KEY" {
			return "key-from-env"
		}
		return ""
	}
	cases := []struct {
		name    string
		args    []string
		code    int
		out     []string
		err     string
		notSeen []string
	}{
		{"good", []string{"check", good}, 0, []string{"addr: 0.0.0.0:9000", `api-key: "********" # HERALD_API_KEY`, "redis://:xxxxx@r:6379"}, "",
			[]string{"top-secret-value", "key-from-env", ":pw@"}},
		{"flag over file", []string{"check", good, "-addr=127.0.0.1:7000"}, 0, []string{"addr: 127.0.0.1:7000 # flag -addr"}, "", nil},
		{"bad value", []string{"check", bad}, 1, nil, "bad.yaml line 2: max-payload", nil},
		{"missing file", []string{"check", filepath.Join(dir, "none.yaml")}, 1, nil, "none.yaml", nil},
		{"bad flag", []string{"check", good, "-no-such-flag"}, 1, nil, "no-such-flag", nil},
		{"no file", []string{"check"}, 2, nil, "usage", nil},
		{"not check", []string{"show", good}, 2, nil, "usage", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := config(tc.args, &out, &errOut, env); code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tc.code, errOut.String())
			}
			for _, w := range tc.out {
				if !strings.Contains(out.String(), w) {
					t.Errorf("want %q in:\n%s", w, out.String())
				}
			}
			for _, w := range tc.notSeen {
				if strings.Contains(out.String(), w) {
					t.Errorf("%q shown:\n%s", w, out.String())
				}
			}
			if !strings.Contains(errOut.String(), tc.err) {
				t.Errorf("stderr %q, want %q", errOut.String(), tc.err)
			}
		})
	}
}
