-- One-time codes of the second authentication factor (SCA). One row per code sent; the code
-- itself is never stored, only an HMAC of it keyed from the master key. A wrong entry counts
-- against the row in the statement that reads it, and the right one spends the row in one
-- conditional update, so no code is accepted twice and no guess slips past the limit.
-- Timestamps are Unix seconds. Kept in step with migrations/sqlite/0006_sca_challenges.sql.

-- method: how the code travelled ('sms'). reference: the short tag shown on the page and in the
-- message, so the customer can tell codes apart. destination: where it went, masked for display.
-- linked_to: what the code authorises (the consent of the authorization it was sent for), named in
-- the message (PSD2 RTS article 5, dynamic linking).
CREATE TABLE sca_challenges (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    method       TEXT NOT NULL,
    reference    TEXT NOT NULL,
    destination  TEXT NOT NULL,
    code_hash    BYTEA NOT NULL,
    linked_to    TEXT,
    attempts     BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    consumed_at  BIGINT
);

CREATE INDEX sca_challenges_expires_at ON sca_challenges (expires_at);
