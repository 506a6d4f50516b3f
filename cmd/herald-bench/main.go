// Command herald-bench is a load tool for any Socket.IO v4/v5 server over
// WebSocket (Herald, or the Node reference): it opens connections, sends
// events and acks, and measures throughput, latency percentiles, and the
// server's own CPU time and memory from /proc/PID.
//
//	herald-bench -mode conns  -n 10000 -pid PID            memory per idle connection, health check
//	herald-bench -mode echo   -n 50 -inflight 8 -pid PID    emit-with-ack round trips at saturation
//	herald-bench -mode echo   -n 50 -rate 5000 -pid PID     … at a fixed rate
//	herald-bench -mode fanout -n 1000 -rate 60 -pid PID     one sender, a room of n receivers
//
// -parser msgpack speaks socket.io-msgpack-parser's packets (one binary
// message each) instead of the default parser's text ones, to a server
// started with that parser.
//
// The server must answer "echo" (ack with the arguments), "join" (room,
// ack) and "fanout" (room, payload → io.to(room).emit("fanout", payload)),
// as bench/server and bench/node do. Connections are spread over source
// addresses 127.0.0.1..127.0.0.<src> and, with -procs, over child processes
// (one process may hold at most so many open files).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldio/herald/bench/rawclient"
)

type config struct {
	url      string
	mode     string
	n        int
	inflight int
	coalesce bool
	rate     float64
	duration time.Duration
	pid      int
	src      int
	procs    int
	payload  int
	child    bool
	offset   int
	jsonOut  bool
	settle   time.Duration
	parser   string
	codec    codec
}

// Result is what a run reports (children print it as JSON).
type Result struct {
	Mode          string    `json:"mode"`
	Conns         int       `json:"conns"`
	OpenSeconds   float64   `json:"open_seconds,omitempty"`
	RSSBeforeKB   int64     `json:"rss_before_kb,omitempty"`
	RSSAfterKB    int64     `json:"rss_after_kb,omitempty"`
	RSSClosedKB   int64     `json:"rss_closed_kb,omitempty"`
	BytesPerConn  float64   `json:"bytes_per_conn,omitempty"`
	Healthy       int       `json:"healthy,omitempty"`
	Ops           int64     `json:"ops"`
	Sent          int64     `json:"sent,omitempty"`
	Expected      int64     `json:"expected,omitempty"`
	Lost          int64     `json:"lost,omitempty"`
	Seconds       float64   `json:"seconds,omitempty"`
	OpsPerSec     float64   `json:"ops_per_sec,omitempty"`
	P50ms         float64   `json:"p50_ms,omitempty"`
	P90ms         float64   `json:"p90_ms,omitempty"`
	P99ms         float64   `json:"p99_ms,omitempty"`
	Maxms         float64   `json:"max_ms,omitempty"`
	ServerCPU     float64   `json:"server_cpu_seconds,omitempty"`
	ServerUser    float64   `json:"server_user_seconds,omitempty"`
	CPUPerOpUs    float64   `json:"server_cpu_us_per_op,omitempty"`
	UserPerOpUs   float64   `json:"server_user_us_per_op,omitempty"`
	Samples       []float64 `json:"samples,omitempty"` // children → parent
	Errors        int64     `json:"errors,omitempty"`
	ServerVersion string    `json:"-"`
}

func main() {
	var c config
	flag.StringVar(&c.url, "url", "http://127.0.0.1:3000", "server base URL")
	flag.StringVar(&c.mode, "mode", "echo", "conns, echo or fanout")
	flag.IntVar(&c.n, "n", 100, "connections (receivers for fanout)")
	flag.IntVar(&c.inflight, "inflight", 4, "echo: requests in flight per connection (saturation)")
	flag.BoolVar(&c.coalesce, "coalesce", true, "echo at saturation: requests due together (their acks were read together) go in one write; false: one write each")
	flag.Float64Var(&c.rate, "rate", 0, "echo: total requests/s (0 = saturation); fanout: broadcasts/s")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "measurement time")
	flag.IntVar(&c.pid, "pid", 0, "server pid, for CPU and memory")
	flag.IntVar(&c.src, "src", 4, "spread connections over 127.0.0.1..127.0.0.<src>")
	flag.IntVar(&c.procs, "procs", 1, "processes holding the connections (conns, fanout)")
	flag.IntVar(&c.payload, "payload", 64, "payload size in bytes")
	flag.BoolVar(&c.child, "child", false, "internal: run as a child process")
	flag.IntVar(&c.offset, "offset", 0, "internal: index of the first connection")
	flag.BoolVar(&c.jsonOut, "json", false, "print the result as JSON")
	flag.DurationVar(&c.settle, "settle", 3*time.Second, "conns: wait before reading memory")
	flag.StringVar(&c.parser, "parser", "json", "the server's Socket.IO parser: json (socket.io-parser) or msgpack (socket.io-msgpack-parser)")
	flag.Parse()

	var r Result
	var err error
	c.codec, err = newCodec(c.parser)
	switch {
	case err != nil:
	case c.child:
		r, err = runChild(c)
	case c.mode == "conns":
		r, err = runConns(c)
	case c.mode == "echo":
		r, err = runEcho(c)
	case c.mode == "fanout":
		r, err = runFanout(c)
	default:
		err = fmt.Errorf("unknown mode %q", c.mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "herald-bench:", err)
		os.Exit(1)
	}
	if c.jsonOut || c.child {
		r.Samples = nil
		if c.child {
			r.Samples = sampleForParent
		}
		_ = json.NewEncoder(os.Stdout).Encode(r)
		return
	}
	printTable(r)
}

var sampleForParent []float64

// conn is one client connection speaking Engine.IO/Socket.IO.
type conn = rawclient.Conn

// dial opens a connection and its default namespace.
func dial(ctx context.Context, k codec, base string, i, src int) (*conn, error) {
	c, err := rawclient.Dial(ctx, base, i, src)
	if err != nil {
		return nil, err
	}
	if err := c.SendFrames(k.msgpack, k.connect()); err != nil {
		c.Close()
		return nil, err
	}
	if err := awaitPacket(c, k, typeConnect); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// awaitPacket reads until a packet of type typ arrives.
func awaitPacket(c *conn, k codec, typ int) error {
	for {
		m, bin, err := c.NextMessage()
		if err != nil {
			return err
		}
		if t, _, ok := k.packet(m, bin); ok && t == typ {
			return nil
		}
	}
}

// openMany opens n connections with limited concurrency.
func openMany(ctx context.Context, c config, n, offset int, progress bool) ([]*conn, error) {
	conns := make([]*conn, n)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	var done atomic.Int64
	sem := make(chan struct{}, 64)
	stop := make(chan struct{})
	if progress {
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					fmt.Fprintf(os.Stderr, "\ropened %d/%d", done.Load(), n)
				case <-stop:
					fmt.Fprintf(os.Stderr, "\ropened %d/%d\n", done.Load(), n)
					return
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			cn, err := dial(ctx, c.codec, c.url, offset+i, c.src)
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
				return
			}
			conns[i] = cn
			done.Add(1)
		}(i)
	}
	wg.Wait()
	close(stop)
	if e := firstErr.Load(); e != nil {
		for _, cn := range conns {
			if cn != nil {
				cn.Close()
			}
		}
		return nil, e.(error)
	}
	return conns, nil
}

var (
	cpuSplit = rawclient.CPU
	rssKB    = rawclient.RSSKB
)

func runConns(c config) (Result, error) {
	r := Result{Mode: "conns", Conns: c.n}
	r.RSSBeforeKB = rssKB(c.pid)
	start := time.Now()
	if c.procs > 1 {
		kids, err := startChildren(c, nil)
		if err != nil {
			return r, err
		}
		r.OpenSeconds = time.Since(start).Seconds()
		time.Sleep(c.settle)
		r.RSSAfterKB = rssKB(c.pid)
		for _, k := range kids {
			k.release()
		}
		for _, k := range kids {
			kr, err := k.wait()
			if err != nil {
				return r, err
			}
			r.Healthy += kr.Healthy
		}
	} else {
		conns, err := openMany(context.Background(), c, c.n, 0, true)
		if err != nil {
			return r, err
		}
		r.OpenSeconds = time.Since(start).Seconds()
		time.Sleep(c.settle)
		r.RSSAfterKB = rssKB(c.pid)
		r.Healthy = healthCheck(c.codec, conns)
		for _, cn := range conns {
			cn.Close()
		}
	}
	if c.n > 0 {
		r.BytesPerConn = float64(r.RSSAfterKB-r.RSSBeforeKB) * 1024 / float64(c.n)
	}
	time.Sleep(c.settle)
	r.RSSClosedKB = rssKB(c.pid)
	return r, nil
}

// healthCheck asks every connection for an echo and counts the answers.
func healthCheck(k codec, conns []*conn) int {
	var ok atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	for _, cn := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func(cn *conn) {
			defer wg.Done()
			defer func() { <-sem }()
			_ = cn.SetReadDeadline(time.Now().Add(15 * time.Second))
			if cn.SendFrames(k.msgpack, k.event(nil, 1, "echo", "ping")) != nil {
				return
			}
			if awaitPacket(cn, k, typeAck) == nil {
				ok.Add(1)
			}
		}(cn)
	}
	wg.Wait()
	return int(ok.Load())
}

func payload(n int) string { return strings.Repeat("x", n) }

func runEcho(c config) (Result, error) {
	r := Result{Mode: "echo", Conns: c.n}
	conns, err := openMany(context.Background(), c, c.n, 0, false)
	if err != nil {
		return r, err
	}
	defer func() {
		for _, cn := range conns {
			cn.Close()
		}
	}()
	body := payload(c.payload)
	var ops, errs atomic.Int64
	var mu sync.Mutex
	var lat []float64
	end := time.Now().Add(c.duration)
	u0, s0 := cpuSplit(c.pid)
	start := time.Now()
	var wg sync.WaitGroup
	// At a fixed rate each connection sends on its own ticker; at
	// saturation it keeps `inflight` requests outstanding.
	for _, cn := range conns {
		wg.Add(1)
		go func(cn *conn) {
			defer wg.Done()
			local := make([]float64, 0, 4096)
			sent := make(map[int]time.Time)
			var smu sync.Mutex
			id := 0
			request := func() []byte {
				smu.Lock()
				id++
				my := id
				sent[my] = time.Now()
				smu.Unlock()
				return c.codec.event(make([]byte, 0, 32+len(body)), my, "echo", body)
			}
			sendOne := func() bool { return cn.SendFrames(c.codec.msgpack, request()) == nil }
			var batch [][]byte // at saturation: the next requests, sent together once the acks read so far are handled
			done := make(chan struct{})
			go func() { // reader
				defer close(done)
				_ = cn.SetReadDeadline(end.Add(5 * time.Second))
				for {
					m, bin, err := cn.NextMessage()
					if err != nil {
						return
					}
					typ, n, ok := c.codec.packet(m, bin)
					if !ok || typ != typeAck {
						continue
					}
					smu.Lock()
					t0, ok := sent[n]
					delete(sent, n)
					smu.Unlock()
					if !ok {
						continue
					}
					local = append(local, float64(time.Since(t0).Microseconds())/1000)
					ops.Add(1)
					if c.rate == 0 && time.Now().Before(end) {
						batch = append(batch, request())
						if !c.coalesce || cn.Buffered() == 0 { // nothing more to read at once: send what is due
							if cn.SendFrames(c.codec.msgpack, batch...) != nil {
								errs.Add(1)
								return
							}
							batch = batch[:0]
						}
					}
					if !time.Now().Before(end) {
						smu.Lock()
						left := len(sent)
						smu.Unlock()
						if left == 0 {
							return
						}
					}
				}
			}()
			if c.rate == 0 {
				for i := 0; i < c.inflight; i++ {
					sendOne()
				}
			} else {
				every := time.Duration(float64(time.Second) * float64(len(conns)) / c.rate)
				t := time.NewTicker(every)
				for time.Now().Before(end) {
					<-t.C
					sendOne()
				}
				t.Stop()
			}
			<-done
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}(cn)
	}
	progress(&ops, end, "acks")
	wg.Wait()
	r.Seconds = time.Since(start).Seconds()
	u1, s1 := cpuSplit(c.pid)
	r.ServerUser, r.ServerCPU = u1-u0, u1+s1-u0-s0
	r.Ops = ops.Load()
	r.Errors = errs.Load()
	fill(&r, lat)
	return r, nil
}

func progress(ops *atomic.Int64, end time.Time, what string) {
	go func() {
		for time.Now().Before(end) {
			time.Sleep(time.Second)
			fmt.Fprintf(os.Stderr, "\r%s: %d", what, ops.Load())
		}
		fmt.Fprintln(os.Stderr)
	}()
}

func fill(r *Result, lat []float64) {
	if r.Seconds > 0 {
		r.OpsPerSec = float64(r.Ops) / r.Seconds
	}
	if r.Ops > 0 && r.ServerCPU > 0 {
		r.CPUPerOpUs = r.ServerCPU / float64(r.Ops) * 1e6
		r.UserPerOpUs = r.ServerUser / float64(r.Ops) * 1e6
	}
	if len(lat) == 0 {
		return
	}
	sort.Float64s(lat)
	pct := func(p float64) float64 { return lat[int(math.Min(float64(len(lat)-1), p*float64(len(lat))))] }
	r.P50ms, r.P90ms, r.P99ms, r.Maxms = pct(.5), pct(.9), pct(.99), lat[len(lat)-1]
}

// receivers join the room and record fan-out deliveries.
type receivers struct {
	conns []*conn
	got   atomic.Int64
	mu    sync.Mutex
	lat   []float64
	wg    sync.WaitGroup
}

func startReceivers(c config, n, offset int) (*receivers, error) {
	conns, err := openMany(context.Background(), c, n, offset, !c.child)
	if err != nil {
		return nil, err
	}
	rc := &receivers{conns: conns}
	k := c.codec
	for _, cn := range conns {
		if err := cn.SendFrames(k.msgpack, k.event(nil, 1, "join", "bench")); err != nil {
			return nil, err
		}
		if err := awaitPacket(cn, k, typeAck); err != nil {
			return nil, err
		}
	}
	for _, cn := range conns {
		rc.wg.Add(1)
		go func(cn *conn) {
			defer rc.wg.Done()
			local := make([]float64, 0, 1024)
			for {
				m, bin, err := cn.NextMessage()
				if err != nil {
					break
				}
				t, ok := k.fanoutTime(m, bin)
				if !ok {
					continue
				}
				local = append(local, float64(time.Now().UnixNano()-t)/1e6)
				rc.got.Add(1)
			}
			rc.mu.Lock()
			rc.lat = append(rc.lat, local...)
			rc.mu.Unlock()
		}(cn)
	}
	return rc, nil
}

func (rc *receivers) stop() {
	for _, cn := range rc.conns {
		cn.Close()
	}
	rc.wg.Wait()
}

func runFanout(c config) (Result, error) {
	r := Result{Mode: "fanout", Conns: c.n}
	if c.rate <= 0 {
		c.rate = 60
	}
	var local *receivers
	var kids []*child
	var err error
	if c.procs > 1 {
		kids, err = startChildren(c, nil)
	} else {
		local, err = startReceivers(c, c.n, 0)
	}
	if err != nil {
		return r, err
	}
	sender, err := dial(context.Background(), c.codec, c.url, c.n+1, c.src)
	if err != nil {
		return r, err
	}
	go func() { // the sender only reads pings
		for {
			if _, _, err := sender.NextMessage(); err != nil {
				return
			}
		}
	}()
	body := payload(c.payload)
	u0, s0 := cpuSplit(c.pid)
	start := time.Now()
	end := start.Add(c.duration)
	var sent atomic.Int64
	progress(&sent, end, "broadcasts")
	t := time.NewTicker(time.Duration(float64(time.Second) / c.rate))
	var msg []byte
	for time.Now().Before(end) {
		<-t.C
		msg = c.codec.fanout(msg[:0], time.Now().UnixNano(), body)
		if sender.SendFrames(c.codec.msgpack, msg) != nil {
			break
		}
		sent.Add(1)
	}
	t.Stop()
	time.Sleep(time.Second) // let the last deliveries land
	u1, s1 := cpuSplit(c.pid)
	r.ServerUser, r.ServerCPU = u1-u0, u1+s1-u0-s0
	r.Seconds = time.Since(start).Seconds() - 1
	sender.Close()
	var lat []float64
	if local != nil {
		local.stop()
		r.Ops = local.got.Load()
		lat = local.lat
	}
	for _, k := range kids {
		k.release()
	}
	for _, k := range kids {
		kr, err := k.wait()
		if err != nil {
			return r, err
		}
		r.Ops += kr.Ops
		lat = append(lat, kr.Samples...)
	}
	r.Sent = sent.Load()
	r.Expected = r.Sent * int64(c.n)
	r.Lost = r.Expected - r.Ops
	fill(&r, lat)
	if r.Seconds > 0 {
		r.OpsPerSec = float64(r.Ops) / r.Seconds
	}
	return r, nil
}

// child is a process holding a slice of the connections. It prints
// "ready" once connected, then its result when its stdin closes.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

func startChildren(c config, _ []string) ([]*child, error) {
	per := (c.n + c.procs - 1) / c.procs
	var kids []*child
	for i := 0; i < c.procs; i++ {
		n := per
		if (i+1)*per > c.n {
			n = c.n - i*per
		}
		if n <= 0 {
			break
		}
		cmd := exec.Command(os.Args[0], "-child", "-mode", c.mode, "-url", c.url, "-n", strconv.Itoa(n),
			"-offset", strconv.Itoa(i*per), "-src", strconv.Itoa(c.src), "-parser", c.parser)
		cmd.Stderr = os.Stderr
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		k := &child{cmd: cmd, stdin: in, out: bufio.NewReader(out)}
		line, err := k.out.ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "ready" {
			return nil, fmt.Errorf("child %d: %q %v", i, line, err)
		}
		kids = append(kids, k)
		fmt.Fprintf(os.Stderr, "\rchildren ready: %d/%d", len(kids), c.procs)
	}
	fmt.Fprintln(os.Stderr)
	return kids, nil
}

func (k *child) release() { _ = k.stdin.Close() }

func (k *child) wait() (Result, error) {
	var r Result
	err := json.NewDecoder(k.out).Decode(&r)
	_ = k.cmd.Wait()
	return r, err
}

func runChild(c config) (Result, error) {
	r := Result{Mode: c.mode, Conns: c.n}
	switch c.mode {
	case "conns":
		conns, err := openMany(context.Background(), c, c.n, c.offset, false)
		if err != nil {
			return r, err
		}
		fmt.Println("ready")
		_, _ = io.Copy(io.Discard, os.Stdin)
		r.Healthy = healthCheck(c.codec, conns)
		for _, cn := range conns {
			cn.Close()
		}
	case "fanout":
		rc, err := startReceivers(c, c.n, c.offset)
		if err != nil {
			return r, err
		}
		fmt.Println("ready")
		_, _ = io.Copy(io.Discard, os.Stdin)
		rc.stop()
		r.Ops = rc.got.Load()
		sampleForParent = rc.lat
		if len(sampleForParent) > 200000 { // plenty for percentiles
			step := len(sampleForParent) / 200000
			kept := sampleForParent[:0]
			for i := 0; i < len(sampleForParent); i += step {
				kept = append(kept, sampleForParent[i])
			}
			sampleForParent = kept
		}
	default:
		return r, fmt.Errorf("child mode %q", c.mode)
	}
	return r, nil
}

func printTable(r Result) {
	row := func(k string, v any) { fmt.Printf("  %-28s %v\n", k, v) }
	fmt.Printf("mode %s, %d connections\n", r.Mode, r.Conns)
	switch r.Mode {
	case "conns":
		row("open time", fmt.Sprintf("%.2f s", r.OpenSeconds))
		row("server RSS before/after", fmt.Sprintf("%d KB / %d KB", r.RSSBeforeKB, r.RSSAfterKB))
		row("memory per idle connection", fmt.Sprintf("%.0f bytes", r.BytesPerConn))
		row("answered an echo", fmt.Sprintf("%d of %d", r.Healthy, r.Conns))
		row("server RSS after close", fmt.Sprintf("%d KB", r.RSSClosedKB))
	default:
		row("operations", r.Ops)
		if r.Mode == "fanout" {
			row("broadcasts sent", r.Sent)
			row("deliveries expected/lost", fmt.Sprintf("%d / %d", r.Expected, r.Lost))
		}
		row("per second", fmt.Sprintf("%.0f", r.OpsPerSec))
		row("latency p50/p90/p99/max", fmt.Sprintf("%.2f / %.2f / %.2f / %.2f ms", r.P50ms, r.P90ms, r.P99ms, r.Maxms))
		row("server CPU", fmt.Sprintf("%.2f s", r.ServerCPU))
		row("server CPU per operation", fmt.Sprintf("%.2f µs (user %.2f µs)", r.CPUPerOpUs, r.UserPerOpUs))
	}
}
