package redisstreams_test

import (
	"github.com/redis/go-redis/v9"

	"github.com/heraldio/herald/adapter/redisstreams"
	"github.com/heraldio/herald/socketio"
)

// With the streams adapter, connection state recovery works across
// nodes: a client that comes back on another node gets what it missed.
func ExampleNew() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
	io := socketio.NewServer(&socketio.Options{
		Adapter:  redisstreams.New(rdb, &redisstreams.Options{StreamName: "myapp"}),
		Recovery: &socketio.RecoveryOptions{},
	})
	io.OnConnection(func(s *socketio.Socket) {
		if s.Recovered() {
			return // rooms, data and missed packets are back
		}
		s.Join("lobby")
	})
}
