package ratelimit

import (
	"net/netip"
	"time"
)

// Options configures a Limiter or ConnLimiter.
type Options struct {
	// MaxKeys caps the keys tracked at once (DefaultMaxKeys if zero). When
	// the cap is reached with no idle bucket to drop, an arbitrary key is
	// forgotten.
	MaxKeys int
	// Now returns the current time (time.Now if nil); tests pass a fake
	// clock.
	Now func() time.Time
}

// Limiter is a set of token buckets keyed by string, all with one Limit.
type Limiter struct {
	b *buckets[string]
}

// New returns a Limiter applying l to every key. opts may be nil.
func New(l Limit, opts *Options) (*Limiter, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	b, err := newBuckets[string](l, o.MaxKeys, o.Now)
	if err != nil {
		return nil, err
	}
	return &Limiter{b: b}, nil
}

// Allow takes a token from key's bucket and reports whether there was one.
// It does not allocate for a key already tracked.
func (l *Limiter) Allow(key string) bool { return l.b.allow(key) }

// Forget drops key's bucket, for example when its connection closes.
func (l *Limiter) Forget(key string) { l.b.forget(key) }

// Len returns how many keys are tracked.
func (l *Limiter) Len() int { return l.b.len() }

// Limit returns the limit applied to every key.
func (l *Limiter) Limit() Limit { return l.b.limit }

// DefaultConnLimit is the default rate of new connections per client IP.
var DefaultConnLimit = PerMinute(30)

// ConnLimiter limits how many new connections each client IP may open per
// minute. IPv6 addresses are grouped by /64, the block one host usually
// owns; IPv4-mapped IPv6 addresses count as IPv4.
type ConnLimiter struct {
	b *buckets[netip.Addr]
}

// NewConnLimiter returns a ConnLimiter allowing perMinute new connections
// per IP, with bursts of up to perMinute (DefaultConnLimit if perMinute is
// zero). opts may be nil.
func NewConnLimiter(perMinute int, opts *Options) (*ConnLimiter, error) {
	l := DefaultConnLimit
	if perMinute != 0 {
		l = PerMinute(perMinute)
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	b, err := newBuckets[netip.Addr](l, o.MaxKeys, o.Now)
	if err != nil {
		return nil, err
	}
	return &ConnLimiter{b: b}, nil
}

// Allow reports whether a new connection from ip may be accepted, counting
// it if so. Invalid addresses share one bucket.
func (c *ConnLimiter) Allow(ip netip.Addr) bool { return c.b.allow(connKey(ip)) }

// AllowRemoteAddr is Allow for an "ip:port" string such as
// http.Request.RemoteAddr; a bare IP is accepted too.
func (c *ConnLimiter) AllowRemoteAddr(addr string) bool {
	ap, err := netip.ParseAddrPort(addr)
	if err == nil {
		return c.Allow(ap.Addr())
	}
	ip, _ := netip.ParseAddr(addr)
	return c.Allow(ip)
}

// Len returns how many addresses are tracked.
func (c *ConnLimiter) Len() int { return c.b.len() }

func connKey(ip netip.Addr) netip.Addr {
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, err := ip.Prefix(64)
		if err == nil {
			return p.Addr()
		}
	}
	return ip
}
