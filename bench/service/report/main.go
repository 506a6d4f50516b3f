// Command report turns the results of bench/service/compare.sh (JSON lines
// of herald-load, tagged with server, scenario and round) into the table of
// the "Service benchmark" section of docs/benchmarks.md: the median of each
// figure over the rounds, and the Herald/Node ratio of the medians. It
// writes the ratios for the plot too.
//
//	go run ./bench/service/report [-doc docs/benchmarks.md] [-dat ratios.dat] results.json
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

// figures are one run's numbers by dotted key; arrays (one entry per
// server process) are summed, booleans are 0 or 1.
type figures map[string]float64

func flatten(prefix string, v any, out figures) {
	switch x := v.(type) {
	case float64:
		out[prefix] = x
	case bool:
		out[prefix] = 0
		if x {
			out[prefix] = 1
		}
	case []any:
		t := 0.0
		for _, e := range x {
			if f, ok := e.(float64); ok {
				t += f
			}
		}
		out[prefix] = t
	case map[string]any:
		for k, e := range x {
			if prefix != "" {
				k = prefix + "." + k
			}
			flatten(k, e, out)
		}
	}
}

// medians holds, per server and scenario, the median of each figure and
// the number of rounds.
type medians struct {
	m      map[string]figures
	rounds map[string]int
}

func (md medians) get(server, scenario, key string) float64 { return md.m[server+"/"+scenario][key] }

func median(v []float64) float64 {
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func load(path string) (medians, error) {
	f, err := os.Open(path)
	if err != nil {
		return medians{}, err
	}
	defer f.Close()
	all := map[string][]figures{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var v map[string]any
		if json.Unmarshal(sc.Bytes(), &v) != nil {
			continue
		}
		server, _ := v["server"].(string)
		scenario, _ := v["scenario"].(string)
		fg := figures{}
		flatten("", v, fg)
		all[server+"/"+scenario] = append(all[server+"/"+scenario], fg)
	}
	md := medians{m: map[string]figures{}, rounds: map[string]int{}}
	for k, runs := range all {
		keys := map[string][]float64{}
		for _, r := range runs {
			for name, x := range r {
				keys[name] = append(keys[name], x)
			}
		}
		out := figures{}
		for name, xs := range keys {
			out[name] = median(xs)
		}
		// held: in how many rounds the target rate was held.
		held := 0.0
		for _, r := range runs {
			held += r["held"]
		}
		out["held_rounds"] = held
		md.m[k], md.rounds[k] = out, len(runs)
	}
	return md, sc.Err()
}

// row is one line of the table: a cell per server, and the figure whose
// Herald/Node ratio is given.
type row struct {
	label, scenario string
	cell            func(f figures, rounds int) string
	key             string
	short           string // label in the plot
}

func chatCPU(f figures, _ int) string {
	return fmt.Sprintf("%.2f µs (user %.2f, kernel %.2f)", f["server_cpu_us_per_delivery"],
		f["server_user_us_per_delivery"], f["server_sys_us_per_delivery"])
}

func chatLatency(f figures, _ int) string {
	return fmt.Sprintf("%.1f / %.1f ms", f["p50_ms"], f["p99_ms"])
}

func chatCounts(f figures, rounds int) string {
	return fmt.Sprintf("%.0f/s acked (held %.0f of %d), %.0f refused, %.0f lost, %.0f stored",
		f["acked_per_sec"], f["held_rounds"], rounds, f["refused"]+f["error_events"], f["lost"], f["stored"])
}

func clusterCPU(f figures, rounds int) string {
	return fmt.Sprintf("%.2f µs (user %.2f, kernel %.2f); %.0f/s acked, held %.0f of %d", f["server_cpu_us_per_delivery"],
		f["server_user_us_per_delivery"], f["server_sys_us_per_delivery"], f["acked_per_sec"], f["held_rounds"], rounds)
}

func clusterLatency(f figures, _ int) string {
	return fmt.Sprintf("%.1f / %.1f ms (across nodes %.1f / %.1f), %.0f lost",
		f["p50_ms"], f["p99_ms"], f["cross_p50_ms"], f["cross_p99_ms"], f["lost"])
}

func maxRate(f figures, _ int) string {
	return fmt.Sprintf("%.0f msg/s (p99 %.1f ms, %.2f µs per delivery)", f["max_rate"], f["best.p99_ms"], f["best.server_cpu_us_per_delivery"])
}

func historyCell(f figures, _ int) string {
	return fmt.Sprintf("%.2f / %.2f ms (first 10%% %.2f, last 10%% %.2f; %.0f pages)",
		f["p50_ms"], f["p99_ms"], f["first10_ms"], f["last10_ms"], f["pages"])
}

func presenceCell(f figures, _ int) string {
	return fmt.Sprintf("%.0f connected (%.0f failed, %.0f dropped), CPU %.1f s (user %.1f, kernel %.1f), RSS %.0f → %.0f MB, %.0f MB after all left",
		f["connected"], f["failed"], f["dropped"], f["server_user_seconds"]+f["server_sys_seconds"],
		f["server_user_seconds"], f["server_sys_seconds"], f["rss_before_kb"]/1024, f["rss_peak_kb"]/1024, f["rss_after_kb"]/1024)
}

func rows() []row {
	var rs []row
	for _, st := range []struct{ suffix, name string }{{"sqlite", "SQLite"}, {"pg", "PostgreSQL"}} {
		rs = append(rs,
			row{"chat, 200 users, 20 senders, 500 msg/s, " + st.name + ": server CPU per delivery", "chat_" + st.suffix, chatCPU, "server_cpu_us_per_delivery", "CPU/delivery 500/s " + st.name},
			row{"… p50 / p99 send → every receiver", "chat_" + st.suffix, chatLatency, "p99_ms", "p99 500/s " + st.name},
			row{"… messages", "chat_" + st.suffix, chatCounts, "acked_per_sec", ""},
			row{"chat at a 2,000 msg/s target, " + st.name + ": messages", "chat2k_" + st.suffix, chatCounts, "acked_per_sec", "1/(acked/s) 2000/s " + st.name},
			row{"… server CPU per delivery", "chat2k_" + st.suffix, chatCPU, "server_cpu_us_per_delivery", ""},
			row{"… p50 / p99", "chat2k_" + st.suffix, chatLatency, "p99_ms", ""},
			row{"highest chat rate with p99 < 100 ms, " + st.name, "chatmax_" + st.suffix, maxRate, "max_rate", "1/(max rate) " + st.name},
			row{"history page (limit 50) over 100,000 messages, p50 / p99, " + st.name, "history_" + st.suffix, historyCell, "p99_ms", "history p99 " + st.name},
		)
	}
	for _, a := range []struct{ suffix, name string }{{"pubsub", "pub/sub adapter"}, {"streams", "streams adapter"}} {
		rs = append(rs,
			row{"2 nodes on Redis (" + a.name + ") and PostgreSQL, 500 users, 500 msg/s: CPU per delivery, both nodes", "cluster_" + a.suffix, clusterCPU, "server_cpu_us_per_delivery", "cluster CPU/delivery " + a.suffix},
			row{"… p50 / p99", "cluster_" + a.suffix, clusterLatency, "p99_ms", ""},
		)
	}
	rs = append(rs,
		row{"presence storm: 2,000 users connect in 10 s, then leave", "presence2k", presenceCell, "cpu", "presence 2k CPU"},
		row{"presence storm: 5,000 users connect in 10 s, then leave", "presence5k", presenceCell, "cpu", "presence 5k CPU"},
	)
	return rs
}

// higherIsBetter keys are inverted in the plot, so that lower is better
// throughout.
var higherIsBetter = map[string]bool{"acked_per_sec": true, "max_rate": true}

const (
	startMark = "<!-- service-bench:start -->"
	endMark   = "<!-- service-bench:end -->"
)

func main() {
	doc := flag.String("doc", "", "markdown file whose service benchmark section is replaced (appended if absent)")
	dat := flag.String("dat", "", "file for the plot's ratios")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: report [-doc file.md] [-dat ratios.dat] results.json")
		os.Exit(2)
	}
	md, err := load(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	for _, f := range md.m {
		f["cpu"] = f["server_user_seconds"] + f["server_sys_seconds"]
	}
	var table, plot bytes.Buffer
	rounds := 0
	for _, n := range md.rounds {
		rounds = max(rounds, n)
	}
	fmt.Fprintf(&table, "Medians of %d round(s), %s.\n\n", rounds, time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintln(&table, "| workload | Herald | Node from the seed | Herald/Node |")
	fmt.Fprintln(&table, "|---|---|---|---|")
	for _, r := range rows() {
		kh, kn := "herald/"+r.scenario, "node/"+r.scenario
		if md.rounds[kh] == 0 && md.rounds[kn] == 0 {
			continue
		}
		h, n := md.get("herald", r.scenario, r.key), md.get("node", r.scenario, r.key)
		ratio := "-"
		if n != 0 {
			ratio = fmt.Sprintf("%.2fx", h/n)
		}
		cell := func(k string) string {
			if md.rounds[k] == 0 {
				return "failed"
			}
			return r.cell(md.m[k], md.rounds[k])
		}
		fmt.Fprintf(&table, "| %s | %s | %s | %s |\n", r.label, cell(kh), cell(kn), ratio)
		if r.short != "" && h != 0 && n != 0 {
			q := h / n
			if higherIsBetter[r.key] {
				q = n / h
			}
			fmt.Fprintf(&plot, "%q %.4f\n", r.short, q)
		}
	}
	fmt.Print(table.String())
	if *dat != "" {
		if err := os.WriteFile(*dat, plot.Bytes(), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
	}
	if *doc != "" {
		if err := replaceSection(*doc, table.String()); err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
	}
}

// replaceSection puts the table between the section's marks.
func replaceSection(path, table string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(b)
	i, j := strings.Index(s, startMark), strings.Index(s, endMark)
	block := startMark + "\n" + table + endMark
	if i < 0 || j < i {
		s = strings.TrimRight(s, "\n") + "\n\n## Service benchmark (the seed's workload)\n\n" + block + "\n"
	} else {
		s = s[:i] + block + s[j+len(endMark):]
	}
	return os.WriteFile(path, []byte(s), 0o644)
}
