package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// A rooms page cursor is the last room's name and id: rooms are ordered
// by name, then id, and names are not unique.
func roomCursor(e RoomEntry) string {
	return base64.RawURLEncoding.EncodeToString([]byte(e.Name + "\x00" + e.ID))
}

func parseRoomCursor(c string) (name, id string, err error) {
	if c == "" {
		return "", "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	name, id, ok := strings.Cut(string(b), "\x00")
	if err != nil || !ok || len(b) > MaxNameLen+MaxIDLen+1 {
		return "", "", fmt.Errorf("%w: rooms cursor", ErrInvalid)
	}
	return name, id, nil
}

// sqlLimit is the LIMIT for a page of limit rows: one more, to tell
// whether a next page exists; for limit 0, the backend's "no limit"
// (-1 for SQLite, NULL for PostgreSQL).
func sqlLimit(limit int, none any) any {
	if limit <= 0 {
		return none
	}
	return limit + 1
}

// trimPage drops the extra row fetched to tell whether a next page
// exists, and returns the next page's cursor.
func trimPage(out []RoomEntry, limit int) ([]RoomEntry, string) {
	if limit <= 0 || len(out) <= limit {
		return out, ""
	}
	out = out[:limit]
	return out, roomCursor(out[limit-1])
}

// ListRooms implements Store.
func (s *SQLite) ListRooms(ctx context.Context, userID string) ([]RoomEntry, error) {
	rooms, _, err := s.roomsPage(ctx, userID, "", 0)
	return rooms, err
}

// ListRoomsPage implements Store.
func (s *SQLite) ListRoomsPage(ctx context.Context, userID, after string, limit int) ([]RoomEntry, string, error) {
	return s.roomsPage(ctx, userID, after, clampLimit(limit))
}

// roomsPage lists up to limit rooms after the cursor (all with limit 0).
func (s *SQLite) roomsPage(ctx context.Context, userID, after string, limit int) ([]RoomEntry, string, error) {
	if err := checkID("user id", userID); err != nil {
		return nil, "", err
	}
	name, id, err := parseRoomCursor(after)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT r.id, r.name, r.public, r.created_at, m.user_id IS NOT NULL
		FROM rooms r LEFT JOIN room_members m ON m.room_id = r.id AND m.user_id = ?
		WHERE (r.public <> 0 OR m.user_id IS NOT NULL) AND (? = 0 OR r.name > ? OR (r.name = ? AND r.id > ?))
		ORDER BY r.name, r.id LIMIT ?`, userID, len(after), name, name, id, sqlLimit(limit, -1))
	if err != nil {
		return nil, "", wrap("list rooms", err)
	}
	defer rows.Close()
	out := []RoomEntry{}
	for rows.Next() {
		var e RoomEntry
		var ms int64
		if err := rows.Scan(&e.ID, &e.Name, &e.Public, &ms, &e.Member); err != nil {
			return nil, "", wrap("list rooms", err)
		}
		e.CreatedAt = fromMillis(ms)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", wrap("list rooms", err)
	}
	out, next := trimPage(out, limit)
	return out, next, nil
}

// MemberRooms implements Store.
func (s *SQLite) MemberRooms(ctx context.Context, userID string, limit int) ([]Room, error) {
	if err := checkID("user id", userID); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT r.id, r.name, r.public, r.created_at
		FROM room_members m JOIN rooms r ON r.id = m.room_id WHERE m.user_id = ?
		ORDER BY r.name, r.id LIMIT ?`, userID, max(limit, 1))
	if err != nil {
		return nil, wrap("member rooms", err)
	}
	return scanRooms(rows)
}

func scanRooms(rows *sql.Rows) ([]Room, error) {
	defer rows.Close()
	out := []Room{}
	for rows.Next() {
		var r Room
		var ms int64
		if err := rows.Scan(&r.ID, &r.Name, &r.Public, &ms); err != nil {
			return nil, wrap("member rooms", err)
		}
		r.CreatedAt = fromMillis(ms)
		out = append(out, r)
	}
	return out, wrap("member rooms", rows.Err())
}

// RoomMembers implements Store.
func (s *SQLite) RoomMembers(ctx context.Context, roomID, after string, limit int) ([]string, error) {
	if err := checkID("room id", roomID); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT user_id FROM room_members WHERE room_id = ? AND user_id > ?
		ORDER BY user_id LIMIT ?`, roomID, after, clampLimit(limit))
	if err != nil {
		return nil, wrap("room members", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, wrap("room members", err)
		}
		out = append(out, id)
	}
	return out, wrap("room members", rows.Err())
}

// CountRoomsCreatedBy implements Store.
func (s *SQLite) CountRoomsCreatedBy(ctx context.Context, userID string) (int, error) {
	if err := checkID("user id", userID); err != nil {
		return 0, err
	}
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM rooms WHERE created_by = ? AND created_by <> ''`, userID).Scan(&n)
	return n, wrap("count rooms", err)
}

// ListRooms implements Store.
func (s *Postgres) ListRooms(ctx context.Context, userID string) ([]RoomEntry, error) {
	rooms, _, err := s.roomsPage(ctx, userID, "", 0)
	return rooms, err
}

// ListRoomsPage implements Store.
func (s *Postgres) ListRoomsPage(ctx context.Context, userID, after string, limit int) ([]RoomEntry, string, error) {
	return s.roomsPage(ctx, userID, after, clampLimit(limit))
}

// roomsPage lists up to limit rooms after the cursor (all with limit 0).
func (s *Postgres) roomsPage(ctx context.Context, userID, after string, limit int) ([]RoomEntry, string, error) {
	if err := checkID("user id", userID); err != nil {
		return nil, "", err
	}
	name, id, err := parseRoomCursor(after)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.pool.Query(ctx, `SELECT r.id, r.name, r.public, r.created_at, m.user_id IS NOT NULL
		FROM rooms r LEFT JOIN room_members m ON m.room_id = r.id AND m.user_id = $1
		WHERE (r.public OR m.user_id IS NOT NULL)
		  AND ($2 = '' OR (r.name COLLATE "C", r.id COLLATE "C") > ($3 COLLATE "C", $4 COLLATE "C"))
		ORDER BY r.name COLLATE "C", r.id COLLATE "C" LIMIT $5`, userID, after, name, id, sqlLimit(limit, nil))
	if err != nil {
		return nil, "", wrap("list rooms", err)
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
		return nil, "", wrap("list rooms", err)
	}
	out, next := trimPage(out, limit)
	return out, next, nil
}

// MemberRooms implements Store.
func (s *Postgres) MemberRooms(ctx context.Context, userID string, limit int) ([]Room, error) {
	if err := checkID("user id", userID); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT r.id, r.name, r.public, r.created_at
		FROM room_members m JOIN rooms r ON r.id = m.room_id WHERE m.user_id = $1
		ORDER BY r.name COLLATE "C", r.id COLLATE "C" LIMIT $2`, userID, max(limit, 1))
	if err != nil {
		return nil, wrap("member rooms", err)
	}
	out := []Room{}
	var r Room
	var ms int64
	_, err = pgx.ForEachRow(rows, []any{&r.ID, &r.Name, &r.Public, &ms}, func() error {
		r.CreatedAt = fromMillis(ms)
		out = append(out, r)
		return nil
	})
	return out, wrap("member rooms", err)
}

// RoomMembers implements Store.
func (s *Postgres) RoomMembers(ctx context.Context, roomID, after string, limit int) ([]string, error) {
	if err := checkID("room id", roomID); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT user_id FROM room_members WHERE room_id = $1 AND user_id COLLATE "C" > $2
		ORDER BY user_id COLLATE "C" LIMIT $3`, roomID, after, clampLimit(limit))
	if err != nil {
		return nil, wrap("room members", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if out == nil {
		out = []string{}
	}
	return out, wrap("room members", err)
}

// CountRoomsCreatedBy implements Store.
func (s *Postgres) CountRoomsCreatedBy(ctx context.Context, userID string) (int, error) {
	if err := checkID("user id", userID); err != nil {
		return 0, err
	}
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM rooms WHERE created_by = $1 AND created_by <> ''`, userID).Scan(&n)
	return n, wrap("count rooms", err)
}

// markReadSQL moves the position forward only, and only to a message of
// the room; ? / $n: room, user, message, time.
const markReadSQL = `INSERT INTO read_state (room_id, user_id, message_id, updated_at)
	SELECT room_id, %[2]s, id, %[4]s FROM messages WHERE room_id = %[1]s AND id = %[3]s
	ON CONFLICT (user_id, room_id) DO UPDATE SET message_id = excluded.message_id, updated_at = excluded.updated_at
	WHERE excluded.message_id > read_state.message_id`

// unreadSQL counts up to MaxUnread messages of others after a position.
const unreadSQL = `SELECT count(*) FROM (SELECT 1 FROM messages
	WHERE room_id = %[1]s AND id > %[2]s AND author_id <> %[3]s LIMIT %[4]d) AS u`

// markReadResult tells a position that did not move from a message that
// is not the room's.
func markReadResult(changed int64, exists bool) (bool, error) {
	if changed == 0 && !exists {
		return false, fmt.Errorf("%w: no such message in the room", ErrInvalid)
	}
	return changed > 0, nil
}

func checkMarkRead(roomID, userID, messageID string) error {
	if err := checkIDs(roomID, userID); err != nil {
		return err
	}
	return checkID("message id", messageID)
}

// MarkRoomRead implements Store.
func (s *SQLite) MarkRoomRead(ctx context.Context, roomID, userID, messageID string) (bool, error) {
	if err := checkMarkRead(roomID, userID, messageID); err != nil {
		return false, err
	}
	res, err := s.w.ExecContext(ctx, fmt.Sprintf(markReadSQL, "?1", "?2", "?3", "?4"), roomID, userID, messageID, toMillis(now()))
	if err != nil {
		return false, wrap("mark read", err)
	}
	n, _ := res.RowsAffected()
	var exists bool
	if n == 0 {
		if err := s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM messages WHERE room_id = ? AND id = ?)`, roomID, messageID).Scan(&exists); err != nil {
			return false, wrap("mark read", err)
		}
	}
	return markReadResult(n, exists)
}

// ReadState implements Store.
func (s *SQLite) ReadState(ctx context.Context, userID string, roomIDs []string) (map[string]RoomRead, error) {
	if err := checkReadState(userID, roomIDs); err != nil {
		return nil, err
	}
	out := make(map[string]RoomRead, len(roomIDs))
	for _, room := range roomIDs {
		var rr RoomRead
		err := s.r.QueryRowContext(ctx, `SELECT message_id FROM read_state WHERE user_id = ? AND room_id = ?`, userID, room).Scan(&rr.LastReadID)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, wrap("read state", err)
		}
		if err := s.r.QueryRowContext(ctx, fmt.Sprintf(unreadSQL, "?1", "?2", "?3", MaxUnread), room, rr.LastReadID, userID).Scan(&rr.Unread); err != nil {
			return nil, wrap("read state", err)
		}
		out[room] = rr
	}
	return out, nil
}

// MarkRoomRead implements Store.
func (s *Postgres) MarkRoomRead(ctx context.Context, roomID, userID, messageID string) (bool, error) {
	if err := checkMarkRead(roomID, userID, messageID); err != nil {
		return false, err
	}
	tag, err := s.pool.Exec(ctx, fmt.Sprintf(markReadSQL, "$1", "$2", "$3", "$4"), roomID, userID, messageID, toMillis(now()))
	if err != nil {
		return false, wrap("mark read", err)
	}
	var exists bool
	if tag.RowsAffected() == 0 {
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM messages WHERE room_id = $1 AND id = $2)`, roomID, messageID).Scan(&exists); err != nil {
			return false, wrap("mark read", err)
		}
	}
	return markReadResult(tag.RowsAffected(), exists)
}

// ReadState implements Store. One round trip for the whole page of rooms.
func (s *Postgres) ReadState(ctx context.Context, userID string, roomIDs []string) (map[string]RoomRead, error) {
	if err := checkReadState(userID, roomIDs); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT r.id, COALESCE(rs.message_id, ''),
		(SELECT count(*) FROM (SELECT 1 FROM messages m WHERE m.room_id = r.id
			AND m.id > COALESCE(rs.message_id, '') AND m.author_id <> $1 LIMIT $3) AS u)
		FROM unnest($2::text[]) AS r(id) LEFT JOIN read_state rs ON rs.user_id = $1 AND rs.room_id = r.id`,
		userID, roomIDs, MaxUnread)
	if err != nil {
		return nil, wrap("read state", err)
	}
	out := make(map[string]RoomRead, len(roomIDs))
	var id string
	var rr RoomRead
	_, err = pgx.ForEachRow(rows, []any{&id, &rr.LastReadID, &rr.Unread}, func() error {
		out[id] = rr
		return nil
	})
	return out, wrap("read state", err)
}
