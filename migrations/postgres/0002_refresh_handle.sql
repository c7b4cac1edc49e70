-- Refresh token handles: every refresh token of a family carries the
-- family's handle, and its row the handle's digest (`handle` bytes with their
-- `handle_version`, as `digest`/`digest_version`). NULL for tokens issued
-- before handles existed; those are kept until they expire.
--
-- A token presented with an unknown digest but a known handle is a reuse, so
-- rotated tokens that have a handle can be deleted once past the server's
-- reuse grace window (`GrantStore::rotate_refresh`), and looked up by handle
-- (`GrantStore::find_refresh_by_handle`).

ALTER TABLE refresh_tokens ADD COLUMN handle BYTEA;
ALTER TABLE refresh_tokens ADD COLUMN handle_version SMALLINT;
CREATE INDEX refresh_tokens_handle ON refresh_tokens (handle);
