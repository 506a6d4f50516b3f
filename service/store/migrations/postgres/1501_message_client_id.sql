-- Idempotent sends: a message may carry the id its client chose, and one
-- author's client id names one message, so a retry of the same send (the
-- client's retries, a resend after reconnecting, on any node) finds the
-- stored message instead of storing it again. Versions 15xx are the chat
-- features of one series, numbered apart from the others.
ALTER TABLE messages ADD COLUMN client_id TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX messages_client_id ON messages (author_id, client_id) WHERE client_id <> '';
