//! Client registration: the registration's rules as one pure function
//! ([`plan_registration`]), and the registry's driver.

use std::borrow::Cow;

use serde::Deserialize;
use time::{Duration, OffsetDateTime};

use super::{
    AuthorizationServer, AuthorizationServerConfig, CLIENT_SECRET_PREFIX, ClientId, ClientInfo,
    ClientKind, GrantTypes, OAuthClient, validate_redirect_uri,
};
use crate::{
    AuditEvent, AuditEventKind, ClientSecret, Digest, ScopeSet, StoreError, TenantId, audit::Actor,
    secret::random_token,
};

/// What to register: the client registration form.
#[derive(Debug, Clone, Deserialize)]
// A misspelt field is an error, not a key or client with a default
// (an `ip_allow_list` typo would otherwise make a key usable from anywhere).
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NewClient {
    /// A display name (1 to 100 characters).
    pub name: String,
    /// Public (no secret) or confidential (a secret is issued).
    pub kind: ClientKind,
    /// Redirect URIs (1 to 16), see [`validate_redirect_uri`].
    pub redirect_uris: Vec<String>,
    /// The scopes the client may be granted.
    pub allowed_scopes: ScopeSet,
    /// The scopes granted when a request names none. Defaults to none (a
    /// request must then name its scopes).
    #[serde(default)]
    pub default_scopes: ScopeSet,
    /// A chosen client id. Defaults to a random `cli_…` id.
    #[serde(default)]
    pub client_id: Option<ClientId>,
    /// Access-token lifetime in seconds for this client. Defaults to the server's.
    #[serde(default, with = "opt_seconds")]
    pub access_token_ttl: Option<Duration>,
    /// Refresh-token lifetime in seconds for this client. Defaults to the server's.
    #[serde(default, with = "opt_seconds")]
    pub refresh_token_ttl: Option<Duration>,
    /// The grants the client may use. Defaults to `authorization_code` and
    /// `refresh_token`; `client_credentials` is for confidential clients
    /// only.
    #[serde(default)]
    pub grant_types: GrantTypes,
}

mod opt_seconds {
    use serde::{Deserialize, Deserializer};
    use time::Duration;
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u32>::deserialize(d)?.map(|s| Duration::seconds(i64::from(s))))
    }
}

impl NewClient {
    /// A client of `kind` named `name` with one redirect URI and its allowed scopes.
    pub fn new(
        name: impl Into<String>,
        kind: ClientKind,
        redirect_uri: impl Into<String>,
        allowed_scopes: ScopeSet,
    ) -> Self {
        Self {
            name: name.into(),
            kind,
            redirect_uris: vec![redirect_uri.into()],
            allowed_scopes,
            default_scopes: ScopeSet::empty(),
            client_id: None,
            access_token_ttl: None,
            refresh_token_ttl: None,
            grant_types: GrantTypes::default(),
        }
    }

    /// A confidential client for machine-to-machine calls: the client
    /// credentials grant only, no redirect URI, every allowed scope by
    /// default.
    pub fn machine(name: impl Into<String>, allowed_scopes: ScopeSet) -> Self {
        Self {
            redirect_uris: Vec::new(),
            grant_types: GrantTypes::CLIENT_CREDENTIALS,
            default_scopes: allowed_scopes.clone(),
            ..Self::new(name, ClientKind::Confidential, "", allowed_scopes)
        }
    }

    /// Sets the grants the client may use.
    pub fn with_grant_types(mut self, grants: GrantTypes) -> Self {
        self.grant_types = grants;
        self
    }
    /// Uses a chosen client id.
    pub fn with_client_id(mut self, id: ClientId) -> Self {
        self.client_id = Some(id);
        self
    }
    /// Adds a redirect URI.
    pub fn with_redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uris.push(uri.into());
        self
    }
    /// Sets the default scopes.
    pub fn with_default_scopes(mut self, scopes: ScopeSet) -> Self {
        self.default_scopes = scopes;
        self
    }
    /// Sets this client's token lifetimes.
    pub fn with_token_ttls(mut self, access: Option<Duration>, refresh: Option<Duration>) -> Self {
        self.access_token_ttl = access;
        self.refresh_token_ttl = refresh;
        self
    }
}

/// A client just registered: its view, and its secret (confidential clients),
/// shown this once.
#[derive(Debug)]
#[non_exhaustive]
pub struct RegisteredClient {
    /// The client.
    pub client: ClientInfo,
    /// The secret, for confidential clients. Not stored anywhere.
    pub secret: Option<ClientSecret>,
}

/// Why a client registration failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The registration is invalid.
    #[error("invalid client registration: {0}")]
    Invalid(Cow<'static, str>),
    /// No such client in this tenant.
    #[error("no such client")]
    NotFound,
    /// The tenant has a client with this id already (ids are unique per
    /// tenant: another tenant's clients are neither visible nor in the way).
    #[error("a client with this id exists in this tenant")]
    Conflict,
    /// The store failed.
    #[error("store failure")]
    Store(#[from] StoreError),
}

/// The client `new` registers in `tenant` at `now` (its chosen id, or a
/// fresh one), with its secret's digest (confidential clients), or why it
/// is refused. Pure.
///
/// The rules: a display name (`names`: 1 to 100 characters, no control
/// characters); 1 to [`MAX_REDIRECT_URIS`](super::MAX_REDIRECT_URIS)
/// redirect URIs, each by [`validate_redirect_uri`] (RFC 6749 §3.1.2, RFC
/// 8252 §7, RFC 9700 §4.1.3); allowed scopes among the configured known
/// scopes, if any; default scopes among the allowed; token lifetimes
/// positive and within the family lifetime.
///
/// # Errors
///
/// [`ClientError::Invalid`] naming the broken rule.
pub fn plan_registration(
    tenant: &TenantId,
    new: NewClient,
    secret_digest: Option<Digest>,
    config: &AuthorizationServerConfig,
    now: OffsetDateTime,
) -> Result<OAuthClient, ClientError> {
    let invalid = |s: &'static str| ClientError::Invalid(Cow::Borrowed(s));
    crate::names::check_display_name(&new.name).map_err(invalid)?;
    if new
        .client_id
        .as_ref()
        .is_some_and(ClientId::is_metadata_url)
    {
        return Err(invalid(
            "a client id that is an https URL names a client metadata document; choose another",
        ));
    }
    let grants = new.grant_types;
    if grants.is_empty() {
        return Err(invalid("grant_types must name at least one grant"));
    }
    if grants.contains(GrantTypes::CLIENT_CREDENTIALS) && new.kind != ClientKind::Confidential {
        return Err(invalid(
            "client_credentials is for confidential clients only (RFC 6749 section 4.4)",
        ));
    }
    if grants.contains(GrantTypes::REFRESH_TOKEN)
        && !grants.contains(GrantTypes::AUTHORIZATION_CODE)
    {
        return Err(invalid(
            "refresh_token needs authorization_code (client credentials issue no refresh token)",
        ));
    }
    // Redirect URIs are for the code grant; a client-credentials-only
    // client may register none.
    let needs_redirect = grants.contains(GrantTypes::AUTHORIZATION_CODE);
    if (needs_redirect && new.redirect_uris.is_empty())
        || new.redirect_uris.len() > super::MAX_REDIRECT_URIS
    {
        return Err(invalid("register 1 to 16 redirect URIs"));
    }
    for uri in &new.redirect_uris {
        validate_redirect_uri(uri)
            .map_err(|e| ClientError::Invalid(Cow::Owned(format!("{uri}: {e}"))))?;
    }
    let known = &config.known_scopes;
    if !known.is_empty() && !known.contains_all(&new.allowed_scopes) {
        return Err(ClientError::Invalid(Cow::Owned(format!(
            "unknown scope: {}",
            known.missing_from(&new.allowed_scopes)
        ))));
    }
    if !new.allowed_scopes.contains_all(&new.default_scopes) {
        return Err(invalid("default_scopes must be among allowed_scopes"));
    }
    for ttl in [new.access_token_ttl, new.refresh_token_ttl]
        .into_iter()
        .flatten()
    {
        if !ttl.is_positive() || ttl > config.refresh_family_lifetime {
            return Err(invalid(
                "token lifetimes must be positive and within the family lifetime",
            ));
        }
    }
    Ok(OAuthClient {
        id: new.client_id.unwrap_or_else(ClientId::generate),
        tenant: tenant.clone(),
        name: new.name,
        kind: new.kind,
        secret_digest,
        redirect_uris: new.redirect_uris,
        allowed_scopes: new.allowed_scopes,
        default_scopes: new.default_scopes,
        access_token_ttl: new.access_token_ttl,
        refresh_token_ttl: new.refresh_token_ttl,
        created_at: now,
        grant_types: grants,
        registration_digest: None,
    })
}

impl AuthorizationServer {
    /// Registers a client ([`plan_registration`]'s rules). A confidential
    /// client's secret is in the result and nowhere else (only its digest is
    /// stored).
    ///
    /// # Errors
    ///
    /// [`ClientError::Invalid`] for a bad name, redirect URI or scope set;
    /// [`ClientError::Conflict`] when the tenant has a client with the
    /// chosen id; [`ClientError::Store`] when the store fails.
    pub async fn register_client(
        &self,
        tenant: &TenantId,
        new: NewClient,
        actor: &Actor,
    ) -> Result<RegisteredClient, ClientError> {
        self.register_client_with(tenant, new, actor, None).await
    }

    /// [`register_client`](Self::register_client), keeping the digest of a
    /// registration access token (RFC 7592) with the client.
    pub(super) async fn register_client_with(
        &self,
        tenant: &TenantId,
        new: NewClient,
        actor: &Actor,
        registration_digest: Option<Digest>,
    ) -> Result<RegisteredClient, ClientError> {
        let now = self.now();
        let secret = (new.kind == ClientKind::Confidential)
            .then(|| ClientSecret::new(random_token(CLIENT_SECRET_PREFIX)));
        let digest = secret.as_ref().map(|s| self.digest(s.expose_secret()));
        let mut client = plan_registration(tenant, new, digest, &self.config, now)?;
        client.registration_digest = registration_digest;
        self.clients.insert(&client).await.map_err(|e| {
            if e.kind() == crate::StoreErrorKind::Conflict {
                ClientError::Conflict
            } else {
                ClientError::Store(e)
            }
        })?;
        self.emit(
            AuditEvent::new(
                now,
                tenant.clone(),
                actor.clone(),
                AuditEventKind::ClientRegistered,
            )
            .with_client(client.id.clone()),
        )
        .await;
        Ok(RegisteredClient {
            client: client.info(),
            secret,
        })
    }

    /// One client of `tenant`.
    ///
    /// # Errors
    ///
    /// [`ClientError::NotFound`] if the tenant has no such client.
    pub async fn get_client(
        &self,
        tenant: &TenantId,
        id: &ClientId,
    ) -> Result<ClientInfo, ClientError> {
        match self.clients.get(tenant, id).await? {
            Some(c) if c.tenant == *tenant => Ok(c.info()),
            _ => Err(ClientError::NotFound),
        }
    }

    /// Deletes a client of `tenant` and revokes every token issued to it
    /// (each of its token families, as a reuse would: refresh tokens,
    /// access tokens, and the family, so that a grant in flight cannot add
    /// to it). Audited.
    ///
    /// # Errors
    ///
    /// [`ClientError::NotFound`] if the tenant has no such client;
    /// [`ClientError::Store`] when a store fails (or cannot delete clients
    /// or find a client's tokens).
    pub async fn delete_client(
        &self,
        tenant: &TenantId,
        id: &ClientId,
        actor: &Actor,
    ) -> Result<(), ClientError> {
        if !self.clients.delete(tenant, id).await? {
            return Err(ClientError::NotFound);
        }
        let now = self.now();
        let mut revoked = 0;
        for family in self.grants.families_of_client(tenant, id).await? {
            revoked += self.grants.revoke_family(&family, now).await?;
        }
        self.emit(
            AuditEvent::new(
                now,
                tenant.clone(),
                actor.clone(),
                AuditEventKind::ClientDeleted { revoked },
            )
            .with_client(id.clone()),
        )
        .await;
        Ok(())
    }

    /// Every client of `tenant`.
    ///
    /// # Errors
    ///
    /// [`ClientError::Store`] when the store fails.
    pub async fn list_clients(&self, tenant: &TenantId) -> Result<Vec<ClientInfo>, ClientError> {
        let mut list: Vec<ClientInfo> = self
            .clients
            .list(tenant)
            .await?
            .into_iter()
            .filter(|c| c.tenant == *tenant)
            .map(|c| c.info())
            .collect();
        list.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

    fn spa() -> NewClient {
        NewClient::new(
            "Portal",
            ClientKind::Public,
            "https://app.example.com/cb",
            "documents:read documents:write".parse().unwrap(),
        )
    }

    fn plan(new: NewClient) -> Result<OAuthClient, ClientError> {
        let config = AuthorizationServerConfig::new("https://as.example".parse().unwrap())
            .with_known_scopes("documents:read documents:write".parse().unwrap());
        plan_registration(&"acme".parse().unwrap(), new, None, &config, NOW)
    }

    #[test]
    fn a_valid_registration_is_the_client_as_stored() {
        let c = plan(spa().with_client_id(ClientId::parse("portal").unwrap())).unwrap();
        assert_eq!(c.id.as_str(), "portal");
        assert_eq!(c.created_at, NOW);
        assert!(plan(spa()).unwrap().id.as_str().starts_with("cli_"));
    }

    #[test]
    fn each_rule_refuses() {
        let invalid = |new: NewClient| matches!(plan(new), Err(ClientError::Invalid(_)));
        let mut bad = spa();
        bad.name = " ".into();
        assert!(invalid(bad), "blank name");
        let mut bad = spa();
        bad.redirect_uris.clear();
        assert!(invalid(bad), "no redirect URI");
        assert!(invalid(
            spa().with_redirect_uri("https://a.example/cb#frag")
        ));
        assert!(invalid(
            spa().with_default_scopes("analytics:read".parse().unwrap())
        ));
        assert!(invalid(
            spa().with_token_ttls(Some(Duration::seconds(0)), None)
        ));
        assert!(invalid(
            spa().with_token_ttls(None, Some(Duration::days(10_000)))
        ));
        let mut unknown = spa();
        unknown.allowed_scopes = "nonsense:scope".parse().unwrap();
        assert!(invalid(unknown), "a scope outside the known ones");
    }
}
