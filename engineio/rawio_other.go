//go:build !linux

package engineio

import "golang.org/x/sys/unix"

func rawWrite(fd int, b []byte) (int, error) { return unix.Write(fd, b) }

func rawRead(fd int, b []byte) (int, error) { return unix.Read(fd, b) }

func rawWritev(fd int, bufs [][]byte) (int, error) {
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
