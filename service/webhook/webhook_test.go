package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var secret = []byte("0123456789abcdef0123456789abcdef")

func TestVerify(t *testing.T) {
	body := []byte(`{"id":"evt_1"}`)
	now := time.Unix(1_800_000_000, 0)
	good := Sign(secret, now, body)
	cases := []struct {
		name   string
		secret []byte
		header string
		body   string
		at     time.Time
		want   error
	}{
		{"valid", secret, good, string(body), now, nil},
		{"valid within the window", secret, good, string(body), now.Add(4 * time.Minute), nil},
		{"rotation: one of two matches", secret, good + ",v1=" + strings.Repeat("ab", 32), string(body), now, nil},
		{"wrong secret", []byte("another secret"), good, string(body), now, ErrSignature},
		{"body changed", secret, good, `{"id":"evt_2"}`, now, ErrSignature},
		{"replayed after the window", secret, good, string(body), now.Add(6 * time.Minute), ErrExpired},
		{"from the future", secret, good, string(body), now.Add(-6 * time.Minute), ErrExpired},
		{"timestamp changed", secret, strings.Replace(good, "t=1800000000", "t=1800000001", 1), string(body), now, ErrSignature},
		{"empty", secret, "", string(body), now, ErrBadHeader},
		{"no signature", secret, "t=1800000000", string(body), now, ErrBadHeader},
		{"no time", secret, "v1=" + strings.Repeat("ab", 32), string(body), now, ErrBadHeader},
		{"not hex", secret, "t=1800000000,v1=zz", string(body), now, ErrBadHeader},
		{"garbage", secret, "hello", string(body), now, ErrBadHeader},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := Verify(c.secret, c.header, []byte(c.body), c.at, 0); err != c.want {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
		})
	}
}

// receiver is a backend that verifies every delivery and records the
// accepted ones; fail decides an attempt's status (0: 204).
type receiver struct {
	t    *testing.T
	srv  *httptest.Server
	mu   sync.Mutex
	got  []Envelope
	seen map[string]int // attempts by id
	fail func(e Envelope, attempt int) int
}

func newReceiver(t *testing.T, fail func(Envelope, int) int) *receiver {
	r := &receiver{t: t, seen: map[string]int{}, fail: fail}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if err := Verify(secret, req.Header.Get(HeaderSignature), body, time.Now(), 0); err != nil {
			t.Errorf("delivery fails verification: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var e Envelope
		if err := json.Unmarshal(body, &e); err != nil {
			t.Errorf("body: %v", err)
		}
		if req.Header.Get(HeaderDelivery) != e.ID || req.Header.Get(HeaderEvent) != e.Type {
			t.Errorf("headers %v do not match %s %s", req.Header, e.ID, e.Type)
		}
		attempt, _ := strconv.Atoi(req.Header.Get(HeaderAttempt))
		r.mu.Lock()
		r.seen[e.ID]++
		if r.seen[e.ID] != attempt {
			t.Errorf("attempt header %d, attempt %d", attempt, r.seen[e.ID])
		}
		r.mu.Unlock()
		if r.fail != nil {
			if code := r.fail(e, attempt); code != 0 {
				w.WriteHeader(code)
				return
			}
		}
		r.mu.Lock()
		r.got = append(r.got, e)
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) accepted() []Envelope {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Envelope(nil), r.got...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// held returns a channel receivers wait on and the function that frees
// them; tests also register free as a cleanup after the dispatcher's, so
// that it runs first (Close and the servers wait for the handlers).
func held() (<-chan struct{}, func()) {
	c := make(chan struct{})
	var once sync.Once
	return c, func() { once.Do(func() { close(c) }) }
}

func newDispatcher(t *testing.T, o Options) *Dispatcher {
	t.Helper()
	o.Secret = secret
	if o.Backoff == 0 {
		o.Backoff = time.Millisecond
	}
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	return d
}

func TestDeliveredInOrderPerKeyThroughRetries(t *testing.T) {
	// Every event fails its first attempt (500, then a hang past the
	// timeout for every third): each key's events still arrive in order.
	r := newReceiver(t, func(e Envelope, attempt int) int {
		var d struct{ N int }
		_ = json.Unmarshal(e.Data, &d)
		switch {
		case attempt > 1:
			return 0
		case d.N%3 == 0:
			time.Sleep(300 * time.Millisecond) // past the sender's timeout
			return http.StatusGatewayTimeout
		default:
			return http.StatusServiceUnavailable
		}
	})
	d := newDispatcher(t, Options{Endpoints: []Endpoint{{URL: r.srv.URL}}, Lanes: 2, Timeout: 100 * time.Millisecond})
	const perKey = 6
	keys := []string{"user:a", "user:b", "room:c"}
	for i := range perKey {
		for _, k := range keys {
			if id := d.Send(UserOnline, k, map[string]any{"key": k, "N": i}); !strings.HasPrefix(id, "evt_") {
				t.Fatalf("id %q", id)
			}
		}
	}
	waitFor(t, "every event", func() bool { return len(r.accepted()) == perKey*len(keys) })
	next := map[string]int{}
	ids := map[string]bool{}
	for _, e := range r.accepted() {
		var v struct {
			Key string
			N   int
		}
		_ = json.Unmarshal(e.Data, &v)
		if v.N != next[v.Key] {
			t.Fatalf("%s: got event %d, want %d", v.Key, v.N, next[v.Key])
		}
		next[v.Key]++
		if ids[e.ID] {
			t.Fatalf("id %s accepted twice", e.ID)
		}
		ids[e.ID] = true
	}
	waitFor(t, "the queue to empty", func() bool { return d.Stats().Queued == 0 })
	st := d.Stats()
	if st.Delivered != perKey*3 || st.Retried != perKey*3 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRefusedAndExhaustedAreDropped(t *testing.T) {
	r := newReceiver(t, func(e Envelope, attempt int) int {
		if e.Type == RoomCreated {
			return http.StatusBadRequest // not retried
		}
		return http.StatusInternalServerError
	})
	d := newDispatcher(t, Options{Endpoints: []Endpoint{{URL: r.srv.URL}}, Attempts: 3})
	d.Send(RoomCreated, "r", map[string]any{})
	d.Send(MessageCreated, "r", map[string]any{})
	waitFor(t, "both dropped", func() bool { return d.Stats().Dropped == 2 })
	r.mu.Lock()
	defer r.mu.Unlock()
	attempts := map[int]int{}
	for _, n := range r.seen {
		attempts[n]++
	}
	if attempts[1] != 1 || attempts[3] != 1 || len(r.seen) != 2 {
		t.Fatalf("attempts per event %v", r.seen)
	}
	if st := d.Stats(); st.Retried != 2 || st.Delivered != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSubscriptions(t *testing.T) {
	all, some := newReceiver(t, nil), newReceiver(t, nil)
	d := newDispatcher(t, Options{Endpoints: []Endpoint{{URL: all.srv.URL}, {URL: some.srv.URL, Events: []string{UserOffline}}}})
	if only := newDispatcher(t, Options{Endpoints: []Endpoint{{URL: some.srv.URL, Events: []string{UserOffline}}}}); only.Wants(UserOnline) || !only.Wants(UserOffline) {
		t.Fatal("Wants")
	}
	d.Send(UserOnline, "u", 1)
	d.Send(UserOffline, "u", 2)
	waitFor(t, "deliveries", func() bool { return len(all.accepted()) == 2 && len(some.accepted()) == 1 })
	if got := some.accepted()[0].Type; got != UserOffline {
		t.Fatalf("subscribed endpoint got %s", got)
	}
	if _, err := New(Options{Secret: secret, Endpoints: []Endpoint{{URL: "http://x", Events: []string{"user.deleted"}}}}); err == nil {
		t.Fatal("unknown event type accepted")
	}
	if _, err := New(Options{Endpoints: []Endpoint{{URL: "http://x"}}}); err == nil {
		t.Fatal("no secret accepted")
	}
}

func TestQueueBoundDrops(t *testing.T) {
	release, free := held()
	r := newReceiver(t, func(Envelope, int) int { <-release; return 0 })
	d := newDispatcher(t, Options{Endpoints: []Endpoint{{URL: r.srv.URL}}, QueueSize: 4, Lanes: 1, Timeout: time.Minute})
	t.Cleanup(free)
	for i := range 20 {
		d.Send(MessageCreated, "k", i)
	}
	// One in flight, four queued, the rest dropped.
	waitFor(t, "drops", func() bool { return d.Stats().Dropped >= 15 })
	if st := d.Stats(); st.Queued > 5 || st.Dropped != uint64(20-st.Queued) {
		t.Fatalf("stats %+v", st)
	}
	free()
	waitFor(t, "the queue to drain", func() bool { return d.Stats().Queued == 0 })
	if n := len(r.accepted()); n < 4 || n > 5 {
		t.Fatalf("accepted %d", n)
	}
}

// The bound is the endpoint's, not a lane's share: events of one key may
// fill the whole queue.
func TestQueueBoundIsPerEndpoint(t *testing.T) {
	release, free := held()
	r := newReceiver(t, func(Envelope, int) int { <-release; return 0 })
	d := newDispatcher(t, Options{Endpoints: []Endpoint{{URL: r.srv.URL}}, QueueSize: 8, Lanes: 4, Timeout: time.Minute})
	t.Cleanup(free)
	for i := range 10 {
		d.Send(MessageCreated, "one-key", i)
	}
	if st := d.Stats(); st.Queued != 8 || st.Dropped != 2 {
		t.Fatalf("stats %+v", st)
	}
	free()
	waitFor(t, "the queue to drain", func() bool { return len(r.accepted()) == 8 })
}

func TestResponseBodyAndCloseBounded(t *testing.T) {
	// A receiver answering an endless body and one that hangs: the body is
	// read only so far, and Close returns at its deadline.
	endless := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		chunk := []byte(strings.Repeat("x", 32<<10))
		for range 1000 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer endless.Close()
	hang := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer hung.Close()
	defer close(hang)
	d, err := New(Options{Secret: secret, Endpoints: []Endpoint{{URL: endless.URL}, {URL: hung.URL}}, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	d.Send(UserOnline, "u", 1)
	d.Send(UserOnline, "u", 2)
	waitFor(t, "the endless answer accepted", func() bool { return d.Stats().Delivered >= 1 })
	d.Send(UserOnline, "u", 3) // queued behind the hung one: abandoned at the deadline
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := d.Close(ctx); err == nil {
		t.Fatal("Close with a hung receiver returned nil")
	}
	if id := d.Send(UserOnline, "u", 4); id != "" {
		t.Fatal("Send after Close queued")
	}
	if st := d.Stats(); st.Queued != 0 || st.Delivered < 2 {
		t.Fatalf("stats after close %+v", st)
	}
}

// BenchmarkDeliver is the throughput of one receiver on loopback: events
// sent with 64 keys, until all are accepted.
func BenchmarkDeliver(b *testing.B) {
	var mu sync.Mutex
	n := 0
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		n++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hs.Close()
	d, err := New(Options{Secret: secret, Endpoints: []Endpoint{{URL: hs.URL}}, QueueSize: b.N + 8})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close(context.Background())
	data := map[string]any{"userId": "u-2bd806c97f0e", "name": "Alice", "status": "online"}
	b.ResetTimer()
	for i := range b.N {
		d.Send(UserOnline, strconv.Itoa(i%64), data)
	}
	for d.Stats().Queued > 0 {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	if mu.Lock(); n != b.N {
		b.Fatalf("accepted %d of %d", n, b.N)
	}
	mu.Unlock()
}
