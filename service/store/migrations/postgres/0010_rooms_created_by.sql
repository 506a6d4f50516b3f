-- Who created a room, so that the rooms one user may create can be capped.
-- Rooms created before this migration (and seeded ones) have no creator.
ALTER TABLE rooms ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
CREATE INDEX rooms_created_by ON rooms (created_by) WHERE created_by <> '';
