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
ALTER TABLE clients ADD COLUMN registration_digest BLOB;
ALTER TABLE clients ADD COLUMN registration_digest_version INTEGER;
