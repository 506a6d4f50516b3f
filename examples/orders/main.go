// Command orders is a shop's real-time server: Herald's service embedded
// in a Go program that adds an order:* feature next to the built-in chat,
// presence and notifications, as the seed's notifyNewOrder does.
//
// A customer's client emits "order:create" {items: [{sku, quantity,
// price}]} with an ack and gets {order} back (or {error}); the order is
// kept in the program's own store, the customer's tabs get
// "order:created" {orderId, status} and a stored notification, and every
// admin gets "admin:new-order" {orderId, customer, total}. "order:list"
// acks the user's orders, oldest first (every order for an admin).
//
//	go run ./examples/orders -config herald.yaml   # flags, HERALD_* and the config file as herald takes them
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/heraldio/herald/service"
	"github.com/heraldio/herald/service/auth"
	"github.com/heraldio/herald/service/notify"
	"github.com/heraldio/herald/socketio"
)

func main() {
	cfg, err := service.Load(os.Args[1:], os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "orders:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	shop, err := newShop(ctx, cfg)
	if err != nil {
		slog.Error("cannot start", "err", err)
		os.Exit(1)
	}
	slog.Info("orders: Herald with an order:* feature", "addr", cfg.Addr)
	if err := shop.svc.Run(ctx); err != nil {
		slog.Error("stopped", "err", err)
		os.Exit(1)
	}
}

// Item is one line of an order.
type Item struct {
	SKU      string  `json:"sku"`
	Quantity int     `json:"quantity"`
	Price    float64 `json:"price"`
}

// Order is what the shop keeps of an order.
type Order struct {
	ID           string    `json:"id"`
	CustomerID   string    `json:"customerId"`
	CustomerName string    `json:"customerName"`
	Items        []Item    `json:"items"`
	Total        float64   `json:"total"`
	Status       string    `json:"status"`
	CreatedAt    time.Time `json:"createdAt"`
}

// orders is the shop's own small store: in memory, safe for concurrent use.
type orders struct {
	mu   sync.Mutex
	next int
	all  []Order
}

func (o *orders) add(ord Order) Order {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.next++
	ord.ID = fmt.Sprintf("ord-%d", o.next)
	ord.CreatedAt = time.Now().UTC()
	o.all = append(o.all, ord)
	return ord
}

// of returns the orders of a customer, or every order for "".
func (o *orders) of(customerID string) []Order {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := []Order{}
	for _, ord := range o.all {
		if customerID == "" || ord.CustomerID == customerID {
			out = append(out, ord)
		}
	}
	return out
}

// shop is the service with the order feature.
type shop struct {
	svc    *service.Service
	orders *orders
}

// newShop builds the service and adds the order events to its "/"
// namespace, behind its authentication and rate limits.
func newShop(ctx context.Context, cfg service.Config, opts ...service.Option) (*shop, error) {
	svc, err := service.New(ctx, cfg, opts...)
	if err != nil {
		return nil, err
	}
	s := &shop{svc: svc, orders: &orders{}}
	svc.On("/", "order:create", s.create)
	svc.On("/", "order:list", s.list)
	return s, nil
}

// Limits of one order.
const (
	maxItems    = 100
	maxQuantity = 1000
)

// badOrder is what a client reads of an order the shop refuses.
const badOrder = "Invalid order: items [{sku, quantity, price}], 1 to 100 of them, quantity 1 to 1000, price not negative"

// parseItems reads {items} strictly: unknown fields and wrong types are
// refused, as are empty, huge or negative orders.
func parseItems(raw json.RawMessage) ([]Item, bool) {
	var in struct {
		Items []Item `json:"items"`
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if len(raw) == 0 || dec.Decode(&in) != nil || len(in.Items) == 0 || len(in.Items) > maxItems {
		return nil, false
	}
	for _, it := range in.Items {
		if it.SKU == "" || len(it.SKU) > 64 || it.Quantity < 1 || it.Quantity > maxQuantity || it.Price < 0 || it.Price > 1e6 {
			return nil, false
		}
	}
	return in.Items, true
}

func (s *shop) create(e *socketio.Event) {
	items, ok := parseItems(e.Args.Raw(0))
	if !ok {
		_ = e.Ack(map[string]any{"error": badOrder})
		return
	}
	u, _ := auth.UserOf(e.Socket)
	total := 0.0
	for _, it := range items {
		total += float64(it.Quantity) * it.Price
	}
	ord := s.orders.add(Order{CustomerID: u.ID, CustomerName: u.Name, Items: items, Total: total, Status: "pending"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.notifyNewOrder(ctx, ord); err != nil {
		slog.Warn("orders: notify", "order", ord.ID, "err", err)
	}
	_ = e.Ack(map[string]any{"order": ord})
}

// notifyNewOrder is the seed's: order:created to the customer's tabs,
// admin:new-order to every admin, and a stored notification the customer
// sees even if offline now.
func (s *shop) notifyNewOrder(ctx context.Context, ord Order) error {
	main := s.svc.Namespace("/")
	err1 := main.To(service.UserRoom(ord.CustomerID)).Emit("order:created",
		map[string]any{"orderId": ord.ID, "status": ord.Status})
	err2 := main.To(service.RoleRoom("admin")).Emit("admin:new-order",
		map[string]any{"orderId": ord.ID, "customer": ord.CustomerName, "total": ord.Total})
	_, err3 := s.svc.Notifier().Send(ctx, notify.Target{UserID: ord.CustomerID},
		notify.Content{Type: "order", Title: "Order received", Message: fmt.Sprintf("#%s, total %.2f", ord.ID, ord.Total)})
	return errors.Join(err1, err2, err3)
}

func (s *shop) list(e *socketio.Event) {
	u, _ := auth.UserOf(e.Socket)
	who := u.ID
	if u.HasRole("admin") {
		who = ""
	}
	_ = e.Ack(map[string]any{"orders": s.orders.of(who)})
}
