package rawsock

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRawIO(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	if err := unix.SetNonblock(fds[1], true); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	if _, err := Read(fds[1], buf); err != unix.EAGAIN {
		t.Fatalf("empty read: %v", err)
	}
	var bufs [][]byte
	var want []byte
	for i := 0; i < MaxIovecs+10; i++ {
		b := []byte{byte(i), byte(i)}
		bufs = append(bufs, b, nil)
		if i < MaxIovecs {
			want = append(want, b...)
		}
	}
	n, err := Writev(fds[0], bufs) // the first MaxIovecs non-empty buffers
	if err != nil || n != len(want) {
		t.Fatalf("writev: %d %v", n, err)
	}
	if n, err := Write(fds[0], []byte("end")); err != nil || n != 3 {
		t.Fatalf("write: %d %v", n, err)
	}
	n, err = Read(fds[1], buf)
	if err != nil || !bytes.Equal(buf[:n], append(want, "end"...)) {
		t.Fatalf("read %d %v", n, err)
	}
}
