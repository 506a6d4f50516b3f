package presence

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldio/herald/test/support"
)

// postgresNodes opens a pool on a schema of the test's own and the Nodes
// of a table there.
func postgresNodes(t *testing.T) (*pgxpool.Pool, *PostgresNodes) {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, support.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	nodes, err := NewPostgresNodes(ctx, pool, "herald_presence")
	if err != nil {
		t.Fatal(err)
	}
	return pool, nodes
}

// Two nodes sharing PostgreSQL: each sees the other's users, a node that
// dies (its row left to expire) has its users reported offline, and one
// that closes takes its row away at once.
func TestPostgresPresenceAcrossNodesAndNodeDeath(t *testing.T) {
	_, nodes := postgresNodes(t)
	vanished := make(chan Entry, 10)
	mk := func() *Cluster {
		return NewClusterOn(nodes, ClusterOptions{Grace: 10 * time.Millisecond, TTL: 600 * time.Millisecond,
			Interval: 100 * time.Millisecond, OnChange: func(Change) {}, OnVanish: func(e Change) { vanished <- e.Entry }})
	}
	a, b, c := mk(), mk(), mk()
	defer b.Close()
	a.Connect("ann", "Ann", []string{"r1"})
	b.Connect("bob", "Bob", nil)
	c.Connect("cid", "Cid", nil)
	for deadline := time.Now().Add(3 * time.Second); len(b.List()) != 3; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("node B sees %v", b.List())
		}
	}
	if l := b.List(); l[0].UserID != "ann" || len(l[0].Rooms) != 1 || l[0].Rooms[0] != "r1" {
		t.Fatalf("node B sees ann as %+v", l[0])
	}
	time.Sleep(300 * time.Millisecond) // B's sweeps learn them (a List reads on its own)
	a.Abandon()                        // node A dies without cleaning up
	c.Close()                          // node C leaves as it should
	got := map[string]bool{}
	for len(got) < 2 {
		select {
		case e := <-vanished:
			if e.Status != Offline {
				t.Fatalf("vanished %+v", e)
			}
			got[e.UserID] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("users of a dead and a closed node reported offline: %v, want ann and cid", got)
		}
	}
	if list := b.List(); len(list) != 1 || list[0].UserID != "bob" {
		t.Fatalf("after node death: %v", list)
	}
}

// The unlogged table emptied (as PostgreSQL's crash recovery does): each
// node writes its whole state again, and no one is reported offline for
// good.
func TestPostgresPresenceHealsAfterDataLoss(t *testing.T) {
	pool, nodes := postgresNodes(t)
	mk := func(tell func(Change)) *Cluster {
		c := NewClusterOn(nodes, ClusterOptions{Grace: 10 * time.Millisecond, TTL: 600 * time.Millisecond,
			Interval: 100 * time.Millisecond, OnChange: func(Change) {}, OnVanish: tell})
		t.Cleanup(c.Close)
		return c
	}
	told := make(chan Entry, 100)
	a, b := mk(func(Change) {}), mk(func(e Change) { told <- e.Entry })
	a.Connect("ann", "Ann", nil)
	b.Connect("bob", "Bob", nil)
	for deadline := time.Now().Add(3 * time.Second); !hasUser(b.List(), "ann"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("node B sees %v", b.List())
		}
	}
	if _, err := pool.Exec(context.Background(), `TRUNCATE herald_presence`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // a few sweeps
	if !hasUser(b.List(), "ann") {
		t.Fatalf("after the table was emptied node B never saw ann again: %v", b.List())
	}
	var last *Entry
	for len(told) > 0 {
		e := <-told
		last = &e
	}
	if last != nil && last.Status == Offline {
		t.Fatalf("node B's clients were last told %+v", *last)
	}
}

func TestPostgresNodesBadTable(t *testing.T) {
	pool, _ := postgresNodes(t)
	if _, err := NewPostgresNodes(context.Background(), pool, "no_such_schema.t"); err == nil {
		t.Fatal("a table in a schema that does not exist was accepted")
	}
}
