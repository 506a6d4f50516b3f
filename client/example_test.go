package client_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/socketio"
)

func Example() {
	// A server that greets and answers.
	io := socketio.NewServer(nil)
	io.OnConnection(func(s *socketio.Socket) {
		var auth struct{ Name string }
		_ = s.Handshake().BindAuth(&auth)
		_ = s.Emit("greeting", "hello "+auth.Name)
		s.On("add", func(e *socketio.Event) {
			var a, b int
			_ = e.Args.Decode(0, &a)
			_ = e.Args.Decode(1, &b)
			_ = e.Ack(a + b)
		})
	})
	srv := httptest.NewServer(io)
	defer srv.Close()
	defer io.Shutdown(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// NewSocket, then handlers, then Connect: no event is missed.
	s, err := client.NewSocket(srv.URL, &client.Options{
		SocketOptions: client.SocketOptions{
			Auth: map[string]string{"Name": "gopher"},
			Resync: func(ctx context.Context, s *client.Socket) {
				// Reconnected: fetch the state again unless recovered.
			},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	greeted := make(chan string, 1)
	s.On("greeting", func(e *client.Event) {
		g, _ := e.Args.String(0)
		greeted <- g
	})
	s.Connect()
	if err := s.WaitConnected(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(<-greeted)

	sum, err := s.EmitWithAck(ctx, "add", 2, 3)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("2 + 3 =", string(sum.Raw(0)))
	// Output:
	// hello gopher
	// 2 + 3 = 5
}

func ExampleManager() {
	io := socketio.NewServer(nil)
	io.Of("/chat").OnConnection(func(s *socketio.Socket) {
		s.On("where", func(e *socketio.Event) { _ = e.Ack(s.Namespace().Name()) })
	})
	srv := httptest.NewServer(io)
	defer srv.Close()
	defer io.Shutdown(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := client.NewManager(srv.URL, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	// Two namespaces, one Engine.IO connection.
	main, chat := m.Socket("/", nil), m.Socket("/chat", nil)
	main.Connect()
	chat.Connect()
	if err := chat.WaitConnected(ctx); err != nil {
		fmt.Println(err)
		return
	}
	where, _ := chat.EmitWithAck(ctx, "where")
	fmt.Println(string(where.Raw(0)), main.WaitConnected(ctx))
	// Output: "/chat" <nil>
}
