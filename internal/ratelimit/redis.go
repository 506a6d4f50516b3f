package ratelimit

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Shared limits a key (a user and an event) across every node of a
// cluster with a fixed-window counter in Redis: at most Limit calls per
// Window. When Redis cannot be reached it allows (the per-connection
// buckets still apply), so an outage does not silence everyone.
type Shared struct {
	rdb    redis.UniversalClient
	prefix string
	limit  int64
	window time.Duration
}

// NewShared returns a cluster-wide limiter.
func NewShared(rdb redis.UniversalClient, prefix string, limit int, window time.Duration) *Shared {
	return &Shared{rdb: rdb, prefix: prefix, limit: int64(limit), window: window}
}

// Allow counts one call for key and reports whether it is within the limit.
func (s *Shared) Allow(ctx context.Context, key string) bool {
	slot := time.Now().UnixNano() / int64(s.window)
	k := s.prefix + ":" + key + ":" + strconv.FormatInt(slot, 10)
	pipe := s.rdb.TxPipeline()
	incr := pipe.Incr(ctx, k)
	pipe.Expire(ctx, k, s.window+time.Second)
	if _, err := pipe.Exec(ctx); err != nil {
		return true
	}
	return incr.Val() <= s.limit
}
