package chat

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldio/herald/service/store"
)

// hangingStore's CreateMessage waits for its context while hung.
type hangingStore struct {
	store.Store
	hung  atomic.Bool
	calls atomic.Int32
}

func (h *hangingStore) CreateMessage(ctx context.Context, m store.Message) (store.Message, error) {
	h.calls.Add(1)
	if h.hung.Load() {
		<-ctx.Done()
		return store.Message{}, ctx.Err()
	}
	return m, nil
}

// While the store hangs, one call pays the timeout and the others fail at
// once; a probe with a short deadline finds it back.
func TestGuardedStoreFailsFast(t *testing.T) {
	h := &hangingStore{}
	g := newGuardedStore(h, time.Second)
	g.open, g.probe = 100*time.Millisecond, 50*time.Millisecond
	call := func(timeout time.Duration) (time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		start := time.Now()
		_, err := g.CreateMessage(ctx, store.Message{RoomID: "r"})
		return time.Since(start), err
	}
	if _, err := call(time.Second); err != nil {
		t.Fatal(err)
	}
	h.hung.Store(true)
	if _, err := call(200 * time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("first call into a hung store: %v", err)
	}
	before := h.calls.Load()
	for i := 0; i < 20; i++ {
		if d, err := call(time.Second); !errors.Is(err, errStoreDown) || d > 20*time.Millisecond {
			t.Fatalf("call %d while open: %v after %v", i, err, d)
		}
	}
	if h.calls.Load() != before {
		t.Fatal("calls reached the store while the guard was open")
	}
	time.Sleep(120 * time.Millisecond)
	if d, err := call(time.Second); !errors.Is(err, context.DeadlineExceeded) || d > 500*time.Millisecond {
		t.Fatalf("probe: %v after %v, want the probe's short deadline", err, d)
	}
	h.hung.Store(false)
	time.Sleep(120 * time.Millisecond)
	if _, err := call(time.Second); err != nil {
		t.Fatalf("after the store is back: %v", err)
	}
	if _, err := call(time.Second); err != nil {
		t.Fatalf("closed again: %v", err)
	}
}
