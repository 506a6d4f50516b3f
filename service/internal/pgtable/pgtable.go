// Package pgtable makes the service's UNLOGGED PostgreSQL tables: the
// state a cluster without Redis shares (presence, counts, routes), which
// is rewritten all the time and need not survive a crash.
package pgtable

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Ensure creates the unlogged table name ("schema.table" names one outside
// the search path) with columns when it is missing, and returns the name
// quoted for SQL.
func Ensure(ctx context.Context, pool *pgxpool.Pool, name, columns string) (string, error) {
	quoted := pgx.Identifier(strings.Split(name, ".")).Sanitize()
	ddl := `CREATE UNLOGGED TABLE IF NOT EXISTS ` + quoted + ` (` + columns + `)`
	var err error
	for range 2 { // nodes starting together: the loser of the race finds the table the second time
		if _, err = pool.Exec(ctx, ddl); err == nil {
			break
		}
	}
	return quoted, err
}
