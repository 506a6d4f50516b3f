package presence_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldio/herald/service/presence"
	"github.com/heraldio/herald/service/presence/roomstest"
	"github.com/heraldio/herald/test/support"
	"github.com/redis/go-redis/v9"
)

func TestLocalRooms(t *testing.T) {
	r := presence.NewLocalRooms()
	roomstest.Run(t, r, r, "")
}

func testPrefix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "herald-test-rooms-" + hex.EncodeToString(b)
}

func TestClusterRooms(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	t.Cleanup(func() { rdb.Close() })
	prefix := testPrefix()
	a := presence.NewClusterRooms(rdb, presence.ClusterRoomsOptions{Prefix: prefix})
	b := presence.NewClusterRooms(rdb, presence.ClusterRoomsOptions{Prefix: prefix})
	t.Cleanup(a.Close)
	t.Cleanup(b.Close)
	roomstest.Run(t, a, b, "")
}

// Redis restarted empty: each node writes its sockets again, so a
// second tab is not told first and the last departure is told once; the
// sockets of a node that stopped writing lapse.
func TestClusterRoomsAfterRedisDataLoss(t *testing.T) {
	srv := support.StartRedis(t)
	rdb := srv.Client()
	ctx := context.Background()
	o := presence.ClusterRoomsOptions{Prefix: "rooms", TTL: 300 * time.Millisecond}
	a, b := presence.NewClusterRooms(rdb, o), presence.NewClusterRooms(rdb, o)
	t.Cleanup(a.Close)
	t.Cleanup(b.Close)
	if first, err := a.Enter(ctx, "r", "ann", "s1"); !first || err != nil {
		t.Fatalf("enter: %v %v", first, err)
	}
	srv.Restart()
	for deadline := time.Now().Add(5 * time.Second); len(rdb.Keys(ctx, "rooms:[0-9]*").Val()) != 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("node A's socket not written again")
		}
	}
	if first, err := b.Enter(ctx, "r", "ann", "s2"); first || err != nil {
		t.Fatalf("second tab after the restart: first %v, %v", first, err)
	}
	if last, _ := a.Exit(ctx, "r", "ann", "s1"); last {
		t.Fatal("one of two tabs told last")
	}
	// Node B stops writing (as if it died): its socket lapses, and the
	// next arrival is first.
	b.Close()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		first, err := a.Enter(ctx, "r", "ann", "s3")
		if err != nil {
			t.Fatal(err)
		}
		if first {
			break
		}
		if _, err := a.Exit(ctx, "r", "ann", "s3"); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("a dead node's socket never lapsed")
		}
	}
}

// A node dies with its users' sockets in rooms: of the two left, exactly
// one is told of each user whose last socket lapsed, and of no user who
// left with an Exit or still has a socket on a live node.
func TestClusterRoomsLapse(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	o := presence.ClusterRoomsOptions{Prefix: testPrefix(), TTL: 300 * time.Millisecond}
	t.Cleanup(func() { rdb.Del(ctx, rdb.Keys(ctx, o.Prefix+":*").Val()...) })
	a, b, dead := presence.NewClusterRooms(rdb, o), presence.NewClusterRooms(rdb, o), presence.NewClusterRooms(rdb, o)
	t.Cleanup(a.Close)
	t.Cleanup(b.Close)
	var mu sync.Mutex
	var told []string
	for n, r := range []*presence.ClusterRooms{a, b, dead} {
		r.OnLapse(func(ls []presence.Lapse) {
			mu.Lock()
			defer mu.Unlock()
			for _, l := range ls {
				told = append(told, l.Room+"/"+l.User+" on "+string(rune('a'+n)))
			}
		})
	}
	enter := func(r *presence.ClusterRooms, room, user, sid string) {
		t.Helper()
		if _, err := r.Enter(ctx, room, user, sid); err != nil {
			t.Fatal(err)
		}
	}
	enter(dead, "r:1", "ann", "d1") // only on the dead node, in two rooms
	enter(dead, "r2", "ann", "d2")
	enter(dead, "r:1", "bob", "d3") // and on a live one
	enter(a, "r:1", "bob", "a1")
	enter(dead, "r:1", "cleo", "d4") // left before the node died
	if last, err := dead.Exit(ctx, "r:1", "cleo", "d4"); !last || err != nil {
		t.Fatalf("cleo's exit: %v %v", last, err)
	}
	dead.Close()
	index := o.Prefix + ":lapses"
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := len(told)
		mu.Unlock()
		if n >= 2 && rdb.ZCard(ctx, index).Val() == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lapses told: %q, index %v", told, rdb.ZRange(ctx, index, 0, -1).Val())
		}
	}
	if m := rdb.ZRange(ctx, index, 0, -1).Val(); !slices.Equal(m, []string{"3:r:1:bob"}) {
		t.Fatalf("left in the index: %q", m)
	}
	mu.Lock()
	got := slices.Clone(told)
	mu.Unlock()
	for i := range got {
		got[i] = got[i][:len(got[i])-len(" on a")]
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"r2/ann", "r:1/ann"}) {
		t.Fatalf("lapses told: %q", told)
	}
	// Bob's socket on the live node still counts: his leaving is the last.
	if last, err := a.Exit(ctx, "r:1", "bob", "a1"); !last || err != nil {
		t.Fatalf("bob's exit: %v %v", last, err)
	}
}
