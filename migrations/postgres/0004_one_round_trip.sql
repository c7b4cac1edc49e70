-- One round trip per grant operation: each of these runs in one statement
-- (`SELECT papyrus_…(…)`), in the statement's own transaction, doing what
-- the transaction of several statements did before, step for step:
-- lock the token family's row first (so operations on one family are
-- serialized across instances), refuse a revoked family, decide the
-- single use with a conditional UPDATE, then insert. PL/pgSQL runs each
-- statement with a fresh snapshot under READ COMMITTED, so a statement
-- that waited for a row lock sees what the lock holder committed.

-- The family's row, created if missing and locked; its revoked_at.
CREATE FUNCTION papyrus_lock_family(p_family TEXT) RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
    v_revoked BIGINT;
BEGIN
    -- A row lock on an existing family (no new row version); the upsert
    -- only for a family seen for the first time.
    SELECT revoked_at INTO v_revoked FROM token_families WHERE id = p_family FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO token_families (id) VALUES (p_family)
        ON CONFLICT (id) DO UPDATE SET revoked_at = token_families.revoked_at
        RETURNING revoked_at INTO v_revoked;
    END IF;
    RETURN v_revoked;
END $$;

-- New tokens: an access token, and a refresh token when r_digest is not NULL.
CREATE FUNCTION papyrus_insert_tokens_unlocked(
    a_digest BYTEA, a_version SMALLINT, a_family TEXT, a_tenant TEXT, a_client TEXT,
    a_subject TEXT, a_scopes TEXT, a_issued BIGINT, a_expires BIGINT, a_revoked BIGINT,
    r_digest BYTEA, r_version SMALLINT, r_family TEXT, r_tenant TEXT, r_client TEXT,
    r_subject TEXT, r_scopes TEXT, r_issued BIGINT, r_expires BIGINT, r_family_expires BIGINT,
    r_rotated BIGINT, r_revoked BIGINT, r_handle BYTEA, r_handle_version SMALLINT
) RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO access_tokens (digest, digest_version, family, tenant, client_id, subject,
        scopes, issued_at, expires_at, revoked_at)
    VALUES (a_digest, a_version, a_family, a_tenant, a_client, a_subject, a_scopes, a_issued,
        a_expires, a_revoked);
    IF r_digest IS NOT NULL THEN
        INSERT INTO refresh_tokens (digest, digest_version, family, tenant, client_id, subject,
            scopes, issued_at, expires_at, family_expires_at, rotated_at, revoked_at, handle,
            handle_version)
        VALUES (r_digest, r_version, r_family, r_tenant, r_client, r_subject, r_scopes,
            r_issued, r_expires, r_family_expires, r_rotated, r_revoked, r_handle,
            r_handle_version);
    END IF;
END $$;

-- GrantStore::consume_code: 'consumed', 'already_consumed',
-- 'family_revoked' or 'unknown'.
CREATE FUNCTION papyrus_consume_code(
    p_digest BYTEA, p_version SMALLINT, p_at BIGINT,
    a_digest BYTEA, a_version SMALLINT, a_family TEXT, a_tenant TEXT, a_client TEXT,
    a_subject TEXT, a_scopes TEXT, a_issued BIGINT, a_expires BIGINT, a_revoked BIGINT,
    r_digest BYTEA, r_version SMALLINT, r_family TEXT, r_tenant TEXT, r_client TEXT,
    r_subject TEXT, r_scopes TEXT, r_issued BIGINT, r_expires BIGINT, r_family_expires BIGINT,
    r_rotated BIGINT, r_revoked BIGINT, r_handle BYTEA, r_handle_version SMALLINT
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
        a_subject, a_scopes, a_issued, a_expires, a_revoked, r_digest, r_version, r_family,
        r_tenant, r_client, r_subject, r_scopes, r_issued, r_expires, r_family_expires,
        r_rotated, r_revoked, r_handle, r_handle_version);
    RETURN 'consumed';
END $$;

-- GrantStore::insert_tokens: 'inserted' or 'family_revoked'.
CREATE FUNCTION papyrus_insert_tokens(
    a_digest BYTEA, a_version SMALLINT, a_family TEXT, a_tenant TEXT, a_client TEXT,
    a_subject TEXT, a_scopes TEXT, a_issued BIGINT, a_expires BIGINT, a_revoked BIGINT,
    r_digest BYTEA, r_version SMALLINT, r_family TEXT, r_tenant TEXT, r_client TEXT,
    r_subject TEXT, r_scopes TEXT, r_issued BIGINT, r_expires BIGINT, r_family_expires BIGINT,
    r_rotated BIGINT, r_revoked BIGINT, r_handle BYTEA, r_handle_version SMALLINT
) RETURNS TEXT
LANGUAGE plpgsql AS $$
BEGIN
    IF papyrus_lock_family(a_family) IS NOT NULL THEN
        RETURN 'family_revoked';
    END IF;
    PERFORM papyrus_insert_tokens_unlocked(a_digest, a_version, a_family, a_tenant, a_client,
        a_subject, a_scopes, a_issued, a_expires, a_revoked, r_digest, r_version, r_family,
        r_tenant, r_client, r_subject, r_scopes, r_issued, r_expires, r_family_expires,
        r_rotated, r_revoked, r_handle, r_handle_version);
    RETURN 'inserted';
END $$;

-- GrantStore::rotate_refresh: 'rotated', 'already_rotated', 'revoked' or
-- 'unknown'. Then forgets the family's tokens of the old token's handle
-- rotated at or before p_forget_before.
CREATE FUNCTION papyrus_rotate_refresh(
    p_digest BYTEA, p_version SMALLINT, p_at BIGINT, p_forget_before BIGINT,
    a_digest BYTEA, a_version SMALLINT, a_family TEXT, a_tenant TEXT, a_client TEXT,
    a_subject TEXT, a_scopes TEXT, a_issued BIGINT, a_expires BIGINT, a_revoked BIGINT,
    r_digest BYTEA, r_version SMALLINT, r_family TEXT, r_tenant TEXT, r_client TEXT,
    r_subject TEXT, r_scopes TEXT, r_issued BIGINT, r_expires BIGINT, r_family_expires BIGINT,
    r_rotated BIGINT, r_revoked BIGINT, r_handle BYTEA, r_handle_version SMALLINT
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
        a_subject, a_scopes, a_issued, a_expires, a_revoked, r_digest, r_version, r_family,
        r_tenant, r_client, r_subject, r_scopes, r_issued, r_expires, r_family_expires,
        r_rotated, r_revoked, r_handle, r_handle_version);
    IF v_old.handle IS NOT NULL THEN
        DELETE FROM refresh_tokens
        WHERE handle = v_old.handle AND handle_version = v_old.handle_version
            AND rotated_at IS NOT NULL AND rotated_at <= p_forget_before
            AND family = v_old.family;
    END IF;
    RETURN 'rotated';
END $$;

-- GrantStore::revoke_family: marks the family revoked (keeping a first
-- revoked_at) and revokes its tokens: how many were newly revoked, and the
-- digests of the access tokens among them (for the credential caches).
CREATE FUNCTION papyrus_revoke_family(p_family TEXT, p_at BIGINT)
RETURNS TABLE (revoked BIGINT, access_digests BYTEA[])
LANGUAGE plpgsql AS $$
DECLARE
    v_access BYTEA[];
    v_refresh BIGINT;
BEGIN
    INSERT INTO token_families (id, revoked_at) VALUES (p_family, p_at)
    ON CONFLICT (id) DO UPDATE
        SET revoked_at = COALESCE(token_families.revoked_at, excluded.revoked_at);
    WITH a AS (
        UPDATE access_tokens SET revoked_at = p_at
        WHERE family = p_family AND revoked_at IS NULL
        RETURNING digest
    )
    SELECT COALESCE(array_agg(digest), ARRAY[]::BYTEA[]) INTO v_access FROM a;
    UPDATE refresh_tokens SET revoked_at = p_at WHERE family = p_family AND revoked_at IS NULL;
    GET DIAGNOSTICS v_refresh = ROW_COUNT;
    RETURN QUERY SELECT cardinality(v_access)::BIGINT + v_refresh, v_access;
END $$;
