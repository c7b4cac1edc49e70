//! Records for the protocol steps' unit tests: one tenant (`acme`), one
//! public client (`spa`, redirecting to [`CALLBACK`]), one user (`alice`),
//! one moment ([`NOW`]). A test changes what it is about with struct update
//! syntax (`AccessTokenRecord { revoked_at: Some(NOW), ..access_token() }`).

use time::{Duration, OffsetDateTime, macros::datetime};

use super::{
    AccessTokenRecord, AuthorizationCodeRecord, ClientId, ClientKind, CodeChallenge, FamilyId,
    OAuthClient, RefreshTokenRecord,
};
use crate::{Digest, DigestVersion, ScopeSet, TenantId};

/// The moment every test runs at.
pub(crate) const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);
/// The RFC 7636 appendix B verifier.
pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// The client's one redirect URI.
pub(crate) const CALLBACK: &str = "https://app.example.com/cb";

/// A digest made of `n`.
pub(crate) fn digest(n: u8) -> Digest {
    Digest::from_parts(DigestVersion::Sha256, [n; 32])
}

pub(crate) fn acme() -> TenantId {
    "acme".parse().unwrap()
}

pub(crate) fn spa() -> ClientId {
    ClientId::parse("spa").unwrap()
}

pub(crate) fn scopes(s: &str) -> ScopeSet {
    s.parse().unwrap()
}

/// `spa`, a public client of `acme` allowed `documents:read`.
pub(crate) fn client() -> OAuthClient {
    OAuthClient {
        id: spa(),
        tenant: acme(),
        name: "SPA".into(),
        kind: ClientKind::Public,
        secret_digest: None,
        redirect_uris: vec![CALLBACK.into()],
        allowed_scopes: scopes("documents:read"),
        default_scopes: ScopeSet::empty(),
        access_token_ttl: None,
        refresh_token_ttl: None,
        created_at: NOW,
        grant_types: crate::oauth::GrantTypes::default(),
        registration_digest: None,
    }
}

/// A fresh code for `alice` at `spa`, family `fam_1`, issued [`NOW`].
pub(crate) fn code() -> AuthorizationCodeRecord {
    AuthorizationCodeRecord {
        digest: digest(7),
        family: FamilyId::from_stored("fam_1"),
        tenant: acme(),
        client_id: spa(),
        redirect_uri: Some(CALLBACK.into()),
        subject: "alice".into(),
        scopes: scopes("documents:read"),
        challenge: CodeChallenge::s256_of(VERIFIER),
        issued_at: NOW,
        expires_at: NOW + Duration::seconds(60),
        consumed_at: None,
        resources: crate::oauth::Resources::none(),
    }
}

/// A live access token (digest 3) of `alice` at `spa`, family `fam_a`,
/// issued [`NOW`] for an hour.
pub(crate) fn access_token() -> AccessTokenRecord {
    AccessTokenRecord {
        digest: digest(3),
        family: FamilyId::from_stored("fam_a"),
        tenant: acme(),
        client_id: spa(),
        subject: "alice".into(),
        scopes: scopes("documents:read"),
        issued_at: NOW,
        expires_at: NOW + Duration::hours(1),
        revoked_at: None,
        audience: crate::oauth::Resources::none(),
    }
}

/// A live refresh token (digest 1, handle 2) of `alice` at `spa`, family
/// `fam_1`, issued an hour before [`NOW`].
pub(crate) fn refresh_token() -> RefreshTokenRecord {
    RefreshTokenRecord {
        digest: digest(1),
        handle: Some(digest(2)),
        family: FamilyId::from_stored("fam_1"),
        tenant: acme(),
        client_id: spa(),
        subject: "alice".into(),
        scopes: scopes("documents:read documents:write"),
        issued_at: NOW - Duration::hours(1),
        expires_at: NOW + Duration::days(30),
        family_expires_at: NOW + Duration::days(90),
        rotated_at: None,
        revoked_at: None,
        resources: crate::oauth::Resources::none(),
    }
}
