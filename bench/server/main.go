// Command server is Herald's benchmark server: the same handlers as
// bench/node/server.mjs, the Node reference, so the load tool measures
// both doing the same work.
//
//	echo (...args, ack)      acks with the arguments
//	join (room, ack)         joins the room, acks
//	fanout (room, payload)   io.to(room).emit("fanout", payload)
//
// PORT sets the port (3000), PARSER the Socket.IO parser: json (the
// default) or msgpack (socket.io-msgpack-parser's packets). It prints
// "listening on <port> pid <pid>".
package main

import (
	"context"
	"fmt"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/heraldio/herald/socketio"
)

func main() {
	parser, err := parserNamed(os.Getenv("PARSER"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	io := socketio.NewServer(&socketio.Options{Parser: parser})
	io.On("echo", func(e *socketio.Event) { _ = e.Ack(e.Args) })
	io.On("join", func(e *socketio.Event) {
		if room, ok := e.Args.String(0); ok {
			e.Socket.Join(room)
		}
		_ = e.Ack()
	})
	io.On("fanout", func(e *socketio.Event) {
		room, _ := e.Args.String(0)
		_ = io.To(room).Emit("fanout", e.Args.Slice(1))
	})
	if addr := os.Getenv("PPROF"); addr != "" { // profiles while measuring: PPROF=127.0.0.1:6060
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "3000"
	}
	srv := &http.Server{Addr: ":" + port, Handler: io}
	go func() {
		if err := srv.ListenAndServe(); err != http.ErrServerClosed {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}()
	fmt.Printf("listening on %s pid %d\n", port, os.Getpid())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = io.Shutdown(ctx)
	_ = srv.Shutdown(ctx)
}

// parserNamed returns the parser PARSER names ("" is json).
func parserNamed(name string) (socketio.Parser, error) {
	switch name {
	case "", "json":
		return socketio.JSONParser, nil
	case "msgpack":
		return socketio.MsgpackParser, nil
	}
	return 0, fmt.Errorf("PARSER=%q: want json or msgpack", name)
}
