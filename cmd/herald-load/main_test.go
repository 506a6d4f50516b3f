package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/heraldio/herald/service"
	"github.com/heraldio/herald/service/servicetest"
)

// startHerald runs the service in process on SQLite with the benchmark's
// limits and returns its base URL and database path.
func startHerald(t *testing.T, secret string) (url, db string) {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{
		"HERALD_ADDR": "127.0.0.1:0", "HERALD_DATA_DIR": dir, "HERALD_JWT_SECRET": secret,
		"HERALD_RATE_LIMITS":       "send-message=100000:100000,default=100000:100000",
		"HERALD_USER_MESSAGE_RATE": "1000000/1s", "HERALD_MAX_CONNECTIONS_PER_USER": "1000",
		"HERALD_CONN_PER_IP_PER_MINUTE": "1000000",
	}
	cfg, err := service.Load(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(context.Background(), cfg, service.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	return servicetest.Listen(t, svc), cfg.DatabaseURL
}

// TestModes runs each mode briefly against the service: every message sent
// is acked, delivered to every user and stored; the history walk reads
// every filled message; every presence user connects. No timing is
// asserted.
func TestModes(t *testing.T) {
	const secret = "herald-load-test-secret-0123456789abcdef"
	url, db := startHerald(t, secret)
	base := config{urls: []string{url}, secret: secret, src: 1, users: 10, senders: 2, rate: 40,
		duration: time.Second, payload: 16, steps: 2, maxP99: time.Second, n: 30, within: 500 * time.Millisecond,
		limit: 50}
	ctx := context.Background()

	c := base
	c.mode = "chat"
	r, err := run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	chat := r.(chatResult)
	if chat.Sent == 0 || chat.Acked != chat.Sent || chat.Lost != 0 || chat.Refused != 0 || chat.Stored != int(chat.Acked) {
		t.Errorf("chat: %+v", chat)
	}

	c.mode = "chatmax"
	r, err = run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if m := r.(maxResult); len(m.Steps) < 2 || len(m.Steps) > 4 {
		t.Errorf("chatmax: %d steps tried, want 2 rates tried once or twice", len(m.Steps))
	}

	c = base
	c.mode, c.fillDB, c.schema, c.fill = "history", db, "herald", 420
	r, err = run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if h := r.(historyResult); h.Messages != 420 || h.Pages < 9 {
		t.Errorf("history: %+v", h)
	}

	for _, form := range []string{"changes", "updates"} {
		c = base
		c.mode, c.form = "presence", form
		r, err = run(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		// Each gets one list or page, with itself at least. The first run
		// hears every arrival at least once; in the second the same users
		// are still online (their grace), and no one arrives.
		p := r.(presenceResult)
		if p.Connected != 30 || p.Failed != 0 || p.Dropped != 0 || p.Lists != 30 || p.Listed < 30 || form == "changes" && p.Updates < 30 {
			t.Errorf("presence %s: %+v", form, p)
		}
	}
}
