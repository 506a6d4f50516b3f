package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldio/herald/client"
	"github.com/heraldio/herald/service/auth"
)

// ackTimeout is how long a client waits for an ack; ackBound is the p99
// the service must keep during a fault (generous: the machine is shared).
const (
	ackTimeout = 5 * time.Second
	ackBound   = 2 * time.Second
)

var userSeq atomic.Int64

func token(t testing.TB, id, name string) string {
	t.Helper()
	tok, err := auth.Mint([]byte(jwtSecret), auth.User{ID: id, Name: name, Roles: []string{"user"}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// chatUser is one user on the "/" (presence) and "/chat" namespaces of
// one Engine.IO connection, in the room "general".
type chatUser struct {
	id, url string
	m       *client.Manager
	main    *client.Socket
	chat    *client.Socket

	mu         sync.Mutex
	got        map[string]time.Time // contents of new-message received
	deliveries []delivery           // of other users' messages
}

type delivery struct {
	at  time.Time
	lat time.Duration
}

// newChatUser connects a user through url (a node or a proxy). After a
// reconnection that did not restore the session, it joins "general"
// again, as an application would.
func newChatUser(t testing.TB, url, prefix string) *chatUser {
	t.Helper()
	u := &chatUser{id: fmt.Sprintf("%s-%d", prefix, userSeq.Add(1)), url: url, got: map[string]time.Time{}}
	auth := map[string]string{"token": token(t, u.id, u.id)}
	m, err := client.NewManager(url, &client.Options{
		Transports:           []string{client.TransportWebSocket},
		ReconnectionDelay:    200 * time.Millisecond,
		ReconnectionDelayMax: time.Second,
		Timeout:              5 * time.Second,
		SocketOptions:        client.SocketOptions{Auth: auth},
	})
	if err != nil {
		t.Fatal(err)
	}
	u.m = m
	t.Cleanup(func() { m.Close() })
	u.main = m.Socket("/", nil)
	u.chat = m.Socket("/chat", &client.SocketOptions{Auth: auth, Resync: func(ctx context.Context, s *client.Socket) {
		if !s.Recovered() {
			_, _ = s.EmitWithAck(ctx, "join-room", "general")
		}
	}})
	u.chat.On("new-message", u.onMessage)
	u.main.Connect()
	u.chat.Connect()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range []*client.Socket{u.main, u.chat} {
		if err := s.WaitConnected(ctx); err != nil {
			t.Fatalf("%s connects %s at %s: %v", u.id, s.Namespace(), url, err)
		}
	}
	if a, err := u.chat.EmitWithAck(ctx, "join-room", "general"); err != nil || !strings.Contains(string(a.Raw(0)), `"ok":true`) {
		t.Fatalf("%s joins general: %v %s", u.id, err, a.Raw(0))
	}
	return u
}

func (u *chatUser) onMessage(e *client.Event) {
	var m struct {
		Content string `json:"content"`
		Author  struct {
			ID string `json:"id"`
		} `json:"author"`
	}
	if e.Args.Decode(0, &m) != nil {
		return
	}
	now := time.Now()
	u.mu.Lock()
	defer u.mu.Unlock()
	u.got[m.Content] = now
	if m.Author.ID == u.id {
		return
	}
	if sent, ok := sentAt(m.Content); ok {
		u.deliveries = append(u.deliveries, delivery{at: now, lat: now.Sub(sent)})
	}
}

func (u *chatUser) received(content string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	_, ok := u.got[content]
	return ok
}

// deliveriesBetween returns the delivery latencies of messages received
// between from and to.
func (u *chatUser) deliveriesBetween(from, to time.Time) []time.Duration {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []time.Duration
	for _, d := range u.deliveries {
		if !d.at.Before(from) && d.at.Before(to) {
			out = append(out, d.lat)
		}
	}
	return out
}

// content is a message body carrying its send time, so receivers can
// measure the delivery.
func content(from string, seq int, pad string) string {
	return fmt.Sprintf("%s#%d@%d %s", from, seq, time.Now().UnixNano(), pad)
}

func sentAt(c string) (time.Time, bool) {
	i := strings.IndexByte(c, '@')
	if i < 0 {
		return time.Time{}, false
	}
	j := strings.IndexByte(c[i:], ' ')
	if j < 0 {
		j = len(c) - i
	}
	ns, err := strconv.ParseInt(c[i+1:i+j], 10, 64)
	return time.Unix(0, ns), err == nil
}

// send sends one message and waits for its ack.
func (u *chatUser) send(text string) sample {
	ctx, cancel := context.WithTimeout(context.Background(), ackTimeout)
	defer cancel()
	s := sample{user: u.id, sent: time.Now()}
	a, err := u.chat.EmitWithAck(ctx, "send-message", map[string]string{"roomId": "general", "content": text})
	s.lat = time.Since(s.sent)
	if err != nil {
		s.failed, s.lat = err, max(s.lat, ackTimeout)
		return s
	}
	var ack struct {
		Message struct {
			ID string `json:"id"`
		} `json:"message"`
		Error string `json:"error"`
	}
	if err := a.Decode(0, &ack); err != nil {
		s.failed = fmt.Errorf("ack %s: %w", a.Raw(0), err)
		return s
	}
	s.id, s.errMsg = ack.Message.ID, ack.Error
	if s.id == "" && s.errMsg == "" {
		s.failed = fmt.Errorf("ack without message or error: %s", a.Raw(0))
	}
	return s
}

// sample is one send-message and its outcome.
type sample struct {
	user   string
	sent   time.Time
	lat    time.Duration // ackTimeout when there was no ack
	id     string        // stored message id
	errMsg string        // the server's {error}
	failed error         // no ack, or a malformed one
}

// load makes users send a message every interval, each send waiting for
// its ack without delaying the next one.
type load struct {
	pad  string
	stop chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	samples []sample
	next    int64
	pending map[int64]time.Time // sends not answered yet, by when they were sent
}

// maxInFlight bounds the unanswered sends of one user; a send beyond it
// is recorded as failed rather than queued.
const maxInFlight = 64

func startLoad(t testing.TB, users []*chatUser, interval time.Duration, pad string) *load {
	l := &load{pad: pad, stop: make(chan struct{}), pending: map[int64]time.Time{}}
	for _, u := range users {
		l.wg.Add(1)
		go l.run(u, interval)
	}
	t.Cleanup(l.close)
	return l
}

func (l *load) run(u *chatUser, interval time.Duration) {
	defer l.wg.Done()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	inflight := make(chan struct{}, maxInFlight)
	for seq := 0; ; seq++ {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		select {
		case inflight <- struct{}{}:
		default:
			l.add(sample{user: u.id, sent: time.Now(), lat: ackTimeout, failed: fmt.Errorf("%d sends in flight", maxInFlight)})
			continue
		}
		l.wg.Add(1)
		key := l.begin()
		go func(seq int) {
			defer l.wg.Done()
			s := u.send(content(u.id, seq, l.pad))
			l.mu.Lock()
			delete(l.pending, key)
			l.mu.Unlock()
			l.add(s)
			<-inflight
		}(seq)
	}
}

// begin records a send about to start.
func (l *load) begin() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.next++
	l.pending[l.next] = time.Now()
	return l.next
}

func (l *load) add(s sample) {
	l.mu.Lock()
	l.samples = append(l.samples, s)
	l.mu.Unlock()
}

// close stops sending and waits for the pending acks.
func (l *load) close() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// between returns the samples of users (all when nil) sent in [from, to),
// once every send started before to has its outcome.
func (l *load) between(from, to time.Time, users []*chatUser) []sample {
	poll(ackTimeout+time.Second, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, at := range l.pending {
			if at.Before(to) {
				return false
			}
		}
		return true
	})
	ids := map[string]bool{}
	for _, u := range users {
		ids[u.id] = true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []sample
	for _, s := range l.samples {
		if !s.sent.Before(from) && s.sent.Before(to) && (users == nil || ids[s.user]) {
			out = append(out, s)
		}
	}
	return out
}

func (l *load) all() []sample {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.samples)
}

// p99 is the 99th percentile of ds (0 when empty).
func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[(len(ds)*99+99)/100-1] // the ceiling rank
}

// checkAcks fails t unless every send in ss was answered and the p99 of
// the ack latencies is within ackBound. With stored, at least one send
// must have been stored (the service went on, not just answered).
func checkAcks(t testing.TB, what string, ss []sample, stored bool) {
	t.Helper()
	if len(ss) == 0 {
		t.Errorf("%s: no sends to measure", what)
		return
	}
	var lats []time.Duration
	var failed, errs, ok int
	var firstFail error
	var firstErr string
	for _, s := range ss {
		lats = append(lats, s.lat)
		switch {
		case s.failed != nil:
			failed++
			if firstFail == nil {
				firstFail = s.failed
			}
		case s.errMsg != "":
			errs++
			if firstErr == "" {
				firstErr = s.errMsg
			}
		default:
			ok++
		}
	}
	summary := fmt.Sprintf("%d sends: %d stored, %d {error} (first %q), %d unanswered (first: %v); ack p99 %v",
		len(ss), ok, errs, firstErr, failed, firstFail, p99(lats).Round(time.Millisecond))
	t.Logf("%s: %s", what, summary)
	if p := p99(lats); p > ackBound {
		t.Errorf("%s: ack p99 %v > %v: %s", what, p.Round(time.Millisecond), ackBound, summary)
	}
	if stored && ok == 0 {
		t.Errorf("%s: no message stored: %s", what, summary)
	}
}

// checkNoLoss fails t unless every message acked with an id is in the
// history of "general", read on n.
func checkNoLoss(t testing.TB, n *node, ss []sample) {
	t.Helper()
	var acked []string
	for _, s := range ss {
		if s.id != "" {
			acked = append(acked, s.id)
		}
	}
	have := history(t, n)
	var lost []string
	for _, id := range acked {
		if !have[id] {
			lost = append(lost, id)
		}
	}
	t.Logf("%d messages acked with an id, %d in history", len(acked), len(have))
	if len(lost) > 0 {
		t.Errorf("%d of %d acked messages are not in history, e.g. %v", len(lost), len(acked), lost[:min(5, len(lost))])
	}
}

// history returns the ids of every message of "general", paging back.
func history(t testing.TB, n *node) map[string]bool {
	t.Helper()
	s := dialSocket(t, n.url()+"/chat", "reader")
	ids := map[string]bool{}
	var before string
	for page := 0; page < 10000; page++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req := map[string]any{"roomId": "general", "limit": 100}
		if before != "" {
			req["before"] = before
		}
		a, err := s.EmitWithAck(ctx, "history", req)
		cancel()
		if err != nil {
			t.Fatalf("history: %v", err)
		}
		var h struct {
			Messages []struct {
				ID string `json:"id"`
			} `json:"messages"`
			NextCursor *string `json:"nextCursor"`
			Error      string  `json:"error"`
		}
		if err := a.Decode(0, &h); err != nil || h.Error != "" {
			t.Fatalf("history: %s %v", a.Raw(0), err)
		}
		for _, m := range h.Messages {
			ids[m.ID] = true
		}
		if h.NextCursor == nil || *h.NextCursor == "" || len(h.Messages) == 0 {
			return ids
		}
		before = *h.NextCursor
	}
	return ids
}

// userOptions are the options of a test user's socket: WebSocket only,
// no reconnection, a token for id.
func userOptions(t testing.TB, id string) *client.Options {
	return &client.Options{
		Transports: []string{client.TransportWebSocket}, DisableReconnection: true,
		SocketOptions: client.SocketOptions{Auth: map[string]string{"token": token(t, id, id)}},
	}
}

// dialSocket connects a new user to one namespace URL (no reconnection).
func dialSocket(t testing.TB, nspURL, prefix string) *client.Socket {
	t.Helper()
	id := fmt.Sprintf("%s-%d", prefix, userSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := client.Dial(ctx, nspURL, userOptions(t, id))
	if err != nil {
		t.Fatalf("dial %s: %v", nspURL, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// presenceList connects an observer to n's "/" and returns the user ids
// of the presence:list it gets.
func presenceList(t testing.TB, n *node) (map[string]bool, error) {
	id := fmt.Sprintf("observer-%d", userSeq.Add(1))
	s, err := client.NewSocket(n.url(), userOptions(t, id))
	if err != nil {
		return nil, err
	}
	defer s.Close()
	list := make(chan json.RawMessage, 1)
	s.On("presence:list", func(e *client.Event) {
		select {
		case list <- e.Args.Raw(0):
		default:
		}
	})
	s.Connect()
	select {
	case raw := <-list:
		var entries []struct {
			UserID string `json:"userId"`
			Status string `json:"status"`
		}
		if err := json.Unmarshal(raw, &entries); err != nil {
			return nil, err
		}
		ids := map[string]bool{}
		for _, e := range entries {
			if e.Status != "offline" {
				ids[e.UserID] = true
			}
		}
		return ids, nil
	case <-time.After(5 * time.Second):
		return nil, fmt.Errorf("no presence:list from %s", n.name)
	}
}

// checkPresence fails t unless, within d, the presence:list of each of
// nodes shows every user in want. The nodes are polled side by side.
func checkPresence(t testing.TB, nodes []*node, want []*chatUser, d time.Duration) {
	t.Helper()
	var wg sync.WaitGroup
	failures := make([]string, len(nodes))
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var missing []string
			var lastErr error
			ok := poll(d, func() bool {
				ids, err := presenceList(t, n)
				if err != nil {
					lastErr = err
					return false
				}
				missing = missing[:0]
				for _, u := range want {
					if !ids[u.id] {
						missing = append(missing, u.id)
					}
				}
				return len(missing) == 0
			})
			if !ok {
				failures[i] = fmt.Sprintf("presence on %s did not converge within %v: missing %v (last error %v)", n.name, d, missing, lastErr)
			}
		}()
	}
	wg.Wait()
	for _, f := range failures {
		if f != "" {
			t.Error(f)
		}
	}
}

// checkCrossNode fails t unless, within d, a message sent on from reaches
// a user on to.
func checkCrossNode(t testing.TB, from, to *node, d time.Duration) {
	t.Helper()
	recv := newChatUser(t, to.url(), "receiver")
	send := newChatUser(t, from.url(), "sender")
	start := time.Now()
	seq := 0
	ok := poll(d, func() bool {
		seq++
		c := content(send.id, seq, "probe")
		if s := send.send(c); s.id == "" {
			return false
		}
		return poll(time.Second, func() bool { return recv.received(c) })
	})
	if !ok {
		t.Errorf("no message from %s reached %s within %v", from.name, to.name, d)
		return
	}
	t.Logf("cross-node %s -> %s delivered %v after the check began", from.name, to.name, time.Since(start).Round(time.Millisecond))
	recv.m.Close()
	send.m.Close()
}
