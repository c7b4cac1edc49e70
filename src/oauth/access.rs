//! Access tokens presented to a resource (RFC 6750): [`verify_access_token`]
//! decides, [`AuthorizationServer::validate_access_token`] looks the token
//! up (answered now or later) and decides.

use time::OffsetDateTime;

use super::{ACCESS_TOKEN_PREFIX, AccessTokenRecord, AuthorizationServer};
use crate::{
    Answer, AuthError, Digest, Principal, Rejection, ScopeSet, TenantId, api_key::Authentication,
    secret::is_token_shape,
};

/// Whether the access token `token`, found for the `presented` digest,
/// authenticates a request for `tenant` needing `required` at `now`. Pure.
///
/// In this order: the whole digest (constant time) → [`Rejection::Unknown`];
/// the tenant, checked before anything else about the token so that another
/// tenant learns nothing of it → [`Rejection::WrongTenant`]; revoked →
/// [`Rejection::Revoked`]; expired → [`Rejection::Expired`]; every required
/// scope → [`Rejection::InsufficientScope`] (RFC 6750 §3.1).
///
/// # Errors
///
/// The [`Rejection`] of the first failed check.
pub fn verify_access_token(
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

impl AuthorizationServer {
    /// Validates an OAuth access token presented as a bearer credential to a
    /// resource, for `tenant`, requiring `required` ([`verify_access_token`]).
    /// The answer comes now when the store answers at once; `.await` it
    /// either way.
    ///
    /// # Errors
    ///
    /// [`AuthError::Rejected`]: malformed, unknown, wrong tenant, revoked,
    /// expired, or insufficient scope. [`AuthError::Store`] when the store fails.
    pub fn validate_access_token<'a>(
        &'a self,
        token: &str,
        tenant: &'a TenantId,
        required: &'a ScopeSet,
    ) -> Authentication<'a> {
        self.validate_parsed(token, tenant.as_str(), required)
    }

    /// [`AuthorizationServer::validate_access_token`] for a validated tenant
    /// name (read from a header without allocating).
    pub(crate) fn validate_parsed<'a>(
        &'a self,
        token: &str,
        tenant: &'a str,
        required: &'a ScopeSet,
    ) -> Authentication<'a> {
        // Anything but the token shape is refused before any digest or lookup.
        if !is_token_shape(token, ACCESS_TOKEN_PREFIX) {
            return Answer::Now(Err(Rejection::Malformed.into()));
        }
        let digest = self.digest(token);
        let decide = move |found: Result<Option<std::sync::Arc<AccessTokenRecord>>, _>| {
            let record: std::sync::Arc<AccessTokenRecord> = found?.ok_or(Rejection::Unknown)?;
            verify_access_token(&record, &digest, tenant, required, self.now())?;
            Ok::<_, AuthError>(Principal::verified(record))
        };
        match self.grants.find_access_token(digest) {
            Answer::Now(found) => Answer::Now(decide(found)),
            Answer::Later(lookup) => Answer::later(async move {
                let timer = crate::metrics::StoreTimer::start("find_access_token");
                let found = lookup.await;
                timer.stop();
                decide(found)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::fixtures::{NOW, access_token as token, digest};

    fn verify(t: &AccessTokenRecord, tenant: &str, required: &str) -> Result<(), Rejection> {
        verify_access_token(t, &digest(3), tenant, &required.parse().unwrap(), NOW)
    }

    #[test]
    fn each_check_in_its_order() {
        assert_eq!(verify(&token(), "acme", "documents:read"), Ok(()));
        assert_eq!(
            verify_access_token(&token(), &digest(4), "acme", &ScopeSet::empty(), NOW),
            Err(Rejection::Unknown)
        );
        let revoked_elsewhere = AccessTokenRecord {
            revoked_at: Some(NOW),
            ..token()
        };
        assert_eq!(
            verify(&revoked_elsewhere, "globex", ""),
            Err(Rejection::WrongTenant),
            "another tenant learns nothing about the token's state"
        );
        assert_eq!(
            verify(&revoked_elsewhere, "acme", ""),
            Err(Rejection::Revoked)
        );
        let expired = AccessTokenRecord {
            expires_at: NOW,
            ..token()
        };
        assert_eq!(verify(&expired, "acme", ""), Err(Rejection::Expired));
        assert_eq!(
            verify(&token(), "acme", "documents:write"),
            Err(Rejection::InsufficientScope {
                required: "documents:write".parse().unwrap()
            })
        );
    }
}
