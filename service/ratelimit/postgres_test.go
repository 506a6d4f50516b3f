package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldio/herald/test/support"
)

// Two nodes counting in PostgreSQL: the limit is theirs together, rows
// past their expiry are deleted, and an unreachable database leaves the
// decisions local.
func TestSharedOnPostgres(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, support.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ctr, err := NewPostgresCounter(ctx, pool, "herald_counts")
	if err != nil {
		t.Fatal(err)
	}
	// A long wait: this test is about the counts, not the breaker.
	o := SharedOptions{Prefix: "rl", Limit: 10, Window: time.Minute, Wait: 5 * time.Second, Timeout: 5 * time.Second}
	a, c := NewSharedOn(ctr, o), NewSharedOn(ctr, o)
	allowed := 0
	for i := 0; i < 20; i++ {
		l := a
		if i%2 == 1 {
			l = c
		}
		if l.Allow(ctx, "user-1:send-message") {
			allowed++
		}
	}
	if allowed != 10 {
		t.Fatalf("allowed %d of 20 across two nodes, want 10", allowed)
	}
	if !a.Allow(ctx, "user-2:send-message") {
		t.Fatal("another user is limited too")
	}
	if st := a.Stats(); st.Local != 0 || st.Remote != 11 {
		t.Fatalf("node A's decisions: %+v, want 11 by the shared count", st)
	}

	if _, err := ctr.Incr(ctx, "short", time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	ctr.next.Store(0) // the next count cleans
	if _, err := ctr.Incr(ctx, "other", time.Minute); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM herald_counts WHERE key = 'short'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("an expired count is still there: %d %v", n, err)
	}

	bad, err := pgxpool.New(ctx, "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	down := NewSharedOn(&PostgresCounter{pool: bad, table: `"herald_counts"`}, SharedOptions{Prefix: "rl", Limit: 1})
	if !down.Allow(ctx, "x") || down.Stats().Local != 1 {
		t.Fatalf("an unreachable database must not block everyone: %+v", down.Stats())
	}
	if _, err := NewPostgresCounter(ctx, pool, "no_such_schema.t"); err == nil {
		t.Fatal("a table in a schema that does not exist was accepted")
	}
}
