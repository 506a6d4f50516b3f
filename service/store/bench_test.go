package store

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// seedMessages inserts n messages of room and, after each, per more spread
// over others, straight into the database (one transaction, bypassing
// CreateMessage): the rooms interleave in id order as in a busy service.
// Each room must exist. It returns the ids of room's messages, oldest first.
func seedMessages(tb testing.TB, s Store, room string, n, per int, others []string) []string {
	tb.Helper()
	ctx := context.Background()
	rows := make([][]any, 0, n*(1+per))
	ids := make([]string, 0, n)
	for i := range n * (1 + per) {
		r := room
		if k := i % (1 + per); k > 0 {
			r = others[(i/(1+per)*per+k-1)%len(others)]
		}
		x := defaultGen.next(id{})
		if r == room {
			ids = append(ids, x.String())
		}
		rows = append(rows, []any{x.String(), r, "u1", "Ann", fmt.Sprint("seed ", i), int64(x.ms())})
	}
	var err error
	switch s := s.(type) {
	case *SQLite:
		err = s.tx(ctx, func(tx *sql.Tx) error {
			st, err := tx.PrepareContext(ctx, `INSERT INTO messages (id, room_id, author_id, author_name, content, created_at)
				VALUES (?, ?, ?, ?, ?, ?)`)
			if err != nil {
				return err
			}
			defer st.Close()
			for _, r := range rows {
				if _, err := st.ExecContext(ctx, r...); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			_, err = s.w.ExecContext(ctx, `ANALYZE`)
		}
	case *Postgres:
		_, err = s.pool.CopyFrom(ctx, pgx.Identifier{"messages"},
			[]string{"id", "room_id", "author_id", "author_name", "content", "created_at"}, pgx.CopyFromRows(rows))
		if err == nil {
			_, err = s.pool.Exec(ctx, `ANALYZE messages`)
		}
	default:
		tb.Fatalf("unknown store %T", s)
	}
	if err != nil {
		tb.Fatalf("seed: %v", err)
	}
	return ids
}

// BenchmarkHistoryPage pages through 100,000 messages of one room (amid as
// many of other rooms), newest to oldest, 50 per page. One op is the whole
// walk; ns/page is the mean page cost, and the first and last tenth of the
// pages are reported apart to show whether a page costs more the further
// back it is.
//
// PostgreSQL runs twice: as configured, and with generic plans only (pgx
// prepares its statements, and PostgreSQL may switch a prepared statement
// to a generic plan, made without the parameters' values).
func BenchmarkHistoryPage(b *testing.B) {
	const total, limit = 100_000, DefaultLimit
	bes := backends()
	bes = append(bes, backend{name: "postgres-generic", newURL: func(t testing.TB) string {
		return newPostgresURL(t) + "&plan_cache_mode=force_generic_plan"
	}})
	for _, be := range bes {
		b.Run(be.name, func(b *testing.B) {
			s := open(b, be.newURL(b))
			others := []string{"o0", "o1", "o2", "o3"}
			for _, r := range append([]string{"r"}, others...) {
				mustRoom(b, s, r, true)
			}
			seedMessages(b, s, "r", total, 1, others)
			ctx := context.Background()
			pages := total / limit
			tenth := pages / 10
			var first, last, all time.Duration
			b.ReportAllocs()
			for b.Loop() {
				cursor, got := "", 0
				for p := 0; ; p++ {
					t0 := time.Now()
					msgs, next, err := s.History(ctx, "r", cursor, limit)
					d := time.Since(t0)
					if err != nil {
						b.Fatal(err)
					}
					all += d
					switch {
					case p < tenth:
						first += d
					case p >= pages-tenth:
						last += d
					}
					got += len(msgs)
					if next == "" {
						break
					}
					cursor = next
				}
				if got != total {
					b.Fatalf("walked %d messages, want %d", got, total)
				}
			}
			n := float64(b.N)
			b.ReportMetric(float64(all.Nanoseconds())/n/float64(pages), "ns/page")
			b.ReportMetric(float64(first.Nanoseconds())/n/float64(tenth), "first10%-ns/page")
			b.ReportMetric(float64(last.Nanoseconds())/n/float64(tenth), "last10%-ns/page")
		})
	}
}

// BenchmarkAppendMessage has 20 callers append messages to one room at
// once, the hot-room case: every message of the room is ordered against the
// others.
func BenchmarkAppendMessage(b *testing.B) {
	const callers = 20
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			s := open(b, be.newURL(b))
			mustRoom(b, s, "r", true)
			ctx := context.Background()
			procs := runtime.GOMAXPROCS(0)
			b.SetParallelism((callers + procs - 1) / procs)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.CreateMessage(ctx, Message{RoomID: "r", AuthorID: "u1", AuthorName: "Ann", Content: "hello, room"}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
