package redisadapter_test

import (
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldio/herald/adapter/redisadapter"
	"github.com/heraldio/herald/socketio"
)

// Nodes that share a Redis deliver each other's broadcasts. Give the
// client timeouts: go-redis honours a context's deadline only with
// ContextTimeoutEnabled.
func ExampleNew() {
	rdb := redis.NewClient(&redis.Options{
		Addr:                  "127.0.0.1:6379",
		ContextTimeoutEnabled: true,
		DialTimeout:           time.Second,
		ReadTimeout:           time.Second,
		WriteTimeout:          time.Second,
	})
	io := socketio.NewServer(&socketio.Options{Adapter: redisadapter.New(rdb, nil)})
	_ = io.To("room").Emit("hello", "from any node")
}

// The sharded adapter uses Redis 7's SPUBLISH, one channel per room.
func ExampleNewSharded() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
	_ = socketio.NewServer(&socketio.Options{Adapter: redisadapter.NewSharded(rdb, &redisadapter.Options{Key: "myapp"})})
}
