package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/service"
	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/service/servicetest"
	"github.com/heraldio/herald/socketio"
)

const secret = "orders-test-secret-orders-test-secret"

// startShop runs the shop on a test server and returns its URL.
func startShop(t *testing.T) (*shop, string) {
	t.Helper()
	cfg, err := service.Load(nil, servicetest.Env(t, map[string]string{
		"HERALD_JWT_SECRET": secret, "HERALD_LOG_LEVEL": "error", "HERALD_CONN_PER_IP_PER_MINUTE": "1000"}))
	if err != nil {
		t.Fatal(err)
	}
	s, err := newShop(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, servicetest.Serve(t, s.svc)
}

func token(t *testing.T, id, name string, roles ...string) string {
	t.Helper()
	tok, err := auth.Mint([]byte(secret), auth.User{ID: id, Name: name, Roles: roles}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// dial connects a Go client to "/" and records the events it is sent.
func dial(t *testing.T, url, tok string, events ...string) (*client.Socket, map[string]chan socketio.Args) {
	t.Helper()
	s, err := client.NewSocket(url+"/", &client.Options{SocketOptions: client.SocketOptions{Auth: map[string]any{"token": tok}}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]chan socketio.Args{}
	for _, ev := range events {
		ch := make(chan socketio.Args, 10)
		got[ev] = ch
		s.On(ev, func(e *client.Event) { ch <- e.Args })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s.Connect()
	if err := s.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, got
}

func wait(t *testing.T, ch chan socketio.Args, what string) socketio.Args {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(20 * time.Second):
		t.Fatalf("no %s", what)
		return socketio.Args{}
	}
}

// An order created by a customer is acked, kept, and announced to the
// customer (event and stored notification) and to every admin, but to no
// other customer.
func TestOrderCreate(t *testing.T) {
	shop, url := startShop(t)
	_, adminGot := dial(t, url, token(t, "adm-1", "Ada", "user", "admin"), "admin:new-order", "order:created")
	customer, got := dial(t, url, token(t, "cus-1", "Carl", "user"), "order:created", "notification")
	_, otherGot := dial(t, url, token(t, "cus-2", "Cleo", "user"), "order:created", "admin:new-order")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ack, err := customer.EmitWithAck(ctx, "order:create", map[string]any{"items": []map[string]any{{"sku": "tea", "quantity": 2, "price": 4.5}}})
	if err != nil {
		t.Fatal(err)
	}
	var a struct{ Order Order }
	if err := ack.Decode(0, &a); err != nil || a.Order.ID == "" || a.Order.Total != 9 || a.Order.CustomerID != "cus-1" {
		t.Fatalf("ack %s: %v", ack.Raw(0), err)
	}
	var created struct{ OrderID, Status string }
	if err := wait(t, got["order:created"], "order:created").Decode(0, &created); err != nil || created.OrderID != a.Order.ID || created.Status != "pending" {
		t.Fatalf("order:created %+v %v", created, err)
	}
	if n := wait(t, got["notification"], "notification"); !strings.Contains(string(n.Raw(0)), `"type":"order"`) {
		t.Fatalf("notification %s", n.Raw(0))
	}
	var adm struct {
		OrderID, Customer string
		Total             float64
	}
	if err := wait(t, adminGot["admin:new-order"], "admin:new-order").Decode(0, &adm); err != nil || adm.OrderID != a.Order.ID || adm.Customer != "Carl" || adm.Total != 9 {
		t.Fatalf("admin:new-order %+v %v", adm, err)
	}
	if list := shop.orders.of("cus-1"); len(list) != 1 || list[0].ID != a.Order.ID {
		t.Fatalf("kept: %+v", list)
	}
	// The stored notification is there for the customer's next visit.
	if ns, unread, err := shop.svc.Notifier().List(ctx, "cus-1"); err != nil || unread != 1 || len(ns) != 1 {
		t.Fatalf("stored notification: %v %d %v", ns, unread, err)
	}
	select {
	case a := <-otherGot["order:created"]:
		t.Fatalf("another customer got order:created %s", a.Raw(0))
	case a := <-otherGot["admin:new-order"]:
		t.Fatalf("a customer got admin:new-order %s", a.Raw(0))
	case a := <-adminGot["order:created"]:
		t.Fatalf("the admin got the customer's order:created %s", a.Raw(0))
	case <-time.After(200 * time.Millisecond):
	}
}

// Bad orders are refused with an ack error, and nothing is kept.
func TestOrderCreateBadInput(t *testing.T) {
	shop, url := startShop(t)
	customer, _ := dial(t, url, token(t, "cus-1", "Carl", "user"))
	for _, arg := range []any{
		nil, "tea", 42, []any{}, map[string]any{}, map[string]any{"items": []any{}},
		map[string]any{"items": "tea"},
		map[string]any{"items": []map[string]any{{"sku": "tea", "quantity": 0, "price": 1}}},
		map[string]any{"items": []map[string]any{{"sku": "tea", "quantity": 1, "price": -1}}},
		map[string]any{"items": []map[string]any{{"sku": "", "quantity": 1, "price": 1}}},
		map[string]any{"items": []map[string]any{{"sku": "tea", "quantity": "1", "price": 1}}},
		map[string]any{"items": []map[string]any{{"sku": "tea", "quantity": 1, "price": 1, "discount": 1}}},
		map[string]any{"items": []map[string]any{{"sku": "tea", "quantity": 1, "price": 1}}, "admin": true},
		map[string]any{"items": []map[string]any{{"sku": strings.Repeat("x", 65), "quantity": 1, "price": 1}}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		ack, err := customer.EmitWithAck(ctx, "order:create", arg)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(ack.Raw(0)), "Invalid order") {
			t.Errorf("%v: ack %s", arg, ack.Raw(0))
		}
	}
	if list := shop.orders.of(""); len(list) != 0 {
		t.Fatalf("kept bad orders: %+v", list)
	}
	// A client without a token never reaches the feature.
	s, _ := client.NewSocket(url+"/", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s.Connect()
	if err := s.WaitConnected(ctx); err == nil || !strings.Contains(err.Error(), "Authentication required") {
		t.Fatalf("no token: %v", err)
	}
}

// The same flow through the official socket.io-client (interop/'s
// packages, installed from its lockfile when missing).
func TestOrderCreateOfficialClient(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node not installed")
	}
	modules, err := filepath.Abs(filepath.Join("..", "..", "interop", "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(modules, "socket.io-client")); err != nil {
		npm := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		npm.Dir = filepath.Dir(modules)
		if out, err := npm.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	_, url := startShop(t)
	cmd := exec.Command("node", "official-client.cjs")
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules, "URL="+url,
		"CUSTOMER_TOKEN="+token(t, "cus-1", "Carl", "user"), "ADMIN_TOKEN="+token(t, "adm-1", "Ada", "user", "admin"))
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node: %v\n%s%s", err, out, stderr)
	}
	var got struct {
		Refused      string
		Ack          struct{ Order Order }
		Bad          struct{ Error string }
		List         struct{ Orders []Order }
		Created      struct{ OrderID, Status string }
		Notification struct{ Type, Title string }
		Admin        struct {
			OrderID, Customer string
			Total             float64
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	id := got.Ack.Order.ID
	switch {
	case got.Refused != "Invalid token":
		t.Fatalf("forged token: %q", got.Refused)
	case id == "" || got.Ack.Order.Total != 12 || got.Ack.Order.CustomerName != "Carl":
		t.Fatalf("ack: %+v", got.Ack)
	case !strings.HasPrefix(got.Bad.Error, "Invalid order"):
		t.Fatalf("bad order: %+v", got.Bad)
	case len(got.List.Orders) != 1 || got.List.Orders[0].ID != id:
		t.Fatalf("admin's list: %+v", got.List)
	case got.Created.OrderID != id || got.Created.Status != "pending":
		t.Fatalf("order:created: %+v", got.Created)
	case got.Notification.Type != "order":
		t.Fatalf("notification: %+v", got.Notification)
	case got.Admin.OrderID != id || got.Admin.Customer != "Carl" || got.Admin.Total != 12:
		t.Fatalf("admin:new-order: %+v", got.Admin)
	}
}
