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
	Lists       int64     `json:"presence_lists"`
	Updates     int64     `json:"presence_updates"`
	UserCPU     []float64 `json:"server_user_seconds"`
	SysCPU      []float64 `json:"server_sys_seconds"`
	RSSBeforeKB int64     `json:"rss_before_kb"`
	RSSPeakKB   int64     `json:"rss_peak_kb"`
	RSSAfterKB  int64     `json:"rss_after_kb"` // c.settle after every user left
}

var (
	presenceList   = []byte(`42["presence:list",`)
	presenceUpdate = []byte(`42["presence:update",`)
)

// runPresence has c.n users connect to "/" evenly within c.within, each
// reading its presence:list and every presence:update; a user not
// connected 20 s after it started counts as failed. Then all leave at
// once, and memory is read again after c.settle.
func runPresence(ctx context.Context, c config) (any, error) {
	r := presenceResult{Mode: c.mode, Users: c.n, RSSBeforeKB: c.pids.rss()}
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
		updates  atomic.Int64
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
			conn, err := connect(cx, c.urls[i%len(c.urls)], "/", toks[i], i, c.src)
			if err != nil {
				failed.Add(1)
				return
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
						updates.Add(1)
					case bytes.HasPrefix(m, presenceList):
						lists.Add(1)
					}
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
	r.Lists, r.Updates = lists.Load(), updates.Load()
	r.ConnP50ms, r.ConnP99ms = quantiles(connLat)
	return r, nil
}
