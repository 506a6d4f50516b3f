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
// the room, and the messages of a room commit in the order of their ids
// (also when several processes share the database), so a message id is a
// stable history cursor: History pages backwards with "before",
// MessagesSince catches up with "after". Messages are keyed by (room_id,
// id), so a page is one index range starting at its cursor, and costs the
// same wherever it is in the room.
//
// # Values
//
// Times are stored as Unix milliseconds and returned in UTC, so both
// backends return equal values. Inputs are checked at the boundary: empty or
// oversized ids and malformed cursors fail with ErrInvalid, and page sizes
// are clamped to 1..MaxLimit (zero or less means DefaultLimit).
//
// # Writing messages
//
// Each Store owns one goroutine that writes messages, started by Open and
// stopped by Close (which first commits what is queued). CreateMessage
// queues its message and waits: the writer takes every message queued
// while its previous transaction ran and commits them in one transaction
// (group commit), so that under load a commit, and on PostgreSQL a round
// trip, serves many messages. A call returns only after the commit holding
// its message. The queue holds 1,024 messages; when it is full,
// CreateMessage waits for room or for its context. A message whose
// caller's context has ended before its transaction begins is not stored.
// WriterStats (a method of both backends) counts transactions, messages
// and waits for room, for metrics.
//
// # Durability
//
// SQLite runs in WAL mode with synchronous=NORMAL: a commit is not fsynced
// until the next checkpoint, so an acknowledged message survives the
// process being killed (kill -9) but an OS crash or power loss may lose the
// last commits (the file stays consistent). PostgreSQL commits as its
// synchronous_commit setting says (fsynced by default).
//
// # Concurrency
//
// Every Store method is safe for concurrent use and takes a context first.
// SQLite writes through one connection (SQLite has one writer at a time)
// and reads through a pool of read-only connections, which WAL lets run
// while a write commits.
package store
