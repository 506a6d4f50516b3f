package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldio/herald/bench/rawclient"
	"github.com/heraldio/herald/service/auth"
)

// errRefused reports a CONNECT the server refused (44).
var errRefused = errors.New("herald-load: connection refused by the server")

// token mints the HS256 token of bench user i.
func token(secret, prefix string, i int) (string, error) {
	id := fmt.Sprintf("%s-%d", prefix, i)
	return auth.Mint([]byte(secret), auth.User{ID: id, Name: "Bench " + id, Roles: []string{"user"}}, 2*time.Hour)
}

// connect opens a session and the namespace nsp ("/" or "/chat") with the
// token in auth, and waits for the CONNECT reply.
func connect(ctx context.Context, base, nsp, tok string, i, src int) (*rawclient.Conn, error) {
	return connectAuth(ctx, base, nsp, `{"token":"`+tok+`"}`, i, src)
}

// connectAuth is connect with the auth object given as JSON.
func connectAuth(ctx context.Context, base, nsp, authJSON string, i, src int) (*rawclient.Conn, error) {
	c, err := rawclient.Dial(ctx, base, i, src)
	if err != nil {
		return nil, err
	}
	prefix := "40"
	if nsp != "/" {
		prefix += nsp + ","
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetReadDeadline(dl)
	}
	if err := c.Send(prefix + authJSON); err != nil {
		c.Close()
		return nil, err
	}
	refused := "44" + strings.TrimPrefix(prefix, "40")
	for {
		m, err := c.NextBytes()
		if err != nil {
			c.Close()
			return nil, err
		}
		switch {
		case bytes.HasPrefix(m, []byte(prefix)):
			_ = c.SetReadDeadline(time.Time{})
			return c, nil
		case bytes.HasPrefix(m, []byte(refused)):
			c.Close()
			return nil, fmt.Errorf("%w: %s", errRefused, m)
		}
	}
}

// chatClient is one user of the chat room. Its reader goroutine records
// deliveries and acks into the current step's counters.
type chatClient struct {
	*rawclient.Conn
	node int

	mu      sync.Mutex
	lat     []float64 // ms from send to this receiver, current step
	cross   []float64 // the same for messages sent through another node
	ackLat  []float64 // ms from send to ack, for this client's sends
	pending map[int]pendingAck
	nextID  int
	acked   int64
	refused int64
	errEvts int64

	got  atomic.Int64 // deliveries of the current step
	last atomic.Int64 // unix ns of the last delivery
}

type pendingAck struct {
	sent  time.Time
	reply chan []byte // non-nil: a request waiting for its answer
}

// step is the number of the measurement step; deliveries of messages sent
// in another step are not counted.
var step atomic.Int64

// request sends an event with an ack id and returns the id.
func (c *chatClient) request(event, arg string, reply chan []byte) (int, error) {
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.pending[id] = pendingAck{sent: time.Now(), reply: reply}
	c.mu.Unlock()
	return id, c.Send(`42/chat,` + strconv.Itoa(id) + `["` + event + `",` + arg + `]`)
}

// call sends an event and waits for its ack's arguments (JSON array).
func (c *chatClient) call(ctx context.Context, event, arg string) ([]byte, error) {
	reply := make(chan []byte, 1)
	if _, err := c.request(event, arg, reply); err != nil {
		return nil, err
	}
	select {
	case b := <-reply:
		return b, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("herald-load: %s: %w", event, ctx.Err())
	}
}

var (
	newMessage = []byte(`42/chat,["new-message",`)
	errorEvent = []byte(`42/chat,["error",`)
	ackPrefix  = []byte(`43/chat,`)
	contentKey = []byte(`"content":"m `)
)

// read runs until the connection closes.
func (c *chatClient) read() {
	for {
		m, err := c.NextBytes()
		if err != nil {
			return
		}
		switch {
		case bytes.HasPrefix(m, newMessage):
			c.delivery(m)
		case bytes.HasPrefix(m, ackPrefix):
			c.ack(m[len(ackPrefix):])
		case bytes.HasPrefix(m, errorEvent):
			c.mu.Lock()
			c.errEvts++
			c.mu.Unlock()
		}
	}
}

// delivery records a new-message whose content is "m <unix ns> <node> <step> …".
func (c *chatClient) delivery(m []byte) {
	now := time.Now().UnixNano()
	i := bytes.Index(m, contentKey)
	if i < 0 {
		return
	}
	f := bytes.Fields(m[i+len(contentKey):])
	if len(f) < 3 {
		return
	}
	t, _ := strconv.ParseInt(string(f[0]), 10, 64)
	node, _ := strconv.Atoi(string(f[1]))
	st, _ := strconv.ParseInt(string(f[2]), 10, 64)
	if st != step.Load() {
		return
	}
	ms := float64(now-t) / 1e6
	c.mu.Lock()
	c.lat = append(c.lat, ms)
	if node != c.node {
		c.cross = append(c.cross, ms)
	}
	c.mu.Unlock()
	c.got.Add(1)
	c.last.Store(now)
}

// ack handles "<id>[args]".
func (c *chatClient) ack(m []byte) {
	j := bytes.IndexByte(m, '[')
	if j < 0 {
		return
	}
	id, err := strconv.Atoi(string(m[:j]))
	if err != nil {
		return
	}
	c.mu.Lock()
	p, ok := c.pending[id]
	delete(c.pending, id)
	if ok && p.reply == nil {
		c.ackLat = append(c.ackLat, float64(time.Since(p.sent).Microseconds())/1000)
		if bytes.Contains(m[j:], []byte(`{"error"`)) {
			c.refused++
		} else {
			c.acked++
		}
	}
	c.mu.Unlock()
	if ok && p.reply != nil {
		p.reply <- bytes.Clone(m[j:])
	}
}

// take returns and resets the client's counters.
func (c *chatClient) take() (lat, cross, ackLat []float64, acked, refused, errEvts int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lat, cross, ackLat = c.lat, c.cross, c.ackLat
	acked, refused, errEvts = c.acked, c.refused, c.errEvts
	c.lat, c.cross, c.ackLat = nil, nil, nil
	c.acked, c.refused, c.errEvts = 0, 0, 0
	c.got.Store(0)
	return
}

// ackArg decodes the first argument of an ack.
func ackArg(b []byte, v any) error {
	var args []json.RawMessage
	if err := json.Unmarshal(b, &args); err != nil || len(args) == 0 {
		return fmt.Errorf("herald-load: bad ack %.200s", b)
	}
	return json.Unmarshal(args[0], v)
}

// pct returns the p-quantile of sorted samples.
func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(math.Min(float64(len(sorted)-1), p*float64(len(sorted))))]
}

// quantiles sorts the samples and returns p50 and p99.
func quantiles(s []float64) (p50, p99 float64) {
	sort.Float64s(s)
	return pct(s, .5), pct(s, .99)
}

// procs are the measured server processes.
type procs []int

func (p procs) cpu() (user, sys []float64) {
	for _, pid := range p {
		u, s := rawclient.CPU(pid)
		user, sys = append(user, u), append(sys, s)
	}
	return
}

func (p procs) rss() (total int64) {
	for _, pid := range p {
		total += rawclient.RSSKB(pid)
	}
	return
}

// sampleRSS records the peak of the processes' summed RSS until stop.
func (p procs) sampleRSS(stop <-chan struct{}) *atomic.Int64 {
	var peak atomic.Int64
	peak.Store(p.rss())
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if r := p.rss(); r > peak.Load() {
					peak.Store(r)
				}
			}
		}
	}()
	return &peak
}

func sum(v []float64) (t float64) {
	for _, x := range v {
		t += x
	}
	return
}

func diff(a, b []float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = b[i] - a[i]
	}
	return out
}
