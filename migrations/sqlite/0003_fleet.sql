-- Fleet-ready: client ids unique per tenant, and the HTTP layer's signing
-- keys shared by every instance.
--
-- Client ids were unique across tenants, so one tenant registering an id
-- that another used got a conflict: a cross-tenant oracle and a squatting
-- vector. The key is now (tenant, id). SQLite cannot change a primary key
-- in place: the table is rebuilt, rows kept.

CREATE TABLE clients_by_tenant (
    id                    TEXT    NOT NULL,
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
    created_at            INTEGER NOT NULL,
    PRIMARY KEY (tenant, id)
) STRICT;
INSERT INTO clients_by_tenant (id, tenant, name, kind, secret_digest, secret_digest_version,
    redirect_uris, allowed_scopes, default_scopes, access_token_ttl_us, refresh_token_ttl_us,
    created_at)
SELECT id, tenant, name, kind, secret_digest, secret_digest_version, redirect_uris,
    allowed_scopes, default_scopes, access_token_ttl_us, refresh_token_ttl_us, created_at
FROM clients;
DROP TABLE clients;
ALTER TABLE clients_by_tenant RENAME TO clients;
CREATE UNIQUE INDEX clients_secret_digest ON clients (secret_digest);

-- Key rings (`SigningKeyStore`): one row per generation of a purpose's
-- ring. The first insert of a generation wins (`INSERT … ON CONFLICT DO
-- NOTHING`), so instances rotating at the same moment agree on one key.
-- `secret` is the key itself: a signing key cannot be kept as a digest.
CREATE TABLE signing_keys (
    purpose    TEXT    NOT NULL,
    generation INTEGER NOT NULL,
    secret     BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (purpose, generation)
) STRICT;
