-- Edits and deletions of messages. edit_id is a new id at each change: it
-- sorts after every message created before the change, so a client that
-- holds messages up to id X missed exactly the changes with edit_id > X
-- (sync-state). A deleted message keeps its row, emptied, as a tombstone.
ALTER TABLE messages ADD COLUMN edited_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN edit_id TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
CREATE INDEX messages_edits ON messages (room_id, edit_id) WHERE edit_id <> '';
