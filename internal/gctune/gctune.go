// Package gctune sets the garbage collector for a server holding many
// idle connections: their memory is long-lived and they allocate little,
// so a lower GOGC than the default costs little CPU and keeps the heap,
// and so the RSS, closer to what is live.
package gctune

import (
	"context"
	"os"
	"runtime/debug"
	"time"
)

// Percent is the GOGC used when the environment sets none.
const Percent = 50

// Apply sets GOGC to Percent unless GOGC is set in the environment.
func Apply() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(Percent)
	}
}

// ReleaseAfterChurn watches count (the open connections) every interval
// and, once it has fallen by at least half and by min since its last peak,
// collects garbage and returns the freed memory to the system: a server
// that served a crowd and is quiet again otherwise keeps that memory until
// the runtime's periodic collection, minutes later. It returns when ctx is
// done.
func ReleaseAfterChurn(ctx context.Context, interval time.Duration, min int, count func() int) {
	t := time.NewTicker(interval)
	defer t.Stop()
	peak := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n := count()
		if n > peak {
			peak = n
			continue
		}
		if peak-n >= min && n <= peak/2 {
			debug.FreeOSMemory()
			peak = n
		}
	}
}
