// Package webhook delivers the service's events to a backend as signed
// HTTP POSTs.
//
// Each event is a JSON envelope {id, type, createdAt, data} POSTed to
// every endpoint subscribed to its type, signed with HMAC-SHA256 over
// "<unix time>.<body>" (see Sign and Verify) in the Herald-Signature
// header. Events that share an ordering key (a user's, a room's) reach an
// endpoint in the order they were sent: each endpoint has a few lanes, a
// key always takes the same one, and a lane delivers one event at a time,
// retrying it with exponential backoff on network errors, timeouts, 429
// and 5xx before the next. The id stays the same on every attempt, so a
// receiver can drop duplicates.
//
// Queues are bounded: Send never blocks, and an event that finds its
// lane full is dropped (counted in Stats and logged, at most once per
// interval). Send and Stats are safe for concurrent use.
package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Event types.
const (
	UserOnline       = "user.online"
	UserOffline      = "user.offline"
	MessageCreated   = "message.created"
	RoomCreated      = "room.created"
	MemberJoined     = "member.joined"
	MemberLeft       = "member.left"
	NotificationRead = "notification.read"
)

// Types are the event types an endpoint may subscribe to.
var Types = []string{UserOnline, UserOffline, MessageCreated, RoomCreated, MemberJoined, MemberLeft, NotificationRead}

// ValidType reports whether t is an event type.
func ValidType(t string) bool {
	for _, v := range Types {
		if v == t {
			return true
		}
	}
	return false
}

// Endpoint is a receiver and the events it takes (every event when
// Events is empty).
type Endpoint struct {
	URL    string
	Events []string
}

// Options configures a Dispatcher. Zero fields take the defaults.
type Options struct {
	Endpoints []Endpoint
	// Secret signs every delivery.
	Secret []byte
	// Client sends the requests; it must not follow redirects blindly
	// (default: a client of its own with Timeout).
	Client *http.Client
	// Timeout bounds one attempt (default 5s).
	Timeout time.Duration
	// Attempts is how many times an event is tried before it is dropped
	// (default 8).
	Attempts int
	// Backoff is the wait before the first retry, doubled for each next
	// one up to MaxBackoff (defaults 1s and 1m).
	Backoff, MaxBackoff time.Duration
	// QueueSize bounds the events waiting for (or in delivery to) one
	// endpoint, whatever lanes their keys take (default 10000).
	QueueSize int
	// Lanes is how many deliveries one endpoint may have in flight; the
	// events of one key share a lane (default 8).
	Lanes  int
	Logger *slog.Logger
}

// Stats are a Dispatcher's counts since it started.
type Stats struct {
	Queued    int64  // events waiting or in delivery now
	Delivered uint64 // deliveries a receiver accepted (2xx)
	Retried   uint64 // attempts after a failed one
	Dropped   uint64 // events given up: queue full, attempts used up, refused (4xx) or shut down
}

// Dispatcher sends events to the endpoints; Close stops it.
type Dispatcher struct {
	o         Options
	endpoints []*endpoint
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	mu     sync.RWMutex // held to enqueue; Close takes it to close the lanes
	closed bool

	queued               atomic.Int64
	delivered, retried   atomic.Uint64
	dropped, lastDropLog atomic.Uint64
	abandoned            atomic.Uint64 // left in the queues at Close's deadline
	lastLog              atomic.Int64  // unix nanos of the last queue-full log line
}

type endpoint struct {
	url     string
	events  map[string]bool // nil: all
	lanes   []chan *delivery
	waiting atomic.Int64 // events queued or in delivery, at most QueueSize over all lanes
}

type delivery struct {
	id, event string
	body      []byte
}

// Envelope is the JSON body of every delivery.
type Envelope struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	CreatedAt time.Time       `json:"createdAt"`
	Data      json.RawMessage `json:"data"`
}

// New starts a dispatcher's lanes.
func New(o Options) (*Dispatcher, error) {
	if len(o.Secret) == 0 {
		return nil, errors.New("webhook: a secret is required")
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 8
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Minute
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 10000
	}
	if o.Lanes <= 0 {
		o.Lanes = 8
	}
	o.Lanes = min(o.Lanes, o.QueueSize)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
	}
	d := &Dispatcher{o: o}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	for _, e := range o.Endpoints {
		for _, t := range e.Events {
			if !ValidType(t) {
				return nil, fmt.Errorf("webhook: unknown event type %q", t)
			}
		}
		ep := &endpoint{url: e.URL}
		if len(e.Events) > 0 {
			ep.events = map[string]bool{}
			for _, t := range e.Events {
				ep.events[t] = true
			}
		}
		for range o.Lanes {
			// Each lane could hold the whole queue: the bound is the
			// endpoint's count, whatever the keys' spread.
			lane := make(chan *delivery, o.QueueSize)
			ep.lanes = append(ep.lanes, lane)
			d.wg.Add(1)
			go d.run(ep, lane)
		}
		d.endpoints = append(d.endpoints, ep)
	}
	return d, nil
}

// Wants reports whether any endpoint takes events of type t: callers
// skip building data nobody will receive.
func (d *Dispatcher) Wants(t string) bool {
	if d == nil {
		return false
	}
	for _, ep := range d.endpoints {
		if ep.events == nil || ep.events[t] {
			return true
		}
	}
	return false
}

// Send queues an event of type t for every endpoint that takes it; events
// with the same key are delivered in order. data is encoded at once. It
// never blocks and returns the event's id ("" when no endpoint takes it
// or it could not be encoded).
func (d *Dispatcher) Send(t, key string, data any) string {
	if !d.Wants(t) {
		return ""
	}
	raw, err := json.Marshal(data)
	if err != nil {
		d.o.Logger.Error("webhook: encode event", "type", t, "err", err)
		return ""
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	id := "evt_" + hex.EncodeToString(b[:])
	body, _ := json.Marshal(Envelope{ID: id, Type: t, CreatedAt: time.Now().UTC().Truncate(time.Millisecond), Data: raw})
	dl := &delivery{id: id, event: t, body: body}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	lane := int(h.Sum32() % uint32(d.o.Lanes))

	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return ""
	}
	for _, ep := range d.endpoints {
		if ep.events != nil && !ep.events[t] {
			continue
		}
		if ep.waiting.Add(1) > int64(d.o.QueueSize) {
			ep.waiting.Add(-1)
			d.drop(ep, dl, "queue full")
			continue
		}
		d.queued.Add(1)
		ep.lanes[lane] <- dl // never blocks: a lane holds QueueSize
	}
	return id
}

// drop counts an event given up; queue-full drops are logged at most
// once per 10s, with how many there were since the last line.
func (d *Dispatcher) drop(ep *endpoint, dl *delivery, why string) {
	n := d.dropped.Add(1)
	if why == "queue full" {
		now := time.Now().UnixNano()
		last := d.lastLog.Load()
		if now-last < int64(10*time.Second) || !d.lastLog.CompareAndSwap(last, now) {
			return
		}
		since := n - d.lastDropLog.Swap(n)
		d.o.Logger.Warn("webhook: queue full, events dropped", "url", ep.url, "dropped", since, "dropped_total", n,
			"queue_size", d.o.QueueSize)
		return
	}
	d.o.Logger.Warn("webhook: event dropped", "url", ep.url, "id", dl.id, "type", dl.event, "reason", why,
		"dropped_total", n)
}

// run delivers one lane's events, one at a time.
func (d *Dispatcher) run(ep *endpoint, lane chan *delivery) {
	defer d.wg.Done()
	for dl := range lane {
		if d.ctx.Err() != nil {
			d.abandoned.Add(1) // Close's deadline passed: counted, logged once
		} else {
			d.deliver(ep, dl)
		}
		ep.waiting.Add(-1)
		d.queued.Add(-1)
	}
}

// deliver tries dl until it is accepted, refused, out of attempts or the
// dispatcher is stopped.
func (d *Dispatcher) deliver(ep *endpoint, dl *delivery) {
	wait := d.o.Backoff
	for attempt := 1; ; attempt++ {
		retry, err := d.attempt(ep, dl, attempt)
		if err == nil {
			d.delivered.Add(1)
			return
		}
		if !retry {
			d.drop(ep, dl, err.Error())
			return
		}
		if attempt >= d.o.Attempts {
			d.drop(ep, dl, fmt.Sprintf("%d attempts failed, last: %v", attempt, err))
			return
		}
		d.o.Logger.Debug("webhook: retrying", "url", ep.url, "id", dl.id, "attempt", attempt, "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-d.ctx.Done():
			t.Stop()
			d.drop(ep, dl, "shutting down")
			return
		}
		d.retried.Add(1)
		wait = min(2*wait, d.o.MaxBackoff)
	}
}

// maxResponse is how much of a response is read (and discarded) so the
// connection can be reused.
const maxResponse = 64 << 10

// attempt POSTs dl once; it reports whether a failure is worth a retry.
func (d *Dispatcher) attempt(ep *endpoint, dl *delivery, n int) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(d.ctx, d.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.url, bytes.NewReader(dl.body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Herald-Webhooks/1")
	req.Header.Set(HeaderEvent, dl.event)
	req.Header.Set(HeaderDelivery, dl.id)
	req.Header.Set(HeaderAttempt, strconv.Itoa(n))
	req.Header.Set(HeaderSignature, Sign(d.o.Secret, time.Now(), dl.body))
	resp, err := d.o.Client.Do(req)
	if err != nil {
		return true, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return false, nil
	case c >= 500 || c == http.StatusTooManyRequests || c == http.StatusRequestTimeout:
		return true, fmt.Errorf("status %d", c)
	default:
		return false, fmt.Errorf("refused with status %d", c)
	}
}

// Stats returns the dispatcher's counts.
func (d *Dispatcher) Stats() Stats {
	return Stats{Queued: d.queued.Load(), Delivered: d.delivered.Load(), Retried: d.retried.Load(),
		Dropped: d.dropped.Load() + d.abandoned.Load()}
}

// Close stops taking events and delivers those queued until ctx is done;
// then it abandons the rest (counted as dropped) and waits for the lanes.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	for _, ep := range d.endpoints {
		for _, l := range ep.lanes {
			close(l)
		}
	}
	d.mu.Unlock()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
		d.cancel()
		return nil
	case <-ctx.Done():
		d.cancel()
		<-done
		if n := d.abandoned.Load(); n > 0 {
			d.o.Logger.Warn("webhook: events not delivered before shutdown", "dropped", n)
		}
		return ctx.Err()
	}
}
