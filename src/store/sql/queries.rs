//! The SQL text, portable between SQLite and PostgreSQL (`$n` parameters,
//! `RETURNING`, `ON CONFLICT … DO UPDATE`). Parameters are bound in the
//! order of the numbers; a digest is always `(bytes, version)`.

// ----- api_keys ------------------------------------------------------------

pub(super) const INSERT_API_KEY: &str = "INSERT INTO api_keys (id, tenant, name, environment, \
     scopes, ip_allowlist, digest, digest_version, hint, created_at, rotation_due_at, rotated_at, \
     rotated_from, rotated_to, expires_at, revoked_at, last_used_at, last_used_ip) VALUES ($1, \
     $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)";

pub(super) const API_KEY_BY_DIGEST: &str =
    "SELECT * FROM api_keys WHERE digest = $1 AND digest_version = $2";

pub(super) const API_KEY_BY_ID: &str = "SELECT * FROM api_keys WHERE tenant = $1 AND id = $2";

pub(super) const API_KEYS_OF_TENANT: &str =
    "SELECT * FROM api_keys WHERE tenant = $1 ORDER BY created_at, id";

/// `(tenant, id, rotated_to, rotated_at, expires_at)`: marks a live key rotated.
pub(super) const ROTATE_API_KEY: &str = "UPDATE api_keys SET rotated_to = $3, rotated_at = $4, \
     expires_at = $5 WHERE tenant = $1 AND id = $2 AND revoked_at IS NULL AND rotated_to IS NULL \
     RETURNING *";

/// `(tenant, id, at)`: revokes a key not yet revoked.
pub(super) const REVOKE_API_KEY: &str = "UPDATE api_keys SET revoked_at = $3 WHERE tenant = $1 \
     AND id = $2 AND revoked_at IS NULL RETURNING *";

/// `(id, at, ip, stale_before)`: one conditional write per window.
pub(super) const TOUCH_API_KEY: &str = "UPDATE api_keys SET last_used_at = $2, last_used_ip = \
     $3 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $4)";

// ----- clients -------------------------------------------------------------

pub(super) const INSERT_CLIENT: &str = "INSERT INTO clients (id, tenant, name, kind, \
     secret_digest, secret_digest_version, redirect_uris, allowed_scopes, default_scopes, \
     access_token_ttl_us, refresh_token_ttl_us, created_at, grant_types, registration_digest, \
     registration_digest_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
     $14, $15)";

pub(super) const CLIENT_BY_ID: &str = "SELECT * FROM clients WHERE tenant = $1 AND id = $2";

/// `(tenant, id)`.
pub(super) const DELETE_CLIENT: &str = "DELETE FROM clients WHERE tenant = $1 AND id = $2";

/// `(tenant, client id)`: the families of the client's tokens.
pub(super) const FAMILIES_OF_CLIENT: &str = "SELECT family FROM access_tokens WHERE tenant = $1 \
     AND client_id = $2 UNION SELECT family FROM refresh_tokens WHERE tenant = $1 AND client_id = \
     $2";

pub(super) const CLIENTS_OF_TENANT: &str =
    "SELECT * FROM clients WHERE tenant = $1 ORDER BY created_at, id";

// ----- signing keys --------------------------------------------------------

pub(super) const SIGNING_KEYS: &str =
    "SELECT generation, secret, created_at FROM signing_keys WHERE purpose = $1";

/// `(purpose, generation, secret, created_at)`: the first insert of a
/// generation wins; the others change nothing.
pub(super) const INSERT_SIGNING_KEY: &str = "INSERT INTO signing_keys (purpose, generation, \
     secret, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (purpose, generation) DO NOTHING";

pub(super) const DELETE_SIGNING_KEYS_BEFORE: &str =
    "DELETE FROM signing_keys WHERE purpose = $1 AND generation < $2";

// ----- families ------------------------------------------------------------

/// `(family)`: creates the family row if missing and locks it for the rest of
/// the transaction (the no-op update takes the row lock, like `SELECT … FOR
/// UPDATE`); returns its `revoked_at`.
pub(super) const LOCK_FAMILY: &str = "INSERT INTO token_families (id) VALUES ($1) ON CONFLICT \
     (id) DO UPDATE SET revoked_at = token_families.revoked_at RETURNING revoked_at";

/// `(family, at)`: marks the family revoked, keeping a first `revoked_at`.
pub(super) const REVOKE_FAMILY: &str = "INSERT INTO token_families (id, revoked_at) VALUES ($1, \
     $2) ON CONFLICT (id) DO UPDATE SET revoked_at = COALESCE(token_families.revoked_at, \
     excluded.revoked_at)";

pub(super) const REVOKE_FAMILY_ACCESS: &str =
    "UPDATE access_tokens SET revoked_at = $2 WHERE family = $1 AND revoked_at IS NULL";

/// `(family)`: the digests of the family's live access tokens.
pub(super) const LIVE_FAMILY_ACCESS: &str = "SELECT digest, digest_version FROM access_tokens \
     WHERE family = $1 AND revoked_at IS NULL";

pub(super) const REVOKE_FAMILY_REFRESH: &str =
    "UPDATE refresh_tokens SET revoked_at = $2 WHERE family = $1 AND revoked_at IS NULL";

// ----- codes ---------------------------------------------------------------

pub(super) const INSERT_CODE: &str = "INSERT INTO codes (digest, digest_version, family, tenant, \
     client_id, redirect_uri, subject, scopes, challenge, challenge_method, issued_at, \
     expires_at, consumed_at, resources) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
     $12, $13, $14)";

pub(super) const CODE_BY_DIGEST: &str =
    "SELECT * FROM codes WHERE digest = $1 AND digest_version = $2";

/// `(digest, version, at)`: consumes a code not yet consumed.
pub(super) const CONSUME_CODE: &str = "UPDATE codes SET consumed_at = $3 WHERE digest = $1 AND \
     digest_version = $2 AND consumed_at IS NULL";

// ----- tokens --------------------------------------------------------------

pub(super) const INSERT_ACCESS_TOKEN: &str = "INSERT INTO access_tokens (digest, \
     digest_version, family, tenant, client_id, subject, scopes, issued_at, expires_at, \
     revoked_at, audience) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

pub(super) const INSERT_REFRESH_TOKEN: &str = "INSERT INTO refresh_tokens (digest, \
     digest_version, family, tenant, client_id, subject, scopes, issued_at, expires_at, \
     family_expires_at, rotated_at, revoked_at, handle, handle_version, resources) VALUES ($1, \
     $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";

pub(super) const ACCESS_TOKEN_BY_DIGEST: &str =
    "SELECT * FROM access_tokens WHERE digest = $1 AND digest_version = $2";

pub(super) const REFRESH_TOKEN_BY_DIGEST: &str =
    "SELECT * FROM refresh_tokens WHERE digest = $1 AND digest_version = $2";

/// `(handle, handle version)`: the most recently issued refresh token with
/// this handle (ties: an unrotated one, then the last rotated).
pub(super) const REFRESH_TOKEN_BY_HANDLE: &str = "SELECT * FROM refresh_tokens WHERE handle = \
     $1 AND handle_version = $2 ORDER BY issued_at DESC, rotated_at IS NULL DESC, rotated_at DESC \
     LIMIT 1";

/// `(handle, handle version, rotated_before, family)`: forgets the rotated
/// refresh tokens of a handle in its family (never one without a handle:
/// `NULL` equals nothing).
pub(super) const FORGET_ROTATED_REFRESH: &str = "DELETE FROM refresh_tokens WHERE handle = $1 \
     AND handle_version = $2 AND rotated_at IS NOT NULL AND rotated_at <= $3 AND family = $4";

/// `(digest, version, at)`: marks a live, unused refresh token used.
pub(super) const ROTATE_REFRESH_TOKEN: &str = "UPDATE refresh_tokens SET rotated_at = $3 WHERE \
     digest = $1 AND digest_version = $2 AND rotated_at IS NULL AND revoked_at IS NULL";

/// `(digest, version, at)`.
pub(super) const REVOKE_ACCESS_TOKEN: &str = "UPDATE access_tokens SET revoked_at = $3 WHERE \
     digest = $1 AND digest_version = $2 AND revoked_at IS NULL";

// ----- PostgreSQL: one statement per operation (migrations 0004, 0006) ----

/// `(code digest, version, at, access ×11, refresh ×15 or NULLs)`.
pub(super) const CONSUME_CODE_FN: &str = "SELECT papyrus_consume_code($1, $2, $3, $4, $5, $6, \
     $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, \
     $26, $27, $28, $29)";

/// `(access ×11, refresh ×15 or NULLs)`.
pub(super) const INSERT_TOKENS_FN: &str = "SELECT papyrus_insert_tokens($1, $2, $3, $4, $5, $6, \
     $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, \
     $26)";

/// `(old digest, version, at, forget_before, access ×11, refresh ×15 or NULLs)`.
pub(super) const ROTATE_REFRESH_FN: &str = "SELECT papyrus_rotate_refresh($1, $2, $3, $4, $5, \
     $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, \
     $25, $26, $27, $28, $29, $30)";

/// `(family, at)`: how many were revoked, and the access tokens' digests.
pub(super) const REVOKE_FAMILY_FN: &str =
    "SELECT revoked, access_digests FROM papyrus_revoke_family($1, $2)";

// ----- purge ---------------------------------------------------------------

/// `(before)`.
pub(super) const PURGE_ACCESS_TOKENS: &str = "DELETE FROM access_tokens WHERE expires_at < $1";

/// `(before)`: past its own expiry or its family's.
pub(super) const PURGE_REFRESH_TOKENS: &str =
    "DELETE FROM refresh_tokens WHERE expires_at < $1 OR family_expires_at < $1";

/// `(before)`: expired codes, except consumed ones whose family still holds a
/// live refresh token (a late replay must still find the code to revoke what
/// it issued).
pub(super) const PURGE_CODES: &str = "DELETE FROM codes WHERE expires_at < $1 AND NOT \
     (consumed_at IS NOT NULL AND EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.family = \
     codes.family AND r.revoked_at IS NULL))";

/// `(revoked_before)`: families without tokens, unless revoked recently (a
/// revoked family's marker outlives its tokens by the longest code lifetime,
/// so a code exchange racing a replay still sees it).
pub(super) const PURGE_FAMILIES: &str = "DELETE FROM token_families WHERE NOT EXISTS (SELECT 1 \
     FROM access_tokens a WHERE a.family = token_families.id) AND NOT EXISTS (SELECT 1 FROM \
     refresh_tokens r WHERE r.family = token_families.id) AND (revoked_at IS NULL OR revoked_at \
     <= $1)";

// ----- audit ---------------------------------------------------------------

pub(super) const INSERT_AUDIT_EVENT: &str =
    "INSERT INTO audit_events (tenant, key_id, at, kind, event) VALUES ($1, $2, $3, $4, $5)";

/// `(tenant, limit)`.
pub(super) const AUDIT_OF_TENANT: &str = "SELECT event FROM audit_events WHERE tenant = $1 \
     ORDER BY at DESC, id DESC LIMIT $2";

/// `(tenant, limit, key_id)`.
pub(super) const AUDIT_OF_KEY: &str = "SELECT event FROM audit_events WHERE tenant = $1 AND \
     key_id = $3 ORDER BY at DESC, id DESC LIMIT $2";
