package presence_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	for deadline := time.Now().Add(5 * time.Second); len(rdb.Keys(ctx, "rooms:*").Val()) != 1; time.Sleep(20 * time.Millisecond) {
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
