// Command report prints the comparison table of bench/compare.sh results
// (JSON lines) and the Herald/Node ratios, and draws docs/benchmarks.png
// when the run has the scenarios the picture shows. Scenarios the run
// did not have (SCENARIOS=…) are left out of the table.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"sort"
)

type result struct {
	Server       string  `json:"server"`
	Scenario     string  `json:"scenario"`
	Conns        int     `json:"conns"`
	BytesPerConn float64 `json:"bytes_per_conn"`
	Healthy      int     `json:"healthy"`
	RSSBeforeKB  int64   `json:"rss_before_kb"`
	RSSAfterKB   int64   `json:"rss_after_kb"`
	RSSClosedKB  int64   `json:"rss_closed_kb"`
	Ops          int64   `json:"ops"`
	Lost         int64   `json:"lost"`
	OpsPerSec    float64 `json:"ops_per_sec"`
	P99ms        float64 `json:"p99_ms"`
	P50ms        float64 `json:"p50_ms"`
	CPUPerOpUs   float64 `json:"server_cpu_us_per_op"`
	UserPerOpUs  float64 `json:"server_user_us_per_op"`
}

func main() {
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	runs := map[string]map[string][]result{"herald": {}, "node": {}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var r result
		if json.Unmarshal(sc.Bytes(), &r) == nil && runs[r.Server] != nil {
			runs[r.Server][r.Scenario] = append(runs[r.Server][r.Scenario], r)
		}
	}
	res := map[string]map[string]result{"herald": {}, "node": {}}
	rounds := 0
	for server, byScenario := range runs {
		for scenario, rs := range byScenario {
			res[server][scenario] = medianOf(rs)
			rounds = max(rounds, len(rs))
		}
	}
	fmt.Printf("Medians of %d round(s).\n\n", rounds)
	h, n := res["herald"], res["node"]
	has := func(scenario string) bool { return len(runs["herald"][scenario])+len(runs["node"][scenario]) > 0 }
	ratio := func(a, b float64) string {
		if b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2fx", a/b)
	}
	fmt.Println("| measure | Herald | Node | Herald/Node | target |")
	fmt.Println("|---|---|---|---|---|")
	row := func(name string, a, b float64, unit, target string) {
		fmt.Printf("| %s | %.2f %s | %.2f %s | %s | %s |\n", name, a, unit, b, unit, ratio(a, b), target)
	}
	if has("conns") {
		row("memory per idle connection", h["conns"].BytesPerConn/1024, n["conns"].BytesPerConn/1024, "KB", "≤ 0.25x")
	}
	if has("fanout") {
		row("fan-out: server CPU per delivery", h["fanout"].CPUPerOpUs, n["fanout"].CPUPerOpUs, "µs", "≤ 0.5x")
		row("fan-out: server user CPU per delivery", h["fanout"].UserPerOpUs, n["fanout"].UserPerOpUs, "µs", "(user space only)")
		row("fan-out: server kernel CPU per delivery", h["fanout"].CPUPerOpUs-h["fanout"].UserPerOpUs, n["fanout"].CPUPerOpUs-n["fanout"].UserPerOpUs, "µs", "(system calls)")
		row("fan-out: p99 latency", h["fanout"].P99ms, n["fanout"].P99ms, "ms", "< 1x")
		row("fan-out: deliveries lost", float64(h["fanout"].Lost), float64(n["fanout"].Lost), "", "0")
	}
	if has("fanout_half") {
		hf, nf := h["fanout_half"], n["fanout_half"]
		row("fan-out at half the rate: server CPU per delivery", hf.CPUPerOpUs, nf.CPUPerOpUs, "µs", "-")
		row("fan-out at half the rate: server kernel CPU per delivery", hf.CPUPerOpUs-hf.UserPerOpUs, nf.CPUPerOpUs-nf.UserPerOpUs, "µs", "-")
		row("fan-out at half the rate: p99 latency", hf.P99ms, nf.P99ms, "ms", "-")
	}
	if has("echo") {
		row("echo: server CPU per ack", h["echo"].CPUPerOpUs, n["echo"].CPUPerOpUs, "µs", "≤ 0.4x")
		row("echo: server user CPU per ack", h["echo"].UserPerOpUs, n["echo"].UserPerOpUs, "µs", "(user space only)")
		row("echo: acks per second", h["echo"].OpsPerSec, n["echo"].OpsPerSec, "/s", "≥ 2x")
		row("echo: p99 latency", h["echo"].P99ms, n["echo"].P99ms, "ms", "< 1x")
	}
	if has("echo1") {
		row("echo, one write per request: server CPU per ack", h["echo1"].CPUPerOpUs, n["echo1"].CPUPerOpUs, "µs", "≤ 0.4x")
		row("echo, one write per request: acks per second", h["echo1"].OpsPerSec, n["echo1"].OpsPerSec, "/s", "≥ 2x")
		row("echo, one write per request: p99 latency", h["echo1"].P99ms, n["echo1"].P99ms, "ms", "< 1x")
	}
	if has("echorate") {
		row("echo at a fixed rate: server CPU per ack", h["echorate"].CPUPerOpUs, n["echorate"].CPUPerOpUs, "µs", "-")
		row("echo at a fixed rate: p99 latency", h["echorate"].P99ms, n["echorate"].P99ms, "ms", "-")
	}
	// The msgpack parser (socket.io-msgpack-parser on both servers): the
	// same loads, and what it costs against JSON within each server.
	for _, s := range []struct{ json, msgpack, what, per string }{
		{"echo", "echo-msgpack", "echo", "ack"},
		{"fanout", "fanout-msgpack", "fan-out", "delivery"},
	} {
		if !has(s.msgpack) {
			continue
		}
		hm, nm := h[s.msgpack], n[s.msgpack]
		row(s.what+", msgpack: server CPU per "+s.per, hm.CPUPerOpUs, nm.CPUPerOpUs, "µs", "-")
		row(s.what+", msgpack: server user CPU per "+s.per, hm.UserPerOpUs, nm.UserPerOpUs, "µs", "(user space only)")
		if s.json == "echo" {
			row("echo, msgpack: acks per second", hm.OpsPerSec, nm.OpsPerSec, "/s", "-")
		} else {
			row("fan-out, msgpack: deliveries lost", float64(hm.Lost), float64(nm.Lost), "", "0")
		}
		row(s.what+", msgpack: p99 latency", hm.P99ms, nm.P99ms, "ms", "-")
		if has(s.json) {
			hj, nj := h[s.json], n[s.json]
			fmt.Printf("| %s: CPU per %s, msgpack / JSON | %s | %s | | (each server against itself) |\n",
				s.what, s.per, ratio(hm.CPUPerOpUs, hj.CPUPerOpUs), ratio(nm.CPUPerOpUs, nj.CPUPerOpUs))
		}
	}
	if has("big") {
		for _, s := range []string{"herald", "node"} {
			b := res[s]["big"]
			fmt.Printf("| %s: %d connections answering an echo | %d | RSS %d→%d KB, after close %d KB | | all |\n",
				s, b.Conns, b.Healthy, b.RSSBeforeKB, b.RSSAfterKB, b.RSSClosedKB)
		}
	}
	// One write per delivery is the floor; what that write costs the
	// kernel bounds the ratio whatever the server does in user space.
	if hf, nf := h["fanout"], n["fanout"]; nf.CPUPerOpUs > 0 {
		fmt.Printf("\nFan-out floor: Herald's kernel time per delivery alone is %.2fx Node's whole CPU per delivery.\n",
			(hf.CPUPerOpUs-hf.UserPerOpUs)/nf.CPUPerOpUs)
	}
	if has("conns") && has("fanout") && has("echo") { // the picture's bars
		plot(h, n)
		writeRatios(h, n)
	}
}

// writeRatios writes the Herald/Node ratios for bench/plot.gnuplot.
func writeRatios(h, n map[string]result) {
	f, err := os.Create("bench/ratios.dat")
	if err != nil {
		return
	}
	defer f.Close()
	rows := []struct {
		name string
		v    float64
	}{
		{"memory/conn", safe(h["conns"].BytesPerConn, n["conns"].BytesPerConn)},
		{"fan-out CPU", safe(h["fanout"].CPUPerOpUs, n["fanout"].CPUPerOpUs)},
		{"fan-out user CPU", safe(h["fanout"].UserPerOpUs, n["fanout"].UserPerOpUs)},
		{"fan-out floor", safe(h["fanout"].CPUPerOpUs-h["fanout"].UserPerOpUs, n["fanout"].CPUPerOpUs)},
		{"fan-out p99", safe(h["fanout"].P99ms, n["fanout"].P99ms)},
		{"fan-out CPU 1/2 rate", safe(h["fanout_half"].CPUPerOpUs, n["fanout_half"].CPUPerOpUs)},
		{"echo CPU", safe(h["echo"].CPUPerOpUs, n["echo"].CPUPerOpUs)},
		{"echo user CPU", safe(h["echo"].UserPerOpUs, n["echo"].UserPerOpUs)},
		{"echo time/ack", safe(n["echo"].OpsPerSec, h["echo"].OpsPerSec)},
		{"echo p99", safe(h["echo"].P99ms, n["echo"].P99ms)},
		{"echo1 CPU", safe(h["echo1"].CPUPerOpUs, n["echo1"].CPUPerOpUs)},
		{"echo1 time/ack", safe(n["echo1"].OpsPerSec, h["echo1"].OpsPerSec)},
		{"echo1 p99", safe(h["echo1"].P99ms, n["echo1"].P99ms)},
	}
	for _, r := range rows {
		fmt.Fprintf(f, "\"%s\" %.3f\n", r.name, r.v)
	}
}

// plot draws Herald/Node ratios as bars (lower is better for all but
// throughput): one bar per measure, a line at 1.
func plot(h, n map[string]result) {
	vals := []float64{
		safe(h["conns"].BytesPerConn, n["conns"].BytesPerConn),
		safe(h["fanout"].CPUPerOpUs, n["fanout"].CPUPerOpUs),
		safe(h["fanout"].P99ms, n["fanout"].P99ms),
		safe(h["echo"].CPUPerOpUs, n["echo"].CPUPerOpUs),
		safe(n["echo"].OpsPerSec, h["echo"].OpsPerSec), // inverted: lower is better
		safe(h["echo"].P99ms, n["echo"].P99ms),
	}
	const W, H, bar, gap = 640, 320, 70, 30
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	for y := 0; y < H; y++ {
		for x := 0; x < W; x++ {
			img.Set(x, y, color.White)
		}
	}
	scale := float64(H-40) / 1.2 // 1.2x at the top
	for i, v := range vals {
		x0 := 40 + i*(bar+gap)
		hgt := int(min(v, 1.2) * scale)
		c := color.RGBA{59, 91, 219, 255}
		for y := H - 20 - hgt; y < H-20; y++ {
			for x := x0; x < x0+bar; x++ {
				img.Set(x, y, c)
			}
		}
	}
	one := H - 20 - int(scale)
	for x := 20; x < W-20; x++ {
		img.Set(x, one, color.RGBA{224, 49, 49, 255})
	}
	out, err := os.Create("docs/benchmarks.png")
	if err == nil {
		_ = png.Encode(out, img)
		out.Close()
	}
}

// medianOf returns a result whose every number is the median of the
// runs' (each field on its own).
func medianOf(rs []result) result {
	m := rs[0]
	med := func(get func(*result) float64) float64 {
		v := make([]float64, len(rs))
		for i := range rs {
			v[i] = get(&rs[i])
		}
		sort.Float64s(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	m.BytesPerConn = med(func(r *result) float64 { return r.BytesPerConn })
	m.Healthy = int(med(func(r *result) float64 { return float64(r.Healthy) }))
	m.RSSBeforeKB = int64(med(func(r *result) float64 { return float64(r.RSSBeforeKB) }))
	m.RSSAfterKB = int64(med(func(r *result) float64 { return float64(r.RSSAfterKB) }))
	m.RSSClosedKB = int64(med(func(r *result) float64 { return float64(r.RSSClosedKB) }))
	m.Ops = int64(med(func(r *result) float64 { return float64(r.Ops) }))
	m.OpsPerSec = med(func(r *result) float64 { return r.OpsPerSec })
	m.P50ms = med(func(r *result) float64 { return r.P50ms })
	m.P99ms = med(func(r *result) float64 { return r.P99ms })
	m.CPUPerOpUs = med(func(r *result) float64 { return r.CPUPerOpUs })
	m.UserPerOpUs = med(func(r *result) float64 { return r.UserPerOpUs })
	for _, r := range rs {
		m.Lost = max(m.Lost, r.Lost) // the worst: any loss counts
	}
	return m
}

func safe(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
