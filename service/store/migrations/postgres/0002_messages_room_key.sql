-- Messages are keyed by (room_id, id): every query is per room, so one
-- index serves history pages, catch-up and the next id, and an insert
-- updates one index instead of two. With an index on id alone the planner
-- would walk it and filter on room_id (its rows follow the table's order),
-- which reads the messages of every room after the cursor. Ids stay unique
-- (NewID), but nothing looks a message up by id alone.

ALTER TABLE messages DROP CONSTRAINT messages_pkey;
DROP INDEX messages_room_id;
ALTER TABLE messages ADD CONSTRAINT messages_pkey PRIMARY KEY (room_id, id);
