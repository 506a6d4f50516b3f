package engineio_test

import (
	"net/http"

	"github.com/heraldio/herald/engineio"
)

// echoHandler sends every message back on the connection it came from.
type echoHandler struct{ c *engineio.Conn }

func (h echoHandler) OnMessage(data []byte, binary bool) {
	_ = h.c.Send(engineio.NewMessage(data, binary))
}
func (h echoHandler) OnClose(reason engineio.Reason, err error) {}

// An Engine.IO echoHandler server: each connection gets a Handler, whose
// OnMessage runs on the connection's read path, one message at a time.
func ExampleNewServer() {
	srv := engineio.NewServer(&engineio.Options{PerMessageDeflate: true}, func(c *engineio.Conn) engineio.Handler {
		return echoHandler{c}
	})
	http.Handle("/engine.io/", srv)
	_ = http.ListenAndServe(":3000", nil)
}
