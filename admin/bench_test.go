package admin_test

import (
	"context"
	"testing"
	"time"

	"github.com/heraldio/herald/admin"
	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/socketio"
	"github.com/heraldio/herald/test/support"
)

// BenchmarkJoinLeave is what a room change costs a socket: without a
// monitor (the library's one atomic load), and with the admin in
// development mode (the rooms looked up before, two notifications
// queued) or production mode (no notification).
func BenchmarkJoinLeave(b *testing.B) {
	for _, mode := range []string{"none", "development", "production"} {
		b.Run(mode, func(b *testing.B) {
			io := socketio.NewServer(nil)
			if mode != "none" {
				a, err := admin.Instrument(io, admin.Options{NoAuth: true, Production: mode == "production"})
				if err != nil {
					b.Fatal(err)
				}
				defer func() { _ = a.Close(context.Background()) }()
			}
			url := support.Serve(b, io)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := client.Dial(ctx, url, &client.Options{DisableReconnection: true})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			s := io.Of("/").Socket(c.ID())
			b.ReportAllocs()
			for b.Loop() {
				s.Join("room")
				s.Leave("room")
			}
		})
	}
}
