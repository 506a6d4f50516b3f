package service_test

import (
	"context"
	"log"
	"net/http"
	"os"
	"os/signal"

	"github.com/heraldio/herald/service"
	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/socketio"
)

// A program that runs the service with an event of its own until it is
// interrupted.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg := service.DefaultConfig()
	cfg.JWTSecret = os.Getenv("JWT_SECRET")
	svc, err := service.New(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	svc.On("/", "order:create", func(e *socketio.Event) {
		u, _ := auth.UserOf(e.Socket)
		_ = svc.Namespace("/").To(service.RoleRoom("admin")).Emit("admin:new-order", map[string]any{"customer": u.Name})
		_ = e.Ack(map[string]any{"ok": true})
	})
	if err := svc.Run(ctx); err != nil {
		log.Fatal(err)
	}
}

// The service mounted on a program's own server, next to its routes.
func ExampleService_Handler() {
	ctx := context.Background()
	svc, err := service.New(ctx, service.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Shutdown(ctx)
	mux := http.NewServeMux()
	mux.HandleFunc("/shop/", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("the shop")) })
	mux.Handle("/", svc.Handler()) // /socket.io/, /api/, /healthz, /metrics, the web app
	log.Fatal(http.ListenAndServe(":8080", mux))
}

// A program's namespace, authenticated as the built-in ones.
func ExampleService_Namespace() {
	svc, err := service.New(context.Background(), service.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	svc.OnConnection("/orders", func(s *socketio.Socket) {
		u, _ := auth.UserOf(s)
		s.Join("customer:" + u.ID)
	})
	svc.On("/orders", "order:track", func(e *socketio.Event) { _ = e.Ack(map[string]any{"status": "shipped"}) })
}
