package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestSharedAcrossNodes(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatal("redis:", err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	prefix := "herald-test-rl-" + hex.EncodeToString(b)
	// Two nodes, one user: the limit is theirs together.
	a, c := NewShared(rdb, prefix, 10, time.Minute), NewShared(rdb, prefix, 10, time.Minute)
	allowed := 0
	for i := 0; i < 20; i++ {
		l := a
		if i%2 == 1 {
			l = c
		}
		if l.Allow(context.Background(), "user-1:send-message") {
			allowed++
		}
	}
	if allowed != 10 {
		t.Fatalf("allowed %d of 20 across two nodes, want 10", allowed)
	}
	if !a.Allow(context.Background(), "user-2:send-message") {
		t.Fatal("another user is limited too")
	}
	// Redis away: allow, the per-connection buckets still apply.
	down := NewShared(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 50 * time.Millisecond}), prefix, 1, time.Minute)
	if !down.Allow(context.Background(), "x") {
		t.Fatal("an unreachable Redis must not block everyone")
	}
}
