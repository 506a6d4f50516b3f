package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"modernc.org/sqlite"
)

// writeBlocker holds the database's write path from outside the store, so
// that CreateMessage calls pile up behind it, and counts the transactions
// that stored the room's messages.
type writeBlocker struct {
	release      func()
	transactions func() int
}

// blockSQLite holds SQLite's write lock from another connection and counts
// the commits of the store's writer connection.
func blockSQLite(t *testing.T, s *SQLite, url string) writeBlocker {
	ctx := t.Context()
	var commits atomic.Int64
	c, err := s.w.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Raw(func(dc any) error {
		dc.(sqlite.HookRegisterer).RegisterCommitHook(func() int32 { commits.Add(1); return 0 })
		return nil
	})
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	dsn, _ := sqliteDSN(url, false)
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: takes the write lock
	if err != nil {
		t.Fatal(err)
	}
	return writeBlocker{
		release:      func() { tx.Rollback() },
		transactions: func() int { return int(commits.Load()) },
	}
}

// blockPostgres locks the messages table against inserts from another
// connection; the transactions are counted by the rows' xmin.
func blockPostgres(t *testing.T, s *Postgres) writeBlocker {
	ctx := t.Context()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE messages IN EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	return writeBlocker{
		release: func() { tx.Rollback(context.Background()) },
		transactions: func() int {
			var n int
			if err := s.pool.QueryRow(ctx, `SELECT count(DISTINCT xmin::text) FROM messages WHERE room_id = 'r'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		},
	}
}

// blockedStore opens a store with room "r", runs setup on it, and holds
// its write path.
func blockedStore(t *testing.T, b backend, setup func(Store) error) (Store, writeBlocker) {
	url := b.newURL(t)
	s := open(t, url)
	mustRoom(t, s, "r", true)
	if err := setup(s); err != nil {
		t.Fatal(err)
	}
	switch s := s.(type) {
	case *SQLite:
		return s, blockSQLite(t, s, url)
	case *Postgres:
		return s, blockPostgres(t, s)
	}
	t.Fatalf("unknown store %T", s)
	return nil, writeBlocker{}
}

// sendBehind sends n messages to room "r" of a blocked store: the first
// alone, so that the writer is stuck on it, then the others, which queue.
// wait waits for every call; returned counts the calls that have returned.
func sendBehind(ctx context.Context, s Store, n int, content func(i int) string) (wait func() ([]Message, []error), returned *atomic.Int64) {
	var wg sync.WaitGroup
	returned = new(atomic.Int64)
	got := make([]Message, n)
	errs := make([]error, n)
	send := func(i int) {
		wg.Go(func() {
			got[i], errs[i] = s.CreateMessage(ctx, Message{RoomID: "r", AuthorID: "u1", Content: content(i)})
			returned.Add(1)
		})
	}
	send(0)
	time.Sleep(100 * time.Millisecond) // the first one is being written, behind the lock
	for i := 1; i < n; i++ {
		send(i)
	}
	return func() ([]Message, []error) { wg.Wait(); return got, errs }, returned
}

func noSetup(Store) error { return nil }

// TestGroupCommit queues messages while the write path is held, and checks
// that they are committed together, that no call returns before the commit
// holding its message, and that a call whose context ends in the queue
// returns at once and stores nothing.
func TestGroupCommit(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s, block := blockedStore(t, b, noSetup)
			before := block.transactions()
			const n = 50
			wait, returned := sendBehind(ctx, s, n, func(i int) string { return fmt.Sprint("m", i) })

			// A caller that gives up while its message waits.
			cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := s.CreateMessage(cctx, Message{RoomID: "r", AuthorID: "u1", Content: "gave up"})
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("CreateMessage with a context ending in the queue: %v, want DeadlineExceeded", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("CreateMessage returned %v after its context ended", d)
			}
			if k := returned.Load(); k != 0 {
				t.Fatalf("%d calls returned before their messages could be committed", k)
			}

			block.release()
			got, errs := wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
			}
			stored, err := s.MessagesSince(ctx, "r", "", MaxLimit)
			if err != nil {
				t.Fatal(err)
			}
			if len(stored) != n {
				t.Fatalf("%d messages stored, want %d (and not the one given up)", len(stored), n)
			}
			ids := map[string]bool{}
			for _, m := range stored {
				ids[m.ID] = true
			}
			for i, m := range got {
				if !ids[m.ID] {
					t.Fatalf("message %d acked as %s but not stored", i, m.ID)
				}
			}
			// The first message alone, then the 49 queued behind it; allow
			// a few more in case the machine was slow to queue them.
			tx := block.transactions() - before
			t.Logf("%d messages in %d transactions", n, tx)
			if tx > 5 {
				t.Fatalf("%d messages sent together were committed in %d transactions, want at most 5", n, tx)
			}
		})
	}
}

// TestWriterClose checks that Close commits what is queued, stops the
// writer goroutine, and that CreateMessage then fails with ErrClosed.
func TestWriterClose(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			url := b.newURL(t)
			s, err := Open(t.Context(), url)
			if err != nil {
				t.Fatal(err)
			}
			mustRoom(t, s, "r", true)
			var wg sync.WaitGroup
			var acked atomic.Int64
			for i := range 20 {
				wg.Go(func() {
					if _, err := s.CreateMessage(t.Context(), Message{RoomID: "r", AuthorID: "u1", Content: fmt.Sprint(i)}); err == nil {
						acked.Add(1)
					} else if !errors.Is(err, ErrClosed) {
						t.Errorf("CreateMessage during Close: %v", err)
					}
				})
			}
			time.Sleep(10 * time.Millisecond)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			if _, err := s.CreateMessage(t.Context(), Message{RoomID: "r", AuthorID: "u1", Content: "late"}); !errors.Is(err, ErrClosed) {
				t.Fatalf("CreateMessage after Close: %v, want ErrClosed", err)
			}
			var w *msgWriter
			switch s := s.(type) {
			case *SQLite:
				w = s.writer
			case *Postgres:
				w = s.writer
			}
			select {
			case <-w.done:
			default:
				t.Fatal("writer goroutine still running after Close")
			}
			s = open(t, url)
			stored, err := s.MessagesSince(t.Context(), "r", "", MaxLimit)
			if err != nil || int64(len(stored)) != acked.Load() {
				t.Fatalf("%d messages stored, %d acked (%v)", len(stored), acked.Load(), err)
			}
		})
	}
}

// TestOrderAcrossProcesses has two stores on one database, standing for
// two processes (each with its own id generator, one with its clock a
// minute ahead), write to one room at once while a reader follows the room
// with MessagesSince. The reader must see every message: a message that
// committed after a greater id would be skipped by its cursor.
func TestOrderAcrossProcesses(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			url := b.newURL(t)
			ctx := t.Context()
			a, c := open(t, url), open(t, url)
			mustRoom(t, a, "r", true)
			setClock := func(s Store, skew time.Duration) {
				g := &idGen{now: func() time.Time { return time.Now().Add(skew) }}
				switch s := s.(type) {
				case *SQLite:
					s.ids = g
				case *Postgres:
					s.ids = g
				}
			}
			setClock(a, time.Minute)
			setClock(c, 0)

			const writers, each = 4, 25
			var wg sync.WaitGroup
			for _, s := range []Store{a, c} {
				for w := range writers {
					wg.Go(func() {
						for i := range each {
							if _, err := s.CreateMessage(ctx, Message{RoomID: "r", AuthorID: fmt.Sprint("w", w), Content: fmt.Sprint(i)}); err != nil {
								t.Error(err)
								return
							}
						}
					})
				}
			}
			writing := make(chan struct{})
			go func() { wg.Wait(); close(writing) }()

			var seen []Message
			follow := func() {
				after := ""
				if len(seen) > 0 {
					after = seen[len(seen)-1].ID
				}
				page, err := a.MessagesSince(ctx, "r", after, MaxLimit)
				if err != nil {
					t.Fatal(err)
				}
				seen = append(seen, page...)
			}
			for done := false; !done; {
				select {
				case <-writing:
					done = true
				default:
				}
				follow()
			}
			for n := -1; n != len(seen); {
				n = len(seen)
				follow()
			}
			if len(seen) != 2*writers*each {
				t.Fatalf("the reader saw %d of %d messages", len(seen), 2*writers*each)
			}
			for i := 1; i < len(seen); i++ {
				if seen[i].ID <= seen[i-1].ID {
					t.Fatalf("messages %d and %d out of order", i-1, i)
				}
			}
		})
	}
}

// TestBatchFailureFailsOnlyItsMessage puts a message the database refuses
// (a trigger rejects it) in a batch with others: its call fails, the others
// are stored.
func TestBatchFailureFailsOnlyItsMessage(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s, block := blockedStore(t, b, func(s Store) error {
				var err error
				switch s := s.(type) {
				case *SQLite:
					_, err = s.w.ExecContext(ctx, `CREATE TRIGGER poison BEFORE INSERT ON messages
						WHEN NEW.content = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END`)
				case *Postgres:
					_, err = s.pool.Exec(ctx, `CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
						BEGIN IF NEW.content = 'poison' THEN RAISE EXCEPTION 'poisoned'; END IF; RETURN NEW; END $$;
						CREATE TRIGGER poison BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION poison()`,
						pgx.QueryExecModeSimpleProtocol)
				}
				return err
			})
			const n = 10
			wait, _ := sendBehind(ctx, s, n, func(i int) string {
				if i == n/2 {
					return "poison"
				}
				return fmt.Sprint("m", i)
			})
			time.Sleep(100 * time.Millisecond)
			block.release()
			_, errs := wait()
			for i, err := range errs {
				if (err != nil) != (i == n/2) {
					t.Errorf("message %d: %v", i, err)
				}
			}
			stored, err := s.MessagesSince(ctx, "r", "", MaxLimit)
			if err != nil || len(stored) != n-1 {
				t.Fatalf("%d messages stored, want %d (%v)", len(stored), n-1, err)
			}
		})
	}
}

// TestWriterGathersAStream checks that messages arriving one by one in a
// steady stream, each after the previous transaction, share transactions:
// a transaction's fixed cost is most of the cost of one chat message.
func TestWriterGathersAStream(t *testing.T) {
	var commits, messages atomic.Int64
	w := newMsgWriter(func(_ context.Context, batch []*pending) int {
		commits.Add(1)
		messages.Add(int64(len(batch)))
		return 1
	})
	defer w.close()
	const n = 100
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := w.write(t.Context(), Message{RoomID: "r", Content: fmt.Sprint(i)}); err != nil {
				t.Error(err)
			}
		})
		// One every 100µs (a spin: a sleep this short lasts a millisecond
		// or more), each after the previous commit has ended.
		for next := time.Now().Add(100 * time.Microsecond); time.Now().Before(next); {
		}
	}
	wg.Wait()
	t.Logf("%d messages in %d transactions", messages.Load(), commits.Load())
	if c := commits.Load(); c > n/2 {
		t.Fatalf("a stream of %d messages, one per 100µs, took %d transactions, want at most %d", n, c, n/2)
	}
}
