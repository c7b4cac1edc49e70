//! The client credentials grant (RFC 6749 §4.4): a confidential client
//! acting for itself, machine to machine.

use std::sync::Arc;

use super::{
    AuthorizationServer, ClientKind, FamilyId, GrantTypes, InsertTokens, OAuthClient, OAuthError,
    TokenResponse, params::Params, plan_new_resources, plan_requested_scopes, requested_resources,
    server::Mint,
};
use crate::{AuditEventKind, TenantId, audit::Actor};

impl AuthorizationServer {
    /// `grant_type=client_credentials`, for an authenticated client: an
    /// access token whose subject is the client itself, no refresh token
    /// (RFC 6749 §4.4.3), bound to the named resources (RFC 8707).
    pub(super) async fn client_credentials(
        &self,
        tenant: &TenantId,
        client: &OAuthClient,
        params: &Params<'_>,
    ) -> Result<TokenResponse, OAuthError> {
        if client.kind != ClientKind::Confidential
            || !client.grant_types.contains(GrantTypes::CLIENT_CREDENTIALS)
        {
            return Err(OAuthError::unauthorized_client(
                "this client is not registered for the client_credentials grant",
            ));
        }
        let scopes =
            plan_requested_scopes(params.get("scope")?, client, &self.config.known_scopes)?;
        let audience = plan_new_resources(
            &requested_resources(params)?,
            &self.config.resources_for(tenant),
        )?;
        let now = self.now();
        let family = FamilyId::generate();
        let subject: Arc<str> = Arc::from(client.id.as_str());
        let (response, tokens) = self.new_tokens(
            Mint {
                client,
                family: &family,
                subject: &subject,
                access_scopes: &scopes,
                family_scopes: &scopes,
                audience: &audience,
                family_resources: &audience,
                family_expires_at: None,
                handle: None,
                with_refresh: false,
            },
            now,
        );
        match self.grants.insert_tokens(tokens).await? {
            InsertTokens::Inserted => {}
            // A new family: nobody could have revoked it.
            InsertTokens::FamilyRevoked => return Err(OAuthError::unavailable()),
        }
        self.emit(
            crate::AuditEvent::new(
                now,
                tenant.clone(),
                Actor::Client {
                    client_id: client.id.clone(),
                },
                AuditEventKind::TokensIssued { family, scopes },
            )
            .with_client(client.id.clone())
            .with_subject(&*subject),
        )
        .await;
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ScopeSet,
        oauth::{OAuthErrorCode, fixtures},
    };

    #[test]
    fn scopes_within_the_clients() {
        let client = OAuthClient {
            allowed_scopes: "documents:read analytics:read".parse().unwrap(),
            default_scopes: "documents:read".parse().unwrap(),
            ..fixtures::client()
        };
        let none = ScopeSet::empty();
        assert_eq!(
            plan_requested_scopes(None, &client, &none)
                .unwrap()
                .to_string(),
            "documents:read"
        );
        assert_eq!(
            plan_requested_scopes(Some("analytics:read"), &client, &none)
                .unwrap()
                .to_string(),
            "analytics:read"
        );
        for bad in ["documents:write", "", "a b\u{7f}"] {
            assert_eq!(
                plan_requested_scopes(Some(bad), &client, &none)
                    .unwrap_err()
                    .code,
                OAuthErrorCode::InvalidScope,
                "{bad:?}"
            );
        }
        let known: ScopeSet = "documents:read".parse().unwrap();
        assert!(plan_requested_scopes(Some("analytics:read"), &client, &known).is_err());
    }
}
