package presence

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
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
			Interval: 100 * time.Millisecond, OnChange: func(Entry) {}, OnVanish: func(e Entry) { vanished <- e }})
	}
	a, bnode := mk(), mk()
	defer bnode.Close()
	a.Connect("ann", "Ann")
	bnode.Connect("bob", "Bob")
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
