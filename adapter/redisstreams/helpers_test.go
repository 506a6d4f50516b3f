package redisstreams_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/heraldio/herald/socketio"
)

func redisURL() string {
	if u := os.Getenv("HERALD_TEST_REDIS"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

func client(t *testing.T, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis at %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func uniqueKey() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "herald-test-" + hex.EncodeToString(b)
}

type node struct {
	io     *socketio.Server
	url    string
	stream string
}

func join(io *socketio.Server) {
	io.On("join", func(e *socketio.Event) {
		r, _ := e.Args.String(0)
		e.Socket.Join(r)
		_ = e.Ack()
	})
}
