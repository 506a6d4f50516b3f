//go:build !linux

package rawsock

import "golang.org/x/sys/unix"

// Write is write(2).
func Write(fd int, b []byte) (int, error) { return unix.Write(fd, b) }

// Read is read(2).
func Read(fd int, b []byte) (int, error) { return unix.Read(fd, b) }

// Writev writes bufs in order, one write(2) each.
func Writev(fd int, bufs [][]byte) (int, error) {
	total := 0
	for _, b := range bufs {
		n, err := unix.Write(fd, b)
		total += max(n, 0)
		if err != nil || n < len(b) {
			return total, err
		}
	}
	return total, nil
}
