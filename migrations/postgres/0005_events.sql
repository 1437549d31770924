-- The outbox of UK Open Banking event notifications (Security Event Tokens, RFC 8417): one row per
-- event, written in the same transaction as the change it reports, so no change goes unreported
-- and no event reports a change that did not happen. The SET itself is built and signed when it
-- is sent (pushed to the client's event_notification_uri, or returned by aggregated polling).
-- Timestamps are Unix seconds. Kept in step with migrations/sqlite/0005_events.sql.

-- seq: the order events were stored in. jti: the SET's jti. event_type: the member of its events claim
-- (urn:uk:org:openbanking:events:resource-update or ...:consent-authorization-revoked).
-- resource_type, resource_id: the subject's rty and rid. resource_path: the resource under the
-- resource listener's base URL (the SET's sub and rlk link). txn: the SET's txn.
-- created_at: the time of the event (toe).
-- next_attempt_at: when a push is next due; while a node delivers, the end of its lease. NULL when
-- no push is due: delivered, acknowledged, given up after the last attempt, or nowhere to push
-- to. An event is offered to aggregated polling until it is acknowledged or delivered by a push.
CREATE TABLE ob_events (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    jti             TEXT NOT NULL UNIQUE,
    client_id       TEXT NOT NULL REFERENCES clients (client_id),
    event_type      TEXT NOT NULL,
    resource_type   TEXT NOT NULL,
    resource_id     TEXT NOT NULL,
    resource_path   TEXT NOT NULL,
    txn             TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    next_attempt_at BIGINT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    delivered_at    BIGINT,
    acknowledged_at BIGINT,
    last_error      TEXT
);
CREATE INDEX ob_events_due ON ob_events (next_attempt_at);
CREATE INDEX ob_events_client ON ob_events (client_id, seq);
CREATE INDEX ob_events_created ON ob_events (created_at);
