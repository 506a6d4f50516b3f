package presence

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldio/herald/service/internal/pgtable"
)

// PostgresRooms is the Rooms of a node in a cluster without Redis: a row
// per socket in a room (room, user, socket, when it lapses) in an UNLOGGED
// table. Enter and Exit each run one transaction that holds an advisory
// lock of the (room, user) pair while it adds or removes the socket and
// counts the others, so two nodes cannot both see the other's socket, or
// neither. As ClusterRooms does with Redis, each node writes its sockets
// again every Interval to live another TTL: a dead node's sockets lapse,
// and after the table was emptied (crash recovery) they are back within
// an Interval.
type PostgresRooms struct {
	pool     *pgxpool.Pool
	table    string
	ttl      time.Duration
	interval time.Duration
	log      *slog.Logger

	gate  sync.RWMutex // as ClusterRooms's: no renewal writes a socket again after its Exit
	mu    sync.Mutex
	socks map[roomUser]map[string]struct{} // this node's sockets

	cancel context.CancelFunc
	done   chan struct{}
}

var _ Rooms = (*PostgresRooms)(nil)

// NewPostgresRooms creates table when missing and starts the renewals
// (o.Prefix is not used); Close stops them.
func NewPostgresRooms(ctx context.Context, pool *pgxpool.Pool, table string, o ClusterRoomsOptions) (*PostgresRooms, error) {
	t, err := pgtable.Ensure(ctx, pool, table,
		"room text NOT NULL, user_id text NOT NULL, sid text NOT NULL, lapses_at timestamptz NOT NULL, PRIMARY KEY (room, user_id, sid)")
	if err != nil {
		return nil, err
	}
	o.defaults()
	cctx, cancel := context.WithCancel(context.Background())
	r := &PostgresRooms{pool: pool, table: t, ttl: o.TTL, interval: o.Interval, log: o.Logger,
		socks: make(map[roomUser]map[string]struct{}), cancel: cancel, done: make(chan struct{})}
	go r.run(cctx)
	return r, nil
}

// locked runs f in a transaction holding the pair's advisory lock, after
// the pair's lapsed sockets are deleted; f returns whether it changed the
// socket, and locked how many sockets the pair has then.
func (r *PostgresRooms) locked(ctx context.Context, room, user string, f func(pgx.Tx) (bool, error)) (changed bool, left int, err error) {
	err = pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))`, room, user); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM `+r.table+` WHERE room = $1 AND user_id = $2 AND lapses_at < now()`, room, user); err != nil {
			return err
		}
		var err error
		if changed, err = f(tx); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM `+r.table+` WHERE room = $1 AND user_id = $2`, room, user).Scan(&left)
	})
	return changed, left, err
}

// Enter implements Rooms.
func (r *PostgresRooms) Enter(ctx context.Context, room, user, sid string) (bool, error) {
	k := roomUser{room, user}
	r.gate.RLock()
	defer r.gate.RUnlock()
	r.mu.Lock()
	addSocket(r.socks, k, sid) // written again by the next renewal if this fails
	r.mu.Unlock()
	added, n, err := r.locked(ctx, room, user, func(tx pgx.Tx) (bool, error) {
		var inserted bool
		err := tx.QueryRow(ctx, `INSERT INTO `+r.table+` (room, user_id, sid, lapses_at)
			VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond')
			ON CONFLICT (room, user_id, sid) DO UPDATE SET lapses_at = EXCLUDED.lapses_at
			RETURNING xmax = 0`, room, user, sid, r.ttl.Milliseconds()).Scan(&inserted)
		return inserted, err
	})
	return added && n == 1, err
}

// Exit implements Rooms.
func (r *PostgresRooms) Exit(ctx context.Context, room, user, sid string) (bool, error) {
	k := roomUser{room, user}
	r.gate.RLock()
	defer r.gate.RUnlock()
	r.mu.Lock()
	_, known := r.socks[k][sid]
	removeSocket(r.socks, k, sid)
	r.mu.Unlock()
	removed, n, err := r.locked(ctx, room, user, func(tx pgx.Tx) (bool, error) {
		tag, err := tx.Exec(ctx, `DELETE FROM `+r.table+` WHERE room = $1 AND user_id = $2 AND sid = $3`, room, user, sid)
		return tag.RowsAffected() == 1, err
	})
	// known: this node had entered it, and the table lost it.
	return (removed || known) && n == 0, err
}

func (r *PostgresRooms) run(ctx context.Context) { renewEvery(ctx, r.done, r.interval, r.renew, r.log) }

// renewEvery calls renew every interval until ctx ends, then closes done.
func renewEvery(ctx context.Context, done chan struct{}, interval time.Duration, renew func(context.Context) error, log *slog.Logger) {
	defer close(done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := renew(ctx); err != nil && ctx.Err() == nil {
				log.Warn("presence: renewing room sockets", "err", err)
			}
		}
	}
}

// renew writes this node's sockets again, to lapse a TTL from now, and
// deletes every socket lapsed a while ago (a dead node's).
func (r *PostgresRooms) renew(ctx context.Context) error {
	r.gate.Lock()
	defer r.gate.Unlock()
	ctx, cancel := context.WithTimeout(ctx, r.interval)
	defer cancel()
	var rooms, users, sids []string
	r.mu.Lock()
	for k, set := range r.socks {
		for sid := range set {
			rooms, users, sids = append(rooms, k.room), append(users, k.user), append(sids, sid)
		}
	}
	r.mu.Unlock()
	_, err := r.pool.Exec(ctx, `WITH gone AS (DELETE FROM `+r.table+` WHERE lapses_at < now() - interval '1 minute')
		INSERT INTO `+r.table+` (room, user_id, sid, lapses_at)
		SELECT room, u, s, now() + $4 * interval '1 millisecond' FROM unnest($1::text[], $2::text[], $3::text[]) AS x(room, u, s)
		ON CONFLICT (room, user_id, sid) DO UPDATE SET lapses_at = EXCLUDED.lapses_at`, rooms, users, sids, r.ttl.Milliseconds())
	return err
}

// Close stops the renewals. The rows are left to lapse (the sockets have
// left by then, each with its Exit).
func (r *PostgresRooms) Close() {
	r.cancel()
	<-r.done
}
