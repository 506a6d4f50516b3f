package admin_test

import (
	"context"
	"log"
	"net/http"
	"time"

	"github.com/heraldio/herald/admin"
	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/socketio"
)

// A server the hosted UI (https://admin.socket.io) may log in to as
// admin, password changeit (its bcrypt hash).
func ExampleInstrument() {
	io := socketio.NewServer(&socketio.Options{Engine: engineio.Options{
		// The UI connects with credentials, from its own origin.
		CORS: &engineio.CORS{Origins: []string{"https://admin.socket.io"}, Credentials: true},
	}})
	a, err := admin.Instrument(io, admin.Options{
		Auth: &admin.BasicAuth{Username: "admin", PasswordHash: "$2a$10$E7/O7eiMG9ohiSKG/qxzfeLutZDC8.fHJ5JuRTqZVJU5.QxTvJa0e"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Close(ctx)
	}()
	http.Handle("/socket.io/", io)
	log.Fatal(http.ListenAndServe(":3000", nil))
}
