package redisstreams_test

import (
	"github.com/heraldio/herald/socketio"
	"github.com/heraldio/herald/test/support"
)

var (
	redisURL  = support.RedisURL
	client    = support.RedisClient
	uniqueKey = support.UniqueKey
)

type node struct {
	io     *socketio.Server
	url    string
	stream string
}

func join(io *socketio.Server) {
	io.On("join", func(e *socketio.Event) {
		r, _ := e.Args.String(0)
		e.Socket.Join(r)
		_ = e.Ack()
	})
}
