package gctune

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestReleaseAfterChurnStops(t *testing.T) {
	var n atomic.Int64
	n.Store(5000)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		ReleaseAfterChurn(ctx, time.Millisecond, 1000, func() int { return int(n.Load()) })
		close(done)
	}()
	time.Sleep(10 * time.Millisecond)
	n.Store(10) // the crowd leaves: memory is released (no observable effect to assert beyond not hanging)
	time.Sleep(10 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("did not stop with its context")
	}
}
