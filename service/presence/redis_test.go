package presence

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldio/herald/test/support"
)

func TestClusterPresenceAcrossNodesAndNodeDeath(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatal("redis:", err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	prefix := "herald-test-presence-" + hex.EncodeToString(b)
	vanished := make(chan Entry, 10)
	mk := func() *Cluster {
		return NewCluster(rdb, ClusterOptions{Prefix: prefix, Grace: 10 * time.Millisecond, TTL: 600 * time.Millisecond,
			Interval: 100 * time.Millisecond, OnChange: func(Change) {}, OnVanish: func(e Change) { vanished <- e.Entry }})
	}
	a, bnode := mk(), mk()
	defer bnode.Close()
	a.Connect("ann", "Ann", nil)
	bnode.Connect("bob", "Bob", nil)
	time.Sleep(150 * time.Millisecond)
	list := bnode.List()
	if len(list) != 2 || list[0].UserID != "ann" {
		t.Fatalf("node B sees %v", list)
	}
	a.Abandon() // node A dies without cleaning up
	select {
	case e := <-vanished:
		if e.UserID != "ann" || e.Status != Offline {
			t.Fatalf("vanished %+v", e)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a dead node's user never went offline")
	}
	if list := bnode.List(); len(list) != 1 || list[0].UserID != "bob" {
		t.Fatalf("after node death: %v", list)
	}
}

// hasUser reports whether list holds userID with a status other than
// offline.
func hasUser(list []Entry, userID string) bool {
	for _, e := range list {
		if e.UserID == userID && e.Status != Offline {
			return true
		}
	}
	return false
}

// twoNodes starts nodes A (with user ann) and B (with bob) on rdb, B
// telling its clients about other nodes' users with tell, and waits until
// B sees ann.
func twoNodes(t *testing.T, rdb redis.UniversalClient, tell func(Change)) (a, b *Cluster) {
	t.Helper()
	prefix := support.UniqueKey()
	mk := func(tell func(Change)) *Cluster {
		c := NewCluster(rdb, ClusterOptions{Prefix: prefix, Grace: 10 * time.Millisecond, TTL: 600 * time.Millisecond,
			Interval: 100 * time.Millisecond, OnChange: func(Change) {}, OnVanish: tell})
		t.Cleanup(c.Close)
		return c
	}
	a, b = mk(func(Change) {}), mk(tell)
	a.Connect("ann", "Ann", nil)
	b.Connect("bob", "Bob", nil)
	time.Sleep(150 * time.Millisecond)
	if !hasUser(b.List(), "ann") {
		t.Fatalf("node B sees %v", b.List())
	}
	return a, b
}

// Redis restarted empty: each node writes its whole state again, so the
// other nodes see its users online again within a few intervals.
func TestClusterPresenceHealsAfterRedisDataLoss(t *testing.T) {
	srv := support.StartRedis(t)
	var mu sync.Mutex
	var told []Entry // what node B told its clients about other nodes' users
	_, b := twoNodes(t, srv.Client(), func(e Change) { mu.Lock(); told = append(told, e.Entry); mu.Unlock() })
	srv.Restart()
	for deadline := time.Now().Add(3 * time.Second); !hasUser(b.List(), "ann"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after Redis lost its data node B never saw ann again: %v", b.List())
		}
	}
	time.Sleep(300 * time.Millisecond) // a few more sweeps
	mu.Lock()
	defer mu.Unlock()
	if n := len(told); n > 0 && told[n-1].Status == Offline {
		t.Fatalf("node B's clients were last told %+v", told[n-1])
	}
}

// A hung Redis (SIGSTOP) neither slows Connect nor makes anyone vanish;
// once it is back (its keys past their TTL), the view is whole again.
func TestClusterPresenceHungRedis(t *testing.T) {
	srv := support.StartRedis(t)
	// go-redis defaults, as the service makes its client from a URL.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	vanished := make(chan Entry, 10)
	a, b := twoNodes(t, rdb, func(e Change) {
		select {
		case vanished <- e.Entry:
		default:
		}
	})
	srv.Pause()
	t.Cleanup(srv.Resume)
	start := time.Now()
	a.Connect("cid", "Cid", nil)
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("Connect took %v while Redis was hung", d)
	}
	select {
	case e := <-vanished:
		t.Fatalf("%s reported offline while Redis was hung", e.UserID)
	case <-time.After(time.Second): // past the TTL
	}
	srv.Resume()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		list := b.List()
		if hasUser(list, "ann") && hasUser(list, "cid") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Redis came back node B sees %v", list)
		}
	}
}
