-- UK Open Banking domestic payments made against domestic-payment consents, and every status
-- change of each. Timestamps are Unix seconds; amounts are minor units.
-- Kept in step with migrations/postgres/0004_payments.sql.

-- One payment per consent (consent_id UNIQUE) and per idempotency key of a client
-- (UNIQUE (client_id, idempotency_key)): a replay of the key finds the payment made first.
-- request_hash: SHA-256 (hex) of the request body in canonical JSON, to tell a replay from a
-- different request under the same key.
-- status: AcceptedSettlementInProcess -> AcceptedSettlementCompleted (at settles_at).
-- body: what the TPP submitted (Data and Risk), JSON.
-- debit/credit_transaction_id: the two ledger postings, written in the same transaction.
CREATE TABLE ob_payments (
    id                    TEXT PRIMARY KEY,
    consent_id            TEXT NOT NULL UNIQUE REFERENCES ob_consents (id),
    client_id             TEXT NOT NULL REFERENCES clients (client_id),
    idempotency_key       TEXT NOT NULL,
    request_hash          TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('AcceptedSettlementInProcess',
                              'AcceptedSettlementCompleted', 'Rejected')),
    status_updated_at     INTEGER NOT NULL,
    created_at            INTEGER NOT NULL,
    settles_at            INTEGER NOT NULL,
    debtor_account_id     TEXT NOT NULL REFERENCES ledger_accounts (id),
    amount_minor          INTEGER NOT NULL CHECK (amount_minor > 0),
    currency              TEXT NOT NULL,
    body                  TEXT NOT NULL,
    debit_transaction_id  TEXT REFERENCES ledger_transactions (id),
    credit_transaction_id TEXT REFERENCES ledger_transactions (id),
    UNIQUE (client_id, idempotency_key)
);
CREATE INDEX ob_payments_settling ON ob_payments (status, settles_at);

CREATE TABLE ob_payment_history (
    id         TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL REFERENCES ob_payments (id),
    status     TEXT NOT NULL,
    at         INTEGER NOT NULL
);
CREATE INDEX ob_payment_history_payment ON ob_payment_history (payment_id, at);

-- Payments to an account of this bank are credited to it, found by scheme and identification;
-- payments to other banks are credited to the bank's settlement account of their currency
-- (`settlement-<currency>`, owned by the disabled user `system-settlement`), both created by the
-- first such payment.
CREATE INDEX ledger_accounts_identification ON ledger_accounts (scheme_name, identification);

