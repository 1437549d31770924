-- Foundation schema. Timestamps are Unix seconds (BIGINT); secrets are stored hashed or sealed.
-- Kept in step with migrations/sqlite/0001_foundation.sql.

CREATE TABLE server_meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    email         TEXT,
    phone         TEXT,
    role          TEXT NOT NULL CHECK (role IN ('customer', 'operator')),
    password_hash TEXT NOT NULL,
    disabled_at   BIGINT,
    created_at    BIGINT NOT NULL
);

-- tower-sessions records, keyed by the SHA-256 of the session id held in the cookie.
CREATE TABLE sessions (
    id_hash    BYTEA PRIMARY KEY,
    data       TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE clients (
    client_id   TEXT PRIMARY KEY,
    client_name TEXT,
    profile     TEXT NOT NULL,
    metadata    TEXT NOT NULL,
    secret_hash BYTEA,
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- Signing keys. The private JWK is sealed with AES-256-GCM under the master key, bound to its kid.
CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    alg          TEXT NOT NULL,
    public_jwk   TEXT NOT NULL,
    private_jwk  BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    activates_at BIGINT NOT NULL,
    retires_at   BIGINT,
    unpublish_at BIGINT
);
CREATE INDEX signing_keys_alg ON signing_keys (alg, activates_at);

-- Fixed-window counters shared by every node (login throttling per account and per address).
CREATE TABLE throttle (
    bucket       TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    hits         BIGINT NOT NULL
);

-- The bundled core-banking ledger. Amounts are minor units; credits positive, debits negative.
CREATE TABLE ledger_accounts (
    id             TEXT PRIMARY KEY,
    owner_user_id  TEXT NOT NULL REFERENCES users (id),
    account_type   TEXT NOT NULL,
    account_subtype TEXT NOT NULL,
    currency       TEXT NOT NULL,
    nickname       TEXT NOT NULL,
    scheme_name    TEXT NOT NULL,
    identification TEXT NOT NULL,
    holder_name    TEXT NOT NULL,
    balance_minor  BIGINT NOT NULL,
    opened_at      BIGINT NOT NULL
);
CREATE INDEX ledger_accounts_owner ON ledger_accounts (owner_user_id);

CREATE TABLE ledger_transactions (
    id                  TEXT PRIMARY KEY,
    account_id          TEXT NOT NULL REFERENCES ledger_accounts (id),
    amount_minor        BIGINT NOT NULL,
    currency            TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('Booked', 'Pending')),
    booked_at           BIGINT NOT NULL,
    value_at            BIGINT NOT NULL,
    description         TEXT NOT NULL,
    counterparty        TEXT,
    bank_code           TEXT NOT NULL,
    balance_after_minor BIGINT NOT NULL
);
CREATE INDEX ledger_transactions_account_booked ON ledger_transactions (account_id, booked_at);

CREATE TABLE ledger_beneficiaries (
    id             TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES ledger_accounts (id),
    reference      TEXT NOT NULL,
    name           TEXT NOT NULL,
    scheme_name    TEXT NOT NULL,
    identification TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX ledger_beneficiaries_account ON ledger_beneficiaries (account_id);
