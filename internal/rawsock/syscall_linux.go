package rawsock

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The sockets these are used on are non-blocking, so the calls return at
// once: they are made without telling the Go scheduler (RawSyscall). A
// regular system call, made while every P was idle, also wakes the
// runtime's monitor thread, which then polls every 20 µs for a while: a
// server answering bursts of messages would pay that wake-up for each
// burst.

// Write is write(2) on a non-blocking descriptor.
func Write(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

// Read is read(2) on a non-blocking descriptor.
func Read(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

// MaxIovecs bounds the buffers of one Writev; what is left is written as
// after any partial write.
const MaxIovecs = 64

// Writev writes bufs with one writev(2).
func Writev(fd int, bufs [][]byte) (int, error) {
	var v [MaxIovecs]unix.Iovec
	n := 0
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		if n == MaxIovecs {
			break
		}
		v[n].Base = &b[0]
		v[n].SetLen(len(b))
		n++
	}
	if n == 0 {
		return 0, nil
	}
	w, _, e := unix.RawSyscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&v[0])), uintptr(n))
	if e != 0 {
		return -1, e
	}
	return int(w), nil
}
