//! The OAuth decisions, as pure functions of records, inputs and `now`.

use std::borrow::Cow;

use time::{Duration, OffsetDateTime};

use super::{
    AccessTokenRecord, AuthorizationCodeRecord, ClientId, ClientKind, OAuthClient, OAuthError,
    RefreshTokenRecord, token::ClientCredentials,
};
use crate::{Digest, PkceVerifier, Rejection, ScopeSet, SecretHasher, TenantId};

/// Whether a code may be exchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CodeCheck {
    Valid,
    Invalid(OAuthError),
}

/// Checks a just-consumed code against the token request (RFC 6749 §4.1.3,
/// RFC 7636 §4.6).
pub(crate) fn check_code(
    code: &AuthorizationCodeRecord,
    tenant: &TenantId,
    client: &OAuthClient,
    redirect_uri: Option<&str>,
    verifier: &PkceVerifier,
    now: OffsetDateTime,
) -> CodeCheck {
    let invalid = |d: &'static str| CodeCheck::Invalid(OAuthError::invalid_grant(d));
    if code.tenant != *tenant || code.client_id != client.id {
        return invalid("authorization code was not issued to this client");
    }
    if code.expires_at <= now {
        return invalid("authorization code expired");
    }
    match (&code.redirect_uri, redirect_uri) {
        (Some(_), None) => {
            return CodeCheck::Invalid(OAuthError::invalid_request(
                "redirect_uri is required: the authorization request sent one",
            ));
        }
        (Some(expected), Some(sent)) if expected != sent => {
            return invalid("redirect_uri does not match the authorization request");
        }
        // The request used the client's only registered URI: one sent now
        // must be that one, not any URI at all.
        (None, Some(sent)) if !super::redirect_uri_matches(&client.redirect_uris, sent) => {
            return invalid("redirect_uri does not match the authorization request");
        }
        _ => {}
    }
    if !code.challenge.verify(verifier.expose_secret()) {
        return invalid("code_verifier does not match the code_challenge");
    }
    CodeCheck::Valid
}

/// What to do with a presented refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RefreshDecision {
    /// Rotate it; the new access token gets these scopes.
    Rotate { access_scopes: ScopeSet },
    /// Already rotated, within the grace window, by the same client: issue
    /// another pair in the family without revoking it.
    GraceReissue { access_scopes: ScopeSet },
    /// Already rotated: a reuse. Revoke the family.
    Reuse,
    /// Refuse.
    Invalid(OAuthError),
}

/// Decides a refresh (RFC 6749 §6, RFC 9700 §4.14.2).
pub(crate) fn check_refresh(
    token: &RefreshTokenRecord,
    tenant: &TenantId,
    client: &ClientId,
    requested: Option<&ScopeSet>,
    now: OffsetDateTime,
    grace: Duration,
) -> RefreshDecision {
    let invalid = |d: &'static str| RefreshDecision::Invalid(OAuthError::invalid_grant(d));
    if token.tenant != *tenant || token.client_id != *client {
        return invalid("refresh token was not issued to this client");
    }
    if token.revoked_at.is_some() {
        return invalid("refresh token revoked");
    }
    // A reuse is a reuse whatever else the request asks (RFC 9700 §4.14.2):
    // decided before expiry and scope, so no parameter can dodge it.
    let in_grace = token
        .rotated_at
        .is_some_and(|at| grace.is_positive() && now < at.saturating_add(grace));
    if token.rotated_at.is_some() && !in_grace {
        return RefreshDecision::Reuse;
    }
    if token.expires_at <= now || token.family_expires_at <= now {
        return invalid("refresh token expired");
    }
    let access_scopes = match requested {
        None => token.scopes.clone(),
        Some(r) if token.scopes.contains_all(r) && !r.is_empty() => r.clone(),
        Some(r) => {
            return RefreshDecision::Invalid(OAuthError::invalid_scope(Cow::Owned(format!(
                "scope exceeds the original grant: {}",
                token.scopes.missing_from(r)
            ))));
        }
    };
    if in_grace {
        RefreshDecision::GraceReissue { access_scopes }
    } else {
        RefreshDecision::Rotate { access_scopes }
    }
}

/// Checks the credentials a client presented against its registration.
/// Returns a reason for the audit log on failure.
pub(crate) fn check_client(
    client: Option<&OAuthClient>,
    tenant: &TenantId,
    creds: &ClientCredentials,
    hasher: &SecretHasher,
) -> Result<(), &'static str> {
    let Some(client) = client.filter(|c| c.tenant == *tenant && c.id == creds.client_id) else {
        return Err("unknown client");
    };
    match (client.kind, &creds.secret, &client.secret_digest) {
        (ClientKind::Public, None, _) => Ok(()),
        (ClientKind::Public, Some(_), _) => Err("public client sent a secret"),
        (ClientKind::Confidential, None, _) => Err("confidential client sent no secret"),
        (ClientKind::Confidential, Some(_), None) => Err("client has no secret registered"),
        (ClientKind::Confidential, Some(secret), Some(expected)) => {
            if hasher.digest(secret.expose_secret().as_bytes()) == *expected {
                Ok(())
            } else {
                Err("wrong client secret")
            }
        }
    }
}

/// Whether an access token authenticates a request for `tenant` needing `required`.
pub(crate) fn verify_access_token(
    token: &AccessTokenRecord,
    presented: &Digest,
    tenant: &str,
    required: &ScopeSet,
    now: OffsetDateTime,
) -> Result<(), Rejection> {
    if token.digest != *presented {
        return Err(Rejection::Unknown);
    }
    if token.tenant != *tenant {
        return Err(Rejection::WrongTenant);
    }
    if token.revoked_at.is_some() {
        return Err(Rejection::Revoked);
    }
    if token.expires_at <= now {
        return Err(Rejection::Expired);
    }
    if !token.scopes.contains_all(required) {
        return Err(Rejection::InsufficientScope {
            required: required.clone(),
        });
    }
    Ok(())
}

/// Whether an access token is active for introspection by `tenant`.
pub(crate) fn access_token_active(
    t: &AccessTokenRecord,
    tenant: &TenantId,
    now: OffsetDateTime,
) -> bool {
    t.tenant == *tenant && t.revoked_at.is_none() && t.expires_at > now
}

/// Whether a refresh token is active (usable) for introspection by `tenant`.
pub(crate) fn refresh_token_active(
    t: &RefreshTokenRecord,
    tenant: &TenantId,
    now: OffsetDateTime,
) -> bool {
    t.tenant == *tenant
        && t.revoked_at.is_none()
        && t.rotated_at.is_none()
        && t.expires_at > now
        && t.family_expires_at > now
}
