// Command interop is the Go side of the interop suite in interop/: the
// same handlers as interop/ref-server.mjs (the Node reference), so the one
// suite, driven by the official socket.io-client, runs against both.
//
// Environment: PORT (default 3000), PING_INTERVAL and PING_TIMEOUT in ms,
// REDIS_URL to join a cluster through the Redis adapter, PARSER=msgpack
// for socket.io-msgpack-parser's wire format, ALLOW_EIO3=1 for
// socket.io-client 2.x too (interop/eio3).
package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldio/herald/adapter/redisadapter"
	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/socketio"
)

func envMillis(name string, def time.Duration) time.Duration {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return time.Duration(v) * time.Millisecond
	}
	return def
}

// onEcho answers with the same arguments: as an ack when the client asked
// for one, else as an "echo" event.
func onEcho(e *socketio.Event) {
	if e.HasAck() {
		_ = e.Ack(e.Args)
		return
	}
	_ = e.Socket.Emit("echo", e.Args)
}

func first(a socketio.Args) any {
	if a.Len() == 0 {
		return nil
	}
	if b, ok := a.Bytes(0); ok {
		return b
	}
	return a.Raw(0)
}

func main() {
	var adapter socketio.AdapterFactory
	if u := os.Getenv("REDIS_URL"); u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			log.Fatal(err)
		}
		adapter = redisadapter.New(redis.NewClient(opt), nil)
	}
	parser := socketio.JSONParser
	if os.Getenv("PARSER") == "msgpack" {
		parser = socketio.MsgpackParser
	}
	io := socketio.NewServer(&socketio.Options{
		Adapter: adapter,
		Parser:  parser,
		Engine: engineio.Options{
			PingInterval: envMillis("PING_INTERVAL", 25*time.Second),
			PingTimeout:  envMillis("PING_TIMEOUT", 20*time.Second),
			MaxPayload:   1e6,
			CORS:         &engineio.CORS{Origins: []string{"*"}},
			AllowEIO3:    os.Getenv("ALLOW_EIO3") == "1",
		},
		Recovery: &socketio.RecoveryOptions{MaxDisconnectionDuration: 30 * time.Second},
	})
	main := io.Of("/")
	main.Use(func(s *socketio.Socket) error {
		var auth struct {
			Token string `json:"token"`
		}
		h := s.Handshake()
		_ = h.BindAuth(&auth)
		if auth.Token == "" { // a v2 client has no auth payload on "/": its token is in the query
			auth.Token = h.Query.Get("token")
		}
		if auth.Token == "bad" {
			return &socketio.ConnectError{Message: "not authorized", Data: map[string]any{"code": 401}}
		}
		return nil
	})
	main.OnConnection(func(s *socketio.Socket) {
		_ = s.Emit("welcome", map[string]any{"id": s.ID(), "auth": s.Handshake().Auth, "recovered": s.Recovered()})
	})
	// Handlers registered on the namespace cost nothing per socket.
	main.On("echo", onEcho)
	main.On("join", func(e *socketio.Event) {
		if room, ok := e.Args.String(0); ok {
			e.Socket.Join(room)
		}
		_ = e.Ack(e.Socket.Rooms())
	})
	main.On("leave", func(e *socketio.Event) {
		if room, ok := e.Args.String(0); ok {
			e.Socket.Leave(room)
		}
		_ = e.Ack(e.Socket.Rooms())
	})
	main.On("broadcast", func(e *socketio.Event) {
		room, _ := e.Args.String(0)
		_ = e.Socket.To(room).Emit("broadcast", e.Args.Slice(1))
	})
	main.On("broadcast-all", func(e *socketio.Event) {
		_ = main.Emit("broadcast-all", e.Args)
	})
	main.On("ask", func(e *socketio.Event) {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			a, err := e.Socket.EmitWithAck(ctx, "question", "q1")
			if err != nil {
				_ = e.Ack(map[string]any{"err": true})
				return
			}
			_ = e.Ack(map[string]any{"answer": first(a)})
		}()
	})
	main.On("ask-all", func(e *socketio.Event) {
		room, _ := e.Args.String(0)
		var ms int
		_ = e.Args.Decode(1, &ms)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(ms)*time.Millisecond)
			defer cancel()
			res, err := main.To(room).EmitWithAck(ctx, "question", "q-all")
			answers := make([]any, 0, len(res))
			for _, a := range res {
				answers = append(answers, first(a))
			}
			_ = e.Ack(map[string]any{"err": err != nil, "responses": answers})
		}()
	})
	main.On("drop", func(e *socketio.Event) { _ = e.Socket.Conn().Close() })
	main.On("kick-me", func(e *socketio.Event) { e.Socket.Disconnect(true) })
	main.On("count", func(e *socketio.Event) {
		all, _ := main.FetchSockets(context.Background())
		_ = e.Ack(len(all))
	})
	main.On("kick-room", func(e *socketio.Event) {
		if room, ok := e.Args.String(0); ok {
			main.In(room).DisconnectSockets(false)
		}
	})
	hello := func(s *socketio.Socket) {
		_ = s.Emit("hello", map[string]any{"nsp": s.Namespace().Name()})
		s.On("whoami", func(e *socketio.Event) { _ = e.Ack(map[string]any{"id": s.ID(), "auth": s.Handshake().Auth}) })
		s.On("echo", onEcho)
	}
	io.Of("/custom").OnConnection(hello)
	io.OfRegexp(regexp.MustCompile(`^/dyn-\w+$`)).OnConnection(hello)

	port := os.Getenv("PORT")
	if port == "" {
		port = "3000"
	}
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: io}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("listening on %s\n", port)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = io.Shutdown(ctx)
	_ = srv.Shutdown(ctx)
}
