package support_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldio/herald/test/support"
)

// A private server can be hung, resumed and restarted empty.
func TestServerPauseResumeRestart(t *testing.T) {
	s := support.StartRedis(t)
	c := s.Client()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Pause()
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	err := c.Get(short, "k").Err()
	cancel()
	if err == nil {
		t.Fatal("a paused server answered")
	}
	s.Resume()
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("after resume: %q %v", v, err)
	}
	s.Restart()
	var v string
	for i := 0; i < 20; i++ { // the client reconnects
		if v, err = c.Get(ctx, "k").Result(); err == nil || errors.Is(err, redis.Nil) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !errors.Is(err, redis.Nil) {
		t.Fatalf("after restart the data is still there: %q %v", v, err)
	}
	if support.RedisURL() == s.URL() {
		t.Fatal("the private server is the shared one")
	}
}
