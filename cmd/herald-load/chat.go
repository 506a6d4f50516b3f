package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// room is the chat room every user joins: the public room both servers
// create at start.
const room = "general"

// openRoom connects the users, user i through node i%len(urls), and joins
// them to the room.
func openRoom(ctx context.Context, c config) ([]*chatClient, error) {
	clients := make([]*chatClient, c.users)
	errs := make(chan error, c.users)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			tok, err := token(c.secret, "cu", i)
			if err != nil {
				errs <- err
				return
			}
			cx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			node := i % len(c.urls)
			conn, err := connect(cx, c.urls[node], "/chat", tok, i, c.src)
			if err != nil {
				errs <- err
				return
			}
			cl := &chatClient{Conn: conn, node: node, pending: map[int]pendingAck{}}
			clients[i] = cl
			go cl.read()
			b, err := cl.call(cx, "join-room", `"`+room+`"`)
			if err != nil {
				errs <- err
				return
			}
			var r struct {
				OK    bool   `json:"ok"`
				Error string `json:"error"`
			}
			if err := ackArg(b, &r); err != nil || !r.OK {
				errs <- fmt.Errorf("herald-load: join-room: %s %v", b, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		closeAll(clients)
		return nil, err
	}
	return clients, nil
}

func closeAll(clients []*chatClient) {
	for _, cl := range clients {
		if cl != nil {
			cl.Close()
		}
	}
}

// stepResult is one measured window of chat at a fixed rate.
type stepResult struct {
	Rate        float64   `json:"rate"`
	Sent        int64     `json:"sent"`
	Acked       int64     `json:"acked"`
	Refused     int64     `json:"refused"`
	ErrorEvents int64     `json:"error_events"`
	AckedPerSec float64   `json:"acked_per_sec"`
	Held        bool      `json:"held"`
	Deliveries  int64     `json:"deliveries"`
	Expected    int64     `json:"expected"`
	Lost        int64     `json:"lost"`
	P50ms       float64   `json:"p50_ms"`
	P99ms       float64   `json:"p99_ms"`
	CrossP50ms  float64   `json:"cross_p50_ms,omitempty"`
	CrossP99ms  float64   `json:"cross_p99_ms,omitempty"`
	AckP50ms    float64   `json:"ack_p50_ms"`
	AckP99ms    float64   `json:"ack_p99_ms"`
	UserCPU     []float64 `json:"server_user_seconds"`
	SysCPU      []float64 `json:"server_sys_seconds"`
	CPUPerDelUs float64   `json:"server_cpu_us_per_delivery"`
	UserPerDel  float64   `json:"server_user_us_per_delivery"`
	SysPerDel   float64   `json:"server_sys_us_per_delivery"`
	RSSBeforeKB int64     `json:"rss_before_kb"`
	RSSPeakKB   int64     `json:"rss_peak_kb"`
	RSSAfterKB  int64     `json:"rss_after_kb"`
}

// runStep has the first c.senders users send rate messages a second in
// total for d, then waits for the deliveries to land.
func runStep(c config, clients []*chatClient, rate float64, d time.Duration) stepResult {
	n := step.Add(1)
	for _, cl := range clients {
		cl.take()
	}
	r := stepResult{Rate: rate, RSSBeforeKB: c.pids.rss()}
	stop := make(chan struct{})
	peak := c.pids.sampleRSS(stop)
	u0, s0 := c.pids.cpu()
	start := time.Now()
	end := start.Add(d)
	pad := strings.Repeat("x", c.payload)
	senders := min(c.senders, len(clients))
	every := time.Duration(float64(time.Second) * float64(senders) / rate)
	var sent sync.WaitGroup
	var mu sync.Mutex
	for k := 0; k < senders; k++ {
		sent.Add(1)
		go func(cl *chatClient) {
			defer sent.Done()
			// Open loop: messages are due on a fixed schedule, whatever
			// the answers; a sender late by more than a second skips.
			next := start.Add(time.Duration(k) * every / time.Duration(senders))
			var count int64
			for next.Before(end) {
				if w := time.Until(next); w > 0 {
					time.Sleep(w)
				} else if w < -time.Second {
					next = time.Now()
				}
				content := "m " + strconv.FormatInt(time.Now().UnixNano(), 10) + " " + strconv.Itoa(cl.node) + " " +
					strconv.FormatInt(n, 10) + " " + pad
				arg, _ := json.Marshal(map[string]string{"roomId": room, "content": content})
				if _, err := cl.request("send-message", string(arg), nil); err != nil {
					break
				}
				count++
				next = next.Add(every)
			}
			mu.Lock()
			r.Sent += count
			mu.Unlock()
		}(clients[k])
	}
	sent.Wait()
	// Drain: until no delivery for half a second (at most 10 s).
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		quiet := true
		for _, cl := range clients {
			if time.Now().UnixNano()-cl.last.Load() < int64(500*time.Millisecond) {
				quiet = false
				break
			}
		}
		if quiet {
			break
		}
	}
	u1, s1 := c.pids.cpu()
	close(stop)
	r.RSSPeakKB, r.RSSAfterKB = peak.Load(), c.pids.rss()
	r.UserCPU, r.SysCPU = diff(u0, u1), diff(s0, s1)
	var lat, cross, ackLat []float64
	for _, cl := range clients {
		r.Deliveries += cl.got.Load()
		l, x, a, ok, ref, ev := cl.take()
		lat, cross, ackLat = append(lat, l...), append(cross, x...), append(ackLat, a...)
		r.Acked, r.Refused, r.ErrorEvents = r.Acked+ok, r.Refused+ref, r.ErrorEvents+ev
	}
	r.Expected = r.Acked * int64(len(clients))
	r.Lost = r.Expected - r.Deliveries
	r.AckedPerSec = float64(r.Acked) / d.Seconds()
	r.Held = r.AckedPerSec >= 0.95*rate
	r.P50ms, r.P99ms = quantiles(lat)
	r.CrossP50ms, r.CrossP99ms = quantiles(cross)
	r.AckP50ms, r.AckP99ms = quantiles(ackLat)
	if r.Deliveries > 0 {
		per := 1e6 / float64(r.Deliveries)
		r.UserPerDel, r.SysPerDel = sum(r.UserCPU)*per, sum(r.SysCPU)*per
		r.CPUPerDelUs = r.UserPerDel + r.SysPerDel
	}
	return r
}

// chatResult is what the chat and cluster modes report.
type chatResult struct {
	stepResult
	Mode    string `json:"mode"`
	Users   int    `json:"users"`
	Senders int    `json:"senders"`
	Nodes   int    `json:"nodes"`
	Stored  int    `json:"stored"`
}

func runChat(ctx context.Context, c config) (any, error) {
	clients, err := openRoom(ctx, c)
	if err != nil {
		return nil, err
	}
	defer closeAll(clients)
	fmt.Fprintf(os.Stderr, "%d users in the room, %d senders, %.0f msg/s for %s\n", len(clients), c.senders, c.rate, c.duration)
	r := chatResult{Mode: c.mode, Users: c.users, Senders: c.senders, Nodes: len(c.urls)}
	r.stepResult = runStep(c, clients, c.rate, c.duration)
	// A server still working through a backlog answers late: the count
	// is then reported missing (-1) rather than the run lost.
	if r.Stored, err = countStored(ctx, clients[0]); err != nil {
		fmt.Fprintln(os.Stderr, "herald-load: counting stored messages:", err)
		r.Stored = -1
	}
	return r, nil
}

// countStored walks the room's history, 100 a page.
func countStored(ctx context.Context, cl *chatClient) (int, error) {
	n, cursor := 0, ""
	for {
		page, _, err := historyCall(ctx, cl, room, cursor, 100)
		if err != nil {
			return n, err
		}
		n += len(page.Messages)
		if page.last() {
			return n, nil
		}
		cursor = *page.NextCursor
	}
}

// historyCall asks one page of history and times the round trip.
func historyCall(ctx context.Context, cl *chatClient, roomID, before string, limit int) (historyPage, time.Duration, error) {
	var page historyPage
	arg, _ := json.Marshal(map[string]any{"roomId": roomID, "before": before, "limit": limit})
	cx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	t0 := time.Now()
	b, err := cl.call(cx, "history", string(arg))
	d := time.Since(t0)
	if err != nil {
		return page, d, err
	}
	if err := ackArg(b, &page); err != nil {
		return page, d, err
	}
	if page.Error != "" {
		return page, d, fmt.Errorf("herald-load: history: %s", page.Error)
	}
	return page, d, nil
}

// last reports whether no page follows.
func (p historyPage) last() bool {
	return p.NextCursor == nil || *p.NextCursor == "" || len(p.Messages) == 0
}

type historyPage struct {
	Messages []struct {
		ID string `json:"id"`
	} `json:"messages"`
	NextCursor *string `json:"nextCursor"`
	Error      string  `json:"error"`
}

// maxResult is what chatmax reports: the highest rate that held with p99
// under the bound, and every step tried.
type maxResult struct {
	Mode    string       `json:"mode"`
	Users   int          `json:"users"`
	Senders int          `json:"senders"`
	MaxRate float64      `json:"max_rate"`
	Best    stepResult   `json:"best"`
	Steps   []stepResult `json:"steps"`
}

// runChatMax doubles the rate from c.rate while a step holds (acked at the
// rate, p99 under c.maxP99, nothing lost or refused), then bisects. A step
// that fails is tried once more before its rate counts as too high: on a
// shared machine one stall (another process's burst, a GC, a slow fsync)
// spoils a short window's p99, and the search would stop below what the
// server sustains. Both servers are measured the same way.
func runChatMax(ctx context.Context, c config) (any, error) {
	clients, err := openRoom(ctx, c)
	if err != nil {
		return nil, err
	}
	defer closeAll(clients)
	r := maxResult{Mode: c.mode, Users: c.users, Senders: c.senders}
	good, bad := 0.0, 0.0
	rate := c.rate
	for i := 0; i < c.steps; i++ {
		var s stepResult
		ok := false
		for try := 0; try < 2 && !ok; try++ {
			if try > 0 {
				time.Sleep(time.Second)
			}
			s = runStep(c, clients, rate, c.duration)
			ok = s.Held && s.P99ms < float64(c.maxP99.Milliseconds()) && s.Refused == 0 &&
				s.Lost <= s.Expected/100
			fmt.Fprintf(os.Stderr, "rate %.0f: acked %.0f/s p99 %.1f ms lost %d refused %d: ok=%v\n",
				rate, s.AckedPerSec, s.P99ms, s.Lost, s.Refused, ok)
			r.Steps = append(r.Steps, s)
		}
		if ok {
			good, r.Best = rate, s
		} else {
			bad = rate
		}
		switch {
		case bad == 0:
			rate *= 2
		case good == 0:
			rate /= 2
		default:
			rate = (good + bad) / 2
		}
		if good > 0 && bad > 0 && bad-good <= good/8 {
			break
		}
		time.Sleep(time.Second)
	}
	r.MaxRate = good
	return r, nil
}
