package engineio_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldio/herald/engineio"
	"github.com/heraldio/herald/test/support"
)

// rawPost opens a TCP connection and sends the headers of a polling POST
// announcing length bytes, followed by the first bytes of the body.
func rawPost(t *testing.T, base, sid string, length int, first string) net.Conn {
	t.Helper()
	host := strings.TrimPrefix(strings.TrimSuffix(base, "/engine.io/"), "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_, err = fmt.Fprintf(conn, "POST /engine.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: %s\r\n"+
		"Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", sid, host, length, first)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// A POST whose body trickles in is neither given the announced length up
// front nor allowed to hold its goroutine past ReadTimeout.
func TestPollingSlowBody(t *testing.T) {
	const (
		clients  = 16
		announce = 999999
	)
	_, base, closed := newServer(t, &engineio.Options{ReadTimeout: 500 * time.Millisecond, PingTimeout: 10 * time.Second})
	sids := make([]string, clients)
	for i := range sids {
		sids[i] = handshake(t, base)
	}
	before := heapAfterGC()
	conns := make([]net.Conn, clients)
	start := time.Now()
	for i, sid := range sids {
		conns[i] = rawPost(t, base, sid, announce, "4")
	}
	if grown := heapGrowth(before, clients*announce/2); grown > clients*announce/4 {
		t.Errorf("heap grew by %d bytes for %d POSTs that sent 1 byte each: the announced length was allocated", grown, clients)
	}
	// Trickle a byte every 100 ms: the server must give up after ReadTimeout.
	stop := make(chan struct{})
	trickled := make(chan struct{})
	go func() {
		defer close(trickled)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				for _, c := range conns {
					_, _ = c.Write([]byte("x"))
				}
			}
		}
	}()
	defer func() { close(stop); <-trickled }()
	for i, c := range conns {
		_ = c.SetReadDeadline(start.Add(5 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("client %d: no answer %v after the start of a trickling body (ReadTimeout 500ms): %v", i, time.Since(start), err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("client %d: status %d, want 400", i, res.StatusCode)
		}
	}
	expectClosed(t, closed, clients, "transport error")
}

// A server close with packets queued, over polling: the packets go out in
// one GET and the close packet in the next, as the reference does, so the
// client handles them (Socket.IO's DISCONNECT) before the transport closes.
// Without that next GET, the session ends shortly after.
func TestPollingCloseAfterQueuedPackets(t *testing.T) {
	closed := make(chan string, 4)
	conns := make(chan *engineio.Conn, 4)
	s := engineio.NewServer(&engineio.Options{PingTimeout: 10 * time.Second}, func(c *engineio.Conn) engineio.Handler {
		conns <- c
		return &echo{c: c, closed: closed}
	})
	base := support.Serve(t, s) + "/engine.io/"
	for _, tt := range []struct {
		name             string
		pending, nextGET bool
	}{
		{"no GET pending", false, true},
		{"GET pending", true, true},
		{"no GET after the packets", false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := base + "?EIO=4&transport=polling&sid=" + handshake(t, base)
			c := <-conns
			first := make(chan string, 1)
			if tt.pending {
				go func() { _, body := get(t, u); first <- body }()
				time.Sleep(50 * time.Millisecond) // let the GET wait
			}
			_ = c.Send(engineio.NewMessage([]byte("41"), false))
			_ = c.Close()
			if !tt.pending {
				_, body := get(t, u)
				first <- body
			}
			if body := <-first; body != "441" {
				t.Fatalf("first GET after the close: %q, want the queued packet alone", body)
			}
			if tt.nextGET {
				if _, body := get(t, u); body != "1" {
					t.Fatalf("next GET: %q, want the close packet", body)
				}
			}
			expectClosed(t, closed, 1, "forced close")
		})
	}
}
