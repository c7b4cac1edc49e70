-- The credential cache's leases and invalidations (see the README's
-- "Credential cache"): an instance that answers credentials from memory
-- holds a lease here and acknowledges every invalidation it hears; a
-- revocation returns once every instance that held a lease when it
-- committed has acknowledged it, or its lease has expired.

-- The notification channel of this schema's invalidations: NOTIFY is
-- database-wide, and two stores in two schemas of one database must not
-- hear (and acknowledge) each other's.
CREATE FUNCTION papyrus_channel() RETURNS TEXT
LANGUAGE sql STABLE AS $$ SELECT 'papyrus_' || md5(current_schema()) $$;

-- The database's clock, in microseconds: leases and invalidations are
-- timed by it alone, never by an instance's clock.
CREATE FUNCTION papyrus_now_us() RETURNS BIGINT
LANGUAGE sql VOLATILE AS $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT $$;

CREATE TABLE cache_leases (
    instance      TEXT   NOT NULL PRIMARY KEY,
    registered_at BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);

CREATE TABLE cache_invalidations (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    digest     BYTEA  NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX cache_invalidations_created_at ON cache_invalidations (created_at);

CREATE TABLE cache_acks (
    seq      BIGINT NOT NULL,
    instance TEXT   NOT NULL,
    PRIMARY KEY (seq, instance)
);

-- Called after a revocation committed: when some lease is live, records
-- one invalidation per digest and notifies the listeners (at this
-- statement's commit). Returns the invalidations' numbers (empty when no
-- lease is live) and the time they were published.
CREATE FUNCTION papyrus_invalidate(p_digests BYTEA[])
RETURNS TABLE (seqs BIGINT[], published_at BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    v_now BIGINT := papyrus_now_us();
    v_seqs BIGINT[];
BEGIN
    IF NOT EXISTS (SELECT 1 FROM cache_leases WHERE expires_at > v_now) THEN
        RETURN QUERY SELECT ARRAY[]::BIGINT[], v_now;
        RETURN;
    END IF;
    WITH ins AS (
        INSERT INTO cache_invalidations (digest, created_at)
        SELECT d, v_now FROM unnest(p_digests) AS d
        RETURNING seq, digest
    ), sent AS (
        SELECT seq, pg_notify(papyrus_channel(), seq::TEXT || ':' || encode(digest, 'hex'))
        FROM ins
    )
    SELECT COALESCE(array_agg(seq), ARRAY[]::BIGINT[]) INTO v_seqs FROM sent;
    RETURN QUERY SELECT v_seqs, v_now;
END $$;

-- How many (lease, invalidation) pairs still wait: leases live now that
-- were registered at or before p_published_at, without an ack.
CREATE FUNCTION papyrus_unacknowledged(p_seqs BIGINT[], p_published_at BIGINT) RETURNS BIGINT
LANGUAGE sql VOLATILE AS $$
    SELECT count(*) FROM cache_leases l CROSS JOIN unnest(p_seqs) AS s(seq)
    WHERE l.expires_at > papyrus_now_us() AND l.registered_at <= p_published_at
        AND NOT EXISTS (SELECT 1 FROM cache_acks a WHERE a.seq = s.seq AND a.instance = l.instance)
$$;
