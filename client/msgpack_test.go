package client_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/socketio"
)

// TestMsgpackParser: a client and a server on socket.io-msgpack-parser's
// wire format, over each transport: auth, events, acks both ways
// (binary both ways: TestBinaryBothWays).
func TestMsgpackParser(t *testing.T) {
	for _, transports := range [][]string{{client.TransportWebSocket}, {client.TransportPolling}, nil} {
		name := "upgrade"
		if transports != nil {
			name = transports[0]
		}
		t.Run(name, func(t *testing.T) {
			answers := make(chan socketio.Args, 1)
			ts := newTestServer(t, &socketio.Options{Parser: socketio.MsgpackParser}, func(io *socketio.Server) {
				echoServer(io)
				io.OnConnection(func(s *socketio.Socket) {
					s.On("ask-me", func(e *socketio.Event) {
						go func() {
							ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
							defer cancel()
							if a, err := s.EmitWithAck(ctx, "question", "how many?"); err == nil {
								answers <- a
							}
						}()
					})
				})
			})
			welcome := make(chan socketio.Args, 1)
			s := connect(t, ts.url(), &client.Options{Parser: socketio.MsgpackParser, Transports: transports,
				SocketOptions: client.SocketOptions{Auth: map[string]any{"token": "t"}}}, func(s *client.Socket) {
				s.On("welcome", func(e *client.Event) { welcome <- e.Args })
				s.On("question", func(e *client.Event) { _ = e.Ack(42, []byte{7}) })
			})
			if w := recv(t, welcome, "welcome"); string(w.Raw(1)) != `{"token":"t"}` {
				t.Fatalf("welcome %v", w.Values())
			}
			a, err := s.EmitWithAck(ctxT(t), "echo", "x", 1.5, map[string]any{"k": []any{true, nil}})
			if err != nil || a.Len() != 3 || string(a.Raw(1)) != "1.5" || string(a.Raw(2)) != `{"k":[true,null]}` {
				t.Fatalf("echo ack %v %v", a.Values(), err)
			}
			_ = s.Emit("ask-me")
			ans := recv(t, answers, "the client's ack")
			if b, ok := ans.Bytes(1); string(ans.Raw(0)) != "42" || !ok || string(b) != "\x07" {
				t.Fatalf("server got %v", ans.Values())
			}
		})
	}
}

// TestNodeInteropMsgpack: the client with MsgpackParser against the Node
// reference with socket.io-msgpack-parser (HERALD_NODE_INTEROP=1).
func TestNodeInteropMsgpack(t *testing.T) {
	if os.Getenv("HERALD_NODE_INTEROP") != "1" {
		t.Skip("set HERALD_NODE_INTEROP=1 to run against the Node reference server")
	}
	url := startNodeReference(t, "PARSER=msgpack")
	for _, transports := range [][]string{{client.TransportWebSocket}, {client.TransportPolling}} {
		t.Run(transports[0], func(t *testing.T) {
			welcome := make(chan socketio.Args, 1)
			s := connect(t, url, &client.Options{Parser: socketio.MsgpackParser, Transports: transports,
				SocketOptions: client.SocketOptions{Auth: map[string]any{"token": "t1"}}}, func(s *client.Socket) {
				s.On("welcome", func(e *client.Event) { welcome <- e.Args })
				s.On("question", func(e *client.Event) { _ = e.Ack([]byte{7}) })
			})
			var w struct {
				ID   string          `json:"id"`
				Auth json.RawMessage `json:"auth"`
			}
			if err := recv(t, welcome, "welcome").Decode(0, &w); err != nil || w.ID != s.ID() || string(w.Auth) != `{"token":"t1"}` {
				t.Fatalf("welcome %+v %v, id %q", w, err, s.ID())
			}
			a, err := s.EmitWithAck(ctxT(t), "echo", "x", []byte{1, 2}, map[string]any{"nested": []byte{3}, "n": -1.5})
			if err != nil {
				t.Fatal(err)
			}
			vals := a.Values()
			if b, _ := a.Bytes(1); a.Len() != 3 || string(a.Raw(0)) != `"x"` || string(b) != "\x01\x02" ||
				string(vals[2].(map[string]any)["nested"].([]byte)) != "\x03" || vals[2].(map[string]any)["n"] != -1.5 {
				t.Fatalf("echo ack %v", vals)
			}
			// A server-to-client ack: the reference's ask asks the caller.
			a, err = s.EmitWithAck(ctxT(t), "ask")
			if err != nil {
				t.Fatal(err)
			}
			var ans struct {
				Answer *struct {
					Placeholder bool `json:"_placeholder"`
				} `json:"answer"`
			}
			if a.Decode(0, &ans) != nil || ans.Answer == nil || !ans.Answer.Placeholder {
				t.Fatalf("ask ack %s", a.Raw(0))
			}
		})
	}
}
