-- Rooms, members, messages, notifications and last-seen times.
-- Times are Unix milliseconds (UTC), like the SQLite schema, so both
-- backends return identical values.

CREATE TABLE rooms (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    public     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE room_members (
    room_id   TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id   TEXT NOT NULL,
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_members_user ON room_members (user_id);

CREATE TABLE messages (
    id          TEXT COLLATE "C" PRIMARY KEY,
    room_id     TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    author_id   TEXT NOT NULL,
    author_name TEXT NOT NULL,
    content     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX messages_room_id ON messages (room_id, id);

CREATE TABLE notifications (
    id         TEXT COLLATE "C" PRIMARY KEY,
    user_id    TEXT NOT NULL,
    type       TEXT NOT NULL,
    title      TEXT NOT NULL,
    message    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    read       BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX notifications_user_id ON notifications (user_id, id);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE NOT read;

CREATE TABLE users (
    id        TEXT PRIMARY KEY,
    name      TEXT NOT NULL,
    last_seen BIGINT NOT NULL
);
