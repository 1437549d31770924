-- OAuth artefacts: grants, authorization codes, access and refresh tokens, pushed authorization
-- requests, used JWT ids. Secrets (codes, request_uris, tokens) are stored only as their SHA-256.
-- Timestamps are Unix seconds (BIGINT). Kept in step with migrations/sqlite/0002_oauth.sql.

-- One authorization: what a customer approved for a client, or a client_credentials grant
-- (subject NULL). Revoking it revokes every token of it.
CREATE TABLE grants (
    id         TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL REFERENCES clients (client_id),
    subject    TEXT,
    scope      TEXT NOT NULL,
    claims     TEXT,
    acr        TEXT,
    amr        TEXT,
    auth_time  BIGINT,
    consent_id TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX grants_client ON grants (client_id);
CREATE INDEX grants_subject ON grants (subject);
CREATE INDEX grants_consent ON grants (consent_id);
CREATE INDEX grants_expires_at ON grants (expires_at);

CREATE TABLE authorization_codes (
    code_hash      BYTEA PRIMARY KEY,
    grant_id       TEXT NOT NULL REFERENCES grants (id),
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    nonce          TEXT,
    state          TEXT,
    dpop_jkt       TEXT,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    consumed_at    BIGINT
);
CREATE INDEX authorization_codes_grant ON authorization_codes (grant_id);
CREATE INDEX authorization_codes_expires_at ON authorization_codes (expires_at);

-- cnf_x5t: base64url SHA-256 thumbprint of the client certificate (RFC 8705); cnf_jkt: DPoP key
-- thumbprint (RFC 9449).
CREATE TABLE refresh_tokens (
    token_hash       BYTEA PRIMARY KEY,
    grant_id         TEXT NOT NULL REFERENCES grants (id),
    client_id        TEXT NOT NULL,
    scope            TEXT NOT NULL,
    cnf_x5t          TEXT,
    cnf_jkt          TEXT,
    issued_at        BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    revoked_at       BIGINT,
    replaced_by_hash BYTEA
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

-- refresh_token_hash: the refresh token this access token was issued from, so that revoking the
-- refresh token revokes it too.
CREATE TABLE access_tokens (
    token_hash         BYTEA PRIMARY KEY,
    grant_id           TEXT NOT NULL REFERENCES grants (id),
    client_id          TEXT NOT NULL,
    subject            TEXT,
    scope              TEXT NOT NULL,
    cnf_x5t            TEXT,
    cnf_jkt            TEXT,
    refresh_token_hash BYTEA,
    issued_at          BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL,
    revoked_at         BIGINT
);
CREATE INDEX access_tokens_grant ON access_tokens (grant_id);
CREATE INDEX access_tokens_refresh_token ON access_tokens (refresh_token_hash);
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);

-- Pushed authorization requests (RFC 9126): the validated request as JSON, keyed by the SHA-256
-- of its request_uri.
CREATE TABLE par_requests (
    request_uri_hash BYTEA PRIMARY KEY,
    client_id        TEXT NOT NULL REFERENCES clients (client_id),
    params           TEXT NOT NULL,
    dpop_jkt         TEXT,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    consumed_at      BIGINT
);
CREATE INDEX par_requests_expires_at ON par_requests (expires_at);

-- JWT ids seen, against replay: kind 'client_assertion' (issuer = client_id) or 'dpop'
-- (issuer = the key thumbprint). Kept until well after the JWT itself expires.
CREATE TABLE used_jtis (
    kind       TEXT NOT NULL CHECK (kind IN ('client_assertion', 'dpop')),
    issuer     TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (kind, issuer, jti)
);
CREATE INDEX used_jtis_expires_at ON used_jtis (expires_at);
