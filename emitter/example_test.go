package emitter_test

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldio/herald/emitter"
)

// Any Go process can emit to the clients of a cluster on Redis, without
// being a Socket.IO server itself.
func ExampleNew() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
	e := emitter.New(rdb, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = e.To("user:42").Emit(ctx, "order:shipped", map[string]any{"id": 7})
	_ = e.Of("/chat").To("room:general").Emit(ctx, "announcement", "maintenance at noon")
}
