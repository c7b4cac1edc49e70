-- papyrus-auth schema, SQLite.
--
-- Conventions (shared with migrations/postgres):
-- * Times are INTEGER microseconds since the Unix epoch (UTC); durations are
--   INTEGER microseconds. Integers compare exactly, so conditional updates
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
    digest          BLOB    NOT NULL,
    digest_version  INTEGER NOT NULL,
    hint            TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    rotation_due_at INTEGER NOT NULL,
    rotated_at      INTEGER,
    rotated_from    TEXT,
    rotated_to      TEXT,
    expires_at      INTEGER,
    revoked_at      INTEGER,
    last_used_at    INTEGER,
    last_used_ip    TEXT
) STRICT;
CREATE UNIQUE INDEX api_keys_digest ON api_keys (digest);
CREATE INDEX api_keys_tenant ON api_keys (tenant);

CREATE TABLE clients (
    id                    TEXT    NOT NULL PRIMARY KEY,
    tenant                TEXT    NOT NULL,
    name                  TEXT    NOT NULL,
    kind                  TEXT    NOT NULL,
    secret_digest         BLOB,
    secret_digest_version INTEGER,
    redirect_uris         TEXT    NOT NULL, -- JSON array
    allowed_scopes        TEXT    NOT NULL,
    default_scopes        TEXT    NOT NULL,
    access_token_ttl_us   INTEGER,
    refresh_token_ttl_us  INTEGER,
    created_at            INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX clients_secret_digest ON clients (secret_digest);
CREATE INDEX clients_tenant ON clients (tenant);

CREATE TABLE token_families (
    id         TEXT    NOT NULL PRIMARY KEY,
    revoked_at INTEGER
) STRICT;

CREATE TABLE codes (
    digest           BLOB    NOT NULL,
    digest_version   INTEGER NOT NULL,
    family           TEXT    NOT NULL,
    tenant           TEXT    NOT NULL,
    client_id        TEXT    NOT NULL,
    redirect_uri     TEXT,
    subject          TEXT    NOT NULL,
    scopes           TEXT    NOT NULL,
    challenge        TEXT    NOT NULL,
    challenge_method TEXT    NOT NULL,
    issued_at        INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    consumed_at      INTEGER
) STRICT;
CREATE UNIQUE INDEX codes_digest ON codes (digest);
CREATE INDEX codes_family ON codes (family);
CREATE INDEX codes_expires_at ON codes (expires_at);

CREATE TABLE access_tokens (
    digest         BLOB    NOT NULL,
    digest_version INTEGER NOT NULL,
    family         TEXT    NOT NULL,
    tenant         TEXT    NOT NULL,
    client_id      TEXT    NOT NULL,
    subject        TEXT    NOT NULL,
    scopes         TEXT    NOT NULL,
    issued_at      INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    revoked_at     INTEGER
) STRICT;
CREATE UNIQUE INDEX access_tokens_digest ON access_tokens (digest);
CREATE INDEX access_tokens_family ON access_tokens (family);
CREATE INDEX access_tokens_tenant ON access_tokens (tenant);
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);

CREATE TABLE refresh_tokens (
    digest            BLOB    NOT NULL,
    digest_version    INTEGER NOT NULL,
    family            TEXT    NOT NULL,
    tenant            TEXT    NOT NULL,
    client_id         TEXT    NOT NULL,
    subject           TEXT    NOT NULL,
    scopes            TEXT    NOT NULL,
    issued_at         INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    family_expires_at INTEGER NOT NULL,
    rotated_at        INTEGER,
    revoked_at        INTEGER
) STRICT;
CREATE UNIQUE INDEX refresh_tokens_digest ON refresh_tokens (digest);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_tenant ON refresh_tokens (tenant);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE audit_events (
    id     INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    tenant TEXT    NOT NULL,
    key_id TEXT,
    at     INTEGER NOT NULL,
    kind   TEXT    NOT NULL,
    event  TEXT    NOT NULL -- the AuditEvent as JSON
) STRICT;
CREATE INDEX audit_events_tenant_at ON audit_events (tenant, at, id);
CREATE INDEX audit_events_tenant_key_at ON audit_events (tenant, key_id, at, id);
