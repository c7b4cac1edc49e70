-- Fleet-ready: client ids unique per tenant, and the HTTP layer's signing
-- keys shared by every instance.
--
-- Client ids were unique across tenants, so one tenant registering an id
-- that another used got a conflict: a cross-tenant oracle and a squatting
-- vector. The key is now (tenant, id), which also serves the lookups by
-- tenant that `clients_tenant` served.

ALTER TABLE clients DROP CONSTRAINT clients_pkey;
ALTER TABLE clients ADD PRIMARY KEY (tenant, id);
DROP INDEX clients_tenant;

-- Key rings (`SigningKeyStore`): one row per generation of a purpose's
-- ring. The first insert of a generation wins (`INSERT … ON CONFLICT DO
-- NOTHING`), so instances rotating at the same moment agree on one key.
-- `secret` is the key itself: a signing key cannot be kept as a digest.
CREATE TABLE signing_keys (
    purpose    TEXT     NOT NULL,
    generation BIGINT   NOT NULL,
    secret     BYTEA    NOT NULL,
    created_at BIGINT   NOT NULL,
    PRIMARY KEY (purpose, generation)
);
