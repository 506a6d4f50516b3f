// Package netpoll tells when idle connections become readable, so that a
// server holds no goroutine for a connection that has nothing to say.
//
// A Poller runs one goroutine that waits on epoll (Linux), parked in the Go
// runtime rather than blocked in a system call. Descriptors are
// edge-triggered: when one becomes readable its callback runs on a worker
// goroutine, reads until the socket is drained and calls Resume; events
// during the callback make it run again. So at most one callback runs per
// descriptor at a time, no system call re-arms it after each message, and
// a connection costs no goroutine between messages.
//
// On other systems New returns ErrUnsupported and callers fall back to a
// goroutine per connection.
package netpoll

import "errors"

// ErrUnsupported is returned by New where no poller is available.
var ErrUnsupported = errors.New("netpoll: not supported on this system")

// ErrClosed is returned after the Poller or the Desc has been closed.
var ErrClosed = errors.New("netpoll: closed")
