// Command testsuite runs a server configured as the official Engine.IO v4
// and Socket.IO v5 protocol test suites expect: port 3000, pingInterval
// 300 ms, pingTimeout 200 ms, maxPayload 1e6, connectTimeout 1 s, an
// Engine.IO echo server on /engine.io/ and the Socket.IO handlers of the
// spec on /socket.io/. See the README for running the suites.
package main

import (
	"log"
	"net/http"
	"os"
	"time"

	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/socketio"
)

type echo struct{ c *engineio.Conn }

func (e echo) OnMessage(data []byte, binary bool) { _ = e.c.Send(engineio.NewMessage(data, binary)) }
func (e echo) OnClose(engineio.Reason, error)     {}

func main() {
	eopts := engineio.Options{
		PingInterval: 300 * time.Millisecond,
		PingTimeout:  200 * time.Millisecond,
		MaxPayload:   1e6,
		CORS:         &engineio.CORS{Origins: []string{"*"}},
	}
	eio := engineio.NewServer(&eopts, func(c *engineio.Conn) engineio.Handler { return echo{c} })

	io := socketio.NewServer(&socketio.Options{Engine: eopts, ConnectTimeout: time.Second})
	io.OnConnection(func(s *socketio.Socket) {
		_ = s.Emit("auth", s.Handshake().Auth)
		s.On("message", func(e *socketio.Event) { _ = s.Emit("message-back", e.Args) })
		s.On("message-with-ack", func(e *socketio.Event) { _ = e.Ack(e.Args) })
	})
	io.Of("/custom").OnConnection(func(s *socketio.Socket) {
		_ = s.Emit("auth", s.Handshake().Auth)
	})

	mux := http.NewServeMux()
	mux.Handle("/engine.io/", eio)
	mux.Handle("/socket.io/", io)
	addr := ":3000"
	if p := os.Getenv("PORT"); p != "" {
		addr = ":" + p
	}
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}
