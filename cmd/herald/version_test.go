package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReadyURL(t *testing.T) {
	for addr, want := range map[string]string{
		"":               "http://127.0.0.1:8080/readyz",
		":9000":          "http://127.0.0.1:9000/readyz",
		"0.0.0.0:9000":   "http://127.0.0.1:9000/readyz",
		"[::]:9000":      "http://[::1]:9000/readyz",
		"10.1.2.3:9000":  "http://10.1.2.3:9000/readyz",
		"localhost:9000": "http://localhost:9000/readyz",
	} {
		got, err := readyURL(addr)
		if err != nil || got != want {
			t.Errorf("readyURL(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
	if _, err := readyURL("no-port"); err == nil || !strings.Contains(err.Error(), "HERALD_ADDR") {
		t.Errorf("readyURL(no-port) error = %v, want one naming HERALD_ADDR", err)
	}
}

func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	env := func(k string) string {
		if k == "HERALD_ADDR" {
			return addr
		}
		return ""
	}
	if rc := healthcheck(nil, env); rc != 0 {
		t.Errorf("ready server: exit %d, want 0", rc)
	}
	status = http.StatusServiceUnavailable
	if rc := healthcheck(nil, env); rc != 1 {
		t.Errorf("server answering 503: exit %d, want 1", rc)
	}
	srv.Close()
	if rc := healthcheck(nil, env); rc != 1 {
		t.Errorf("no server: exit %d, want 1", rc)
	}
	bad := func(string) string { return "no-port" }
	if rc := healthcheck(nil, bad); rc != 2 {
		t.Errorf("bad HERALD_ADDR: exit %d, want 2", rc)
	}
	if rc := healthcheck([]string{"-nope"}, env); rc != 2 {
		t.Errorf("unknown flag: exit %d, want 2", rc)
	}
}

func TestBuildInfoSetByRelease(t *testing.T) {
	defer func(v, c, d string) { version, commit, date = v, c, d }(version, commit, date)
	version, commit, date = "v1.2.3", "abc123", "2026-12-01T00:00:00Z"
	v, c, d := buildInfo()
	if v != "v1.2.3" || c != "abc123" || d != "2026-12-01T00:00:00Z" {
		t.Errorf("buildInfo() = %q %q %q", v, c, d)
	}
	version, commit, date = "", "", ""
	if v, c, d := buildInfo(); v == "" || c == "" || d == "" {
		t.Errorf("buildInfo() without release flags = %q %q %q, want every part filled", v, c, d)
	}
}
