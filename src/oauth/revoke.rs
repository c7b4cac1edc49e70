//! Token revocation (RFC 7009), and the revocation of a family after a
//! replay that the exchange and refresh steps share. [`plan_revoke`] is
//! the ownership rule.

use time::OffsetDateTime;

use super::{
    ACCESS_TOKEN_PREFIX, AccessTokenRecord, AuthorizationServer, ClientId, FamilyId, OAuthClient,
    OAuthError, REFRESH_TOKEN_PREFIX, RefreshTokenRecord, TokenRequest, params::Params,
};
use crate::{
    AuditEvent, AuditEventKind, StoreError, TenantId,
    audit::Actor,
    secret::{family_handle, is_token_shape},
};

/// What a revocation request revokes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevokePlan {
    /// A refresh token: its whole family (RFC 7009 §2.1: the server
    /// "SHOULD also invalidate all access tokens based on the same
    /// authorization grant").
    Family(FamilyId),
    /// One access token (of this family, for the audit event).
    AccessToken(FamilyId),
    /// Nothing: unknown, or another client's or tenant's token.
    Nothing,
}

/// What was found for a presented token.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Presented<'a> {
    /// A refresh token (by its digest, or by its family's handle when the
    /// store has forgotten it), if found.
    Refresh(Option<&'a RefreshTokenRecord>),
    /// An access token, if found.
    Access(Option<&'a AccessTokenRecord>),
    /// Neither shape.
    Neither,
}

/// Decides a revocation by `client` of `tenant` of what was `found`. Pure.
///
/// A token issued to another client or tenant is answered like an unknown
/// one: 200 and nothing revoked. RFC 7009 §2.1 says such a request "is
/// refused"; answering as for an unknown token (§2.2) means the endpoint
/// cannot be used to learn whether a token exists: a deliberate choice.
pub fn plan_revoke(found: Presented<'_>, tenant: &TenantId, client: &ClientId) -> RevokePlan {
    let owned = |t: &TenantId, c: &ClientId| t == tenant && c == client;
    match found {
        Presented::Refresh(Some(r)) if owned(&r.tenant, &r.client_id) => {
            RevokePlan::Family(r.family.clone())
        }
        Presented::Access(Some(a)) if owned(&a.tenant, &a.client_id) => {
            RevokePlan::AccessToken(a.family.clone())
        }
        _ => RevokePlan::Nothing,
    }
}

impl AuthorizationServer {
    /// The revocation endpoint (RFC 7009). The client authenticates as at the
    /// token endpoint. Revoking a refresh token revokes its whole family;
    /// revoking an access token revokes that token; the rule is
    /// [`plan_revoke`].
    ///
    /// Unknown tokens, and tokens of another client or tenant, are answered
    /// with success and left alone (RFC 7009 §2.2), so the endpoint cannot be
    /// used to probe for tokens.
    ///
    /// # Errors
    ///
    /// `invalid_request` without a `token`; `invalid_client` when client
    /// authentication fails.
    pub async fn revoke(
        &self,
        tenant: &TenantId,
        request: &TokenRequest<'_>,
    ) -> Result<(), OAuthError> {
        let params = Params::parse(request.body)?;
        let token = params.require("token")?;
        let client = self
            .authenticate_client(tenant, request.authorization, &params)
            .await?;
        let now = self.now();
        let digest = self.digest(token);
        let plan = if is_token_shape(token, REFRESH_TOKEN_PREFIX) {
            // A rotated token the store has forgotten still names its family.
            let found = match self.grants.find_refresh_token(&digest).await? {
                Some(r) => Some(r),
                None => {
                    let handle = self.digest(family_handle(token, REFRESH_TOKEN_PREFIX));
                    self.grants.find_refresh_by_handle(&handle).await?
                }
            };
            plan_revoke(Presented::Refresh(found.as_deref()), tenant, &client.id)
        } else if is_token_shape(token, ACCESS_TOKEN_PREFIX) {
            let found = self.grants.find_access_token(digest).await?;
            plan_revoke(Presented::Access(found.as_deref()), tenant, &client.id)
        } else {
            RevokePlan::Nothing
        };
        let (family, revoked) = match plan {
            RevokePlan::Nothing => return Ok(()),
            RevokePlan::Family(family) => {
                let n = self.grants.revoke_family(&family, now).await?;
                (family, n)
            }
            RevokePlan::AccessToken(family) => {
                let n = u64::from(self.grants.revoke_access_token(&digest, now).await?);
                (family, n)
            }
        };
        self.emit(
            AuditEvent::new(
                now,
                tenant.clone(),
                Actor::Client {
                    client_id: client.id.clone(),
                },
                AuditEventKind::TokensRevoked { family, revoked },
            )
            .with_client(client.id.clone()),
        )
        .await;
        Ok(())
    }

    /// Revokes `family` after a replay by `presenter`, and audits it (with
    /// `kind`) in the tenant the family was issued in.
    pub(super) async fn revoke_family_after_replay(
        &self,
        family: &FamilyId,
        (tenant, issued_to, subject): (&TenantId, &ClientId, &str),
        presenter: &OAuthClient,
        now: OffsetDateTime,
        kind: fn(FamilyId, u64) -> AuditEventKind,
    ) -> Result<(), StoreError> {
        let revoked = self.grants.revoke_family(family, now).await?;
        let actor = Actor::Client {
            client_id: presenter.id.clone(),
        };
        let event = AuditEvent::new(now, tenant.clone(), actor, kind(family.clone(), revoked))
            .with_client(issued_to.clone())
            .with_subject(subject);
        self.emit(event).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::fixtures::access_token;

    fn access(client: &str, tenant: &str) -> AccessTokenRecord {
        AccessTokenRecord {
            tenant: tenant.parse().unwrap(),
            client_id: ClientId::parse(client).unwrap(),
            ..access_token()
        }
    }

    #[test]
    fn only_the_clients_own_tokens_are_revoked() {
        let (acme, spa) = ("acme".parse().unwrap(), ClientId::parse("spa").unwrap());
        let mine = access("spa", "acme");
        assert_eq!(
            plan_revoke(Presented::Access(Some(&mine)), &acme, &spa),
            RevokePlan::AccessToken(FamilyId::from_stored("fam_a"))
        );
        for theirs in [access("other", "acme"), access("spa", "globex")] {
            assert_eq!(
                plan_revoke(Presented::Access(Some(&theirs)), &acme, &spa),
                RevokePlan::Nothing
            );
        }
        assert_eq!(
            plan_revoke(Presented::Access(None), &acme, &spa),
            RevokePlan::Nothing
        );
        assert_eq!(
            plan_revoke(Presented::Refresh(None), &acme, &spa),
            RevokePlan::Nothing
        );
        assert_eq!(
            plan_revoke(Presented::Neither, &acme, &spa),
            RevokePlan::Nothing
        );
    }
}
