package presence_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldio/herald/service/presence"
	"github.com/heraldio/herald/service/presence/roomstest"
	"github.com/heraldio/herald/test/support"
)

// Two nodes' PostgresRooms over one table: roomstest's steps and races,
// and a node that stops renewing has its sockets lapse.
func TestPostgresRooms(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, support.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	mk := func(ttl time.Duration) *presence.PostgresRooms {
		r, err := presence.NewPostgresRooms(ctx, pool, "herald_rooms", presence.ClusterRoomsOptions{TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		return r
	}
	roomstest.Run(t, mk(0), mk(0), "")

	a, b := mk(300*time.Millisecond), mk(300*time.Millisecond)
	if first, err := a.Enter(ctx, "lapse", "u", "s1"); !first || err != nil {
		t.Fatalf("enter: %v %v", first, err)
	}
	time.Sleep(time.Second) // a keeps renewing its socket
	if first, err := b.Enter(ctx, "lapse", "u", "s2"); first || err != nil {
		t.Fatalf("a renewed socket lapsed: first %v %v", first, err)
	}
	a.Close()
	b.Exit(ctx, "lapse", "u", "s2")
	b.Enter(ctx, "lapse", "u", "s2")
	time.Sleep(time.Second) // a's socket lapses
	if last, err := b.Exit(ctx, "lapse", "u", "s2"); !last || err != nil {
		t.Fatalf("a stopped node's socket did not lapse: last %v %v", last, err)
	}
	if _, err := presence.NewPostgresRooms(ctx, pool, "no_such_schema.t", presence.ClusterRoomsOptions{}); err == nil {
		t.Fatal("a table in a schema that does not exist was accepted")
	}
}
