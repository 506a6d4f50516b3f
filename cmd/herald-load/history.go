package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldio/herald/service/store"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// historyRoom is the room the history mode fills and pages.
const historyRoom = "history"

// fill inserts n messages into historyRoom straight into the server's
// database, in one transaction (a COPY on PostgreSQL), in the schema of
// Herald's store or of the Node server. Herald's ids come from
// store.NewID, as its store makes them; the Node server's are its
// autoincrement keys. PostgreSQL is analyzed afterwards, as autovacuum
// would soon do; SQLite is not, as neither server does it.
func fill(ctx context.Context, dbURL, schema string, n int) error {
	now := time.Now().UnixMilli()
	cols := []string{"room_id", "author_id", "author_name", "content", "created_at"}
	if schema == "herald" {
		cols = append([]string{"id"}, cols...)
	} else if schema != "node" {
		return fmt.Errorf("herald-load: schema %q: want herald or node", schema)
	}
	row := func(i int) []any {
		r := []any{historyRoom, "hu-1", "Bench history", fmt.Sprintf("history message %d", i), now}
		if schema == "herald" {
			r = append([]any{store.NewID()}, r...)
		}
		return r
	}
	if strings.HasPrefix(dbURL, "postgres") {
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `INSERT INTO rooms (id, name, public, created_at) VALUES ($1, 'History', TRUE, $2)
			ON CONFLICT DO NOTHING`, historyRoom, now); err != nil {
			return err
		}
		rows := make([][]any, n)
		for i := range rows {
			rows[i] = row(i)
		}
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{"messages"}, cols, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		_, err = conn.Exec(ctx, `ANALYZE messages`)
		return err
	}
	db, err := sql.Open("sqlite", "file:"+dbURL+"?_pragma=busy_timeout(20000)")
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO rooms (id, name, public, created_at) VALUES (?, 'History', 1, ?)
		ON CONFLICT DO NOTHING`, historyRoom, now); err != nil {
		return err
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO messages (`+strings.Join(cols, ", ")+`) VALUES (?`+
		strings.Repeat(", ?", len(cols)-1)+`)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for i := 0; i < n; i++ {
		if _, err := st.ExecContext(ctx, row(i)...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// historyResult is what the history mode reports.
type historyResult struct {
	Mode        string    `json:"mode"`
	Filled      int       `json:"filled"`
	Pages       int       `json:"pages"`
	Messages    int       `json:"messages"`
	P50ms       float64   `json:"p50_ms"`
	P99ms       float64   `json:"p99_ms"`
	First10ms   float64   `json:"first10_ms"`
	Last10ms    float64   `json:"last10_ms"`
	UserCPU     []float64 `json:"server_user_seconds"`
	SysCPU      []float64 `json:"server_sys_seconds"`
	CPUPerPage  float64   `json:"server_cpu_us_per_page"`
	RSSBeforeKB int64     `json:"rss_before_kb"`
	RSSAfterKB  int64     `json:"rss_after_kb"`
}

// runHistory fills the room if told to, then pages it from the newest
// message to the oldest, c.limit a page, one request at a time.
func runHistory(ctx context.Context, c config) (any, error) {
	r := historyResult{Mode: c.mode}
	if c.fillDB != "" {
		t0 := time.Now()
		if err := fill(ctx, c.fillDB, c.schema, c.fill); err != nil {
			return nil, fmt.Errorf("herald-load: fill: %w", err)
		}
		r.Filled = c.fill
		fmt.Fprintf(os.Stderr, "filled %d messages in %.1f s\n", c.fill, time.Since(t0).Seconds())
	}
	tok, err := token(c.secret, "hu", 1)
	if err != nil {
		return nil, err
	}
	conn, err := connect(ctx, c.urls[0], "/chat", tok, 0, c.src)
	if err != nil {
		return nil, err
	}
	cl := &chatClient{Conn: conn, pending: map[int]pendingAck{}}
	defer cl.Close()
	go cl.read()
	r.RSSBeforeKB = c.pids.rss()
	u0, s0 := c.pids.cpu()
	var lat []float64
	cursor := ""
	for {
		page, d, err := historyCall(ctx, cl, historyRoom, cursor, c.limit)
		if err != nil {
			return nil, fmt.Errorf("page %d: %w", len(lat), err)
		}
		lat = append(lat, float64(d.Microseconds())/1000)
		r.Messages += len(page.Messages)
		if page.last() {
			break
		}
		cursor = *page.NextCursor
	}
	u1, s1 := c.pids.cpu()
	r.UserCPU, r.SysCPU = diff(u0, u1), diff(s0, s1)
	r.RSSAfterKB = c.pids.rss()
	r.Pages = len(lat)
	if tenth := len(lat) / 10; tenth > 0 {
		r.First10ms = sum(lat[:tenth]) / float64(tenth)
		r.Last10ms = sum(lat[len(lat)-tenth:]) / float64(tenth)
	}
	r.CPUPerPage = (sum(r.UserCPU) + sum(r.SysCPU)) / float64(max(r.Pages, 1)) * 1e6
	r.P50ms, r.P99ms = quantiles(lat)
	return r, nil
}
