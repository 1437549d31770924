-- UK Open Banking consents (account-access and domestic-payment), the accounts a customer chose
-- for each, and every status change with its time and actor. Timestamps are Unix seconds.
-- Kept in step with migrations/postgres/0003_consents.sql.

-- status: AwaitingAuthorisation -> Authorised -> Consumed (payments) | Rejected | Revoked | Expired.
-- body: what the TPP submitted (the request's Data and Risk), JSON, from which responses are built.
-- request_hash: SHA-256 (hex) of the request body, to tell an idempotent replay from a different
-- request under the same idempotency key.
CREATE TABLE ob_consents (
    id                TEXT PRIMARY KEY,
    kind              TEXT NOT NULL CHECK (kind IN ('account-access', 'domestic-payment')),
    client_id         TEXT NOT NULL REFERENCES clients (client_id),
    status            TEXT NOT NULL CHECK (status IN ('AwaitingAuthorisation', 'Authorised',
                          'Rejected', 'Revoked', 'Consumed', 'Expired')),
    status_updated_at INTEGER NOT NULL,
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER,
    user_id           TEXT REFERENCES users (id),
    permissions       TEXT,
    tx_from           INTEGER,
    tx_to             INTEGER,
    debtor_account_id TEXT REFERENCES ledger_accounts (id),
    amount_minor      INTEGER,
    currency          TEXT,
    body              TEXT NOT NULL,
    idempotency_key   TEXT,
    request_hash      TEXT,
    authorised_at     INTEGER,
    last_used_at      INTEGER
);
CREATE INDEX ob_consents_client ON ob_consents (client_id);
CREATE INDEX ob_consents_user ON ob_consents (user_id);
CREATE UNIQUE INDEX ob_consents_idempotency ON ob_consents (client_id, kind, idempotency_key);

CREATE TABLE ob_consent_accounts (
    consent_id TEXT NOT NULL REFERENCES ob_consents (id),
    account_id TEXT NOT NULL REFERENCES ledger_accounts (id),
    PRIMARY KEY (consent_id, account_id)
);

-- actor: 'tpp:<client_id>', 'psu:<user_id>', 'operator:<user_id>' or 'system'.
CREATE TABLE ob_consent_history (
    id         TEXT PRIMARY KEY,
    consent_id TEXT NOT NULL REFERENCES ob_consents (id),
    status     TEXT NOT NULL,
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL
);
CREATE INDEX ob_consent_history_consent ON ob_consent_history (consent_id, at);
