//go:build !linux

package netpoll

import "syscall"

// Poller is not available on this system.
type Poller struct{}

// Desc is not available on this system.
type Desc struct{}

// New returns ErrUnsupported.
func New() (*Poller, error) { return nil, ErrUnsupported }

// Add returns ErrUnsupported.
func (p *Poller) Add(conn syscall.RawConn, onRead func(*Desc)) (*Desc, error) {
	return nil, ErrUnsupported
}

// Resume returns ErrUnsupported.
func (d *Desc) Resume() error { return ErrUnsupported }

// Close does nothing.
func (d *Desc) Close() {}

// Close does nothing.
func (p *Poller) Close() error { return nil }

// Trigger does nothing.
func (d *Desc) Trigger() {}
