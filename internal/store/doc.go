// Package store keeps Herald's rooms, messages, notifications and last-seen
// times behind the small Store interface.
//
// # Backends
//
// Open picks the backend from its url: SQLite (the default, a single file
// such as "herald.db", opened in WAL mode with a busy timeout and foreign
// keys on, through the pure-Go modernc.org/sqlite driver) or PostgreSQL
// ("postgres://..." through a pgx pool). Both run the same numbered
// migrations, embedded in the binary and recorded in a schema_migrations
// table; on PostgreSQL an advisory lock makes concurrent starts safe.
//
// # Ids and cursors
//
// Message and notification ids come from NewID: a 48-bit millisecond time
// and 80 random bits in Crockford base32, strictly increasing within a
// process. CreateMessage also makes each id greater than every id already in
// the room, so a message id is a stable history cursor: History pages
// backwards with "before", MessagesSince catches up with "after".
//
// # Values
//
// Times are stored as Unix milliseconds and returned in UTC, so both
// backends return equal values. Inputs are checked at the boundary: empty or
// oversized ids and malformed cursors fail with ErrInvalid, and page sizes
// are clamped to 1..MaxLimit (zero or less means DefaultLimit).
//
// # Concurrency
//
// Every Store method is safe for concurrent use and takes a context first.
package store
