package socketio_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/heraldio/herald/socketio"
)

func Example() {
	io := socketio.NewServer(nil)
	io.Use(func(s *socketio.Socket) error {
		var auth struct{ Token string }
		if err := s.Handshake().BindAuth(&auth); err != nil || auth.Token == "" {
			return &socketio.ConnectError{Message: "Authentication required"}
		}
		return nil
	})
	io.OnConnection(func(s *socketio.Socket) {
		s.On("join", func(e *socketio.Event) {
			room, _ := e.Args.String(0)
			s.Join(room)
			_ = s.To(room).Emit("user-joined", s.ID())
			_ = e.Ack(map[string]any{"ok": true})
		})
	})
	srv := httptest.NewServer(io) // or http.Handle("/socket.io/", io)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	defer io.Shutdown(ctx)
	fmt.Println(io.Path())
	// Output: /socket.io/
}

func ExampleBroadcastOperator_EmitWithAck() {
	io := socketio.NewServer(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	// Ask every socket in "room1"; answers come back as Args.
	answers, err := io.To("room1").EmitWithAck(ctx, "question", "ready?")
	fmt.Println(len(answers), err)
	_ = io.Shutdown(context.Background())
	// Output: 0 <nil>
}
