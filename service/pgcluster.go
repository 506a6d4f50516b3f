package service

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldio/herald/adapter/postgres"
	"github.com/heraldio/herald/service/internal/pgtable"
	"github.com/heraldio/herald/service/presence"
	"github.com/heraldio/herald/service/ratelimit"
	"github.com/heraldio/herald/socketio"
)

// A cluster on PostgreSQL alone (HERALD_CLUSTER=postgres): what the nodes
// share through Redis otherwise goes through the store's database, on a
// pool of the cluster's own:
//
//   - the adapter: LISTEN/NOTIFY (adapter/postgres, Node's
//     @socket.io/postgres-adapter protocol), nodes counted by heartbeats;
//   - presence: a row per node in an UNLOGGED table, rewritten every few
//     seconds, expiring when its node dies (presence.PostgresNodes);
//   - the per-user message limit: counters in an UNLOGGED table
//     (ratelimit.PostgresCounter);
//   - per-room presence (who is first in a room, last out): a row per
//     socket in a room (presence.PostgresRooms);
//   - the session-route registry of polling without affinity, and the
//     marks that keep two nodes from both reporting a user.online
//     webhook: UNLOGGED tables here.
//
// The tables are named <prefix>_presence, _rooms, _counts, _routes,
// _marks (prefix HERALD_POSTGRES_PREFIX, herald_cluster by default; the
// adapter's attachments table is Node's socket_io_attachments by
// default, <prefix>_attachments with a prefix).

// setupPostgres opens the cluster's pool and its shared state, and returns
// the adapter.
func (s *Service) setupPostgres(ctx context.Context) (socketio.AdapterFactory, error) {
	pc, err := pgxpool.ParseConfig(s.cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("service: postgres cluster: %w", err)
	}
	if _, set := pc.ConnConfig.RuntimeParams["application_name"]; !set {
		// pg_stat_activity tells the nodes' connections apart.
		pc.ConnConfig.RuntimeParams["application_name"] = "herald cluster " + s.node
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("service: postgres cluster: %w", err)
	}
	ao := postgres.Options{Logger: s.log}
	if p := s.cfg.PostgresPrefix; p != "" {
		ao.ChannelPrefix, ao.TableName = p, s.postgresTable("attachments")
	}
	n, window, err := s.cfg.userMessageRate()
	if err == nil {
		s.presenceNodes, err = presence.NewPostgresNodes(ctx, pool, s.postgresTable("presence"))
	}
	var ctr *ratelimit.PostgresCounter
	if err == nil {
		ctr, err = ratelimit.NewPostgresCounter(ctx, pool, s.postgresTable("counts"))
	}
	var routes *postgresRoutes
	if err == nil {
		routes, err = newPostgresRoutes(ctx, pool, s.postgresTable("routes"))
	}
	if err == nil {
		s.marks, err = newPostgresMarks(ctx, pool, s.postgresTable("marks"))
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("service: postgres cluster: %w", err)
	}
	s.pg = pool
	s.shared = ratelimit.NewSharedOn(ctr, ratelimit.SharedOptions{Prefix: "ratelimit", Limit: n, Window: window})
	s.fwd = newForwarder(routes, s.cfg, s.metrics.reg)
	return postgres.New(pool, &ao), nil
}

// postgresTable names a table of the cluster's: <prefix>_name.
func (s *Service) postgresTable(name string) string {
	if p := s.cfg.PostgresPrefix; p != "" {
		return p + "_" + name
	}
	return "herald_cluster_" + name
}

// clusterRooms are the per-room presence counts a cluster shares.
type clusterRooms interface {
	presence.Rooms
	Close()
}

func pgStats(a socketio.Adapter) (postgres.Stats, bool) {
	p, ok := a.(*postgres.Adapter)
	if !ok {
		return postgres.Stats{}, false
	}
	return p.Stats(), true
}

// postgresRoutes is the route registry in a table: route → URL, until it
// expires.
type postgresRoutes struct {
	pool  *pgxpool.Pool
	table string
}

func newPostgresRoutes(ctx context.Context, pool *pgxpool.Pool, name string) (*postgresRoutes, error) {
	table, err := pgtable.Ensure(ctx, pool, name, "route text PRIMARY KEY, url text NOT NULL, expires_at timestamptz NOT NULL")
	if err != nil {
		return nil, err
	}
	return &postgresRoutes{pool, table}, nil
}

func (r *postgresRoutes) lookup(ctx context.Context, route string) (string, error) {
	var url string
	err := r.pool.QueryRow(ctx, `SELECT COALESCE((SELECT url FROM `+r.table+` WHERE route = $1 AND expires_at > now()), '')`, route).Scan(&url)
	return url, err
}

// publish also deletes the routes of nodes long gone.
func (r *postgresRoutes) publish(ctx context.Context, route, url string, ttl time.Duration) error {
	_, err := r.pool.Exec(ctx, `WITH gone AS (DELETE FROM `+r.table+` WHERE route <> $1 AND expires_at < now() - interval '1 hour')
		INSERT INTO `+r.table+` (route, url, expires_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')
		ON CONFLICT (route) DO UPDATE SET url = EXCLUDED.url, expires_at = EXCLUDED.expires_at`, route, url, ttl.Milliseconds())
	return err
}

func (r *postgresRoutes) remove(ctx context.Context, route string) error {
	_, err := r.pool.Exec(ctx, `DELETE FROM `+r.table+` WHERE route = $1`, route)
	return err
}

// postgresMarks are the presence marks in a table: one upsert per batch
// changes the rows whose state differs (or are new) and returns them; a
// row is dropped a day after it last changed.
type postgresMarks struct {
	pool  *pgxpool.Pool
	table string
}

func newPostgresMarks(ctx context.Context, pool *pgxpool.Pool, name string) (*postgresMarks, error) {
	table, err := pgtable.Ensure(ctx, pool, name, "user_id text PRIMARY KEY, offline boolean NOT NULL, at timestamptz NOT NULL")
	if err != nil {
		return nil, err
	}
	return &postgresMarks{pool, table}, nil
}

func (m *postgresMarks) news(ctx context.Context, batch []presence.Change) []presence.Change {
	// One row per user: a user twice in a batch (never from one tick's
	// net changes) is news both times.
	last := map[string]int{}
	for i, c := range batch {
		last[c.UserID] = i
	}
	ids, offline := make([]string, 0, len(last)), make([]bool, 0, len(last))
	for i, c := range batch {
		if last[c.UserID] == i {
			ids, offline = append(ids, c.UserID), append(offline, c.Status == presence.Offline)
		}
	}
	changed := map[string]bool{}
	rows, err := m.pool.Query(ctx, `WITH gone AS (DELETE FROM `+m.table+` WHERE at < now() - interval '24 hours' AND user_id <> ALL($1))
		INSERT INTO `+m.table+` AS m (user_id, offline, at) SELECT u, o, now() FROM unnest($1::text[], $2::boolean[]) AS x(u, o)
		ON CONFLICT (user_id) DO UPDATE SET offline = EXCLUDED.offline, at = EXCLUDED.at
		WHERE m.offline IS DISTINCT FROM EXCLUDED.offline
		RETURNING user_id`, ids, offline)
	if err == nil {
		for rows.Next() {
			var id string
			if rows.Scan(&id) == nil {
				changed[id] = true
			}
		}
		rows.Close()
		err = rows.Err()
	}
	news := batch[:0]
	for i, c := range batch {
		if err != nil || last[c.UserID] != i || changed[c.UserID] {
			news = append(news, c)
		}
	}
	return news
}
