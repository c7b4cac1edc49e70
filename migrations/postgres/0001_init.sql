-- papyrus-auth schema, PostgreSQL.
--
-- Conventions (shared with migrations/sqlite):
-- * Times are BIGINT microseconds since the Unix epoch (UTC); durations are
--   BIGINT microseconds. Integers compare exactly, so conditional updates
--   (`last_used_at <= $stale_before`) and purges need no date parsing.
-- * Secrets (API keys, client secrets, codes, access and refresh tokens) are
--   stored only as digests: `digest` is the 32 digest bytes and
--   `digest_version` the DigestVersion number. No column holds a plaintext.
-- * Scope sets are space-separated strings (RFC 6749 §3.3); lists are JSON.
-- * Token rows name their family without a foreign key: a family row exists
--   only to lock the family and to remember its revocation.

CREATE TABLE api_keys (
    id              TEXT    NOT NULL PRIMARY KEY,
    tenant          TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    environment     TEXT    NOT NULL,
    scopes          TEXT    NOT NULL,
    ip_allowlist    TEXT    NOT NULL, -- space-separated CIDRs
    digest          BYTEA   NOT NULL,
    digest_version  SMALLINT NOT NULL,
    hint            TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    rotation_due_at BIGINT  NOT NULL,
    rotated_at      BIGINT,
    rotated_from    TEXT,
    rotated_to      TEXT,
    expires_at      BIGINT,
    revoked_at      BIGINT,
    last_used_at    BIGINT,
    last_used_ip    TEXT
);
CREATE UNIQUE INDEX api_keys_digest ON api_keys (digest);
CREATE INDEX api_keys_tenant ON api_keys (tenant);

CREATE TABLE clients (
    id                    TEXT    NOT NULL PRIMARY KEY,
    tenant                TEXT    NOT NULL,
    name                  TEXT    NOT NULL,
    kind                  TEXT    NOT NULL,
    secret_digest         BYTEA,
    secret_digest_version SMALLINT,
    redirect_uris         TEXT    NOT NULL, -- JSON array
    allowed_scopes        TEXT    NOT NULL,
    default_scopes        TEXT    NOT NULL,
    access_token_ttl_us   BIGINT,
    refresh_token_ttl_us  BIGINT,
    created_at            BIGINT  NOT NULL
);
CREATE UNIQUE INDEX clients_secret_digest ON clients (secret_digest);
CREATE INDEX clients_tenant ON clients (tenant);

CREATE TABLE token_families (
    id         TEXT    NOT NULL PRIMARY KEY,
    revoked_at BIGINT
);

CREATE TABLE codes (
    digest           BYTEA   NOT NULL,
    digest_version   SMALLINT NOT NULL,
    family           TEXT    NOT NULL,
    tenant           TEXT    NOT NULL,
    client_id        TEXT    NOT NULL,
    redirect_uri     TEXT,
    subject          TEXT    NOT NULL,
    scopes           TEXT    NOT NULL,
    challenge        TEXT    NOT NULL,
    challenge_method TEXT    NOT NULL,
    issued_at        BIGINT  NOT NULL,
    expires_at       BIGINT  NOT NULL,
    consumed_at      BIGINT
);
CREATE UNIQUE INDEX codes_digest ON codes (digest);
CREATE INDEX codes_family ON codes (family);
CREATE INDEX codes_expires_at ON codes (expires_at);

CREATE TABLE access_tokens (
    digest         BYTEA   NOT NULL,
    digest_version SMALLINT NOT NULL,
    family         TEXT    NOT NULL,
    tenant         TEXT    NOT NULL,
    client_id      TEXT    NOT NULL,
    subject        TEXT    NOT NULL,
    scopes         TEXT    NOT NULL,
    issued_at      BIGINT  NOT NULL,
    expires_at     BIGINT  NOT NULL,
    revoked_at     BIGINT
);
CREATE UNIQUE INDEX access_tokens_digest ON access_tokens (digest);
CREATE INDEX access_tokens_family ON access_tokens (family);
CREATE INDEX access_tokens_tenant ON access_tokens (tenant);
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);

CREATE TABLE refresh_tokens (
    digest            BYTEA   NOT NULL,
    digest_version    SMALLINT NOT NULL,
    family            TEXT    NOT NULL,
    tenant            TEXT    NOT NULL,
    client_id         TEXT    NOT NULL,
    subject           TEXT    NOT NULL,
    scopes            TEXT    NOT NULL,
    issued_at         BIGINT  NOT NULL,
    expires_at        BIGINT  NOT NULL,
    family_expires_at BIGINT  NOT NULL,
    rotated_at        BIGINT,
    revoked_at        BIGINT
);
CREATE UNIQUE INDEX refresh_tokens_digest ON refresh_tokens (digest);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_tenant ON refresh_tokens (tenant);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE audit_events (
    id     BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant TEXT    NOT NULL,
    key_id TEXT,
    at     BIGINT  NOT NULL,
    kind   TEXT    NOT NULL,
    event  TEXT    NOT NULL -- the AuditEvent as JSON
);
CREATE INDEX audit_events_tenant_at ON audit_events (tenant, at, id);
CREATE INDEX audit_events_tenant_key_at ON audit_events (tenant, key_id, at, id);
