-- Read state: the newest message of a room a user has read. It only moves
-- forward; unread counts are the messages of others after it.
CREATE TABLE read_state (
    room_id    TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL,
    message_id TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, room_id)
);
