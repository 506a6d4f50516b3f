-- Revoked sessions: a user's tokens issued at or before revoked_at (Unix
-- milliseconds) are refused on every node. One row per user; a later
-- revocation replaces an earlier one.
CREATE TABLE revocations (
    user_id    TEXT PRIMARY KEY,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX revocations_at ON revocations (revoked_at);
