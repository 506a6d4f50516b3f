package support

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
)

// RedisURL is the test Redis: HERALD_TEST_REDIS, or the local default.
func RedisURL() string {
	if u := os.Getenv("HERALD_TEST_REDIS"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// RedisClient connects to url, failing the test if Redis does not answer, and
// closes at the end of the test.
func RedisClient(t testing.TB, url string) *redis.Client {
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

// UniqueKey returns a key (or prefix) no other test run uses.
func UniqueKey() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "herald-test-" + hex.EncodeToString(b)
}
