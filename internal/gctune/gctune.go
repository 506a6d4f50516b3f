// Package gctune sets the garbage collector for a server holding many
// idle connections: their memory is long-lived and they allocate little,
// so a lower GOGC than the default costs little CPU and keeps the heap,
// and so the RSS, closer to what is live.
package gctune

import (
	"os"
	"runtime/debug"
)

// Percent is the GOGC used when the environment sets none.
const Percent = 50

// Apply sets GOGC to Percent unless GOGC is set in the environment.
func Apply() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(Percent)
	}
}
