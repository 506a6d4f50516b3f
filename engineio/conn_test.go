package engineio_test

import (
	"context"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/heraldio/herald/engineio"
)

// heapAfterGC returns the bytes of live heap objects.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// heapGrowth returns how much the live heap grew since before, after
// waiting a moment for it to grow past over (what a server allocating in
// the background would show).
func heapGrowth(before uint64, over int64) int64 {
	var grown int64
	for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if grown = int64(heapAfterGC()) - int64(before); grown > over {
			break
		}
	}
	return grown
}

// expectClosed waits for n sessions to close with reason.
func expectClosed(t *testing.T, closed <-chan string, n int, reason string) {
	t.Helper()
	for range n {
		select {
		case r := <-closed:
			if r != reason {
				t.Errorf("close reason %q, want %q", r, reason)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("session not closed")
		}
	}
}

// A connection keeps what its API exposes of the handshake request, within
// MaxHeaderBytes: huge request headers become garbage after the handshake.
func TestHandshakeRequestNotRetained(t *testing.T) {
	const (
		clients = 20
		big     = 256 << 10
	)
	url, next := recordingServer(t, nil)
	base := url + "/engine.io/"
	filler := strings.Repeat("a", big)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	before := heapAfterGC()
	conns := make([]*engineio.Conn, 0, clients)
	for i := range clients {
		if i%2 == 0 {
			req, _ := http.NewRequest("GET", base+"?EIO=4&transport=polling&q=1", nil)
			req.Header.Set("X-Big", filler)
			req.Header.Set("X-Small", "kept")
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
		} else {
			d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(http.Header{"X-Big": {filler}, "X-Small": {"kept"}})}
			conn, _, _, err := d.Dial(context.Background(), strings.Replace(base, "http", "ws", 1)+"?EIO=4&transport=websocket&q=1")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
		}
		conns = append(conns, next())
	}
	grown := int64(heapAfterGC()) - int64(before)
	if grown > 3<<20 {
		t.Errorf("%d connections with %d KiB of headers each retain %d KiB of heap", clients, big>>10, grown>>10)
	}
	for _, c := range conns {
		r := c.Request()
		h := r.Header()
		if h.Get("X-Small") != "kept" || h.Get("X-Big") != "" || !r.Truncated || r.Query().Get("q") != "1" {
			t.Fatalf("request kept: X-Small %q, X-Big of %d bytes, truncated %v, query %v",
				h.Get("X-Small"), len(h.Get("X-Big")), r.Truncated, r.Query())
		}
	}
	// Headers within the bound are kept whole.
	req, _ := http.NewRequest("GET", base+"?EIO=4&transport=polling", nil)
	req.Header.Set("X-Medium", strings.Repeat("m", 8<<10))
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	r := next().Request()
	if len(r.Header().Get("X-Medium")) != 8<<10 || r.Truncated {
		t.Fatalf("an 8 KiB header was not kept (truncated %v)", r.Truncated)
	}
	// A URI longer than the bound is refused.
	code, body := get(t, base+"?EIO=4&transport=polling&long="+strings.Repeat("u", 20<<10))
	if code != 400 || body != `{"code":3,"message":"Bad request"}` {
		t.Fatalf("long URI: %d %s", code, body)
	}
}
