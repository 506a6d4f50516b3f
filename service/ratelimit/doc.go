// Package ratelimit keeps token buckets for Herald: per connection and event
// (Rules, EventLimiter), and per client IP for new connections
// (ConnLimiter).
//
// # Buckets
//
// Each key has a bucket of Burst tokens refilled at Rate per second; Allow
// takes one token or reports false. The buckets are this package's own, not
// golang.org/x/time/rate: a bucket here is 16 bytes (tokens and last update
// time) held by value in a sharded map, so Allow on a known key takes one
// shard lock, does no allocation, and reads the time from an injectable
// clock; rate.Limiter would add a mutex and some 80 bytes per key plus a
// second lock per call, and eviction would still be ours to write.
//
// # Memory
//
// A bucket left alone for Burst/Rate seconds is full again, exactly like a
// new one, so it can be dropped without changing any decision. Idle buckets
// are removed lazily: each shard sweeps itself after half as many calls as
// it holds keys, which keeps the cost amortised O(1) per call with no
// goroutine to stop. Options.MaxKeys is a hard cap on top of that for
// floods of distinct keys.
//
// # Flooders
//
// EventLimiter counts consecutive denials per key. After Rules.Strikes of
// them within Rules.StrikeWindow, its Decision says Disconnect, and the
// service drops the connection.
//
// # Across a cluster
//
// Shared counts a key in a Redis fixed window shared by every node. Redis
// is kept off the caller's path: Allow waits for it only a small bound,
// and after a failure a circuit breaker makes decisions local (from the
// last count Redis gave) until a probe finds Redis back.
//
// # Concurrency
//
// Every type here is safe for concurrent use.
package ratelimit
