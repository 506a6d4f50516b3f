package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationLockKey is the PostgreSQL advisory lock held while migrating, so
// that processes starting together apply each migration once.
const migrationLockKey int64 = 0x4865_7261_6c64_0001 // "Herald" + 1

// Postgres is the Store kept in PostgreSQL, used through a pgx pool. The
// pool takes its settings (pool_max_conns, search_path, ...) from the url.
type Postgres struct {
	pool *pgxpool.Pool
	ids  *idGen
}

var _ Store = (*Postgres)(nil)

func openPostgres(ctx context.Context, url string) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("%w: postgres url: %w", ErrInvalid, err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	s := &Postgres{pool: pool, ids: defaultGen}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

func (s *Postgres) migrate(ctx context.Context) error {
	ms, err := loadMigrations("postgres")
	if err != nil {
		return err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer conn.Release()
	// A session lock: concurrent starters queue here, and the lock is
	// released when the connection goes away if we fail in between.
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLockKey); err != nil {
		return fmt.Errorf("store: migrate: lock: %w", err)
	}
	defer func() {
		// Use a fresh context so the unlock runs even if ctx is done.
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, migrationLockKey); err != nil {
			// Leave nothing locked behind: drop the connection.
			conn.Conn().Close(uctx)
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	for _, m := range ms {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var done bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.version).Scan(&done); err != nil {
				return err
			}
			if done {
				return nil
			}
			// Simple protocol: a migration file may hold many statements.
			if _, err := tx.Exec(ctx, m.sql, pgx.QueryExecModeSimpleProtocol); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, toMillis(now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("store: migrate %s: %w", m.name, err)
		}
	}
	return nil
}

// Close closes the pool, waiting for acquired connections to be released.
func (s *Postgres) Close() error {
	s.pool.Close()
	return nil
}

// CreateRoom implements Store.
func (s *Postgres) CreateRoom(ctx context.Context, r Room) (Room, error) {
	r, err := prepareRoom(r)
	if err != nil {
		return Room{}, err
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO rooms (id, name, public, created_at, created_by) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO NOTHING`, r.ID, r.Name, r.Public, toMillis(r.CreatedAt), r.CreatedBy)
	if err != nil {
		return Room{}, wrap("create room", err)
	}
	if tag.RowsAffected() == 0 {
		return Room{}, fmt.Errorf("%w: room %q", ErrExists, r.ID)
	}
	return r, nil
}

// EnsureRoom implements Store.
func (s *Postgres) EnsureRoom(ctx context.Context, r Room) (Room, error) {
	r, err := prepareRoom(r)
	if err != nil {
		return Room{}, err
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO rooms (id, name, public, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO NOTHING`, r.ID, r.Name, r.Public, toMillis(r.CreatedAt)); err != nil {
		return Room{}, wrap("ensure room", err)
	}
	return s.GetRoom(ctx, r.ID)
}

// GetRoom implements Store.
func (s *Postgres) GetRoom(ctx context.Context, id string) (Room, error) {
	if err := checkID("room id", id); err != nil {
		return Room{}, err
	}
	var r Room
	var ms int64
	err := s.pool.QueryRow(ctx, `SELECT id, name, public, created_at FROM rooms WHERE id = $1`, id).
		Scan(&r.ID, &r.Name, &r.Public, &ms)
	if errors.Is(err, pgx.ErrNoRows) {
		return Room{}, fmt.Errorf("%w: room %q", ErrNotFound, id)
	}
	if err != nil {
		return Room{}, wrap("get room", err)
	}
	r.CreatedAt = fromMillis(ms)
	return r, nil
}

// ListRooms implements Store.
func (s *Postgres) ListRooms(ctx context.Context, userID string) ([]RoomEntry, error) {
	if err := checkID("user id", userID); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT r.id, r.name, r.public, r.created_at, m.user_id IS NOT NULL
		FROM rooms r LEFT JOIN room_members m ON m.room_id = r.id AND m.user_id = $1
		WHERE r.public OR m.user_id IS NOT NULL
		ORDER BY r.name COLLATE "C", r.id COLLATE "C"`, userID)
	if err != nil {
		return nil, wrap("list rooms", err)
	}
	out := []RoomEntry{}
	var e RoomEntry
	var ms int64
	_, err = pgx.ForEachRow(rows, []any{&e.ID, &e.Name, &e.Public, &ms, &e.Member}, func() error {
		e.CreatedAt = fromMillis(ms)
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, wrap("list rooms", err)
	}
	return out, nil
}

// AddMember implements Store.
func (s *Postgres) AddMember(ctx context.Context, roomID, userID string) error {
	if err := checkIDs(roomID, userID); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO room_members (room_id, user_id, joined_at)
		SELECT id, $1, $2 FROM rooms WHERE id = $3
		ON CONFLICT (room_id, user_id) DO NOTHING`, userID, toMillis(now()), roomID)
	if err != nil {
		return wrap("add member", err)
	}
	if tag.RowsAffected() == 0 {
		if _, err := s.GetRoom(ctx, roomID); err != nil {
			return err
		}
	}
	return nil
}

// RemoveMember implements Store.
func (s *Postgres) RemoveMember(ctx context.Context, roomID, userID string) error {
	if err := checkIDs(roomID, userID); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM room_members WHERE room_id = $1 AND user_id = $2`, roomID, userID)
	return wrap("remove member", err)
}

// IsMember implements Store.
func (s *Postgres) IsMember(ctx context.Context, roomID, userID string) (bool, error) {
	if err := checkIDs(roomID, userID); err != nil {
		return false, err
	}
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM room_members WHERE room_id = $1 AND user_id = $2)`,
		roomID, userID).Scan(&ok)
	return ok, wrap("is member", err)
}

// CreateMessage implements Store.
func (s *Postgres) CreateMessage(ctx context.Context, m Message) (Message, error) {
	if err := checkMessage(m); err != nil {
		return Message{}, err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Locking the room row serialises writers of one room across
		// processes, so the id chosen here is greater than every committed
		// id of the room and ids commit in order. FOR NO KEY UPDATE does not
		// block the foreign-key checks of concurrent member inserts.
		var locked string
		err := tx.QueryRow(ctx, `SELECT id FROM rooms WHERE id = $1 FOR NO KEY UPDATE`, m.RoomID).Scan(&locked)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: room %q", ErrNotFound, m.RoomID)
		}
		if err != nil {
			return err
		}
		var last *string
		if err := tx.QueryRow(ctx, `SELECT max(id) FROM messages WHERE room_id = $1`, m.RoomID).Scan(&last); err != nil {
			return err
		}
		after := ""
		if last != nil {
			after = *last
		}
		x, err := s.ids.nextAfter(after)
		if err != nil {
			return err
		}
		m.ID = x.String()
		m.CreatedAt = fromMillis(int64(x.ms()))
		_, err = tx.Exec(ctx, `INSERT INTO messages (id, room_id, author_id, author_name, content, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, m.ID, m.RoomID, m.AuthorID, m.AuthorName, m.Content, toMillis(m.CreatedAt))
		return err
	})
	if err != nil {
		return Message{}, wrap("create message", err)
	}
	return m, nil
}

func (s *Postgres) queryMessages(ctx context.Context, limit int, q string, args ...any) ([]Message, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	out := make([]Message, 0, limit)
	var m Message
	var ms int64
	_, err = pgx.ForEachRow(rows, []any{&m.ID, &m.RoomID, &m.AuthorID, &m.AuthorName, &m.Content, &ms}, func() error {
		m.CreatedAt = fromMillis(ms)
		out = append(out, m)
		return nil
	})
	return out, err
}

// History implements Store.
func (s *Postgres) History(ctx context.Context, roomID, before string, limit int) ([]Message, string, error) {
	if err := checkID("room id", roomID); err != nil {
		return nil, "", err
	}
	if err := checkCursor("before", before); err != nil {
		return nil, "", err
	}
	limit = clampLimit(limit)
	q, args := postgresHistoryQuery(roomID, before, limit+1)
	msgs, err := s.queryMessages(ctx, limit+1, q, args...)
	if err != nil {
		return nil, "", wrap("history", err)
	}
	msgs, next := page(msgs, limit)
	return msgs, next, nil
}

// postgresHistoryQuery returns the query of a History page of n rows. The
// first page and the following ones are separate queries: a generic plan of
// one query with "$2 = ” OR id < $2" filters on the cursor instead of
// starting the index scan at it, and every page walks the room from its
// newest message.
func postgresHistoryQuery(roomID, before string, n int) (string, []any) {
	if before == "" {
		return `SELECT id, room_id, author_id, author_name, content, created_at
			FROM messages WHERE room_id = $1 ORDER BY id DESC LIMIT $2`, []any{roomID, n}
	}
	return `SELECT id, room_id, author_id, author_name, content, created_at
		FROM messages WHERE room_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, []any{roomID, before, n}
}

// postgresSinceQuery returns the query of a MessagesSince page of n rows.
func postgresSinceQuery(roomID, afterID string, n int) (string, []any) {
	return `SELECT id, room_id, author_id, author_name, content, created_at
		FROM messages WHERE room_id = $1 AND id > $2 ORDER BY id ASC LIMIT $3`, []any{roomID, afterID, n}
}

// MessagesSince implements Store.
func (s *Postgres) MessagesSince(ctx context.Context, roomID, afterID string, limit int) ([]Message, error) {
	if err := checkID("room id", roomID); err != nil {
		return nil, err
	}
	if err := checkCursor("after", afterID); err != nil {
		return nil, err
	}
	limit = clampLimit(limit)
	q, args := postgresSinceQuery(roomID, afterID, limit)
	msgs, err := s.queryMessages(ctx, limit, q, args...)
	return msgs, wrap("messages since", err)
}

// CreateNotifications implements Store.
func (s *Postgres) CreateNotifications(ctx context.Context, ns []Notification) ([]Notification, error) {
	ns, err := prepareNotifications(ns)
	if err != nil || len(ns) == 0 {
		return ns, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"notifications"},
			[]string{"id", "user_id", "type", "title", "message", "created_at", "read"},
			pgx.CopyFromSlice(len(ns), func(i int) ([]any, error) {
				n := ns[i]
				return []any{n.ID, n.UserID, n.Type, n.Title, n.Message, toMillis(n.CreatedAt), false}, nil
			}))
		return err
	})
	if err != nil {
		return nil, wrap("create notifications", err)
	}
	return ns, nil
}

// ListNotifications implements Store.
func (s *Postgres) ListNotifications(ctx context.Context, userID string, limit int) ([]Notification, error) {
	if err := checkID("user id", userID); err != nil {
		return nil, err
	}
	limit = clampLimit(limit)
	rows, err := s.pool.Query(ctx, `SELECT id, user_id, type, title, message, created_at, read
		FROM notifications WHERE user_id = $1 ORDER BY id DESC LIMIT $2`, userID, limit)
	if err != nil {
		return nil, wrap("list notifications", err)
	}
	out := make([]Notification, 0, limit)
	var n Notification
	var ms int64
	_, err = pgx.ForEachRow(rows, []any{&n.ID, &n.UserID, &n.Type, &n.Title, &n.Message, &ms, &n.Read}, func() error {
		n.CreatedAt = fromMillis(ms)
		out = append(out, n)
		return nil
	})
	if err != nil {
		return nil, wrap("list notifications", err)
	}
	return out, nil
}

// UnreadCount implements Store.
func (s *Postgres) UnreadCount(ctx context.Context, userID string) (int, error) {
	if err := checkID("user id", userID); err != nil {
		return 0, err
	}
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM notifications WHERE user_id = $1 AND NOT read`, userID).Scan(&n)
	return n, wrap("unread count", err)
}

// MarkRead implements Store.
func (s *Postgres) MarkRead(ctx context.Context, userID, id string) error {
	if err := checkID("user id", userID); err != nil {
		return err
	}
	if err := checkID("notification id", id); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE notifications SET read = TRUE WHERE id = $1 AND user_id = $2`, id, userID)
	if err != nil {
		return wrap("mark read", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: notification %q", ErrNotFound, id)
	}
	return nil
}

// MarkAllRead implements Store.
func (s *Postgres) MarkAllRead(ctx context.Context, userID string) (int, error) {
	if err := checkID("user id", userID); err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE notifications SET read = TRUE WHERE user_id = $1 AND NOT read`, userID)
	if err != nil {
		return 0, wrap("mark all read", err)
	}
	return int(tag.RowsAffected()), nil
}

// SetLastSeen implements Store.
func (s *Postgres) SetLastSeen(ctx context.Context, userID, name string, t time.Time) error {
	if err := checkID("user id", userID); err != nil {
		return err
	}
	if err := checkText("user name", name, MaxNameLen); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO users (id, name, last_seen) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET
			name = CASE WHEN excluded.last_seen >= users.last_seen AND excluded.name <> '' THEN excluded.name ELSE users.name END,
			last_seen = GREATEST(users.last_seen, excluded.last_seen)`,
		userID, name, toMillis(t))
	return wrap("set last seen", err)
}

// LastSeen implements Store.
func (s *Postgres) LastSeen(ctx context.Context, userIDs []string) (map[string]Seen, error) {
	if err := checkUserIDs(userIDs); err != nil {
		return nil, err
	}
	out := make(map[string]Seen, len(userIDs))
	if len(userIDs) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT id, name, last_seen FROM users WHERE id = ANY($1)`, userIDs)
	if err != nil {
		return nil, wrap("last seen", err)
	}
	var v Seen
	var ms int64
	_, err = pgx.ForEachRow(rows, []any{&v.UserID, &v.Name, &ms}, func() error {
		v.At = fromMillis(ms)
		out[v.UserID] = v
		return nil
	})
	if err != nil {
		return nil, wrap("last seen", err)
	}
	return out, nil
}
