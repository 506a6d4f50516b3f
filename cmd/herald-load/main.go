// Command herald-load drives the seed's workload against Herald's service
// (cmd/herald) or the Node server of bench/service/node over the wire
// protocol alone, and measures the server's side from /proc: CPU split in
// user and kernel time, RSS peak and after.
//
//	herald-load -mode chat     -users 200 -senders 20 -rate 500   users in one room, fixed total rate
//	herald-load -mode chatmax  -users 200 -senders 20 -rate 100   highest rate with p99 under -max-p99
//	herald-load -mode presence -n 2000 -within 10s                users connect within 10 s, then all leave
//	                           -presence-form updates              … taking the seed's presence events
//	herald-load -mode history  -fill-db URL -schema herald        fill a room, then page it newest to oldest
//	herald-load -mode cluster -url A,B -pid P1,P2                 chat with users split over two nodes
//
// Users authenticate with HS256 tokens signed with -secret, passed as
// auth: {token}. Chat users join the public room "general" of /chat and
// send "send-message" with an ack; latency is measured from the send to
// each receiver of "new-message" (the content carries the send time).
// CPU per delivery is the servers' CPU over the window (sends and drain)
// divided by the deliveries received.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

type config struct {
	mode     string
	urls     []string
	pids     procs
	secret   string
	users    int
	senders  int
	rate     float64
	duration time.Duration
	payload  int
	src      int
	steps    int
	maxP99   time.Duration
	n        int
	within   time.Duration
	settle   time.Duration
	form     string
	fillDB   string
	schema   string
	fill     int
	limit    int
}

func main() {
	var c config
	var urls, pids string
	flag.StringVar(&c.mode, "mode", "chat", "chat, chatmax, cluster, presence or history")
	flag.StringVar(&urls, "url", "http://127.0.0.1:3000", "server base URLs, comma-separated (a cluster: users split over them)")
	flag.StringVar(&pids, "pid", "", "server pids, comma-separated, for CPU and memory")
	flag.StringVar(&c.secret, "secret", "", "HS256 secret the servers verify tokens with")
	flag.IntVar(&c.users, "users", 200, "chat: users in the room")
	flag.IntVar(&c.senders, "senders", 20, "chat: users that send")
	flag.Float64Var(&c.rate, "rate", 500, "chat: messages/s in total; chatmax: the first rate tried")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "chat: measurement window; chatmax: each step's")
	flag.IntVar(&c.payload, "payload", 64, "chat: bytes of padding in each message")
	flag.IntVar(&c.src, "src", 4, "spread connections over 127.0.0.1..127.0.0.<src>")
	flag.IntVar(&c.steps, "steps", 7, "chatmax: steps at most")
	flag.DurationVar(&c.maxP99, "max-p99", 100*time.Millisecond, "chatmax: the p99 a rate must stay under")
	flag.IntVar(&c.n, "n", 2000, "presence: users")
	flag.DurationVar(&c.within, "within", 10*time.Second, "presence: users connect evenly within this")
	flag.StringVar(&c.form, "presence-form", "changes", "presence: changes (batched events, paged list) or updates (the seed's events)")
	flag.DurationVar(&c.settle, "settle", 10*time.Second, "presence: wait after the users left before reading memory")
	flag.StringVar(&c.fillDB, "fill-db", "", "history: fill the room first, in this SQLite path or postgres:// URL")
	flag.StringVar(&c.schema, "schema", "herald", "history: the schema of -fill-db: herald or node")
	flag.IntVar(&c.fill, "fill", 100000, "history: messages to fill")
	flag.IntVar(&c.limit, "limit", 50, "history: page size")
	jsonOut := flag.Bool("json", false, "print the result as one JSON line")
	flag.Parse()
	c.urls = strings.Split(urls, ",")
	for _, p := range strings.Split(pids, ",") {
		if p == "" {
			continue
		}
		pid, err := strconv.Atoi(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "herald-load: -pid:", err)
			os.Exit(2)
		}
		c.pids = append(c.pids, pid)
	}
	r, err := run(context.Background(), c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "herald-load:", err)
		os.Exit(1)
	}
	var b []byte
	if *jsonOut {
		b, _ = json.Marshal(r)
	} else {
		b, _ = json.MarshalIndent(r, "", "  ")
	}
	fmt.Println(string(b))
}

var errUsage = errors.New("herald-load: usage")

func run(ctx context.Context, c config) (any, error) {
	if c.secret == "" {
		return nil, fmt.Errorf("%w: -secret is required", errUsage)
	}
	switch c.mode {
	case "chat", "cluster":
		if c.mode == "cluster" && len(c.urls) < 2 {
			return nil, fmt.Errorf("%w: cluster needs two -url", errUsage)
		}
		if c.rate <= 0 || c.users <= 0 || c.senders <= 0 {
			return nil, fmt.Errorf("%w: -rate, -users and -senders must be positive", errUsage)
		}
		return runChat(ctx, c)
	case "chatmax":
		if c.rate <= 0 || c.users <= 0 || c.senders <= 0 {
			return nil, fmt.Errorf("%w: -rate, -users and -senders must be positive", errUsage)
		}
		return runChatMax(ctx, c)
	case "presence":
		return runPresence(ctx, c)
	case "history":
		return runHistory(ctx, c)
	}
	return nil, fmt.Errorf("%w: unknown mode %q", errUsage, c.mode)
}
