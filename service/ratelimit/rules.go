package ratelimit

import (
	"fmt"
	"hash/maphash"
	"sync"
	"time"
)

// Rules maps event names to limits. Events without a rule share one
// Default bucket per key, so inventing event names gains a flooder nothing.
type Rules struct {
	// Default applies to events not in Events.
	Default Limit
	// Events holds the limit of each named event.
	Events map[string]Limit
	// Strikes is how many consecutive denials within StrikeWindow make a
	// Decision say Disconnect (0 never does).
	Strikes int
	// StrikeWindow bounds a run of denials (10s if zero): a run older than
	// this starts again from one.
	StrikeWindow time.Duration
}

// DefaultRules returns the limits of the Herald service: send-message 5/s
// burst 10, typing-start and typing-stop 2/s burst 5, everything else 20/s
// burst 40, and a disconnect after 20 denials in a row within 10 seconds.
func DefaultRules() Rules {
	return Rules{
		Default: PerSecond(20, 40),
		Events: map[string]Limit{
			"send-message": PerSecond(5, 10),
			"typing-start": PerSecond(2, 5),
			"typing-stop":  PerSecond(2, 5),
		},
		Strikes:      20,
		StrikeWindow: 10 * time.Second,
	}
}

// Decision is the outcome of EventLimiter.Allow.
type Decision struct {
	// Allowed reports whether the event may be handled.
	Allowed bool
	// Disconnect reports that the key was denied Rules.Strikes times in a
	// row within Rules.StrikeWindow: the caller should disconnect it.
	Disconnect bool
}

// strike is a run of consecutive denials of one key.
type strike struct {
	count int
	first int64 // UnixNano of the first denial of the run
}

// EventLimiter applies Rules per key (a connection or user id) and event.
type EventLimiter struct {
	rules   Rules
	window  int64
	events  map[string]*buckets[string] // read-only after construction
	def     *buckets[string]
	strikes *strikes
	now     func() time.Time
}

// NewEventLimiter returns an EventLimiter for r. opts may be nil; its
// MaxKeys applies to each event's buckets separately.
func NewEventLimiter(r Rules, opts *Options) (*EventLimiter, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if r.Strikes < 0 {
		return nil, fmt.Errorf("ratelimit: negative strikes %d", r.Strikes)
	}
	if r.StrikeWindow <= 0 {
		r.StrikeWindow = 10 * time.Second
	}
	e := &EventLimiter{
		rules:  r,
		window: int64(r.StrikeWindow),
		events: make(map[string]*buckets[string], len(r.Events)),
		now:    o.Now,
	}
	var err error
	if e.def, err = newBuckets[string](r.Default, o.MaxKeys, o.Now); err != nil {
		return nil, fmt.Errorf("ratelimit: default rule: %w", err)
	}
	for name, l := range r.Events {
		if e.events[name], err = newBuckets[string](l, o.MaxKeys, o.Now); err != nil {
			return nil, fmt.Errorf("ratelimit: rule %q: %w", name, err)
		}
	}
	e.strikes = newStrikes(o.MaxKeys)
	return e, nil
}

// Allow takes a token for event from key's bucket. It does not allocate
// for a key already tracked.
func (e *EventLimiter) Allow(key, event string) Decision {
	b, ok := e.events[event]
	if !ok {
		b = e.def
	}
	if b.allow(key) {
		if e.rules.Strikes > 0 {
			e.strikes.reset(key)
		}
		return Decision{Allowed: true}
	}
	if e.rules.Strikes == 0 {
		return Decision{}
	}
	n := e.strikes.add(key, e.now().UnixNano(), e.window)
	return Decision{Disconnect: n >= e.rules.Strikes}
}

// Forget drops every bucket and strike of key, for example when its
// connection closes.
func (e *EventLimiter) Forget(key string) {
	e.def.forget(key)
	for _, b := range e.events {
		b.forget(key)
	}
	e.strikes.forget(key)
}

// Len returns how many (key, rule) buckets and strike runs are tracked.
func (e *EventLimiter) Len() int {
	n := e.def.len() + e.strikes.len()
	for _, b := range e.events {
		n += b.len()
	}
	return n
}

// strikes holds the runs of denials, sharded like the buckets. Entries are
// created only on denial and removed on the next allowed event, or swept
// once their window has passed.
type strikes struct {
	seed    maphash.Seed
	maxKeys int // per shard
	m       [numShards]strikeShard
}

type strikeShard struct {
	mu  sync.Mutex
	m   map[string]strike
	ops int
}

func newStrikes(maxKeys int) *strikes {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	s := &strikes{seed: maphash.MakeSeed(), maxKeys: max(1, maxKeys/numShards)}
	for i := range s.m {
		s.m[i].m = make(map[string]strike)
	}
	return s
}

func (s *strikes) shard(key string) *strikeShard {
	return &s.m[maphash.String(s.seed, key)%numShards]
}

func (s *strikes) reset(key string) {
	sh := s.shard(key)
	sh.mu.Lock()
	if len(sh.m) > 0 {
		delete(sh.m, key)
	}
	sh.mu.Unlock()
}

// add records a denial at now and returns the length of the run.
func (s *strikes) add(key string, now, window int64) int {
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.ops++
	if 2*sh.ops >= len(sh.m) && sh.ops >= minSweep {
		sh.ops = 0
		for k, st := range sh.m {
			if now-st.first >= window {
				delete(sh.m, k)
			}
		}
	}
	st, ok := sh.m[key]
	if !ok || now-st.first >= window {
		if !ok && len(sh.m) >= s.maxKeys {
			for victim := range sh.m {
				delete(sh.m, victim)
				break
			}
		}
		st = strike{first: now}
	}
	st.count++
	sh.m[key] = st
	return st.count
}

func (s *strikes) forget(key string) {
	sh := s.shard(key)
	sh.mu.Lock()
	delete(sh.m, key)
	sh.mu.Unlock()
}

func (s *strikes) len() int {
	n := 0
	for i := range s.m {
		sh := &s.m[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
