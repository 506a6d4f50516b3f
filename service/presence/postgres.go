package presence

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldio/herald/service/internal/pgtable"
)

// PostgresNodes are Nodes in a PostgreSQL table, a row per node (its
// users as one JSON object, and when the row expires), for a cluster
// without Redis. The table is UNLOGGED: presence is rewritten every
// interval, so it need not survive a crash (PostgreSQL empties such a table
// in crash recovery, which the Cluster heals as a Redis restart).
type PostgresNodes struct {
	pool  *pgxpool.Pool
	table string // quoted
}

var _ Nodes = (*PostgresNodes)(nil)

// NewPostgresNodes returns the Nodes of table ("schema.table" names one
// outside the search path), which it creates when missing.
func NewPostgresNodes(ctx context.Context, pool *pgxpool.Pool, table string) (*PostgresNodes, error) {
	table, err := pgtable.Ensure(ctx, pool, table, "node text PRIMARY KEY, users text NOT NULL, expires_at timestamptz NOT NULL")
	if err != nil {
		return nil, err
	}
	return &PostgresNodes{pool: pool, table: table}, nil
}

// Write implements Nodes: one statement replaces the row, and deletes the
// rows of nodes that died a while ago.
func (n *PostgresNodes) Write(ctx context.Context, node string, users []Entry, ttl time.Duration) (bool, error) {
	var live bool
	if len(users) == 0 {
		err := n.pool.QueryRow(ctx, `WITH old AS (DELETE FROM `+n.table+` WHERE node = $1 RETURNING expires_at > now() AS live)
			SELECT COALESCE((SELECT live FROM old), false)`, node).Scan(&live)
		return live, err
	}
	m := make(map[string]json.RawMessage, len(users))
	for _, e := range users {
		m[e.UserID] = encodeEntry(e)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return false, err
	}
	err = n.pool.QueryRow(ctx, `WITH gone AS (DELETE FROM `+n.table+` WHERE node <> $1 AND expires_at < now() - interval '1 minute'),
		old AS (SELECT expires_at > now() AS live FROM `+n.table+` WHERE node = $1)
		INSERT INTO `+n.table+` (node, users, expires_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')
		ON CONFLICT (node) DO UPDATE SET users = EXCLUDED.users, expires_at = EXCLUDED.expires_at
		RETURNING COALESCE((SELECT live FROM old), false)`, node, string(b), ttl.Milliseconds()).Scan(&live)
	return live, err
}

// Read implements Nodes.
func (n *PostgresNodes) Read(ctx context.Context) (map[string]map[string]Entry, error) {
	rows, err := n.pool.Query(ctx, `SELECT node, users FROM `+n.table+` WHERE expires_at > now()`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]map[string]Entry{}
	for rows.Next() {
		var node, raw string
		if err := rows.Scan(&node, &raw); err != nil {
			return nil, err
		}
		var m map[string]json.RawMessage
		if json.Unmarshal([]byte(raw), &m) != nil {
			continue
		}
		users := make(map[string]Entry, len(m))
		for id, v := range m {
			if e, ok := decodeEntry(v); ok {
				users[id] = e
			}
		}
		out[node] = users
	}
	return out, rows.Err()
}
