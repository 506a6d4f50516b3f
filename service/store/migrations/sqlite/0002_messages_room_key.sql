-- Messages are keyed by (room_id, id): every query is per room, so one
-- index serves history pages, catch-up and the next id, and an insert
-- updates one index instead of two. Ids stay unique (NewID), but nothing
-- looks a message up by id alone, so the index on id goes.
-- SQLite cannot change a table's key in place: copy the table.

CREATE TABLE messages_new (
    id          TEXT NOT NULL,
    room_id     TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    author_id   TEXT NOT NULL,
    author_name TEXT NOT NULL,
    content     TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
INSERT INTO messages_new (id, room_id, author_id, author_name, content, created_at)
    SELECT id, room_id, author_id, author_name, content, created_at FROM messages ORDER BY id;
DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;
CREATE UNIQUE INDEX messages_room_id ON messages (room_id, id);
