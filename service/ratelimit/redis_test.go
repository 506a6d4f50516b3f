package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldio/herald/test/support"
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

// A hung Redis (SIGSTOP) does not stall the callers: Allow answers within
// a small bound, then at once while Redis is known to be down, and the
// limit is kept locally meanwhile.
func TestSharedHungRedis(t *testing.T) {
	srv := support.StartRedis(t)
	// The client as the service makes it from a URL: go-redis defaults,
	// which ignore the context's deadline.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	s := NewShared(rdb, support.UniqueKey(), 3, time.Minute)
	ctx := context.Background()
	if n := allowShared(s, "warm", 5); n != 3 {
		t.Fatalf("healthy: allowed %d of 5, want 3", n)
	}
	// On a loaded machine a healthy Redis may miss the 50 ms bound and the
	// warm-up be decided locally: wait until Redis decides again, so the
	// counts below are the hang's alone.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		remote := s.Stats().Remote
		s.Allow(ctx, "warm-again")
		if s.Stats().Remote > remote {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthy Redis never decided: %+v", s.Stats())
		}
	}
	st0 := s.Stats()
	srv.Pause()
	t.Cleanup(srv.Resume) // before the server is killed
	start := time.Now()
	allowed := 0
	for i := 0; i < 20; i++ {
		call := time.Now()
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		if s.Allow(cctx, "hung") {
			allowed++
		}
		cancel()
		if d := time.Since(call); d > 500*time.Millisecond {
			t.Fatalf("call %d took %v while Redis was hung", i, d)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("20 calls took %v while Redis was hung", d)
	}
	if allowed != 3 {
		t.Fatalf("while Redis was hung: allowed %d of 20, want the limit of 3 kept locally", allowed)
	}
	if st := s.Stats(); st.Local-st0.Local != 20 || st.Failures-st0.Failures < 1 || st.Failures-st0.Failures > 3 {
		t.Fatalf("stats %+v: want 20 local decisions after a failure, and no call while known down", st)
	}
	// Back: a probe after the back-off finds Redis and counts there again.
	srv.Resume()
	remote := s.Stats().Remote
	for deadline := time.Now().Add(10 * time.Second); s.Stats().Remote == remote; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Redis never used again: %+v", s.Stats())
		}
		s.Allow(ctx, "back")
	}
	// Dead: refused at once, local too.
	srv.Kill()
	start = time.Now()
	if n := allowShared(s, "dead", 20); n != 3 {
		t.Fatalf("while Redis was dead: allowed %d of 20, want 3", n)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("20 calls took %v while Redis was dead", d)
	}
}

// The local estimate goes on from Redis's count: a user who used the
// budget before the outage does not get a fresh one.
func TestSharedLocalEstimateStartsFromRedis(t *testing.T) {
	srv := support.StartRedis(t)
	s := NewSharedWith(srv.Client(), SharedOptions{Prefix: support.UniqueKey(), Limit: 5, Window: time.Minute})
	if n := allowShared(s, "u", 4); n != 4 {
		t.Fatalf("healthy: %d of 4", n)
	}
	srv.Kill()
	if n := allowShared(s, "u", 5); n != 1 {
		t.Fatalf("after the outage began: allowed %d more, want 1", n)
	}
}

func allowShared(s *Shared, key string, n int) int {
	ok := 0
	for i := 0; i < n; i++ {
		if s.Allow(context.Background(), key) {
			ok++
		}
	}
	return ok
}
