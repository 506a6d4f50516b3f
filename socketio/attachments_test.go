package socketio_test

import (
	"bytes"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/socketio"
	"github.com/heraldio/herald/test/support"
)

// waitFor fails the test unless cond holds within 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// binaryHeader is the text of an "up" event with n placeholders, with ack
// id 1 (nsp "" is the main namespace).
func binaryHeader(nsp string, n int) string {
	var b strings.Builder
	b.WriteString("45" + strconv.Itoa(n) + "-")
	if nsp != "" {
		b.WriteString(nsp + ",")
	}
	b.WriteString(`1["up"`)
	for i := 0; i < n; i++ {
		b.WriteString(`,{"_placeholder":true,"num":` + strconv.Itoa(i) + `}`)
	}
	b.WriteString("]")
	return b.String()
}

// uploadServer answers "up" with the total size of the attachments.
func uploadServer(t *testing.T, opts *socketio.Options) (*socketio.Server, string, *atomic.Int32) {
	io, url := newServer(t, opts)
	var calls atomic.Int32
	io.OnConnection(func(s *socketio.Socket) {
		s.On("up", func(e *socketio.Event) {
			calls.Add(1)
			n := 0
			for _, a := range e.Args.Attachments() {
				n += len(a)
			}
			_ = e.Ack(n)
		})
	})
	return io, url, &calls
}

func TestAttachmentBytesBoundPerConnection(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  socketio.Options
		limit int
	}{
		{"default is MaxPayload", socketio.Options{Engine: engineio.Options{MaxPayload: 1000}}, 1000},
		{"explicit", socketio.Options{MaxAttachmentBytes: 500}, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			io, url, calls := uploadServer(t, &tc.opts)
			c := dial(t, url)
			c.Connect("/", "")
			half := tc.limit / 2
			c.Send(binaryHeader("", 2))
			c.SendBinary(make([]byte, half))
			c.SendBinary(make([]byte, half))
			c.ExpectExact("431[" + strconv.Itoa(2*half) + "]")

			c.Send(binaryHeader("", 3))
			c.SendBinary(make([]byte, half))
			c.SendBinary(make([]byte, half))
			c.SendBinary(make([]byte, 1)) // one byte past the bound
			c.WaitClosed()
			if n := calls.Load(); n != 1 {
				t.Fatalf("handler ran %d times, want 1", n)
			}
			waitFor(t, "pending bytes released", func() bool { return io.AttachmentStats().PendingBytes == 0 })
			if st := io.AttachmentStats(); st.Closed != 1 {
				t.Fatalf("stats %+v: want 1 connection closed", st)
			}
		})
	}
}

func TestAttachmentTimeoutClosesAndReleases(t *testing.T) {
	io, url, calls := uploadServer(t, &socketio.Options{AttachmentTimeout: 300 * time.Millisecond})
	c := dial(t, url)
	c.Connect("/", "")
	c.Send(binaryHeader("", 2))
	c.SendBinary(make([]byte, 300)) // the second attachment never comes
	start := time.Now()
	c.WaitClosed()
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("closed after %v, before the timeout", d)
	}
	waitFor(t, "pending bytes released", func() bool { return io.AttachmentStats().PendingBytes == 0 })
	if st := io.AttachmentStats(); st.Closed != 1 || calls.Load() != 0 {
		t.Fatalf("stats %+v, handler ran %d times", st, calls.Load())
	}

	// A packet that completes in time is not affected by an earlier timer.
	c = dial(t, url)
	c.Connect("/", "")
	for i := 0; i < 3; i++ {
		c.Send(binaryHeader("", 1))
		c.SendBinary([]byte{1, 2})
		c.ExpectExact("431[2]")
	}
	c.ExpectNothing(500 * time.Millisecond)
}

func TestPendingAttachmentBytesGlobalBound(t *testing.T) {
	io, url, _ := uploadServer(t, &socketio.Options{MaxPendingAttachmentBytes: 3000})
	pending := func() int64 { return io.AttachmentStats().PendingBytes }
	a, b, c := dial(t, url), dial(t, url), dial(t, url)
	for _, x := range []*support.Conn{a, b, c} {
		x.Connect("/", "")
	}
	a.Send(binaryHeader("", 2))
	a.SendBinary(make([]byte, 1000))
	b.Send(binaryHeader("", 2))
	b.SendBinary(make([]byte, 1000))
	waitFor(t, "2000 bytes pending", func() bool { return pending() == 2000 })

	c.Send(binaryHeader("", 2))
	c.SendBinary(make([]byte, 1500)) // 3500 in all: over the bound
	c.WaitClosed()
	waitFor(t, "c's bytes released", func() bool { return pending() == 2000 })

	a.SendBinary(make([]byte, 500)) // 2500: within the bound
	a.ExpectExact("431[1500]")
	if p := pending(); p != 1000 {
		t.Fatalf("pending %d after a's packet completed, want 1000", p)
	}
	b.Close()
	waitFor(t, "b's bytes released on close", func() bool { return pending() == 0 })
	if st := io.AttachmentStats(); st.Closed != 1 {
		t.Fatalf("stats %+v: want 1 connection closed", st)
	}
}

func TestAttachmentCountCap(t *testing.T) {
	_, url, _ := uploadServer(t, nil)
	c := dial(t, url)
	c.Connect("/", "")
	c.Send(binaryHeader("", socketio.MaxAttachments))
	for i := 0; i < socketio.MaxAttachments; i++ {
		c.SendBinary([]byte{byte(i)})
	}
	c.ExpectExact("431[" + strconv.Itoa(socketio.MaxAttachments) + "]")
	c.Send(binaryHeader("", socketio.MaxAttachments+1))
	c.WaitClosed()
}

// Attachments of a packet for a namespace the client has not joined are
// dropped as they arrive: they are neither held nor counted.
func TestAttachmentsForUnjoinedNamespaceAreNotHeld(t *testing.T) {
	io, url, calls := uploadServer(t, &socketio.Options{MaxAttachmentBytes: 1000})
	io.Of("/other")
	c := dial(t, url)
	c.Send(binaryHeader("", 3)) // before any CONNECT
	for i := 0; i < 3; i++ {
		c.SendBinary(bytes.Repeat([]byte{1}, 600))
	}
	c.Connect("/", "")
	c.Send(binaryHeader("/other", 3))
	for i := 0; i < 3; i++ {
		c.SendBinary(bytes.Repeat([]byte{1}, 600))
	}
	c.Send(binaryHeader("", 1))
	c.SendBinary([]byte{1})
	c.ExpectExact("431[1]")
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1", n)
	}
	if st := io.AttachmentStats(); st.PendingBytes != 0 || st.Closed != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Nothing a connection sends after going past a bound is handled, even
// while its close is still flushing what was queued for it.
func TestNothingHandledAfterAttachmentRefusal(t *testing.T) {
	io, url, calls := uploadServer(t, &socketio.Options{MaxAttachmentBytes: 100})
	var events atomic.Int32
	io.On("after", func(*socketio.Event) { events.Add(1) })
	big := strings.Repeat("z", 16<<10)
	io.On("flood", func(e *socketio.Event) {
		for i := 0; i < 1500; i++ { // more than the client and the kernel buffer
			_ = e.Socket.Emit("big", big)
		}
	})
	c := dial(t, url)
	c.Connect("/", "")
	c.Send(`42["flood"]`) // the client reads nothing until WaitClosed
	c.Send(binaryHeader("", 2))
	c.SendBinary(make([]byte, 101))
	c.SendBinary(make([]byte, 1))
	for i := 0; i < 20; i++ {
		c.Send(`42["after"]`)
	}
	time.Sleep(200 * time.Millisecond) // let the server read them
	c.WaitClosed()
	if n, m := calls.Load(), events.Load(); n != 0 || m != 0 {
		t.Fatalf("after the refusal: %d uploads and %d events handled", n, m)
	}
}
