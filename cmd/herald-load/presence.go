package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldio/herald/bench/rawclient"
)

// presenceResult is what the presence mode reports.
type presenceResult struct {
	Mode        string    `json:"mode"`
	Users       int       `json:"users"`
	Connected   int64     `json:"connected"`
	Failed      int64     `json:"failed"`
	Dropped     int64     `json:"dropped"` // closed by the server before the users left
	ConnP50ms   float64   `json:"connect_p50_ms"`
	ConnP99ms   float64   `json:"connect_p99_ms"`
	Form        string    `json:"form"`             // what the users asked for: changes (batched, paged) or updates (the seed's)
	Lists       int64     `json:"presence_lists"`   // presence:list events and pages received
	Listed      int64     `json:"presence_listed"`  // users in them
	Events      int64     `json:"presence_events"`  // presence:update and presence:changes events
	Updates     int64     `json:"presence_updates"` // changes in them
	BytesIn     int64     `json:"presence_bytes"`   // payload bytes of those events and lists
	UserCPU     []float64 `json:"server_user_seconds"`
	SysCPU      []float64 `json:"server_sys_seconds"`
	RSSBeforeKB int64     `json:"rss_before_kb"`
	RSSPeakKB   int64     `json:"rss_peak_kb"`
	RSSAfterKB  int64     `json:"rss_after_kb"` // c.settle after every user left
}

var (
	presenceList    = []byte(`42["presence:list",`)
	presenceUpdate  = []byte(`42["presence:update",`)
	presenceChanges = []byte(`42["presence:changes",`)
	presencePage    = []byte(`431[`)
	userKey         = []byte(`"userId"`)
)

// runPresence has c.n users connect to "/" evenly within c.within; a user
// not connected 20 s after it started counts as failed. With the form
// "changes" each asks for the batched events (auth {presence:
// "changes"}) and then for the first page of who is online (100 users);
// with "updates" it takes the seed's presence:list and presence:update.
// Either way it reads every presence event. Then all leave at once, and
// memory is read again after c.settle.
func runPresence(ctx context.Context, c config) (any, error) {
	if c.form != "changes" && c.form != "updates" {
		return nil, fmt.Errorf("%w: -presence-form %q: want changes or updates", errUsage, c.form)
	}
	r := presenceResult{Mode: c.mode, Users: c.n, Form: c.form, RSSBeforeKB: c.pids.rss()}
	toks := make([]string, c.n)
	for i := range toks {
		var err error
		if toks[i], err = token(c.secret, "pu", i); err != nil {
			return nil, err
		}
	}
	stop := make(chan struct{})
	peak := c.pids.sampleRSS(stop)
	u0, s0 := c.pids.cpu()
	var (
		mu       sync.Mutex
		conns    []*rawclient.Conn
		connLat  []float64
		leaving  atomic.Bool
		dialing  sync.WaitGroup
		reading  sync.WaitGroup
		lists    atomic.Int64
		listed   atomic.Int64
		events   atomic.Int64
		updates  atomic.Int64
		bytesIn  atomic.Int64
		dropped  atomic.Int64
		failed   atomic.Int64
		progress atomic.Int64
	)
	start := time.Now()
	for i := 0; i < c.n; i++ {
		dialing.Add(1)
		go func(i int) {
			defer dialing.Done()
			time.Sleep(time.Until(start.Add(c.within * time.Duration(i) / time.Duration(c.n))))
			cx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			t0 := time.Now()
			auth := `{"token":"` + toks[i] + `"}`
			if c.form == "changes" {
				auth = `{"token":"` + toks[i] + `","presence":"changes"}`
			}
			conn, err := connectAuth(cx, c.urls[i%len(c.urls)], "/", auth, i, c.src)
			if err != nil {
				failed.Add(1)
				return
			}
			if c.form == "changes" {
				_ = conn.Send(`421["presence:list",{"limit":100}]`)
			}
			d := time.Since(t0)
			mu.Lock()
			conns = append(conns, conn)
			connLat = append(connLat, float64(d.Microseconds())/1000)
			mu.Unlock()
			progress.Add(1)
			reading.Add(1)
			go func() {
				defer reading.Done()
				for {
					m, err := conn.NextBytes()
					if err != nil {
						if !leaving.Load() {
							dropped.Add(1)
						}
						return
					}
					switch {
					case bytes.HasPrefix(m, presenceUpdate):
						events.Add(1)
						updates.Add(1)
					case bytes.HasPrefix(m, presenceChanges):
						events.Add(1)
						updates.Add(int64(bytes.Count(m, userKey)))
					case bytes.HasPrefix(m, presenceList), bytes.HasPrefix(m, presencePage):
						lists.Add(1)
						listed.Add(int64(bytes.Count(m, userKey)))
					default:
						continue
					}
					bytesIn.Add(int64(len(m)))
				}
			}()
		}(i)
	}
	done := make(chan struct{})
	go func() { dialing.Wait(); close(done) }()
	for t := time.NewTicker(time.Second); ; {
		select {
		case <-t.C:
			fmt.Fprintf(os.Stderr, "\rconnected %d/%d", progress.Load(), c.n)
			continue
		case <-done:
			t.Stop()
		}
		break
	}
	fmt.Fprintf(os.Stderr, "\rconnected %d/%d in %.1f s\n", progress.Load(), c.n, time.Since(start).Seconds())
	time.Sleep(2 * time.Second) // the last updates land
	leaving.Store(true)
	for _, conn := range conns {
		conn.Close()
	}
	reading.Wait()
	time.Sleep(c.settle)
	u1, s1 := c.pids.cpu()
	close(stop)
	r.RSSPeakKB, r.RSSAfterKB = peak.Load(), c.pids.rss()
	r.UserCPU, r.SysCPU = diff(u0, u1), diff(s0, s1)
	r.Connected, r.Failed, r.Dropped = int64(len(conns)), failed.Load(), dropped.Load()
	r.Lists, r.Listed, r.Events, r.Updates, r.BytesIn = lists.Load(), listed.Load(), events.Load(), updates.Load(), bytesIn.Load()
	r.ConnP50ms, r.ConnP99ms = quantiles(connLat)
	return r, nil
}
