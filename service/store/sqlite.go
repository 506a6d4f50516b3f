package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite" // registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteBusyTimeout is how long a connection waits for a lock held by
// another process before failing with SQLITE_BUSY.
const sqliteBusyTimeout = 10 * time.Second

// SQLite is the Store kept in one SQLite file, opened in WAL mode with
// foreign keys on. Writes go through a single connection (SQLite has one
// writer at a time anyway, and this avoids busy waits inside the process);
// reads use a pool of read-only connections, which WAL lets run while the
// writer commits. Messages are written by one goroutine with group commit
// (see WriterStats).
type SQLite struct {
	w      *sql.DB // one connection, transactions BEGIN IMMEDIATE
	r      *sql.DB // read-only pool
	ids    *idGen
	last   *sql.Stmt // room exists, and its greatest message id
	insert *sql.Stmt // one message
	client *sql.Stmt // the message of an author's client id
	writer *msgWriter
	// pages holds the History and MessagesSince queries prepared on the
	// readers, by query text; filled by Open, read-only after.
	pages map[string]*sql.Stmt
}

var _ Store = (*SQLite)(nil)

// sqliteDSN turns a store url into a DSN for the modernc driver.
func sqliteDSN(url string, readOnly bool) (string, error) {
	p := url
	if rest, ok := strings.CutPrefix(p, "sqlite:"); ok {
		p = strings.TrimPrefix(rest, "//")
	}
	if p == "" || p == ":memory:" || strings.Contains(p, "mode=memory") {
		return "", fmt.Errorf("%w: sqlite needs a file path (in-memory databases are not supported)", ErrInvalid)
	}
	if !strings.HasPrefix(p, "file:") {
		p = "file:" + p
	}
	sep := "?"
	if strings.Contains(p, "?") {
		sep = "&"
	}
	// synchronous=NORMAL in WAL mode: a commit is written to the WAL but
	// not fsynced; the WAL is fsynced at checkpoints. A committed
	// transaction survives the process being killed (kill -9, a crash: the
	// data is in the OS's cache), which is the durability we promise; an OS
	// crash or power loss may roll back the last commits, never corrupt the
	// file. FULL would fsync on every commit.
	params := fmt.Sprintf("_busy_timeout=%d&_journal_mode=WAL&_foreign_keys=1&_synchronous=NORMAL&_txlock=immediate",
		sqliteBusyTimeout.Milliseconds())
	if readOnly {
		params += "&_query_only=1"
	}
	return p + sep + params, nil
}

func openSQLite(ctx context.Context, url string) (*SQLite, error) {
	wdsn, err := sqliteDSN(url, false)
	if err != nil {
		return nil, err
	}
	rdsn, _ := sqliteDSN(url, true)
	w, err := sql.Open("sqlite", wdsn)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	s := &SQLite{w: w, ids: defaultGen}
	if err := connectWriter(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	// The writer connects first so the file exists and is in WAL mode
	// before any reader opens it.
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", rdsn)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	// Keep every reader open: opening one costs a file open and the DSN's
	// pragmas, and database/sql would otherwise close all but two when idle.
	readers := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	s.r = r
	if err := r.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	if s.last, err = w.PrepareContext(ctx, `SELECT EXISTS (SELECT 1 FROM rooms WHERE id = ?),
		(SELECT max(id) FROM messages WHERE room_id = ?)`); err == nil {
		s.insert, err = w.PrepareContext(ctx, `INSERT INTO messages (id, room_id, author_id, author_name, content, created_at, client_id)
			VALUES (?, ?, ?, ?, ?, ?, ?)`)
	}
	if err == nil {
		s.client, err = w.PrepareContext(ctx, `SELECT `+messageColumns+` FROM messages WHERE author_id = ? AND client_id = ?`)
	}
	if err == nil {
		err = s.preparePages(ctx)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	s.writer = newMsgWriter(s.commitMessages)
	return s, nil
}

// connectWriter opens the writer's connection. Its DSN switches the file
// to WAL, which needs the exclusive lock, and SQLite answers SQLITE_BUSY
// at once (no busy handler) when another process is opening the same new
// file at that moment; so a busy open is tried again for as long as the
// busy timeout would have waited.
func connectWriter(ctx context.Context, w *sql.DB) error {
	deadline := time.Now().Add(sqliteBusyTimeout)
	wait := 5 * time.Millisecond
	for {
		err := w.PingContext(ctx)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// isBusy reports whether err is SQLite's SQLITE_BUSY (any extended code).
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

func (s *SQLite) migrate(ctx context.Context) error {
	ms, err := loadMigrations("sqlite")
	if err != nil {
		return err
	}
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	for _, m := range ms {
		// BEGIN IMMEDIATE takes the write lock, so a second process
		// starting at the same time waits here and then sees the version.
		err := s.tx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, toMillis(now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("store: migrate %s: %w", m.name, err)
		}
	}
	return nil
}

// tx runs fn in a write transaction, committing if it returns nil.
func (s *SQLite) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Close commits the messages already queued, stops the writer and closes
// the database. CreateMessage fails with ErrClosed after Close.
func (s *SQLite) Close() error {
	if s.writer != nil {
		s.writer.close()
	}
	var errs []error
	for _, st := range []*sql.Stmt{s.last, s.insert, s.client} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	for _, st := range s.pages {
		errs = append(errs, st.Close())
	}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	return errors.Join(append(errs, s.w.Close())...)
}

// WriterStats returns the counters of the message writer.
func (s *SQLite) WriterStats() WriterStats { return s.writer.stats() }

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrExists) || errors.Is(err, ErrInvalid) {
		return err
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// CreateRoom implements Store.
func (s *SQLite) CreateRoom(ctx context.Context, r Room) (Room, error) {
	r, err := prepareRoom(r)
	if err != nil {
		return Room{}, err
	}
	res, err := s.w.ExecContext(ctx, `INSERT INTO rooms (id, name, public, created_at, created_by) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`, r.ID, r.Name, r.Public, toMillis(r.CreatedAt), r.CreatedBy)
	if err != nil {
		return Room{}, wrap("create room", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Room{}, fmt.Errorf("%w: room %q", ErrExists, r.ID)
	}
	return r, nil
}

// EnsureRoom implements Store.
func (s *SQLite) EnsureRoom(ctx context.Context, r Room) (Room, error) {
	r, err := prepareRoom(r)
	if err != nil {
		return Room{}, err
	}
	if _, err := s.w.ExecContext(ctx, `INSERT INTO rooms (id, name, public, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`, r.ID, r.Name, r.Public, toMillis(r.CreatedAt)); err != nil {
		return Room{}, wrap("ensure room", err)
	}
	return s.GetRoom(ctx, r.ID)
}

// GetRoom implements Store.
func (s *SQLite) GetRoom(ctx context.Context, id string) (Room, error) {
	if err := checkID("room id", id); err != nil {
		return Room{}, err
	}
	var r Room
	var ms int64
	err := s.r.QueryRowContext(ctx, `SELECT id, name, public, created_at, created_by FROM rooms WHERE id = ?`, id).
		Scan(&r.ID, &r.Name, &r.Public, &ms, &r.CreatedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return Room{}, fmt.Errorf("%w: room %q", ErrNotFound, id)
	}
	if err != nil {
		return Room{}, wrap("get room", err)
	}
	r.CreatedAt = fromMillis(ms)
	return r, nil
}

// AddMember implements Store.
func (s *SQLite) AddMember(ctx context.Context, roomID, userID string) error {
	if err := checkIDs(roomID, userID); err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, `INSERT INTO room_members (room_id, user_id, joined_at)
		SELECT id, ?, ? FROM rooms WHERE id = ?
		ON CONFLICT (room_id, user_id) DO NOTHING`, userID, toMillis(now()), roomID)
	if err != nil {
		return wrap("add member", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		// Either already a member, or no such room.
		if _, err := s.GetRoom(ctx, roomID); err != nil {
			return err
		}
	}
	return nil
}

// RemoveMember implements Store.
func (s *SQLite) RemoveMember(ctx context.Context, roomID, userID string) error {
	if err := checkIDs(roomID, userID); err != nil {
		return err
	}
	_, err := s.w.ExecContext(ctx, `DELETE FROM room_members WHERE room_id = ? AND user_id = ?`, roomID, userID)
	return wrap("remove member", err)
}

// IsMember implements Store.
func (s *SQLite) IsMember(ctx context.Context, roomID, userID string) (bool, error) {
	if err := checkIDs(roomID, userID); err != nil {
		return false, err
	}
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM room_members WHERE room_id = ? AND user_id = ?`,
		roomID, userID).Scan(&n)
	return n > 0, wrap("is member", err)
}

// CreateMessage implements Store. The message is handed to the writer
// goroutine, which commits it with the others queued at the same time.
func (s *SQLite) CreateMessage(ctx context.Context, m Message) (Message, error) {
	if err := checkMessage(m); err != nil {
		return Message{}, err
	}
	return s.writer.write(ctx, m)
}

// commitMessages stores a batch in one transaction. If the transaction
// fails, each message is tried again in a transaction of its own, so that
// one message's failure fails only its own call.
func (s *SQLite) commitMessages(ctx context.Context, batch []*pending) int {
	err := s.tx(ctx, func(tx *sql.Tx) error { return s.insertMessages(ctx, tx, batch) })
	if err == nil {
		return 1
	}
	if len(batch) == 1 {
		batch[0].err = wrap("create message", err)
		return 0
	}
	n := 0
	for i := range batch {
		one := batch[i : i+1]
		if err := s.tx(ctx, func(tx *sql.Tx) error { return s.insertMessages(ctx, tx, one) }); err != nil {
			one[0].err = wrap("create message", err)
			continue
		}
		n++
	}
	return n
}

// insertMessages inserts the batch in tx, setting each one's out, or its
// err if its room does not exist.
func (s *SQLite) insertMessages(ctx context.Context, tx *sql.Tx, batch []*pending) error {
	last, insert, client := tx.StmtContext(ctx, s.last), tx.StmtContext(ctx, s.insert), tx.StmtContext(ctx, s.client)
	// The transaction holds the write lock, so an id chosen here is greater
	// than every committed id of its room, even one written by another
	// process. floor is the room's greatest id so far; missing rooms are
	// remembered with ok false.
	type room struct {
		floor id
		ok    bool
	}
	rooms := make(map[string]room, 1)
	for _, p := range batch {
		p.out, p.err = Message{}, nil
		if p.in.ClientID != "" {
			// The write lock makes this check and the insert one step,
			// for an earlier message of the batch too.
			stored, err := scanMessage(client.QueryRowContext(ctx, p.in.AuthorID, p.in.ClientID))
			if err == nil {
				p.out, p.err = duplicate(p.in, stored)
				continue
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		r, seen := rooms[p.in.RoomID]
		if !seen {
			var top sql.NullString
			if err := last.QueryRowContext(ctx, p.in.RoomID, p.in.RoomID).Scan(&r.ok, &top); err != nil {
				return err
			}
			if top.Valid {
				f, err := parseID(top.String)
				if err != nil {
					return err
				}
				r.floor = f
			}
		}
		if !r.ok {
			rooms[p.in.RoomID] = r
			p.err = fmt.Errorf("%w: room %q", ErrNotFound, p.in.RoomID)
			continue
		}
		x := s.ids.next(r.floor)
		m := stamp(p.in, x)
		if _, err := insert.ExecContext(ctx, m.ID, m.RoomID, m.AuthorID, m.AuthorName, m.Content, toMillis(m.CreatedAt), m.ClientID); err != nil {
			return err
		}
		r.floor = x
		rooms[p.in.RoomID] = r
		p.out = m
	}
	return nil
}

func scanMessages(rows *sql.Rows, limit int) ([]Message, error) {
	defer rows.Close()
	out := make([]Message, 0, limit)
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// History implements Store.
func (s *SQLite) History(ctx context.Context, roomID, before string, limit int) ([]Message, string, error) {
	if err := checkID("room id", roomID); err != nil {
		return nil, "", err
	}
	if err := checkCursor("before", before); err != nil {
		return nil, "", err
	}
	limit = clampLimit(limit)
	q, args := sqliteHistoryQuery(roomID, before, limit+1)
	rows, err := s.queryPage(ctx, q, args)
	if err != nil {
		return nil, "", wrap("history", err)
	}
	msgs, err := scanMessages(rows, limit+1)
	if err != nil {
		return nil, "", wrap("history", err)
	}
	msgs, next := page(msgs, limit)
	return msgs, next, nil
}

// sqliteHistoryQuery returns the query of a History page of n rows. The
// first page and the following ones are separate queries: with one query
// and "? = ” OR id < ?" the planner cannot bound the index range by the
// cursor, and every page walks the room from its newest message.
func sqliteHistoryQuery(roomID, before string, n int) (string, []any) {
	if before == "" {
		return `SELECT ` + messageColumns + `
			FROM messages WHERE room_id = ? ORDER BY id DESC LIMIT ?`, []any{roomID, n}
	}
	return `SELECT ` + messageColumns + `
		FROM messages WHERE room_id = ? AND id < ? ORDER BY id DESC LIMIT ?`, []any{roomID, before, n}
}

// sqliteSinceQuery returns the query of a MessagesSince page of n rows.
func sqliteSinceQuery(roomID, afterID string, n int) (string, []any) {
	return `SELECT ` + messageColumns + `
		FROM messages WHERE room_id = ? AND id > ? ORDER BY id ASC LIMIT ?`, []any{roomID, afterID, n}
}

// preparePages prepares the page queries on the readers: a page is read
// often, and preparing its query costs about as much as running it.
func (s *SQLite) preparePages(ctx context.Context) error {
	firstPage, _ := sqliteHistoryQuery("", "", 0)
	nextPage, _ := sqliteHistoryQuery("", "x", 0)
	since, _ := sqliteSinceQuery("", "", 0)
	s.pages = map[string]*sql.Stmt{}
	for _, q := range []string{firstPage, nextPage, since} {
		st, err := s.r.PrepareContext(ctx, q)
		if err != nil {
			return err
		}
		s.pages[q] = st
	}
	return nil
}

// queryPage runs a page query with its prepared statement.
func (s *SQLite) queryPage(ctx context.Context, q string, args []any) (*sql.Rows, error) {
	if st := s.pages[q]; st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.r.QueryContext(ctx, q, args...)
}

// page trims a result fetched with limit+1 rows and returns the cursor of
// the next page.
func page(msgs []Message, limit int) ([]Message, string) {
	if len(msgs) <= limit {
		return msgs, ""
	}
	msgs = msgs[:limit]
	return msgs, msgs[limit-1].ID
}

// MessagesSince implements Store.
func (s *SQLite) MessagesSince(ctx context.Context, roomID, afterID string, limit int) ([]Message, error) {
	if err := checkSince(roomID, afterID); err != nil {
		return nil, err
	}
	limit = clampLimit(limit)
	q, args := sqliteSinceQuery(roomID, afterID, limit)
	rows, err := s.queryPage(ctx, q, args)
	if err != nil {
		return nil, wrap("messages since", err)
	}
	msgs, err := scanMessages(rows, limit)
	return msgs, wrap("messages since", err)
}

// CreateNotifications implements Store.
func (s *SQLite) CreateNotifications(ctx context.Context, ns []Notification) ([]Notification, error) {
	ns, err := prepareNotifications(ns)
	if err != nil || len(ns) == 0 {
		return ns, err
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT INTO notifications (id, user_id, type, title, message, created_at, read)
			VALUES (?, ?, ?, ?, ?, ?, 0)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, n := range ns {
			if _, err := st.ExecContext(ctx, n.ID, n.UserID, n.Type, n.Title, n.Message, toMillis(n.CreatedAt)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap("create notifications", err)
	}
	return ns, nil
}

// ListNotifications implements Store.
func (s *SQLite) ListNotifications(ctx context.Context, userID string, limit int) ([]Notification, error) {
	if err := checkID("user id", userID); err != nil {
		return nil, err
	}
	limit = clampLimit(limit)
	rows, err := s.r.QueryContext(ctx, `SELECT id, user_id, type, title, message, created_at, read
		FROM notifications WHERE user_id = ? ORDER BY id DESC LIMIT ?`, userID, limit)
	if err != nil {
		return nil, wrap("list notifications", err)
	}
	defer rows.Close()
	out := make([]Notification, 0, limit)
	for rows.Next() {
		var n Notification
		var ms int64
		if err := rows.Scan(&n.ID, &n.UserID, &n.Type, &n.Title, &n.Message, &ms, &n.Read); err != nil {
			return nil, wrap("list notifications", err)
		}
		n.CreatedAt = fromMillis(ms)
		out = append(out, n)
	}
	return out, wrap("list notifications", rows.Err())
}

// UnreadCount implements Store.
func (s *SQLite) UnreadCount(ctx context.Context, userID string) (int, error) {
	if err := checkID("user id", userID); err != nil {
		return 0, err
	}
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM notifications WHERE user_id = ? AND read = 0`, userID).Scan(&n)
	return n, wrap("unread count", err)
}

// MarkRead implements Store.
func (s *SQLite) MarkRead(ctx context.Context, userID, id string) error {
	if err := checkID("user id", userID); err != nil {
		return err
	}
	if err := checkID("notification id", id); err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, `UPDATE notifications SET read = 1 WHERE id = ? AND user_id = ?`, id, userID)
	if err != nil {
		return wrap("mark read", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: notification %q", ErrNotFound, id)
	}
	return nil
}

// MarkAllRead implements Store.
func (s *SQLite) MarkAllRead(ctx context.Context, userID string) (int, error) {
	if err := checkID("user id", userID); err != nil {
		return 0, err
	}
	res, err := s.w.ExecContext(ctx, `UPDATE notifications SET read = 1 WHERE user_id = ? AND read = 0`, userID)
	if err != nil {
		return 0, wrap("mark all read", err)
	}
	n, err := res.RowsAffected()
	return int(n), wrap("mark all read", err)
}

// SetLastSeen implements Store.
func (s *SQLite) SetLastSeen(ctx context.Context, userID, name string, t time.Time) error {
	if err := checkID("user id", userID); err != nil {
		return err
	}
	if err := checkText("user name", name, MaxNameLen); err != nil {
		return err
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO users (id, name, last_seen) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			name = CASE WHEN excluded.last_seen >= users.last_seen AND excluded.name <> '' THEN excluded.name ELSE users.name END,
			last_seen = max(users.last_seen, excluded.last_seen)`,
		userID, name, toMillis(t))
	return wrap("set last seen", err)
}

// LastSeen implements Store.
func (s *SQLite) LastSeen(ctx context.Context, userIDs []string) (map[string]Seen, error) {
	if err := checkUserIDs(userIDs); err != nil {
		return nil, err
	}
	out := make(map[string]Seen, len(userIDs))
	const chunk = 500
	for len(userIDs) > 0 {
		part := userIDs[:min(chunk, len(userIDs))]
		userIDs = userIDs[len(part):]
		args := make([]any, len(part))
		for i, u := range part {
			args[i] = u
		}
		q := `SELECT id, name, last_seen FROM users WHERE id IN (?` + strings.Repeat(", ?", len(part)-1) + `)`
		rows, err := s.r.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, wrap("last seen", err)
		}
		for rows.Next() {
			var v Seen
			var ms int64
			if err := rows.Scan(&v.UserID, &v.Name, &ms); err != nil {
				rows.Close()
				return nil, wrap("last seen", err)
			}
			v.At = fromMillis(ms)
			out[v.UserID] = v
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, wrap("last seen", err)
		}
	}
	return out, nil
}

func checkIDs(roomID, userID string) error {
	if err := checkID("room id", roomID); err != nil {
		return err
	}
	return checkID("user id", userID)
}

// RevokeSessions implements Store.
func (s *SQLite) RevokeSessions(ctx context.Context, userID string, t time.Time) error {
	if err := checkID("user id", userID); err != nil {
		return err
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO revocations (user_id, revoked_at) VALUES (?, ?)
		ON CONFLICT (user_id) DO UPDATE SET revoked_at = max(revocations.revoked_at, excluded.revoked_at)`,
		userID, toMillis(t))
	return wrap("revoke sessions", err)
}

// Revocations implements Store.
func (s *SQLite) Revocations(ctx context.Context, since time.Time) (map[string]time.Time, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT user_id, revoked_at FROM revocations WHERE revoked_at >= ?`, toMillis(since))
	if err != nil {
		return nil, wrap("revocations", err)
	}
	defer rows.Close()
	out, err := scanRevocations(rows)
	return out, wrap("revocations", err)
}

// EditMessage implements Store.
func (s *SQLite) EditMessage(ctx context.Context, roomID, id, authorID, content string) (Message, error) {
	return s.edit(ctx, roomID, id, authorID, content, false)
}

// DeleteMessage implements Store.
func (s *SQLite) DeleteMessage(ctx context.Context, roomID, id, authorID string) (Message, error) {
	return s.edit(ctx, roomID, id, authorID, "", true)
}

func (s *SQLite) edit(ctx context.Context, roomID, id, authorID, content string, del bool) (Message, error) {
	if err := checkEdit(roomID, id, authorID, content, del); err != nil {
		return Message{}, err
	}
	q := fmt.Sprintf(editSQL, "?", "?", "?", "?", "?", "?", "?")
	m, err := scanMessage(s.w.QueryRowContext(ctx, q, content, toMillis(now()), NewID(), del, roomID, id, authorID))
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, fmt.Errorf("%w: message %q of %q", ErrNotFound, id, authorID)
	}
	return m, wrap("edit message", err)
}

// EditsSince implements Store.
func (s *SQLite) EditsSince(ctx context.Context, roomID, afterID string, limit int) ([]Message, error) {
	if err := checkSince(roomID, afterID); err != nil {
		return nil, err
	}
	limit = clampLimit(limit)
	rows, err := s.r.QueryContext(ctx, fmt.Sprintf(editsSinceSQL, "?1", "?2", "?2", "?3"), roomID, afterID, limit)
	if err != nil {
		return nil, wrap("edits since", err)
	}
	msgs, err := scanMessages(rows, limit)
	return msgs, wrap("edits since", err)
}
