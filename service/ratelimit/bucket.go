package ratelimit

import (
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"time"
)

// Limit is a token-bucket rate: Burst tokens, refilled at Rate per second.
type Limit struct {
	Rate  float64 // tokens per second, > 0
	Burst int     // bucket size, >= 1
}

// PerSecond returns a Limit of n per second with the given burst.
func PerSecond(n float64, burst int) Limit { return Limit{Rate: n, Burst: burst} }

// PerMinute returns a Limit of n per minute with a burst of n.
func PerMinute(n int) Limit { return Limit{Rate: float64(n) / 60, Burst: n} }

func (l Limit) validate() error {
	if !(l.Rate > 0) || math.IsInf(l.Rate, 0) || l.Burst < 1 {
		return fmt.Errorf("ratelimit: invalid limit %g/s burst %d: rate must be positive and finite, burst at least 1", l.Rate, l.Burst)
	}
	return nil
}

// idle is how long an untouched bucket takes to be full again.
func (l Limit) idle() int64 {
	return int64(math.Ceil(float64(l.Burst) / l.Rate * float64(time.Second)))
}

func (l Limit) String() string { return fmt.Sprintf("%g/s burst %d", l.Rate, l.Burst) }

const numShards = 32

// minSweep is the least number of calls between two sweeps of a shard. A
// shard sweeps once it has seen half as many calls as it holds keys, so
// the keys it holds stay within about twice the active ones and each call
// pays O(1) for sweeping on average.
const minSweep = 32

// DefaultMaxKeys is the default cap on the keys a limiter tracks.
const DefaultMaxKeys = 1 << 20

// bucket is one key's state.
type bucket struct {
	tokens float64
	last   int64 // UnixNano of the last update
}

type shard[K comparable] struct {
	mu  sync.Mutex
	m   map[K]bucket
	ops int
}

// buckets is a sharded map of token buckets with lazy eviction.
type buckets[K comparable] struct {
	limit   Limit
	idle    int64
	maxKeys int // per shard
	now     func() time.Time
	seed    maphash.Seed
	shards  [numShards]shard[K]
}

func newBuckets[K comparable](l Limit, maxKeys int, now func() time.Time) (*buckets[K], error) {
	if err := l.validate(); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	b := &buckets[K]{
		limit:   l,
		idle:    l.idle(),
		maxKeys: max(1, maxKeys/numShards),
		now:     now,
		seed:    maphash.MakeSeed(),
	}
	for i := range b.shards {
		b.shards[i].m = make(map[K]bucket)
	}
	return b, nil
}

func (b *buckets[K]) shard(k K) *shard[K] {
	return &b.shards[maphash.Comparable(b.seed, k)%numShards]
}

// allow takes a token from k's bucket if it has one.
func (b *buckets[K]) allow(k K) bool {
	now := b.now().UnixNano()
	s := b.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops++
	if 2*s.ops >= len(s.m) && s.ops >= minSweep {
		b.sweep(s, now)
	}
	bk, ok := s.m[k]
	if !ok {
		if len(s.m) >= b.maxKeys {
			b.sweep(s, now)
			if len(s.m) >= b.maxKeys {
				// Still full of active keys: drop one. Its next call
				// starts from a full bucket, which errs on the side of
				// letting a legitimate client through.
				for victim := range s.m {
					delete(s.m, victim)
					break
				}
			}
		}
		bk = bucket{tokens: float64(b.limit.Burst), last: now}
	} else if elapsed := now - bk.last; elapsed > 0 {
		bk.tokens = min(float64(b.limit.Burst), bk.tokens+float64(elapsed)*b.limit.Rate/float64(time.Second))
		bk.last = now
	}
	allowed := bk.tokens >= 1
	if allowed {
		bk.tokens--
	}
	s.m[k] = bk
	return allowed
}

// sweep drops the buckets of s that have been idle long enough to be full.
// s.mu must be held.
func (b *buckets[K]) sweep(s *shard[K], now int64) {
	s.ops = 0
	for k, bk := range s.m {
		if now-bk.last >= b.idle {
			delete(s.m, k)
		}
	}
}

func (b *buckets[K]) forget(k K) {
	s := b.shard(k)
	s.mu.Lock()
	delete(s.m, k)
	s.mu.Unlock()
}

func (b *buckets[K]) len() int {
	n := 0
	for i := range b.shards {
		s := &b.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
