package ratelimit

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldio/herald/service/internal/pgtable"
)

// PostgresCounter is a Counter in a PostgreSQL table, for a cluster
// without Redis: one upsert per count. The table is UNLOGGED (counts of a
// few seconds need no crash safety, and skip the WAL); rows past their
// expiry are deleted by the count that comes a minute after the last
// deletion, in the same statement.
type PostgresCounter struct {
	pool  *pgxpool.Pool
	table string // quoted
	next  atomic.Int64
}

var _ Counter = (*PostgresCounter)(nil)

// NewPostgresCounter returns the Counter of table ("schema.table" names
// one outside the search path), which it creates when missing.
func NewPostgresCounter(ctx context.Context, pool *pgxpool.Pool, table string) (*PostgresCounter, error) {
	table, err := pgtable.Ensure(ctx, pool, table, "key text PRIMARY KEY, n bigint NOT NULL, expires_at timestamptz NOT NULL")
	if err != nil {
		return nil, err
	}
	return &PostgresCounter{pool: pool, table: table}, nil
}

// Incr implements Counter.
func (c *PostgresCounter) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	now := time.Now().UnixNano()
	next := c.next.Load()
	clean := now >= next && c.next.CompareAndSwap(next, now+int64(time.Minute))
	var n int64
	err := c.pool.QueryRow(ctx, `WITH gone AS (DELETE FROM `+c.table+` WHERE $3 AND expires_at < now() AND key <> $1)
		INSERT INTO `+c.table+` AS t (key, n, expires_at) VALUES ($1, 1, now() + $2 * interval '1 millisecond')
		ON CONFLICT (key) DO UPDATE SET n = t.n + 1 RETURNING n`, key, ttl.Milliseconds(), clean).Scan(&n)
	return n, err
}
