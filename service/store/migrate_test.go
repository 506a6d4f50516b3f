package store

import (
	"context"
	"database/sql"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestMessagesKeyMigration builds a database at schema version 1 with
// messages in it, then opens it: the migration that re-keys messages by
// (room_id, id) keeps every message, and history pages still work.
func TestMessagesKeyMigration(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			url := b.newURL(t)
			dialect := "postgres"
			if b.name == "sqlite" {
				dialect = "sqlite"
			}
			ms, err := loadMigrations(dialect)
			if err != nil {
				t.Fatal(err)
			}
			v1 := []string{ms[0].sql,
				`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`,
				`INSERT INTO schema_migrations VALUES (1, '` + ms[0].name + `', 0)`,
				`INSERT INTO rooms (id, name, public, created_at) VALUES ('r', 'R', TRUE, 0)`,
			}
			var want []string
			for range 120 {
				x := defaultGen.next(id{})
				want = append(want, x.String())
				v1 = append(v1, `INSERT INTO messages (id, room_id, author_id, author_name, content, created_at)
					VALUES ('`+x.String()+`', 'r', 'u1', 'Ann', 'old', 0)`)
			}
			execAll(t, dialect, url, v1)

			s := open(t, url)
			var got []string
			for before := ""; ; {
				page, next, err := s.History(t.Context(), "r", before, 50)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range page {
					got = append(got, m.ID)
				}
				if next == "" {
					break
				}
				before = next
			}
			if len(got) != len(want) {
				t.Fatalf("%d messages after the migration, want %d", len(got), len(want))
			}
			for i, id := range got {
				if id != want[len(want)-1-i] {
					t.Fatalf("message %d is %s, want %s", i, id, want[len(want)-1-i])
				}
			}
			m, err := s.CreateMessage(t.Context(), Message{RoomID: "r", AuthorID: "u1", Content: "new"})
			if err != nil || m.ID <= want[len(want)-1] {
				t.Fatalf("new message %s after the migrated ones? %v", m.ID, err)
			}
		})
	}
}

// execAll runs the statements on the database at url, outside the store.
func execAll(t *testing.T, dialect, url string, stmts []string) {
	ctx := context.Background()
	if dialect == "postgres" {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		for _, q := range stmts {
			if _, err := conn.Exec(ctx, q, pgx.QueryExecModeSimpleProtocol); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		return
	}
	dsn, err := sqliteDSN(url, false)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}
