package ratelimit

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a fake clock safe for concurrent use.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func allowN(l *Limiter, key string, n int) int {
	ok := 0
	for range n {
		if l.Allow(key) {
			ok++
		}
	}
	return ok
}

func TestLimiterBurstAndRefill(t *testing.T) {
	c := newClock()
	l, err := New(PerSecond(5, 10), &Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		advance time.Duration
		tries   int
		want    int
	}{
		{0, 15, 10},                     // burst
		{100 * time.Millisecond, 5, 0},  // half a token
		{100 * time.Millisecond, 5, 1},  // one token
		{time.Second, 10, 5},            // five per second
		{time.Hour, 20, 10},             // capped at burst
		{1400 * time.Millisecond, 9, 7}, // 7 tokens
	} {
		c.Advance(step.advance)
		if got := allowN(l, "k", step.tries); got != step.want {
			t.Fatalf("after %v: %d of %d allowed, want %d", step.advance, got, step.tries, step.want)
		}
	}
	// Keys are independent.
	if got := allowN(l, "other", 10); got != 10 {
		t.Fatalf("other key: %d allowed", got)
	}
}

func TestLimiterClockBackwards(t *testing.T) {
	c := newClock()
	l, _ := New(PerSecond(1, 1), &Options{Now: c.Now})
	l.Allow("k")
	c.Advance(-time.Hour)
	if l.Allow("k") {
		t.Fatal("a clock step back refilled the bucket")
	}
}

func TestInvalidLimits(t *testing.T) {
	for _, l := range []Limit{{}, {Rate: -1, Burst: 1}, {Rate: 1, Burst: 0}, {Rate: math.Inf(1), Burst: 1}, {Rate: math.NaN(), Burst: 1}} {
		if _, err := New(l, nil); err == nil {
			t.Errorf("New(%v) accepted", l)
		}
	}
	if _, err := NewEventLimiter(Rules{Default: PerSecond(1, 1), Events: map[string]Limit{"x": {}}}, nil); err == nil {
		t.Error("NewEventLimiter accepted a zero event limit")
	}
	if _, err := NewEventLimiter(Rules{Default: PerSecond(1, 1), Strikes: -1}, nil); err == nil {
		t.Error("NewEventLimiter accepted negative strikes")
	}
}

func TestIdleBucketsEvicted(t *testing.T) {
	c := newClock()
	l, _ := New(PerSecond(10, 10), &Options{Now: c.Now}) // full again after 1s
	const keys = 200_000
	peak := 0
	for i := range keys {
		l.Allow("k" + strconv.Itoa(i))
		c.Advance(time.Millisecond) // about 1000 keys active at any time
		if i%1000 == 0 {
			peak = max(peak, l.Len())
		}
	}
	// Each shard sweeps after half as many calls as it holds keys, so at most
	// about twice the active keys linger.
	if peak > 4000 {
		t.Fatalf("peak of %d keys tracked, want about 1000-2000", peak)
	}
	c.Advance(time.Hour)
	for i := range 10_000 {
		l.Allow("fresh" + strconv.Itoa(i))
	}
	if n := l.Len(); n > 10_000+numShards*64 {
		t.Fatalf("%d keys tracked after the old ones went idle", n)
	}
}

func TestEvictionKeepsDecisions(t *testing.T) {
	// A key that comes back after its bucket was evicted must not get more
	// than a full bucket.
	c := newClock()
	l, _ := New(PerSecond(1, 3), &Options{Now: c.Now})
	if got := allowN(l, "k", 5); got != 3 {
		t.Fatalf("%d allowed", got)
	}
	c.Advance(time.Second)
	for i := range 1000 { // force sweeps
		l.Allow(strconv.Itoa(i))
	}
	if got := allowN(l, "k", 5); got != 1 {
		t.Fatalf("after 1s: %d allowed, want 1 (bucket evicted too early?)", got)
	}
}

func TestMaxKeysCap(t *testing.T) {
	c := newClock()
	l, _ := New(PerSecond(1, 1), &Options{Now: c.Now, MaxKeys: 1024})
	for i := range 50_000 {
		l.Allow("k" + strconv.Itoa(i)) // clock frozen: nothing is idle
	}
	if n := l.Len(); n > 1024 {
		t.Fatalf("%d keys tracked with MaxKeys 1024", n)
	}
}

func TestForget(t *testing.T) {
	c := newClock()
	l, _ := New(PerSecond(1, 1), &Options{Now: c.Now})
	l.Allow("k")
	l.Forget("k")
	if l.Len() != 0 || !l.Allow("k") {
		t.Fatal("Forget kept the bucket")
	}
}

func TestLimiterConcurrent(t *testing.T) {
	c := newClock()
	l, _ := New(PerSecond(1, 100), &Options{Now: c.Now})
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 1000 {
				if l.Allow("shared") {
					allowed.Add(1)
				}
				l.Allow(fmt.Sprint("own", g, i%10))
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 100 {
		t.Fatalf("%d allowed from a burst of 100 with a frozen clock", n)
	}
}

func TestRules(t *testing.T) {
	c := newClock()
	e, err := NewEventLimiter(DefaultRules(), &Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	count := func(key, event string, n int) int {
		ok := 0
		for range n {
			if e.Allow(key, event).Allowed {
				ok++
			}
		}
		return ok
	}
	for _, tc := range []struct {
		event string
		want  int
	}{
		{"send-message", 10},
		{"typing-start", 5},
		{"typing-stop", 5},
		{"join-room", 40},
	} {
		if got := count("conn1", tc.event, 50); got != tc.want {
			t.Errorf("%s: %d of 50 allowed, want %d", tc.event, got, tc.want)
		}
	}
	// Unknown events share the default bucket: a new name gains nothing.
	if got := count("conn1", "made-up-event", 5); got != 0 {
		t.Errorf("unknown event got a fresh bucket: %d allowed", got)
	}
	// Other connections are unaffected.
	if got := count("conn2", "send-message", 50); got != 10 {
		t.Errorf("conn2: %d allowed", got)
	}
	c.Advance(time.Second)
	if got := count("conn1", "send-message", 50); got != 5 {
		t.Errorf("after 1s: %d allowed, want 5", got)
	}
	e.Forget("conn1")
	if got := count("conn1", "send-message", 50); got != 10 {
		t.Errorf("after Forget: %d allowed, want 10", got)
	}
}

func TestStrikes(t *testing.T) {
	c := newClock()
	rules := Rules{Default: PerSecond(1, 2), Strikes: 5, StrikeWindow: 10 * time.Second}
	e, _ := NewEventLimiter(rules, &Options{Now: c.Now})

	var ds []Decision
	for range 7 {
		ds = append(ds, e.Allow("k", "x"))
	}
	want := []Decision{{true, false}, {true, false}, {}, {}, {}, {}, {false, true}}
	for i := range want {
		if ds[i] != want[i] {
			t.Fatalf("call %d = %+v, want %+v", i, ds[i], want[i])
		}
	}

	// An allowed event ends the run.
	c.Advance(time.Second)
	if d := e.Allow("k", "x"); !d.Allowed {
		t.Fatal("not allowed after refill")
	}
	for i := range 4 {
		if d := e.Allow("k", "x"); d.Allowed || d.Disconnect {
			t.Fatalf("denial %d after reset = %+v", i, d)
		}
	}

	// Denials spread beyond the window do not add up.
	slow, _ := NewEventLimiter(Rules{Default: PerSecond(0.01, 1), Strikes: 3, StrikeWindow: 2 * time.Second}, &Options{Now: c.Now})
	slow.Allow("k", "x")
	for i := range 10 {
		if d := slow.Allow("k", "x"); d.Disconnect {
			t.Fatalf("disconnect at spaced denial %d", i)
		}
		c.Advance(1500 * time.Millisecond)
	}

	// Strikes 0 never disconnects.
	never, _ := NewEventLimiter(Rules{Default: PerSecond(1, 1)}, &Options{Now: c.Now})
	for range 100 {
		if never.Allow("k", "x").Disconnect {
			t.Fatal("disconnect with Strikes 0")
		}
	}
}

func TestStrikesEvicted(t *testing.T) {
	c := newClock()
	e, _ := NewEventLimiter(Rules{Default: PerSecond(10, 1), Strikes: 100, StrikeWindow: time.Second}, &Options{Now: c.Now})
	for i := range 100_000 {
		k := "k" + strconv.Itoa(i)
		e.Allow(k, "x")
		e.Allow(k, "x") // denied: a strike entry
		c.Advance(time.Millisecond)
	}
	if n := e.Len(); n > 8000 {
		t.Fatalf("%d entries tracked; idle buckets and strikes not evicted", n)
	}
}

func TestConnLimiter(t *testing.T) {
	c := newClock()
	cl, err := NewConnLimiter(6, &Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	count := func(addr string, n int) int {
		ok := 0
		for range n {
			if cl.AllowRemoteAddr(addr) {
				ok++
			}
		}
		return ok
	}
	if got := count("203.0.113.7:5555", 10); got != 6 {
		t.Fatalf("IPv4: %d allowed, want 6", got)
	}
	if got := count("203.0.113.7:6666", 1); got != 0 {
		t.Fatal("another port of the same IP got a new bucket")
	}
	if got := count("[::ffff:203.0.113.7]:1", 1); got != 0 {
		t.Fatal("IPv4-mapped address got a new bucket")
	}
	if got := count("203.0.113.8:1", 1); got != 1 {
		t.Fatal("another IP was limited")
	}
	if got := count("[2001:db8:1:2::1]:443", 6) + count("[2001:db8:1:2:ffff::9]:443", 6); got != 6 {
		t.Fatalf("one IPv6 /64: %d allowed, want 6", got)
	}
	if got := count("[2001:db8:1:3::1]:443", 6); got != 6 {
		t.Fatalf("another /64: %d allowed", got)
	}
	c.Advance(10 * time.Second) // one per 10s
	if got := count("203.0.113.7", 5); got != 1 {
		t.Fatalf("after 10s: %d allowed, want 1", got)
	}
	def, _ := NewConnLimiter(0, nil)
	if def.b.limit != DefaultConnLimit {
		t.Fatalf("default limit %v", def.b.limit)
	}
	if _, err := NewConnLimiter(-1, nil); err == nil {
		t.Fatal("negative rate accepted")
	}
	if !cl.AllowRemoteAddr("garbage") || cl.Len() == 0 {
		t.Fatal("garbage address")
	}
}

func TestAllowDoesNotAllocate(t *testing.T) {
	c := newClock()
	l, _ := New(PerSecond(1e9, 1e9), &Options{Now: c.Now})
	e, _ := NewEventLimiter(DefaultRules(), &Options{Now: c.Now})
	cl, _ := NewConnLimiter(60, &Options{Now: c.Now})
	ip := netip.MustParseAddr("2001:db8::1")
	l.Allow("key")
	e.Allow("key", "send-message")
	if n := testing.AllocsPerRun(1000, func() { l.Allow("key") }); n != 0 {
		t.Errorf("Limiter.Allow: %v allocs", n)
	}
	if n := testing.AllocsPerRun(1000, func() { e.Allow("key", "send-message") }); n != 0 {
		t.Errorf("EventLimiter.Allow: %v allocs", n)
	}
	if n := testing.AllocsPerRun(1000, func() { cl.Allow(ip) }); n != 0 {
		t.Errorf("ConnLimiter.Allow: %v allocs", n)
	}
}

func BenchmarkAllow(b *testing.B) {
	l, _ := New(PerSecond(1e9, 1e9), nil)
	l.Allow("conn-123")
	b.ReportAllocs()
	for b.Loop() {
		l.Allow("conn-123")
	}
}

func BenchmarkAllowParallel(b *testing.B) {
	l, _ := New(PerSecond(1e9, 1e9), nil)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "conn-" + strconv.Itoa(i)
		l.Allow(keys[i])
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Allow(keys[i%len(keys)])
			i++
		}
	})
}

func BenchmarkEventAllow(b *testing.B) {
	e, _ := NewEventLimiter(DefaultRules(), nil)
	e.Allow("conn-123", "send-message")
	b.ReportAllocs()
	for b.Loop() {
		e.Allow("conn-123", "send-message")
	}
}
