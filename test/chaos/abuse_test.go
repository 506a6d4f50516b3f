package chaos

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/heraldio/herald/client"
)

// The abuse suite: one node (SQLite, no Redis), hostile clients, and the
// node measured from outside: RSS from /proc, heap and goroutines from
// /metrics. Each probe asserts a bound, and that a normal client is
// served afterwards.
//
// Heartbeats are shortened (10 s + 5 s) so a connection that stops
// answering pings is closed within 15 s, and so is the time a client may
// take to send a started message or polling body (HERALD_READ_TIMEOUT);
// the bounds below count on them, with 10 s to spare.
const (
	abusePingInterval = 10 * time.Second
	abusePingTimeout  = 5 * time.Second
	abuseReadTimeout  = 5 * time.Second
	heartbeatBound    = abusePingInterval + abusePingTimeout + 10*time.Second
	readBound         = abuseReadTimeout + 10*time.Second

	mb = 1 << 20
)

func abuseNode(t *testing.T) *node {
	t.Helper()
	requireChaos(t)
	return startNode(t, "herald", map[string]string{
		"HERALD_PING_INTERVAL": abusePingInterval.String(),
		"HERALD_PING_TIMEOUT":  abusePingTimeout.String(),
		"HERALD_READ_TIMEOUT":  abuseReadTimeout.String(),
	})
}

// usage is what a sampler saw of the node: peaks over the probe.
type usage struct {
	heap, rss, goroutines float64
}

func (u usage) String() string {
	return fmt.Sprintf("heap in use %.1f MB, RSS %.1f MB, %d goroutines", u.heap/mb, u.rss/mb, int(u.goroutines))
}

// sampler records the node's peaks every 200 ms until stopped.
type sampler struct {
	n    *node
	stop chan struct{}
	done chan struct{}

	mu   sync.Mutex
	base usage // before the probe
	peak usage
}

func startSampler(t testing.TB, n *node) *sampler {
	s := &sampler{n: n, stop: make(chan struct{}), done: make(chan struct{})}
	s.take()
	s.base = s.peak
	t.Logf("before the probe: %v", s.base)
	go func() {
		defer close(s.done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
				s.take()
			}
		}
	}()
	t.Cleanup(func() { s.finish() })
	return s
}

func (s *sampler) take() {
	m, err := s.n.metrics()
	rss := float64(s.n.rssBytes())
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.peak.heap = max(s.peak.heap, m["go_memstats_heap_inuse_bytes"])
		s.peak.goroutines = max(s.peak.goroutines, m["go_goroutines"])
	}
	s.peak.rss = max(s.peak.rss, rss)
}

// finish stops sampling and returns the peaks.
func (s *sampler) finish() usage {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
	s.take()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// settledGoroutines is how many more goroutines than before the probe
// the node may keep once the probe's connections are gone.
const settledGoroutines = 25

// checkSettled fails t unless, within 15 s, the node's goroutines come
// back to about what they were before the probe: the connections it
// closed left nothing running.
func (s *sampler) checkSettled(t testing.TB, what string) {
	t.Helper()
	var now float64
	ok := poll(15*time.Second, func() bool {
		m, err := s.n.metrics()
		if err != nil {
			return false
		}
		now = m["go_goroutines"]
		return now <= s.base.goroutines+settledGoroutines
	})
	if !ok {
		t.Errorf("%s: %d goroutines 15 s after the probe, %d before", what, int(now), int(s.base.goroutines))
	}
}

// checkPeak fails t if the peak heap in use or RSS passed the bounds
// (0: not checked).
func checkPeak(t testing.TB, what string, u usage, heapMax, rssMax float64) {
	t.Helper()
	t.Logf("%s: peak %v", what, u)
	if heapMax > 0 && u.heap > heapMax {
		t.Errorf("%s: heap in use reached %.1f MB (bound %.0f MB)", what, u.heap/mb, heapMax/mb)
	}
	if rssMax > 0 && u.rss > rssMax {
		t.Errorf("%s: RSS reached %.1f MB (bound %.0f MB)", what, u.rss/mb, rssMax/mb)
	}
}

// checkServes fails t unless the node is alive and a normal user can join
// "general" and get a message stored.
func checkServes(t testing.TB, n *node) {
	t.Helper()
	n.checkAlive(t)
	if t.Failed() && !n.proc.alive() {
		return
	}
	u := newChatUser(t, n.url(), "normal")
	if s := u.send(content(u.id, 0, "after the probe")); s.id == "" {
		t.Errorf("a normal client is not served after the probe: error %q, %v", s.errMsg, s.failed)
	}
	u.m.Close()
}

// checkClosed fails t unless every connection was closed by the server
// within bound of since.
func checkClosed(t testing.TB, what string, conns []*wsConn, since time.Time, bound time.Duration) {
	t.Helper()
	poll(bound, func() bool {
		for _, c := range conns {
			if _, ok := c.closed(); !ok {
				return false
			}
		}
		return true
	})
	open, slowest := 0, time.Duration(0)
	for _, c := range conns {
		if at, ok := c.closed(); ok {
			slowest = max(slowest, at.Sub(since))
		} else {
			open++
		}
	}
	if open > 0 {
		t.Errorf("%s: %d of %d connections still open %v later", what, open, len(conns), bound)
	} else {
		t.Logf("%s: all %d connections closed, the last after %v", what, len(conns), slowest.Round(100*time.Millisecond))
	}
}

func authJSON(t testing.TB, id string) string {
	return `{"token":"` + token(t, id, id) + `"}`
}

// Binary EVENT headers announcing 10 attachments, then 9 attachments of
// about 1 MB each, on 40 connections: an unfinished packet must not pin
// 40×9 MB, and such connections must be closed.
func TestAbuseUnfinishedAttachments(t *testing.T) {
	for _, connect := range []bool{false, true} {
		name := "without CONNECT"
		if connect {
			name = "after CONNECT"
		}
		t.Run(name, func(t *testing.T) {
			n := abuseNode(t)
			s := startSampler(t, n)
			conns := dialWSAll(t, n.url(), 40, wsOptions{}, func(i int, c *wsConn) error {
				if connect { // one user each: the per-user socket cap is not what this probes
					return c.connectNsp("/", authJSON(t, fmt.Sprintf("uploader-%d", i)))
				}
				return nil
			})
			placeholders := make([]string, 10)
			for i := range placeholders {
				placeholders[i] = fmt.Sprintf(`{"_placeholder":true,"num":%d}`, i)
			}
			header := `4510-["upload",` + strings.Join(placeholders, ",") + `]`
			blob := bytes.Repeat([]byte{0xab}, 999_000)
			var wg sync.WaitGroup
			for _, c := range conns {
				c.pump()
				wg.Add(1)
				go func() {
					defer wg.Done()
					if c.sendText(header) != nil {
						return
					}
					for range 9 {
						if c.sendBinary(blob) != nil {
							return // closed by the server: fine
						}
					}
				}()
			}
			wg.Wait()
			sent := time.Now()
			checkClosed(t, "unfinished binary packets", conns, sent, 15*time.Second)
			checkPeak(t, "unfinished binary packets", s.finish(), 100*mb, 0)
			s.checkSettled(t, "unfinished binary packets")
			checkServes(t, n)
		})
	}
}

// 50 polling POSTs announcing 999,999 bytes and sending one a second: the
// server must not hold a buffer per request, and must end them within
// its read timeout.
func TestAbusePollingSlowloris(t *testing.T) {
	const conns, bound = 50, readBound
	n := abuseNode(t)
	s := startSampler(t, n)
	var ended atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	start := time.Now()
	var slowest atomic.Int64
	for i := range conns {
		sid := pollingHandshake(t, n)
		c := rawHTTP(t, n)
		req := fmt.Sprintf("POST /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"+
			"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 999999\r\n\r\n", sid)
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		done := make(chan struct{})
		wg.Add(2)
		go func() { // the server's answer, or the end of the connection
			defer wg.Done()
			defer close(done)
			_ = readStatus(c, bound+5*time.Second)
			if d := time.Since(start); d < bound+5*time.Second {
				ended.Add(1)
				slowest.Store(max(slowest.Load(), int64(d)))
			}
		}()
		go func() { // one byte a second
			defer wg.Done()
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-done:
					return
				case <-tick.C:
					_ = c.SetWriteDeadline(time.Now().Add(time.Second))
					if _, err := c.Write([]byte("4")); err != nil {
						return
					}
				}
			}
		}()
	}
	poll(bound, func() bool { return ended.Load() == conns })
	close(stop)
	got := ended.Load()
	if got < conns {
		t.Errorf("polling slowloris: %d of %d trickling POSTs still open after %v", conns-got, conns, bound)
	} else {
		t.Logf("polling slowloris: all %d POSTs ended, the last after %v", conns, time.Duration(slowest.Load()).Round(100*time.Millisecond))
	}
	checkPeak(t, "polling slowloris", s.finish(), 60*mb, 0)
	s.checkSettled(t, "polling slowloris")
	wg.Wait()
	checkServes(t, n)
}

// pollingHandshake opens a polling session and returns its id.
func pollingHandshake(t testing.TB, n *node) string {
	t.Helper()
	res, err := httpClient.Get(n.url() + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var open struct {
		SID string `json:"sid"`
	}
	if res.StatusCode != http.StatusOK || len(b) < 2 || json.Unmarshal(b[1:], &open) != nil || open.SID == "" {
		t.Fatalf("polling handshake: %d %q", res.StatusCode, b)
	}
	return open.SID
}

// 200 WebSocket connections each send a frame header announcing 999,000
// bytes and never the payload: no buffer of that size per connection,
// and the connections are closed (they cannot answer pings any more).
func TestAbuseWebSocketFrameSlowloris(t *testing.T) {
	n := abuseNode(t)
	s := startSampler(t, n)
	conns := dialWSAll(t, n.url(), 200, wsOptions{}, func(i int, c *wsConn) error {
		return c.connectNsp("/", authJSON(t, fmt.Sprintf("frames-%d", i)))
	})
	for _, c := range conns {
		c.pump()
		if err := c.writeRaw(ws.Header{Fin: true, OpCode: ws.OpText, Length: 999_000}, []byte("4")); err != nil {
			t.Fatal(err)
		}
	}
	sent := time.Now()
	checkClosed(t, "WebSocket frame slowloris", conns, sent, heartbeatBound)
	checkPeak(t, "WebSocket frame slowloris", s.finish(), 60*mb, 0)
	s.checkSettled(t, "WebSocket frame slowloris")
	checkServes(t, n)
}

// 40 requests with about 1 MB of headers each: refused with 431 (or the
// connection closed), and not retained.
func TestAbuseLargeHeaders(t *testing.T) {
	n := abuseNode(t)
	s := startSampler(t, n)
	var pad strings.Builder
	for i := 0; pad.Len() < 1<<20; i++ {
		fmt.Fprintf(&pad, "X-Pad-%d: %s\r\n", i, strings.Repeat("a", 1000))
	}
	req := "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n" + pad.String() + "\r\n"
	statuses := make([]string, 40)
	var wg sync.WaitGroup
	for i := range statuses {
		c := rawHTTP(t, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetWriteDeadline(time.Now().Add(15 * time.Second))
			_, _ = io.WriteString(c, req) // the server may stop reading early
			statuses[i] = readStatus(c, 15*time.Second)
		}()
	}
	wg.Wait()
	for i, st := range statuses {
		if st != "" && !strings.Contains(st, " 431 ") {
			t.Errorf("request %d with 1 MB of headers: %q, want 431 or the connection closed", i, st)
		}
	}
	t.Logf("large headers: first answer %q", statuses[0])
	time.Sleep(time.Second)
	checkPeak(t, "large headers", s.finish(), 100*mb, 200*mb)
	s.checkSettled(t, "large headers")
	checkServes(t, n)
}

// A compressed frame that inflates to 200 MB: closed with 1009 (message
// too big) if the server negotiated permessage-deflate, as a protocol
// error (1002) if it did not; never inflated in memory.
func TestAbuseDeflateBomb(t *testing.T) {
	n := abuseNode(t)
	s := startSampler(t, n)
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestCompression)
	_, _ = fw.Write([]byte("4"))
	chunk := bytes.Repeat([]byte("a"), mb)
	for range 200 {
		_, _ = fw.Write(chunk)
	}
	_ = fw.Flush()
	bomb := bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dialWS(ctx, n.url(), wsOptions{deflate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	t.Logf("permessage-deflate negotiated: %v; the frame is %d KB and inflates to 200 MB", c.deflate, len(bomb)>>10)
	c.pump()
	h := ws.Header{Fin: true, Rsv: ws.Rsv(true, false, false), OpCode: ws.OpText, Length: int64(len(bomb))}
	if err := c.writeRaw(h, bomb); err != nil {
		t.Logf("writing the frame: %v", err)
	}
	checkClosed(t, "deflate bomb", []*wsConn{c}, time.Now(), 10*time.Second)
	want := ws.StatusProtocolError
	if c.deflate {
		want = ws.StatusMessageTooBig
	}
	if got := c.code(); got != want {
		t.Errorf("deflate bomb: close code %d, want %d", got, want)
	}
	checkPeak(t, "deflate bomb", s.finish(), 100*mb, 0)
	s.checkSettled(t, "deflate bomb")
	checkServes(t, n)
}

// manySockets connects k sockets of one user to nsp.
func manySockets(t testing.TB, n *node, nsp, id string, k int) []*client.Socket {
	t.Helper()
	out := make([]*client.Socket, k)
	for i := range out {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s, err := client.Dial(ctx, n.url()+nsp, userOptions(t, id))
		cancel()
		if err != nil {
			t.Fatalf("socket %d of %s: %v", i, id, err)
		}
		t.Cleanup(func() { s.Close() })
		out[i] = s
	}
	return out
}

// paced calls fn(tab, round, socket) on every socket side by side, each
// every interval, for rounds rounds.
func paced(socks []*client.Socket, interval time.Duration, rounds int, fn func(tab, round int, s *client.Socket)) {
	var wg sync.WaitGroup
	for i, s := range socks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for j := range rounds {
				<-tick.C
				fn(i, j, s)
			}
		}()
	}
	wg.Wait()
}

// ackOf waits for the ack of event and decodes it into a map.
func ackOf(s *client.Socket, d time.Duration, event string, args ...any) (map[string]json.RawMessage, json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	a, err := s.EmitWithAck(ctx, event, args...)
	if err != nil {
		return nil, nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(a.Raw(0), &m); err != nil {
		return nil, a.Raw(0), fmt.Errorf("ack %s: not an object", a.Raw(0))
	}
	return m, a.Raw(0), nil
}

// One user with 10 tabs creating rooms as fast as the per-connection rate
// limit lets them: the number of rooms a user can create is capped, and
// rooms:list stays bounded for them and for everyone else.
func TestAbuseRoomFlood(t *testing.T) {
	n := abuseNode(t)
	const (
		tabs     = 10
		perTab   = 180 // at 18/s, under the 20/s limit of other events
		maxRooms = 1000
		maxList  = 256 << 10
	)
	socks := manySockets(t, n, "/chat", "room-flooder", tabs)
	var created, refused atomic.Int64
	var firstRefusal atomic.Value
	paced(socks, 55*time.Millisecond, perTab, func(i, j int, s *client.Socket) {
		m, raw, err := ackOf(s, 5*time.Second, "create-room", map[string]any{"name": fmt.Sprintf("flood %d-%d", i, j), "public": j%2 == 0})
		switch {
		case err != nil:
			refused.Add(1)
			firstRefusal.CompareAndSwap(nil, err.Error())
		case m["room"] != nil:
			created.Add(1)
		default:
			refused.Add(1)
			firstRefusal.CompareAndSwap(nil, string(raw))
		}
	})
	t.Logf("room flood: %d created, %d refused (first: %v)", created.Load(), refused.Load(), firstRefusal.Load())
	if created.Load() >= maxRooms {
		t.Errorf("room flood: one user created %d rooms of %d attempts; want a cap below %d", created.Load(), tabs*perTab, maxRooms)
	}
	for _, s := range []*client.Socket{socks[0], dialSocket(t, n.url()+"/chat", "bystander")} {
		m, raw, err := ackOf(s, 10*time.Second, "rooms:list")
		if err != nil {
			t.Errorf("rooms:list: %v", err)
			continue
		}
		var rooms []json.RawMessage
		_ = json.Unmarshal(m["rooms"], &rooms)
		t.Logf("rooms:list: %d rooms, %d KB", len(rooms), len(raw)>>10)
		if len(rooms) > maxRooms || len(raw) > maxList {
			t.Errorf("rooms:list after the flood: %d rooms, %d KB; want at most %d rooms and %d KB", len(rooms), len(raw)>>10, maxRooms, maxList>>10)
		}
	}
	checkServes(t, n)
}

// One user toggling presence:status from 10 tabs: the others get a
// bounded rate of presence:update.
func TestAbusePresenceToggle(t *testing.T) {
	n := abuseNode(t)
	const (
		tabs      = 10
		length    = 5 * time.Second
		maxPerSec = 10
	)
	watcher, err := client.NewSocket(n.url(), userOptions(t, "watcher"))
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	var updates atomic.Int64
	watcher.On("presence:update", func(e *client.Event) {
		var p struct {
			UserID string `json:"userId"`
		}
		if e.Args.Decode(0, &p) == nil && p.UserID == "toggler" {
			updates.Add(1)
		}
	})
	watcher.Connect()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := watcher.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	socks := manySockets(t, n, "/", "toggler", tabs)
	time.Sleep(time.Second) // the toggler's coming online is not counted
	updates.Store(0)
	var sent atomic.Int64
	// 10/s per tab, under the limit.
	// Tabs out of step: every status sent is a change.
	paced(socks, 100*time.Millisecond, int(length/(100*time.Millisecond)), func(i, j int, s *client.Socket) {
		status := "away"
		if (i+j)%2 == 1 {
			status = "online"
		}
		if s.Emit("presence:status", status) == nil {
			sent.Add(1)
		}
	})
	time.Sleep(time.Second)
	got := updates.Load()
	t.Logf("presence toggle: %d status changes sent, %d presence:update received in %v", sent.Load(), got, length+time.Second)
	if limit := int64(maxPerSec * (length + time.Second) / time.Second); got > limit {
		t.Errorf("presence toggle: %d presence:update in %v (%.0f/s); want at most %d/s", got, length+time.Second,
			float64(got)/(length+time.Second).Seconds(), maxPerSec)
	}
	checkServes(t, n)
}

// send-message as fast as possible: the budget (burst 10, 5/s) holds, the
// flooder hears "Rate limit exceeded" and is disconnected.
func TestAbuseMessageFlood(t *testing.T) {
	n := abuseNode(t)
	flooder := newChatUser(t, n.url(), "msg-flooder")
	var reason atomic.Value
	disconnected := make(chan struct{})
	var once sync.Once
	flooder.chat.OnDisconnect(func(r client.Reason) {
		reason.Store(r)
		once.Do(func() { close(disconnected) })
	})
	const attempts = 300
	var stored, limited atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range attempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := flooder.send(content(flooder.id, i, "flood"))
			switch {
			case s.id != "":
				stored.Add(1)
			case s.errMsg == "Rate limit exceeded":
				limited.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	t.Logf("message flood: %d stored, %d rate limited of %d in %v", stored.Load(), limited.Load(), attempts, elapsed.Round(time.Millisecond))
	if budget := 10 + int64(5*elapsed.Seconds()) + 2; stored.Load() > budget {
		t.Errorf("message flood: %d stored in %v; the budget allows about %d", stored.Load(), elapsed, budget)
	}
	if limited.Load() == 0 {
		t.Errorf("message flood: no send was answered \"Rate limit exceeded\"")
	}
	select {
	case <-disconnected:
		if r, _ := reason.Load().(client.Reason); r != client.ReasonIOServerDisconnect {
			t.Errorf("message flood: the flooder was disconnected with %q, want %q", r, client.ReasonIOServerDisconnect)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("message flood: the flooder is still connected")
	}
	checkServes(t, n)
}

// Wrong types on every chat event get a clear {error} ack, and packets
// that break the protocol close that connection only.
func TestAbuseMalformed(t *testing.T) {
	n := abuseNode(t)
	// Payloads of the wrong type for an event taking a room id (a string
	// or {roomId}).
	roomArgs := []string{"", "null", "42", "true", "[]", "{}", `{"roomId":42}`, `{"roomId":["general"]}`,
		`{"roomId":null}`, `{"roomId":{}}`, `""`, `"` + strings.Repeat("r", 200) + `"`}
	cases := map[string][]string{
		"join-room":    roomArgs,
		"leave-room":   roomArgs,
		"typing-start": roomArgs,
		"typing-stop":  roomArgs,
		"history": append(roomArgs[:len(roomArgs):len(roomArgs)], `{"roomId":"general","limit":"ten"}`,
			`{"roomId":"general","before":42}`),
		"send-message": {"", "null", "42", `"general"`, "[]", "{}", `{"roomId":"general"}`,
			`{"roomId":"general","content":42}`, `{"roomId":42,"content":"hi"}`, `{"roomId":"general","content":null}`,
			`{"roomId":"general","content":["hi"]}`},
		// The optional argument of these two may be absent (or null, as
		// JavaScript's undefined travels), but not of another type.
		"sync-state":  {"42", `"x"`, "[]", `{"lastMessageIds":42}`, `{"lastMessageIds":["a"]}`},
		"rooms:list":  {"42", `"x"`, "[]", `{"limit":"ten"}`, `{"after":42}`},
		"create-room": {"", "null", "42", `"room"`, "[]", "{}", `{"name":42}`, `{"name":"ok","public":"yes"}`},
	}
	var (
		mu       sync.Mutex
		failures []string
		wg       sync.WaitGroup
		sem      = make(chan struct{}, 10)
	)
	for event, payloads := range cases {
		for _, p := range payloads {
			wg.Add(1)
			sem <- struct{}{}
			go func() { // a socket per case: its rate limits are untouched
				defer wg.Done()
				defer func() { <-sem }()
				s := dialSocket(t, n.url()+"/chat", "malformed")
				defer s.Close()
				if _, _, err := ackOf(s, 5*time.Second, "join-room", "general"); err != nil {
					t.Errorf("join-room: %v", err)
					return
				}
				var args []any
				if p != "" {
					args = append(args, json.RawMessage(p))
				}
				m, raw, err := ackOf(s, 2*time.Second, event, args...)
				var msg string
				if m != nil {
					_ = json.Unmarshal(m["error"], &msg)
				}
				if err != nil || msg == "" || msg == "Rate limit exceeded" {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%s(%s): ack %s %v", event, short(p), raw, err))
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	slices.Sort(failures)
	for _, f := range failures {
		t.Errorf("wrong type without a clear {error}: %s", f)
	}

	// Protocol violations on a connected /chat socket: that connection is
	// closed within 5 s; the server goes on.
	deep := strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)
	frames := [][]string{
		{`42/chat,["send-message"`},
		{`42/chat,abc`},
		{`42/chat,{}`},
		{`42/chat,[]`},
		// A number as the event name is valid, as in the reference's
		// parser: no close expected ("[42]" is not here).
		{`42/chat,["connect"]`},
		{`42/chat,1x["history","general"]`},
		{`49/chat,["x"]`},
		{`42/chat,["send-message",` + deep + `]`},
		{`451-/chat,["x",{"_placeholder":true,"num":3}]`, "\x00bin"},
	}
	for _, f := range frames {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := dialWS(ctx, n.url(), wsOptions{})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.connectNsp("/chat", authJSON(t, "broken")); err != nil {
			t.Fatal(err)
		}
		c.pump()
		for _, m := range f {
			if strings.HasPrefix(m, "\x00") {
				_ = c.sendBinary([]byte(m[1:]))
			} else {
				_ = c.sendText(m)
			}
		}
		checkClosed(t, "malformed "+short(f[0]), []*wsConn{c}, time.Now(), 5*time.Second)
		c.close()
		n.checkAlive(t)
	}
	checkServes(t, n)
}

func short(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
