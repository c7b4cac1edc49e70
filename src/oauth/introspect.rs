//! Token introspection (RFC 7662): what an active token says, and who may
//! ask, as pure functions ([`introspect_access`], [`introspect_refresh`],
//! [`visible_to_client`]) beside the drivers.

use time::OffsetDateTime;

use super::{
    ACCESS_TOKEN_PREFIX, AccessTokenRecord, AuthorizationServer, ClientId, ClientKind,
    Introspection, OAuthError, REFRESH_TOKEN_PREFIX, RefreshTokenRecord, TokenRequest,
    params::Params,
};
use crate::{StoreError, TenantId, secret::is_token_shape};

/// The answer for an access token introspected for `tenant` at `now`:
/// active with its claims when it is the tenant's, not revoked and not
/// expired; inactive otherwise (RFC 7662 §2.2: an inactive token says
/// nothing more). Pure.
pub fn introspect_access(
    t: &AccessTokenRecord,
    tenant: &TenantId,
    now: OffsetDateTime,
    issuer: String,
) -> Introspection {
    if t.tenant != *tenant || t.revoked_at.is_some() || t.expires_at <= now {
        return Introspection::inactive();
    }
    Introspection {
        active: true,
        scope: Some(t.scopes.clone()),
        client_id: Some(t.client_id.clone()),
        sub: Some(t.subject.to_string()),
        exp: Some(t.expires_at.unix_timestamp()),
        iat: Some(t.issued_at.unix_timestamp()),
        token_type: Some("Bearer"),
        iss: Some(issuer),
        aud: (!t.audience.is_empty()).then(|| t.audience.clone()),
    }
}

/// The answer for a refresh token introspected for `tenant` at `now`:
/// active when it is the tenant's and usable (not revoked, not rotated,
/// neither it nor its family expired). Pure.
pub fn introspect_refresh(
    t: &RefreshTokenRecord,
    tenant: &TenantId,
    now: OffsetDateTime,
    issuer: String,
) -> Introspection {
    let usable = t.tenant == *tenant
        && t.revoked_at.is_none()
        && t.rotated_at.is_none()
        && t.expires_at > now
        && t.family_expires_at > now;
    if !usable {
        return Introspection::inactive();
    }
    Introspection {
        active: true,
        scope: Some(t.scopes.clone()),
        client_id: Some(t.client_id.clone()),
        sub: Some(t.subject.to_string()),
        exp: Some(t.expires_at.unix_timestamp()),
        iat: Some(t.issued_at.unix_timestamp()),
        // Refresh tokens have no RFC 6749 §7.1 token type.
        token_type: None,
        aud: (!t.resources.is_empty()).then(|| t.resources.clone()),
        iss: Some(issuer),
    }
}

/// What a confidential client may see of an answer about `token`. A
/// confidential client of the tenant is trusted as a resource server: it
/// may introspect any access token of its tenant, which is what a resource
/// server receiving other clients' tokens needs (RFC 7662 §2.1, §4). A
/// refresh token is only ever sent to the server by the client it was
/// issued to: another client's is inactive to it. Pure.
pub fn visible_to_client(answer: Introspection, token: &str, client: &ClientId) -> Introspection {
    let another_clients_refresh_token = is_token_shape(token, REFRESH_TOKEN_PREFIX)
        && answer.client_id.as_ref().is_some_and(|c| c != client);
    if another_clients_refresh_token {
        Introspection::inactive()
    } else {
        answer
    }
}

impl AuthorizationServer {
    /// The introspection endpoint (RFC 7662), for a confidential client of the
    /// tenant authenticating as at the token endpoint ([`visible_to_client`]).
    ///
    /// # Errors
    ///
    /// `invalid_client` unless a confidential client authenticates;
    /// `invalid_request` without a `token`.
    pub async fn introspect(
        &self,
        tenant: &TenantId,
        request: &TokenRequest<'_>,
    ) -> Result<Introspection, OAuthError> {
        let params = Params::parse(request.body)?;
        let client = self
            .authenticate_client(tenant, request.authorization, &params)
            .await?;
        if client.kind != ClientKind::Confidential {
            return Err(OAuthError::invalid_client(
                "only confidential clients may introspect",
            ));
        }
        let token = params.require("token")?;
        let answer = self.introspect_token(tenant, token).await?;
        Ok(visible_to_client(answer, token, &client.id))
    }

    /// Introspects `token` for a caller already authorized to introspect the
    /// tokens of `tenant` (for example an API key with an introspection
    /// scope). Tokens of other tenants are inactive.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store fails.
    pub async fn introspect_token(
        &self,
        tenant: &TenantId,
        token: &str,
    ) -> Result<Introspection, StoreError> {
        let now = self.now();
        let digest = self.digest(token);
        let issuer = || self.config.issuer_for(tenant);
        if is_token_shape(token, ACCESS_TOKEN_PREFIX)
            && let Some(a) = self.grants.find_access_token(digest).await?
        {
            return Ok(introspect_access(&a, tenant, now, issuer()));
        }
        if is_token_shape(token, REFRESH_TOKEN_PREFIX)
            && let Some(r) = self.grants.find_refresh_token(&digest).await?
        {
            return Ok(introspect_refresh(&r, tenant, now, issuer()));
        }
        Ok(Introspection::inactive())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::fixtures::{NOW, access_token as access};

    #[test]
    fn an_active_token_says_who_what_and_until_when() {
        let acme = "acme".parse().unwrap();
        let a = introspect_access(&access(), &acme, NOW, "https://as".into());
        assert!(a.active);
        assert_eq!(a.sub.as_deref(), Some("alice"));
        assert_eq!(a.token_type, Some("Bearer"));
        assert_eq!(a.iss.as_deref(), Some("https://as"));
        for inactive in [
            AccessTokenRecord {
                revoked_at: Some(NOW),
                ..access()
            },
            AccessTokenRecord {
                expires_at: NOW,
                ..access()
            },
            AccessTokenRecord {
                tenant: "globex".parse().unwrap(),
                ..access()
            },
        ] {
            assert_eq!(
                introspect_access(&inactive, &acme, NOW, String::new()),
                Introspection::inactive()
            );
        }
    }

    #[test]
    fn another_clients_refresh_token_is_inactive_to_a_client() {
        let answer = Introspection {
            client_id: Some(ClientId::parse("spa").unwrap()),
            ..Introspection::inactive()
        };
        let mine = ClientId::parse("spa").unwrap();
        let other = ClientId::parse("rs").unwrap();
        let refresh = format!("prt_{}", "a".repeat(43));
        let access = format!("pat_{}", "a".repeat(43));
        assert_eq!(visible_to_client(answer.clone(), &refresh, &mine), answer);
        assert_eq!(
            visible_to_client(answer.clone(), &refresh, &other),
            Introspection::inactive()
        );
        assert_eq!(visible_to_client(answer.clone(), &access, &other), answer);
    }
}
