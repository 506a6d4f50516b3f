package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/socketio"
)

// TestMsgpackService: a service started with HERALD_PARSER=msgpack serves
// clients on socket.io-msgpack-parser: the Go client with MsgpackParser
// joins a room, send-message is acked with the stored message and its
// broadcast reaches another user; a client on the default parser does not
// get in.
func TestMsgpackService(t *testing.T) {
	svc, url := hardeningService(t, map[string]string{"HERALD_PARSER": "msgpack"})
	if svc.cfg.Parser != "msgpack" {
		t.Fatalf("parser %q", svc.cfg.Parser)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dial := func(ctx context.Context, user string, parser socketio.Parser) (*client.Socket, chan socketio.Args, error) {
		s, err := client.NewSocket(url+"/chat", &client.Options{Parser: parser, Transports: []string{client.TransportWebSocket},
			SocketOptions: client.SocketOptions{Auth: map[string]any{"token": token(t, user, time.Hour)}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		got := make(chan socketio.Args, 16)
		s.On("new-message", func(e *client.Event) { got <- e.Args })
		s.Connect()
		return s, got, s.WaitConnected(ctx)
	}
	alice, _, err := dial(ctx, "alice", socketio.MsgpackParser)
	if err != nil {
		t.Fatal(err)
	}
	bob, bobGot, err := dial(ctx, "bob", socketio.MsgpackParser)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*client.Socket{alice, bob} {
		if a, err := s.EmitWithAck(ctx, "join-room", "general"); err != nil || strings.Contains(string(a.Raw(0)), "error") {
			t.Fatalf("join-room: %s %v", a.Raw(0), err)
		}
	}
	a, err := alice.EmitWithAck(ctx, "send-message", map[string]any{"roomId": "general", "content": "over msgpack"})
	if err != nil {
		t.Fatal(err)
	}
	var ack struct {
		Message struct{ ID, RoomID, Content string } `json:"message"`
	}
	if err := a.Decode(0, &ack); err != nil || ack.Message.Content != "over msgpack" || ack.Message.ID == "" {
		t.Fatalf("send-message ack %s %v", a.Raw(0), err)
	}
	select {
	case m := <-bobGot:
		var msg struct {
			ID, Content string
			Author      struct{ ID string }
		}
		if err := m.Decode(0, &msg); err != nil || msg.ID != ack.Message.ID || msg.Content != "over msgpack" || msg.Author.ID != "alice" {
			t.Fatalf("new-message %s %v", m.Raw(0), err)
		}
	case <-ctx.Done():
		t.Fatal("bob got no new-message")
	}

	// Every client must speak the server's parser: one on JSON is not
	// connected (the server reads its text CONNECT as no packet at all).
	short, stop := context.WithTimeout(ctx, time.Second)
	defer stop()
	if s, _, err := dial(short, "carol", socketio.JSONParser); err == nil || s.Connected() {
		t.Fatal("a JSON client connected to a msgpack service")
	}
}
