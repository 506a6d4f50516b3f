package ratelimit

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Shared limits a key (a user and an event) across every node of a
// cluster with a fixed-window counter in a shared store (Redis, or
// PostgreSQL through PostgresCounter): at most Limit calls per Window. The
// doc below says Redis for the store; the same holds of any Counter.
//
// Redis is never on the caller's path for long. Allow waits at most
// SharedOptions.Wait for Redis's count; a failure, or an answer slower than
// that, opens a circuit breaker: for a back-off period (doubling while
// Redis stays away) every decision is local, with no Redis call at all,
// then one call probes Redis again. A local decision counts the key in
// this node's own window, starting from the last count Redis gave for it,
// so an outage turns the cluster-wide limit into a per-node one (and the
// per-connection buckets still apply) rather than silencing everyone.
//
// A call that outlasts Wait goes on in the background, bounded by
// SharedOptions.Timeout through its context: go-redis honours it only with
// redis.Options.ContextTimeoutEnabled, otherwise the client's ReadTimeout
// and WriteTimeout (and retries) bound it. At most MaxInFlight such calls
// run at once; beyond that, decisions are local.
type Shared struct {
	ctr  Counter
	o    SharedOptions
	sem  chan struct{} // Redis calls in flight
	brk  breaker
	stat struct{ remote, local, failures atomic.Uint64 }

	mu    sync.Mutex
	slot  int64            // the window counts is for
	count map[string]int64 // this node's estimate of each key's count in slot
}

// SharedOptions configures a Shared limiter. Zero fields mean the defaults.
type SharedOptions struct {
	// Prefix prefixes the Redis keys ("<prefix>:<key>:<window number>").
	Prefix string
	// Limit is the number of calls allowed per key and Window.
	Limit int
	// Window is the length of a counting window. Default 1 minute.
	Window time.Duration
	// Wait bounds how long Allow waits for Redis before deciding locally.
	// Default 50ms.
	Wait time.Duration
	// Timeout bounds a Redis call, through its context. Default 1s.
	Timeout time.Duration
	// Backoff is how long Redis is left alone after a failure; it doubles
	// with each failed probe up to MaxBackoff. Defaults 1s and 30s.
	Backoff, MaxBackoff time.Duration
	// MaxInFlight bounds the Redis calls running at once. Default 64.
	MaxInFlight int
	// MaxKeys bounds the keys this node counts in one window; when it is
	// reached the local counts start again from zero. Default 100000.
	MaxKeys int
	// Logger receives a warning when Redis goes away and a note when it is
	// back. Default slog.Default().
	Logger *slog.Logger
	// Now returns the current time (time.Now if nil).
	Now func() time.Time
}

// SharedStats counts a Shared limiter's decisions, for metrics.
type SharedStats struct {
	Remote   uint64 // decided by Redis's count
	Local    uint64 // decided locally (Redis down, slow or busy)
	Failures uint64 // Redis calls that failed or outlasted Wait
}

// Counter is the shared store of a Shared limiter's counts.
type Counter interface {
	// Incr adds one to key's count, which expires ttl after it was made,
	// and returns the new count.
	Incr(ctx context.Context, key string, ttl time.Duration) (int64, error)
}

// redisCounter counts with INCR and EXPIRE.
type redisCounter struct{ rdb redis.UniversalClient }

func (r redisCounter) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	pipe := r.rdb.TxPipeline()
	incr := pipe.Incr(ctx, key)
	pipe.Expire(ctx, key, ttl)
	_, err := pipe.Exec(ctx)
	return incr.Val(), err
}

// NewShared returns a cluster-wide limiter with the default options.
func NewShared(rdb redis.UniversalClient, prefix string, limit int, window time.Duration) *Shared {
	return NewSharedWith(rdb, SharedOptions{Prefix: prefix, Limit: limit, Window: window})
}

// NewSharedWith returns a cluster-wide limiter configured by o.
func NewSharedWith(rdb redis.UniversalClient, o SharedOptions) *Shared {
	return NewSharedOn(redisCounter{rdb}, o)
}

// NewSharedOn returns a cluster-wide limiter counting in ctr, configured
// by o.
func NewSharedOn(ctr Counter, o SharedOptions) *Shared {
	if o.Window <= 0 {
		o.Window = time.Minute
	}
	if o.Wait <= 0 {
		o.Wait = 50 * time.Millisecond
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.MaxBackoff < o.Backoff {
		o.MaxBackoff = max(30*time.Second, o.Backoff)
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 64
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = 100000
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Shared{ctr: ctr, o: o, sem: make(chan struct{}, o.MaxInFlight), count: map[string]int64{}}
	s.brk.min, s.brk.max = o.Backoff, o.MaxBackoff
	return s
}

// errSlow marks a Redis call that outlasted Wait.
var errSlow = errors.New("ratelimit: redis slower than the wait bound")

type sharedResult struct {
	n   int64
	err error
}

// Allow counts one call for key and reports whether it is within the
// limit. It returns within about Wait, at once while Redis is known to be
// down; ctx ending earlier makes it decide locally.
func (s *Shared) Allow(ctx context.Context, key string) bool {
	now := s.o.Now()
	slot := now.UnixNano() / int64(s.o.Window)
	ok, probe := s.brk.admit(now)
	if !ok {
		return s.decideLocally(slot, key)
	}
	select {
	case s.sem <- struct{}{}:
	default:
		s.brk.abandon(probe)
		return s.decideLocally(slot, key)
	}
	res := make(chan sharedResult, 1)
	k := s.o.Prefix + ":" + key + ":" + strconv.FormatInt(slot, 10)
	go func() {
		defer func() { <-s.sem }()
		// The call outlives a caller that stops waiting, so its count lands.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.Timeout)
		defer cancel()
		n, err := s.ctr.Incr(cctx, k, s.o.Window+time.Second)
		res <- sharedResult{n, err}
	}()
	wait := time.NewTimer(s.o.Wait)
	defer wait.Stop()
	var r sharedResult
	select {
	case r = <-res:
	case <-wait.C:
		r.err = errSlow
	case <-ctx.Done():
		s.brk.abandon(probe)
		return s.decideLocally(slot, key)
	}
	if r.err != nil {
		s.stat.failures.Add(1)
		if s.brk.fail(s.o.Now(), probe) {
			s.o.Logger.Warn("ratelimit: redis unavailable; cluster-wide limits are per node for now", "err", r.err, "retry_in", s.brk.backoffNow())
		}
		return s.decideLocally(slot, key)
	}
	if s.brk.succeed() {
		s.o.Logger.Info("ratelimit: redis is back; limits are cluster-wide again")
	}
	s.stat.remote.Add(1)
	s.observe(slot, key, r.n)
	return r.n <= int64(s.o.Limit)
}

// Stats returns the counts of decisions so far.
func (s *Shared) Stats() SharedStats {
	return SharedStats{Remote: s.stat.remote.Load(), Local: s.stat.local.Load(), Failures: s.stat.failures.Load()}
}

// window returns the local counts of slot, starting them anew for a new
// window or when they hold too many keys. s.mu must be held.
func (s *Shared) window(slot int64, key string) map[string]int64 {
	if slot != s.slot || len(s.count) >= s.o.MaxKeys && s.count[key] == 0 {
		s.slot = slot
		clear(s.count)
	}
	return s.count
}

// observe keeps Redis's count of key as this node's estimate.
func (s *Shared) observe(slot int64, key string, n int64) {
	s.mu.Lock()
	if c := s.window(slot, key); n > c[key] {
		c[key] = n
	}
	s.mu.Unlock()
}

// decideLocally counts key in this node's window.
func (s *Shared) decideLocally(slot int64, key string) bool {
	s.stat.local.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.window(slot, key)
	c[key]++
	return c[key] <= int64(s.o.Limit)
}

// breaker keeps Redis off the callers' path after a failure: closed
// (until is zero) every call goes to Redis; open, none until the back-off
// ends; then one probe at a time, whose result closes or reopens it.
type breaker struct {
	min, max time.Duration

	mu      sync.Mutex
	until   time.Time
	backoff time.Duration
	probing bool
}

// admit reports whether a call may go to Redis, and whether it is the
// probe of an open breaker.
func (b *breaker) admit(now time.Time) (ok, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.until.IsZero():
		return true, false
	case b.probing || now.Before(b.until):
		return false, false
	}
	b.probing = true
	return true, true
}

// abandon gives up a probe that was not made.
func (b *breaker) abandon(probe bool) {
	if probe {
		b.mu.Lock()
		b.probing = false
		b.mu.Unlock()
	}
}

// fail records a failed call; it reports whether the breaker just opened.
// Late failures of calls made before it opened change nothing.
func (b *breaker) fail(now time.Time, probe bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	opened := b.until.IsZero()
	switch {
	case opened:
		b.backoff = b.min
	case probe:
		b.probing = false
		b.backoff = min(2*b.backoff, b.max)
	default:
		return false
	}
	b.until = now.Add(b.backoff)
	return opened
}

// succeed closes the breaker; it reports whether it was open.
func (b *breaker) succeed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	wasOpen := !b.until.IsZero()
	b.until, b.backoff, b.probing = time.Time{}, 0, false
	return wasOpen
}

func (b *breaker) backoffNow() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.backoff
}
