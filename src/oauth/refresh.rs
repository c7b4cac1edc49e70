//! The refresh-token grant (RFC 6749 §6) with rotation and reuse detection
//! (RFC 9700 §4.14.2): [`plan_refresh`] decides on a stored token,
//! [`plan_unknown_refresh`] on one whose digest is not stored (a rotated
//! token forgotten, found by its family's handle), [`forget_rotated_before`]
//! says which rotated tokens may go. The driver rotates atomically and
//! decides again on the rotated record when it loses a race.

use std::{borrow::Cow, sync::Arc};

use time::{Duration, OffsetDateTime};

use super::{
    AuthorizationServer, ClientId, FamilyId, InsertTokens, OAuthClient, OAuthError,
    REFRESH_TOKEN_PREFIX, RefreshTokenRecord, RotateRefresh, TokenResponse, params::Params,
    plan_resources, requested_resources, server::Mint,
};
use crate::{
    AuditEvent, AuditEventKind, ScopeSet, StoreError, TenantId,
    audit::Actor,
    secret::{family_handle, is_token_shape},
};

/// What to do with a presented refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefreshPlan {
    /// Rotate it; the new access token gets these scopes.
    Rotate {
        /// The new access token's scopes (the family's, or fewer).
        access_scopes: ScopeSet,
    },
    /// Already rotated, within the grace window, by the same client: issue
    /// another pair in the family without revoking it.
    GraceReissue {
        /// The new access token's scopes.
        access_scopes: ScopeSet,
    },
    /// Already rotated: a reuse. Revoke the family.
    Reuse,
    /// Refuse, with no side effect.
    Refuse(OAuthError),
}

/// Decides a refresh with the stored `token` by `client` of `tenant`,
/// asking for `requested` scopes, at `now`, with a reuse grace window of
/// `grace`. Pure.
///
/// In this order, the first that applies:
/// 1. another tenant's or client's token → refused, nothing revoked;
/// 2. revoked → refused;
/// 3. rotated before, outside the grace window → [`RefreshPlan::Reuse`]:
///    "a reused (already rotated) refresh token revokes its whole family"
///    (RFC 9700 §4.14.2), decided before expiry and scope so that no
///    parameter can dodge it;
/// 4. expired (the token or its family's absolute lifetime);
/// 5. a `scope` beyond the family's grant → `invalid_scope` (RFC 6749 §6:
///    "MUST NOT include any scope not originally granted"); the refresh
///    token keeps the family's scope, the access token may be narrowed.
pub fn plan_refresh(
    token: &RefreshTokenRecord,
    tenant: &TenantId,
    client: &ClientId,
    requested: Option<&ScopeSet>,
    now: OffsetDateTime,
    grace: Duration,
) -> RefreshPlan {
    let refuse = |d: &'static str| RefreshPlan::Refuse(OAuthError::invalid_grant(d));
    if token.tenant != *tenant || token.client_id != *client {
        return refuse("refresh token was not issued to this client");
    }
    if token.revoked_at.is_some() {
        return refuse("refresh token revoked");
    }
    let in_grace = token
        .rotated_at
        .is_some_and(|at| grace.is_positive() && now < at.saturating_add(grace));
    if token.rotated_at.is_some() && !in_grace {
        return RefreshPlan::Reuse;
    }
    if token.expires_at <= now || token.family_expires_at <= now {
        return refuse("refresh token expired");
    }
    let access_scopes = match requested {
        None => token.scopes.clone(),
        Some(r) if token.scopes.contains_all(r) && !r.is_empty() => r.clone(),
        Some(r) => {
            return RefreshPlan::Refuse(OAuthError::invalid_scope(Cow::Owned(format!(
                "scope exceeds the original grant: {}",
                token.scopes.missing_from(r)
            ))));
        }
    };
    if in_grace {
        RefreshPlan::GraceReissue { access_scopes }
    } else {
        RefreshPlan::Rotate { access_scopes }
    }
}

/// What a refresh token whose digest is not stored means.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnknownRefresh {
    /// Its handle names a live family of this client: a rotated (and
    /// forgotten) token of it, or a forgery by someone who held one. A
    /// reuse: revoke the family.
    Reuse(FamilyId),
    /// Its family is revoked already.
    Revoked,
    /// Unknown (or another tenant's or client's family: no side effect).
    Unknown,
}

/// Decides on a refresh token whose digest is unknown, given the token
/// found by its family handle (`None` when none is), for `client` of
/// `tenant`. Pure. Every refresh token of a family starts with the
/// family's handle, so a rotated token the store has forgotten is still
/// recognised: its replay revokes the family (RFC 9700 §4.14.2).
pub fn plan_unknown_refresh(
    by_handle: Option<&RefreshTokenRecord>,
    tenant: &TenantId,
    client: &ClientId,
) -> UnknownRefresh {
    match by_handle {
        Some(r) if r.tenant == *tenant && r.client_id == *client => {
            if r.revoked_at.is_some() {
                UnknownRefresh::Revoked
            } else {
                UnknownRefresh::Reuse(r.family.clone())
            }
        }
        _ => UnknownRefresh::Unknown,
    }
}

/// The rotated refresh tokens a rotation at `now` may forget: those rotated
/// at or before `now - grace` (past the reuse grace window: a later replay
/// of one is still a reuse, by its family handle).
pub fn forget_rotated_before(now: OffsetDateTime, grace: Duration) -> OffsetDateTime {
    now.saturating_sub(grace)
}

impl AuthorizationServer {
    /// The `refresh_token` grant, for an authenticated `client`.
    pub(super) async fn refresh(
        &self,
        tenant: &TenantId,
        client: &OAuthClient,
        params: &Params<'_>,
    ) -> Result<TokenResponse, OAuthError> {
        let token = params.require("refresh_token")?;
        let requested = params
            .get("scope")?
            .map(ScopeSet::parse)
            .transpose()
            .map_err(|e| OAuthError::invalid_scope(Cow::Owned(format!("scope: {e}"))))?;
        if !is_token_shape(token, REFRESH_TOKEN_PREFIX) {
            // Never issued: nothing to look up.
            return Err(OAuthError::unknown_grant("unknown refresh token"));
        }
        let handle = family_handle(token, REFRESH_TOKEN_PREFIX);
        let now = self.now();
        let grace = self.config.effective_grace();
        let digest = self.digest(token);
        let Some(mut record) = self.grants.find_refresh_token(&digest).await? else {
            return Err(self.unknown_refresh(tenant, client, handle, now).await?);
        };
        // At most two rounds: a lost race turns into the reuse (or grace) path.
        for _ in 0..2 {
            let (access_scopes, in_grace) =
                match plan_refresh(&record, tenant, &client.id, requested.as_ref(), now, grace) {
                    RefreshPlan::Refuse(e) => return Err(e),
                    RefreshPlan::Reuse => {
                        return Err(self.reuse_detected(&record, client, now).await?);
                    }
                    RefreshPlan::GraceReissue { access_scopes } => (access_scopes, true),
                    RefreshPlan::Rotate { access_scopes } => (access_scopes, false),
                };
            // RFC 8707 §2.2: a refresh may name some of the family's
            // resources, never others.
            let audience = plan_resources(&requested_resources(params)?, &record.resources)?;
            let (response, tokens) = self.new_tokens(
                Mint {
                    client,
                    family: &record.family,
                    subject: &record.subject,
                    access_scopes: &access_scopes,
                    family_scopes: &record.scopes,
                    audience: &audience,
                    family_resources: &record.resources,
                    family_expires_at: Some(record.family_expires_at),
                    handle: Some((handle, record.handle)),
                    with_refresh: true,
                },
                now,
            );
            // The family and subject are all the audit event needs of the
            // old token from here on.
            let (family, subject) = (record.family.clone(), Arc::clone(&record.subject));
            let stored = if in_grace {
                // Within the grace window the old token stays rotated; the
                // new pair joins the family unless it was revoked meanwhile.
                match self.grants.insert_tokens(tokens).await? {
                    InsertTokens::Inserted => true,
                    InsertTokens::FamilyRevoked => false,
                }
            } else {
                // Let go of the stored record before the store marks it
                // rotated: held here, it would be copied on write.
                drop(record);
                let forget = forget_rotated_before(now, grace);
                match self
                    .grants
                    .rotate_refresh(&digest, tokens, now, forget)
                    .await?
                {
                    RotateRefresh::Rotated => true,
                    RotateRefresh::AlreadyRotated(r) => {
                        // Lost a race: decide again on the rotated record.
                        record = Arc::from(r);
                        continue;
                    }
                    RotateRefresh::Revoked => false,
                    RotateRefresh::Unknown => {
                        // Rotated and forgotten by a concurrent request.
                        return Err(self.unknown_refresh(tenant, client, handle, now).await?);
                    }
                }
            };
            if !stored {
                return Err(OAuthError::invalid_grant("refresh token revoked"));
            }
            self.emit(
                AuditEvent::new(
                    now,
                    tenant.clone(),
                    Actor::Client {
                        client_id: client.id.clone(),
                    },
                    AuditEventKind::RefreshRotated {
                        family,
                        scopes: access_scopes,
                    },
                )
                .with_client(client.id.clone())
                .with_subject(&*subject),
            )
            .await;
            return Ok(response);
        }
        Err(self.reuse_detected(&record, client, now).await?)
    }

    /// A refresh token whose digest is not stored: [`plan_unknown_refresh`]
    /// on the token its family handle finds.
    async fn unknown_refresh(
        &self,
        tenant: &TenantId,
        client: &OAuthClient,
        handle: &str,
        now: OffsetDateTime,
    ) -> Result<OAuthError, StoreError> {
        let by_handle = self
            .grants
            .find_refresh_by_handle(&self.digest(handle))
            .await?;
        match plan_unknown_refresh(by_handle.as_deref(), tenant, &client.id) {
            UnknownRefresh::Reuse(_) => {
                let record =
                    by_handle.ok_or_else(|| StoreError::corrupt("a reuse without its token"))?;
                self.reuse_detected(&record, client, now).await
            }
            UnknownRefresh::Revoked => Ok(OAuthError::invalid_grant("refresh token revoked")),
            UnknownRefresh::Unknown => Ok(OAuthError::unknown_grant("unknown refresh token")),
        }
    }

    /// An already-rotated refresh token was presented again: revoke its family.
    async fn reuse_detected(
        &self,
        record: &RefreshTokenRecord,
        client: &OAuthClient,
        now: OffsetDateTime,
    ) -> Result<OAuthError, StoreError> {
        let issued = (&record.tenant, &record.client_id, &*record.subject);
        self.revoke_family_after_replay(&record.family, issued, client, now, |family, revoked| {
            AuditEventKind::RefreshReuseDetected { family, revoked }
        })
        .await?;
        Ok(OAuthError::invalid_grant(
            "refresh token already used; the token family is revoked",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::{
        CredentialFailure,
        fixtures::{NOW, refresh_token as token},
    };

    fn plan(token: &RefreshTokenRecord, requested: Option<&str>, grace: i64) -> RefreshPlan {
        let requested = requested.map(|r| r.parse().unwrap());
        plan_refresh(
            token,
            &"acme".parse().unwrap(),
            &ClientId::parse("spa").unwrap(),
            requested.as_ref(),
            NOW,
            Duration::seconds(grace),
        )
    }

    #[test]
    fn a_live_token_rotates_and_may_narrow_never_widen() {
        assert_eq!(
            plan(&token(), None, 0),
            RefreshPlan::Rotate {
                access_scopes: token().scopes
            }
        );
        assert_eq!(
            plan(&token(), Some("documents:read"), 0),
            RefreshPlan::Rotate {
                access_scopes: "documents:read".parse().unwrap()
            }
        );
        match plan(&token(), Some("documents:read analytics:read"), 0) {
            RefreshPlan::Refuse(e) => {
                assert_eq!(e.code, crate::oauth::OAuthErrorCode::InvalidScope)
            }
            other => panic!("{other:?}"),
        }
    }

    /// RFC 9700 §4.14.2: a reused refresh token revokes its family, whatever
    /// else the request asks (an expired token, a wider scope).
    #[test]
    fn a_reused_refresh_token_revokes_its_family() {
        let rotated = RefreshTokenRecord {
            rotated_at: Some(NOW - Duration::seconds(10)),
            expires_at: NOW,
            ..token()
        };
        assert_eq!(plan(&rotated, None, 0), RefreshPlan::Reuse);
        assert_eq!(
            plan(&rotated, Some("analytics:read"), 0),
            RefreshPlan::Reuse
        );
        assert_eq!(
            plan(&rotated, None, 5),
            RefreshPlan::Reuse,
            "past the grace"
        );
        let live_rotated = RefreshTokenRecord {
            rotated_at: Some(NOW - Duration::seconds(10)),
            ..token()
        };
        assert!(matches!(
            plan(&live_rotated, None, 30),
            RefreshPlan::GraceReissue { .. }
        ));
    }

    #[test]
    fn other_clients_revoked_and_expired_tokens_are_refused_without_revoking() {
        let theirs = RefreshTokenRecord {
            client_id: ClientId::parse("other").unwrap(),
            rotated_at: Some(NOW - Duration::hours(1)),
            ..token()
        };
        assert!(
            matches!(plan(&theirs, None, 0), RefreshPlan::Refuse(_)),
            "not a reuse"
        );
        let revoked = RefreshTokenRecord {
            revoked_at: Some(NOW),
            ..token()
        };
        assert!(matches!(plan(&revoked, None, 0), RefreshPlan::Refuse(_)));
        let old_family = RefreshTokenRecord {
            family_expires_at: NOW,
            ..token()
        };
        match plan(&old_family, None, 0) {
            RefreshPlan::Refuse(e) => assert_eq!(e.failure, Some(CredentialFailure::KnownGrant)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_forgotten_token_is_known_by_its_handle() {
        let acme = "acme".parse().unwrap();
        let spa = ClientId::parse("spa").unwrap();
        assert_eq!(
            plan_unknown_refresh(Some(&token()), &acme, &spa),
            UnknownRefresh::Reuse(FamilyId::from_stored("fam_1"))
        );
        let revoked = RefreshTokenRecord {
            revoked_at: Some(NOW),
            ..token()
        };
        assert_eq!(
            plan_unknown_refresh(Some(&revoked), &acme, &spa),
            UnknownRefresh::Revoked
        );
        let other = ClientId::parse("other").unwrap();
        assert_eq!(
            plan_unknown_refresh(Some(&token()), &acme, &other),
            UnknownRefresh::Unknown
        );
        assert_eq!(
            plan_unknown_refresh(None, &acme, &spa),
            UnknownRefresh::Unknown
        );
        assert_eq!(
            forget_rotated_before(NOW, Duration::seconds(30)),
            NOW - Duration::seconds(30)
        );
    }
}
