package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationLockKey is the PostgreSQL advisory lock held while migrating, so
// that processes starting together apply each migration once.
const migrationLockKey int64 = 0x4865_7261_6c64_0001 // "Herald" + 1

// messageLockClass is the first key of the transaction-scoped advisory
// locks that order the messages of a room (the second is a hash of the room
// id), apart from the one-key migration lock.
const messageLockClass int32 = 0x4865_7261 // "Hera"

// Postgres is the Store kept in PostgreSQL, used through a pgx pool. The
// pool takes its settings (pool_max_conns, search_path, ...) from the url.
// Messages are written by one goroutine with group commit (see
// WriterStats).
type Postgres struct {
	pool   *pgxpool.Pool
	ids    *idGen
	writer *msgWriter
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
	s.writer = newMsgWriter(s.commitMessages)
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

// Close commits the messages already queued, stops the writer and closes
// the pool, waiting for acquired connections to be released. CreateMessage
// fails with ErrClosed after Close.
func (s *Postgres) Close() error {
	s.writer.close()
	s.pool.Close()
	return nil
}

// WriterStats returns the counters of the message writer.
func (s *Postgres) WriterStats() WriterStats { return s.writer.stats() }

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
	err := s.pool.QueryRow(ctx, `SELECT id, name, public, created_at, created_by FROM rooms WHERE id = $1`, id).
		Scan(&r.ID, &r.Name, &r.Public, &ms, &r.CreatedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return Room{}, fmt.Errorf("%w: room %q", ErrNotFound, id)
	}
	if err != nil {
		return Room{}, wrap("get room", err)
	}
	r.CreatedAt = fromMillis(ms)
	return r, nil
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

// CreateMessage implements Store. The message is handed to the writer
// goroutine, which commits it with the others queued at the same time.
//
// The messages of a room must commit in the order of their ids: a reader
// that has seen id X asks for what is after X, so a smaller id committed
// later would never be seen. Writers of one room therefore take a lock on
// it for the short time between reading the room's greatest id and
// committing, across all processes. It is a transaction-scoped advisory
// lock on the room id, taken once per room per batch: unlike a lock on the
// room's row, it writes nothing and blocks nothing but other writers of the
// room, and the whole batch (lock, insert, commit) goes to the server in one
// round trip, so the lock is held only while the server runs it.
func (s *Postgres) CreateMessage(ctx context.Context, m Message) (Message, error) {
	if err := checkMessage(m); err != nil {
		return Message{}, err
	}
	return s.writer.write(ctx, m)
}

// insertBatchSQL inserts the messages whose room exists and whose id is
// greater than every id of the room, and returns their ids; the others are
// left for insertOne, and so are those whose client id is taken (ON
// CONFLICT waits for a concurrent transaction holding it). Run after the room locks are taken, in READ COMMITTED
// (so its snapshot sees every message committed before the locks were
// granted), and the ids of one room in the batch increasing.
const insertBatchSQL = `INSERT INTO messages (id, room_id, author_id, author_name, content, created_at, client_id)
	SELECT v.id, v.room_id, v.author_id, v.author_name, v.content, v.created_at, v.client_id
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::text[])
		AS v(id, room_id, author_id, author_name, content, created_at, client_id)
	WHERE EXISTS (SELECT 1 FROM rooms r WHERE r.id = v.room_id)
		AND v.id COLLATE "C" > COALESCE((SELECT max(m.id) FROM messages m WHERE m.room_id = v.room_id), '')
	ON CONFLICT DO NOTHING
	RETURNING id`

// commitMessages stores a batch in one transaction sent in one round trip.
// A message it could not place there (a missing room, or a room holding a
// greater id, from a process whose clock is ahead) is stored by insertOne,
// and so is every message of a batch that the server refused, so that a
// failure fails only its own call. A batch whose outcome is unknown (the
// connection failed, or ctx ended, on the way) is not tried again: it may
// have committed.
func (s *Postgres) commitMessages(ctx context.Context, batch []*pending) int {
	n := 0
	left, err := s.insertBatch(ctx, batch)
	var refused *pgconn.PgError
	switch {
	case err == nil:
		n++
	case errors.As(err, &refused):
		left = batch
	default:
		for _, p := range batch {
			p.out, p.err = Message{}, wrap("create message", err)
		}
		return 0
	}
	for _, p := range left {
		if err := s.insertOne(ctx, p); err != nil {
			p.err = wrap("create message", err)
			continue
		}
		n++
	}
	return n
}

// insertBatch runs the batch's transaction and returns the messages it did
// not store.
func (s *Postgres) insertBatch(ctx context.Context, batch []*pending) ([]*pending, error) {
	n := len(batch)
	ids, rooms, authors, names, contents, clients := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	times := make([]int64, n)
	keys := make([]int32, 0, 1)
	for i, p := range batch {
		p.out, p.err = stamp(p.in, s.ids.next(id{})), nil
		m := p.out
		ids[i], rooms[i], authors[i], names[i], contents[i], times[i], clients[i] = m.ID, m.RoomID, m.AuthorID, m.AuthorName, m.Content, toMillis(m.CreatedAt), m.ClientID
		keys = append(keys, roomLockKey(m.RoomID))
	}
	// Taken in one order by every writer: no deadlock between batches.
	slices.Sort(keys)
	keys = slices.Compact(keys)

	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue(`BEGIN ISOLATION LEVEL READ COMMITTED`)
	b.Queue(`SELECT pg_advisory_xact_lock($1, k) FROM unnest($2::int4[]) AS k`, messageLockClass, keys)
	b.Queue(insertBatchSQL, ids, rooms, authors, names, contents, times, clients)
	b.Queue(`COMMIT`)
	br := conn.SendBatch(ctx, b)
	var stored []string
	_, err = br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	if err == nil {
		var rows pgx.Rows
		if rows, err = br.Query(); err == nil {
			stored, err = pgx.CollectRows(rows, pgx.RowTo[string])
		}
	}
	if err == nil {
		_, err = br.Exec()
	}
	err = errors.Join(err, br.Close())
	if err != nil {
		if conn.Conn().PgConn().TxStatus() != 'I' {
			// Keep the connection: end the failed transaction (or drop the
			// connection if even that fails).
			if _, rerr := conn.Exec(ctx, `ROLLBACK`); rerr != nil {
				conn.Conn().Close(ctx)
			}
		}
		return nil, err
	}
	if len(stored) == n {
		return nil, nil
	}
	done := make(map[string]bool, len(stored))
	for _, id := range stored {
		done[id] = true
	}
	var left []*pending
	for _, p := range batch {
		if !done[p.out.ID] {
			left = append(left, p)
		}
	}
	return left, nil
}

// insertOne stores one message in a transaction of its own, after the
// room's greatest id, and sets p's out; or finds the message its client id
// names and sets p's out and err as duplicate does.
func (s *Postgres) insertOne(ctx context.Context, p *pending) error {
	p.out = Message{}
	m := p.in
	var stored *Message
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		stored = nil
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, messageLockClass, roomLockKey(m.RoomID)); err != nil {
			return err
		}
		var exists bool
		var last *string
		err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM rooms WHERE id = $1),
			(SELECT max(id) FROM messages WHERE room_id = $1)`, m.RoomID).Scan(&exists, &last)
		if err != nil {
			return err
		}
		if !exists {
			return fmt.Errorf("%w: room %q", ErrNotFound, m.RoomID)
		}
		var floor id
		if last != nil {
			if floor, err = parseID(*last); err != nil {
				return err
			}
		}
		m = stamp(p.in, s.ids.next(floor))
		// A taken client id is found after the insert waited for the
		// transaction that took it: READ COMMITTED lets the next statement
		// see that one's row.
		tag, err := tx.Exec(ctx, `INSERT INTO messages (id, room_id, author_id, author_name, content, created_at, client_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
			m.ID, m.RoomID, m.AuthorID, m.AuthorName, m.Content, toMillis(m.CreatedAt), m.ClientID)
		if err != nil || tag.RowsAffected() == 1 || m.ClientID == "" {
			return err
		}
		found, err := scanMessage(tx.QueryRow(ctx, `SELECT `+messageColumns+` FROM messages WHERE author_id = $1 AND client_id = $2`,
			m.AuthorID, m.ClientID))
		if err != nil {
			return err
		}
		stored = &found
		return nil
	})
	switch {
	case err != nil:
	case stored != nil:
		p.out, p.err = duplicate(p.in, *stored)
	default:
		p.out = m
	}
	return err
}

// roomLockKey is the second key of a room's advisory lock: FNV-1a of its
// id, the same in every process. Two rooms sharing a key only wait for
// each other.
func roomLockKey(roomID string) int32 {
	h := fnv.New32a()
	h.Write([]byte(roomID))
	return int32(h.Sum32())
}

func (s *Postgres) queryMessages(ctx context.Context, limit int, q string, args ...any) ([]Message, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	out := make([]Message, 0, limit)
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
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
		return `SELECT ` + messageColumns + `
			FROM messages WHERE room_id = $1 ORDER BY id DESC LIMIT $2`, []any{roomID, n}
	}
	return `SELECT ` + messageColumns + `
		FROM messages WHERE room_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, []any{roomID, before, n}
}

// postgresSinceQuery returns the query of a MessagesSince page of n rows.
func postgresSinceQuery(roomID, afterID string, n int) (string, []any) {
	return `SELECT ` + messageColumns + `
		FROM messages WHERE room_id = $1 AND id > $2 ORDER BY id ASC LIMIT $3`, []any{roomID, afterID, n}
}

// MessagesSince implements Store.
func (s *Postgres) MessagesSince(ctx context.Context, roomID, afterID string, limit int) ([]Message, error) {
	if err := checkSince(roomID, afterID); err != nil {
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

// RevokeSessions implements Store.
func (s *Postgres) RevokeSessions(ctx context.Context, userID string, t time.Time) error {
	if err := checkID("user id", userID); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO revocations (user_id, revoked_at) VALUES ($1, $2)
		ON CONFLICT (user_id) DO UPDATE SET revoked_at = GREATEST(revocations.revoked_at, excluded.revoked_at)`,
		userID, toMillis(t))
	return wrap("revoke sessions", err)
}

// Revocations implements Store.
func (s *Postgres) Revocations(ctx context.Context, since time.Time) (map[string]time.Time, error) {
	rows, err := s.pool.Query(ctx, `SELECT user_id, revoked_at FROM revocations WHERE revoked_at >= $1`, toMillis(since))
	if err != nil {
		return nil, wrap("revocations", err)
	}
	defer rows.Close()
	out, err := scanRevocations(rows)
	return out, wrap("revocations", err)
}

// EditMessage implements Store.
func (s *Postgres) EditMessage(ctx context.Context, roomID, id, authorID, content string) (Message, error) {
	return s.edit(ctx, roomID, id, authorID, content, false)
}

// DeleteMessage implements Store.
func (s *Postgres) DeleteMessage(ctx context.Context, roomID, id, authorID string) (Message, error) {
	return s.edit(ctx, roomID, id, authorID, "", true)
}

func (s *Postgres) edit(ctx context.Context, roomID, id, authorID, content string, del bool) (Message, error) {
	if err := checkEdit(roomID, id, authorID, content, del); err != nil {
		return Message{}, err
	}
	q := fmt.Sprintf(editSQL, "$1", "$2", "$3", "$4", "$5", "$6", "$7")
	m, err := scanMessage(s.pool.QueryRow(ctx, q, content, toMillis(now()), NewID(), del, roomID, id, authorID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Message{}, fmt.Errorf("%w: message %q of %q", ErrNotFound, id, authorID)
	}
	return m, wrap("edit message", err)
}

// EditsSince implements Store.
func (s *Postgres) EditsSince(ctx context.Context, roomID, afterID string, limit int) ([]Message, error) {
	if err := checkSince(roomID, afterID); err != nil {
		return nil, err
	}
	limit = clampLimit(limit)
	msgs, err := s.queryMessages(ctx, limit, fmt.Sprintf(editsSinceSQL, "$1", "$2", "$2", "$3"), roomID, afterID, limit)
	return msgs, wrap("edits since", err)
}
