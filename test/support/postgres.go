package support

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresDefaultURL is the test server when HERALD_TEST_POSTGRES is not
// set.
const PostgresDefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// PostgresURL creates a PostgreSQL schema of its own for the test (on
// HERALD_TEST_POSTGRES, or the local server), dropped when the test ends,
// and returns a database URL whose search_path is that schema. An unreachable server fails the test
// (skips it with HERALD_SKIP_POSTGRES=1).
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("HERALD_TEST_POSTGRES")
	if base == "" {
		base = PostgresDefaultURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("HERALD_SKIP_POSTGRES") == "1" {
			t.Skipf("postgres unreachable and HERALD_SKIP_POSTGRES=1: %v", err)
		}
		t.Fatalf("postgres unreachable at HERALD_TEST_POSTGRES or the default url (set HERALD_SKIP_POSTGRES=1 to skip): %v", err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "herald_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + url.QueryEscape(schema)
}
