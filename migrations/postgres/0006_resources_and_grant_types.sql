-- Resource indicators (RFC 8707): the resources a code's authorization
-- named, an access token's audience, a refresh family's resources (URIs
-- separated by spaces; '' for none: tokens issued before are unbound).
-- And the grants a client may use (space-separated RFC 7591 names).
ALTER TABLE codes ADD COLUMN resources TEXT NOT NULL DEFAULT '';
ALTER TABLE access_tokens ADD COLUMN audience TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN resources TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN grant_types TEXT NOT NULL
    DEFAULT 'authorization_code refresh_token';
-- A client that registered itself (RFC 7591): its registration access
-- token's digest (RFC 7592).
ALTER TABLE clients ADD COLUMN registration_digest BYTEA;
ALTER TABLE clients ADD COLUMN registration_digest_version SMALLINT;

-- The functions of 0004, with the new columns appended to each token's
-- arguments: overloads of a new arity. The old ones stay, so that an
-- instance not yet upgraded keeps working during a rolling upgrade (its
-- tokens are stored unbound, as it issues them).

-- New tokens: an access token, and a refresh token when r_digest is not NULL.
CREATE FUNCTION papyrus_insert_tokens_unlocked(
    a_digest BYTEA, a_version SMALLINT, a_family TEXT, a_tenant TEXT, a_client TEXT,
    a_subject TEXT, a_scopes TEXT, a_issued BIGINT, a_expires BIGINT, a_revoked BIGINT, a_audience TEXT,
    r_digest BYTEA, r_version SMALLINT, r_family TEXT, r_tenant TEXT, r_client TEXT,
    r_subject TEXT, r_scopes TEXT, r_issued BIGINT, r_expires BIGINT, r_family_expires BIGINT,
    r_rotated BIGINT, r_revoked BIGINT, r_handle BYTEA, r_handle_version SMALLINT,
    r_resources TEXT
) RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO access_tokens (digest, digest_version, family, tenant, client_id, subject,
        scopes, issued_at, expires_at, revoked_at, audience)
    VALUES (a_digest, a_version, a_family, a_tenant, a_client, a_subject, a_scopes, a_issued,
        a_expires, a_revoked, a_audience);
    IF r_digest IS NOT NULL THEN
        INSERT INTO refresh_tokens (digest, digest_version, family, tenant, client_id, subject,
            scopes, issued_at, expires_at, family_expires_at, rotated_at, revoked_at, handle,
            handle_version, resources)
        VALUES (r_digest, r_version, r_family, r_tenant, r_client, r_subject, r_scopes,
            r_issued, r_expires, r_family_expires, r_rotated, r_revoked, r_handle,
            r_handle_version, r_resources);
    END IF;
END $$;

-- GrantStore::consume_code: 'consumed', 'already_consumed',
-- 'family_revoked' or 'unknown'.
CREATE FUNCTION papyrus_consume_code(
    p_digest BYTEA, p_version SMALLINT, p_at BIGINT,
    a_digest BYTEA, a_version SMALLINT, a_family TEXT, a_tenant TEXT, a_client TEXT,
    a_subject TEXT, a_scopes TEXT, a_issued BIGINT, a_expires BIGINT, a_revoked BIGINT, a_audience TEXT,
    r_digest BYTEA, r_version SMALLINT, r_family TEXT, r_tenant TEXT, r_client TEXT,
    r_subject TEXT, r_scopes TEXT, r_issued BIGINT, r_expires BIGINT, r_family_expires BIGINT,
    r_rotated BIGINT, r_revoked BIGINT, r_handle BYTEA, r_handle_version SMALLINT,
    r_resources TEXT
) RETURNS TEXT
LANGUAGE plpgsql AS $$
DECLARE
    v_family TEXT;
BEGIN
    SELECT family INTO v_family FROM codes WHERE digest = p_digest AND digest_version = p_version;
    IF NOT FOUND THEN
        RETURN 'unknown';
    END IF;
    IF papyrus_lock_family(v_family) IS NOT NULL THEN
        RETURN 'family_revoked';
    END IF;
    UPDATE codes SET consumed_at = p_at
    WHERE digest = p_digest AND digest_version = p_version AND consumed_at IS NULL;
    IF NOT FOUND THEN
        -- Consumed before (seen under the family lock), or purged.
        PERFORM 1 FROM codes WHERE digest = p_digest AND digest_version = p_version;
        IF NOT FOUND THEN
            RETURN 'unknown';
        END IF;
        RETURN 'already_consumed';
    END IF;
    PERFORM papyrus_insert_tokens_unlocked(a_digest, a_version, a_family, a_tenant, a_client,
        a_subject, a_scopes, a_issued, a_expires, a_revoked, a_audience, r_digest, r_version,
        r_family, r_tenant, r_client, r_subject, r_scopes, r_issued, r_expires,
        r_family_expires, r_rotated, r_revoked, r_handle, r_handle_version, r_resources);
    RETURN 'consumed';
END $$;

-- GrantStore::insert_tokens: 'inserted' or 'family_revoked'.
CREATE FUNCTION papyrus_insert_tokens(
    a_digest BYTEA, a_version SMALLINT, a_family TEXT, a_tenant TEXT, a_client TEXT,
    a_subject TEXT, a_scopes TEXT, a_issued BIGINT, a_expires BIGINT, a_revoked BIGINT, a_audience TEXT,
    r_digest BYTEA, r_version SMALLINT, r_family TEXT, r_tenant TEXT, r_client TEXT,
    r_subject TEXT, r_scopes TEXT, r_issued BIGINT, r_expires BIGINT, r_family_expires BIGINT,
    r_rotated BIGINT, r_revoked BIGINT, r_handle BYTEA, r_handle_version SMALLINT,
    r_resources TEXT
) RETURNS TEXT
LANGUAGE plpgsql AS $$
BEGIN
    IF papyrus_lock_family(a_family) IS NOT NULL THEN
        RETURN 'family_revoked';
    END IF;
    PERFORM papyrus_insert_tokens_unlocked(a_digest, a_version, a_family, a_tenant, a_client,
        a_subject, a_scopes, a_issued, a_expires, a_revoked, a_audience, r_digest, r_version,
        r_family, r_tenant, r_client, r_subject, r_scopes, r_issued, r_expires,
        r_family_expires, r_rotated, r_revoked, r_handle, r_handle_version, r_resources);
    RETURN 'inserted';
END $$;

-- GrantStore::rotate_refresh: 'rotated', 'already_rotated', 'revoked' or
-- 'unknown'. Then forgets the family's tokens of the old token's handle
-- rotated at or before p_forget_before.
CREATE FUNCTION papyrus_rotate_refresh(
    p_digest BYTEA, p_version SMALLINT, p_at BIGINT, p_forget_before BIGINT,
    a_digest BYTEA, a_version SMALLINT, a_family TEXT, a_tenant TEXT, a_client TEXT,
    a_subject TEXT, a_scopes TEXT, a_issued BIGINT, a_expires BIGINT, a_revoked BIGINT, a_audience TEXT,
    r_digest BYTEA, r_version SMALLINT, r_family TEXT, r_tenant TEXT, r_client TEXT,
    r_subject TEXT, r_scopes TEXT, r_issued BIGINT, r_expires BIGINT, r_family_expires BIGINT,
    r_rotated BIGINT, r_revoked BIGINT, r_handle BYTEA, r_handle_version SMALLINT,
    r_resources TEXT
) RETURNS TEXT
LANGUAGE plpgsql AS $$
DECLARE
    v_old refresh_tokens%ROWTYPE;
BEGIN
    SELECT * INTO v_old FROM refresh_tokens
    WHERE digest = p_digest AND digest_version = p_version;
    IF NOT FOUND THEN
        RETURN 'unknown';
    END IF;
    IF papyrus_lock_family(v_old.family) IS NOT NULL THEN
        RETURN 'revoked';
    END IF;
    UPDATE refresh_tokens SET rotated_at = p_at
    WHERE digest = p_digest AND digest_version = p_version
        AND rotated_at IS NULL AND revoked_at IS NULL;
    IF NOT FOUND THEN
        -- Used or revoked before (seen under the family lock), or purged.
        SELECT * INTO v_old FROM refresh_tokens
        WHERE digest = p_digest AND digest_version = p_version;
        IF NOT FOUND THEN
            RETURN 'unknown';
        ELSIF v_old.revoked_at IS NOT NULL THEN
            RETURN 'revoked';
        END IF;
        RETURN 'already_rotated';
    END IF;
    PERFORM papyrus_insert_tokens_unlocked(a_digest, a_version, a_family, a_tenant, a_client,
        a_subject, a_scopes, a_issued, a_expires, a_revoked, a_audience, r_digest, r_version,
        r_family, r_tenant, r_client, r_subject, r_scopes, r_issued, r_expires,
        r_family_expires, r_rotated, r_revoked, r_handle, r_handle_version, r_resources);
    IF v_old.handle IS NOT NULL THEN
        DELETE FROM refresh_tokens
        WHERE handle = v_old.handle AND handle_version = v_old.handle_version
            AND rotated_at IS NOT NULL AND rotated_at <= p_forget_before
            AND family = v_old.family;
    END IF;
    RETURN 'rotated';
END $$;
