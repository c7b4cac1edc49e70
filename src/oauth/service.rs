//! The authorization server: the OAuth 2.0 endpoints as async methods over
//! the client and grant stores.

use std::{borrow::Cow, sync::Arc};

use serde::Deserialize;
use time::{Duration, OffsetDateTime};

use super::{
    AccessTokenRecord, AuthorizationCodeRecord, AuthorizationRequest, AuthorizationServerConfig,
    AuthorizeError, ClientId, ClientInfo, ClientKind, ClientStore, ConsumeCode, ErrorRedirect,
    FamilyId, GrantStore, InsertTokens, Introspection, NewTokens, OAuthClient, OAuthError,
    OAuthErrorCode, RefreshTokenRecord, RotateRefresh, ServerMetadata, TokenRequest, TokenResponse,
    ValidatedAuthorization,
    authorize::AuthorizePolicy,
    decide::{self, CodeCheck, RefreshDecision},
    params::Params,
    token::client_credentials,
    validate_redirect_uri,
};
use crate::{
    AccessToken, Actor, AuditEvent, AuditEventKind, AuditSink, AuthError, AuthorizationCode,
    ClientSecret, Clock, Digest, Principal, RefreshToken, Rejection, ScopeSet, StoreError,
    SystemClock, TenantId,
    secret::{family_handle, is_token_shape, random_token, random_token_in_family},
};

/// Prefix of access tokens.
pub const ACCESS_TOKEN_PREFIX: &str = "pat_";
/// Prefix of refresh tokens.
pub const REFRESH_TOKEN_PREFIX: &str = "prt_";
/// Prefix of authorization codes.
pub const CODE_PREFIX: &str = "pac_";
/// Prefix of client secrets.
pub const CLIENT_SECRET_PREFIX: &str = "pcs_";

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
        }
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

/// The OAuth 2.0 authorization server (authorization code + PKCE, refresh
/// rotation, revocation, introspection, metadata), multi-tenant.
///
/// Login and consent belong to the embedding application:
/// [`authorize`](Self::authorize) validates the request, the application
/// authenticates the user and asks for consent, then
/// [`approve`](Self::approve) (or [`deny`](Self::deny)) gives the redirect.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use papyrus_auth::{
///     Actor, MemoryAuditLog, MemoryClientStore, MemoryGrantStore,
///     oauth::{AuthorizationServer, ClientKind, CodeChallenge, NewClient, TokenRequest},
/// };
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let server = AuthorizationServer::new(
///     Arc::new(MemoryClientStore::new()),
///     Arc::new(MemoryGrantStore::new()),
///     Arc::new(MemoryAuditLog::new()),
/// );
/// let acme = "acme".parse()?;
/// let client = server
///     .register_client(&acme, NewClient::new("portal", ClientKind::Public,
///         "https://app.example.com/callback", "documents:read".parse()?), &Actor::System)
///     .await?
///     .client;
///
/// // The browser arrives at /oauth/authorize with a PKCE challenge.
/// let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// let query = format!(
///     "response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback\
///      &scope=documents%3Aread&code_challenge={}&code_challenge_method=S256&state=xyz",
///     client.client_id, CodeChallenge::s256_of(verifier).as_str());
/// let request = server.authorize(&acme, &query).await?;
///
/// // The application logs the user in and asks for consent, then:
/// let location = server.approve(&request, "alice", &request.scopes).await?;
/// let code = location.split("code=").nth(1).unwrap().split('&').next().unwrap();
///
/// // The client exchanges the code.
/// let body = format!(
///     "grant_type=authorization_code&code={code}&client_id={}\
///      &redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback&code_verifier={verifier}",
///     client.client_id);
/// let tokens = server.token(&acme, &TokenRequest::new(None, &body)).await?;
/// assert_eq!(tokens.expires_in, 3600);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct AuthorizationServer {
    clients: Arc<dyn ClientStore>,
    grants: Arc<dyn GrantStore>,
    audit: Arc<dyn AuditSink>,
    clock: Arc<dyn Clock>,
    config: Arc<AuthorizationServerConfig>,
}

impl AuthorizationServer {
    /// A server over these stores, with the system clock and the default
    /// [`AuthorizationServerConfig`].
    pub fn new(
        clients: Arc<dyn ClientStore>,
        grants: Arc<dyn GrantStore>,
        audit: Arc<dyn AuditSink>,
    ) -> Self {
        Self {
            clients,
            grants,
            audit,
            clock: Arc::new(SystemClock),
            config: Arc::new(AuthorizationServerConfig::default()),
        }
    }

    /// Uses `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The time now, by the server's clock (for the HTTP layer's audit events).
    pub(crate) fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Uses `config`.
    pub fn with_config(mut self, config: AuthorizationServerConfig) -> Self {
        self.config = Arc::new(config);
        self
    }

    /// The configuration in use.
    pub fn config(&self) -> &AuthorizationServerConfig {
        &self.config
    }

    /// The grant store in use.
    pub fn grants(&self) -> &Arc<dyn GrantStore> {
        &self.grants
    }

    // ----- clients -------------------------------------------------------

    /// Registers a client. A confidential client's secret is in the result
    /// and nowhere else (only its digest is stored).
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
        let invalid = |s: &'static str| ClientError::Invalid(Cow::Borrowed(s));
        if new.name.trim().is_empty()
            || new.name.chars().count() > 100
            || new.name.chars().any(char::is_control)
        {
            return Err(invalid(
                "name must be 1 to 100 characters without control characters",
            ));
        }
        if new.redirect_uris.is_empty() || new.redirect_uris.len() > super::MAX_REDIRECT_URIS {
            return Err(invalid("register 1 to 16 redirect URIs"));
        }
        for uri in &new.redirect_uris {
            validate_redirect_uri(uri)
                .map_err(|e| ClientError::Invalid(Cow::Owned(format!("{uri}: {e}"))))?;
        }
        let known = &self.config.known_scopes;
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
            if !ttl.is_positive() || ttl > self.config.refresh_family_lifetime {
                return Err(invalid(
                    "token lifetimes must be positive and within the family lifetime",
                ));
            }
        }
        let now = self.clock.now();
        let secret = (new.kind == ClientKind::Confidential)
            .then(|| ClientSecret::new(random_token(CLIENT_SECRET_PREFIX)));
        let client = OAuthClient {
            id: new.client_id.unwrap_or_else(ClientId::generate),
            tenant: tenant.clone(),
            name: new.name,
            kind: new.kind,
            secret_digest: secret.as_ref().map(|s| self.digest(s.expose_secret())),
            redirect_uris: new.redirect_uris,
            allowed_scopes: new.allowed_scopes,
            default_scopes: new.default_scopes,
            access_token_ttl: new.access_token_ttl,
            refresh_token_ttl: new.refresh_token_ttl,
            created_at: now,
        };
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

    // ----- authorization endpoint ---------------------------------------

    /// Validates an authorization request (the query of `GET
    /// /oauth/authorize`). On success, the application authenticates the
    /// user, shows the consent page for the returned request, and calls
    /// [`approve`](Self::approve) or [`deny`](Self::deny).
    ///
    /// # Errors
    ///
    /// [`AuthorizeError::NoRedirect`] (show an error page) or
    /// [`AuthorizeError::Redirect`] (send the user agent back with the error).
    pub async fn authorize(
        &self,
        tenant: &TenantId,
        query: &str,
    ) -> Result<ValidatedAuthorization, AuthorizeError> {
        let request = AuthorizationRequest::parse(query)?;
        let client = self
            .clients
            .get(tenant, request.client_id())
            .await
            .map_err(|e| AuthorizeError::NoRedirect(e.into()))?;
        let issuer = self.config.issuer_for(tenant);
        request.validate(
            tenant,
            client.as_deref(),
            AuthorizePolicy {
                issuer: &issuer,
                known_scopes: &self.config.known_scopes,
                allow_plain_pkce: self.config.dangerous_options().allow_plain_pkce,
            },
        )
    }

    /// Issues an authorization code for `subject`, who approved `approved`
    /// (a subset of the requested scopes), and returns the redirect
    /// `Location`: `redirect_uri?code=…&state=…&iss=…`.
    ///
    /// # Errors
    ///
    /// `invalid_scope` if `approved` is empty or not within the request's
    /// scopes; `temporarily_unavailable` when the store fails.
    pub async fn approve(
        &self,
        request: &ValidatedAuthorization,
        subject: &str,
        approved: &ScopeSet,
    ) -> Result<String, OAuthError> {
        if approved.is_empty() || !request.scopes.contains_all(approved) {
            return Err(OAuthError::invalid_scope(
                "approved scopes must be a non-empty subset of the requested scopes",
            ));
        }
        if subject.is_empty() || subject.len() > 256 {
            return Err(OAuthError::invalid_request(
                "subject must be 1 to 256 bytes",
            ));
        }
        let approved = &approved.interned_in(&request.scopes);
        let now = self.clock.now();
        let code = AuthorizationCode::new(random_token(CODE_PREFIX));
        let record = AuthorizationCodeRecord {
            digest: self.digest(code.expose_secret()),
            family: FamilyId::generate(),
            tenant: request.tenant.clone(),
            client_id: request.client.client_id.clone(),
            redirect_uri: request
                .redirect_uri_sent
                .then(|| request.redirect_uri.clone()),
            subject: subject.into(),
            scopes: approved.clone(),
            challenge: request.challenge.clone(),
            issued_at: now,
            expires_at: now.saturating_add(self.config.effective_code_ttl()),
            consumed_at: None,
        };
        self.grants.insert_code(record).await?;
        self.emit(
            AuditEvent::new(
                now,
                request.tenant.clone(),
                Actor::User {
                    subject: subject.to_owned(),
                },
                AuditEventKind::CodeIssued {
                    scopes: approved.clone(),
                },
            )
            .with_client(request.client.client_id.clone())
            .with_subject(subject),
        )
        .await;
        Ok(request.success_location(code.expose_secret()))
    }

    /// The user declined: the redirect carrying `error=access_denied`.
    pub async fn deny(
        &self,
        request: &ValidatedAuthorization,
        subject: Option<&str>,
    ) -> ErrorRedirect {
        let actor = subject.map_or(Actor::System, |s| Actor::User {
            subject: s.to_owned(),
        });
        let mut event = AuditEvent::new(
            self.clock.now(),
            request.tenant.clone(),
            actor,
            AuditEventKind::AuthorizationDenied,
        )
        .with_client(request.client.client_id.clone());
        if let Some(s) = subject {
            event = event.with_subject(s);
        }
        self.emit(event).await;
        request.error_redirect(OAuthError::new(
            OAuthErrorCode::AccessDenied,
            "the user denied the request",
        ))
    }

    // ----- token endpoint -----------------------------------------------

    /// The token endpoint (RFC 6749 §4.1.3 and §6): `authorization_code` and
    /// `refresh_token` grants.
    ///
    /// # Errors
    ///
    /// An [`OAuthError`] with the RFC 6749 §5.2 code; map it with
    /// [`crate::http::oauth_error_response`].
    pub async fn token(
        &self,
        tenant: &TenantId,
        request: &TokenRequest<'_>,
    ) -> Result<TokenResponse, OAuthError> {
        let params = Params::parse(request.body)?;
        let grant_type = params.require("grant_type")?;
        if !matches!(grant_type, "authorization_code" | "refresh_token") {
            return Err(OAuthError::new(
                OAuthErrorCode::UnsupportedGrantType,
                "supported grant types: authorization_code, refresh_token",
            ));
        }
        let client = self
            .authenticate_client(tenant, request.authorization, &params)
            .await?;
        match grant_type {
            "authorization_code" => self.exchange_code(tenant, &client, &params).await,
            _ => self.refresh(tenant, &client, &params).await,
        }
    }

    async fn exchange_code(
        &self,
        tenant: &TenantId,
        client: &OAuthClient,
        params: &Params<'_>,
    ) -> Result<TokenResponse, OAuthError> {
        let code = params.require("code")?;
        let verifier = crate::PkceVerifier::new(params.get("code_verifier")?.ok_or_else(|| {
            OAuthError::invalid_request("missing code_verifier (PKCE is required)")
        })?);
        if !super::pkce::is_valid_verifier_syntax(verifier.expose_secret()) {
            return Err(OAuthError::invalid_request(
                "code_verifier must be 43 to 128 unreserved characters",
            ));
        }
        let redirect_uri = params.get("redirect_uri")?;
        let now = self.clock.now();
        let digest = self.digest(code);
        let Some(record) = self.grants.find_code(&digest).await? else {
            return Err(OAuthError::unknown_grant("unknown authorization code"));
        };
        if record.tenant != *tenant || record.client_id != client.id {
            // Someone else's code: refused, with no side effect on its tokens.
            return Err(OAuthError::invalid_grant(
                "authorization code was not issued to this client",
            ));
        }
        if record.consumed_at.is_some() {
            return Err(self.code_replayed(&record, client, now).await?);
        }
        if let CodeCheck::Invalid(e) =
            decide::check_code(&record, tenant, client, redirect_uri, &verifier, now)
        {
            return Err(e);
        }
        let (response, tokens) = self.new_tokens(
            client,
            &record.family,
            &record.subject,
            &record.scopes,
            &record.scopes,
            now,
            None,
            None,
        );
        let issued = AuditEventKind::TokensIssued {
            family: record.family.clone(),
            scopes: record.scopes.clone(),
        };
        let subject = Arc::clone(&record.subject);
        // Let go of the stored record before the store marks it consumed:
        // held here, it would be copied on write.
        drop(record);
        match self.grants.consume_code(&digest, now, tokens).await? {
            ConsumeCode::Consumed => {}
            ConsumeCode::AlreadyConsumed(r) => {
                return Err(self.code_replayed(&r, client, now).await?);
            }
            ConsumeCode::Unknown => {
                return Err(OAuthError::unknown_grant("unknown authorization code"));
            }
            ConsumeCode::FamilyRevoked => {
                return Err(OAuthError::invalid_grant("authorization code revoked"));
            }
        }
        self.emit(
            AuditEvent::new(
                now,
                tenant.clone(),
                Actor::Client {
                    client_id: client.id.clone(),
                },
                issued,
            )
            .with_client(client.id.clone())
            .with_subject(&*subject),
        )
        .await;
        Ok(response)
    }

    async fn refresh(
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
        let now = self.clock.now();
        let digest = self.digest(token);
        let Some(mut record) = self.grants.find_refresh_token(&digest).await? else {
            return Err(self.unknown_refresh(tenant, client, handle, now).await?);
        };
        // At most two rounds: a lost race turns into the reuse (or grace) path.
        for _ in 0..2 {
            let decision = decide::check_refresh(
                &record,
                tenant,
                &client.id,
                requested.as_ref(),
                now,
                self.config.effective_grace(),
            );
            let (access_scopes, grace) = match decision {
                RefreshDecision::Invalid(e) => return Err(e),
                RefreshDecision::Reuse => {
                    return Err(self.reuse_detected(&record, client, now).await?);
                }
                RefreshDecision::GraceReissue { access_scopes } => (access_scopes, true),
                RefreshDecision::Rotate { access_scopes } => (access_scopes, false),
            };
            let (response, tokens) = self.new_tokens(
                client,
                &record.family,
                &record.subject,
                &access_scopes,
                &record.scopes,
                now,
                Some(record.family_expires_at),
                Some((handle, record.handle)),
            );
            // The family and subject are all the audit event needs of the
            // old token from here on.
            let (family, subject) = (record.family.clone(), Arc::clone(&record.subject));
            let stored = if grace {
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
                // Rotated tokens are forgotten once past the grace window: a
                // later replay is still a reuse, by its family handle.
                let forget_before = now.saturating_sub(self.config.effective_grace());
                match self
                    .grants
                    .rotate_refresh(&digest, tokens, now, forget_before)
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
            self.emit_rotated(tenant, client, family, &subject, access_scopes, now)
                .await;
            return Ok(response);
        }
        Err(self.reuse_detected(&record, client, now).await?)
    }

    /// A refresh token whose digest is not stored. If its family handle
    /// belongs to a family of this client, it is one of the family's
    /// rotated (and forgotten) tokens, or a forgery by someone who held one:
    /// a reuse, which revokes the family. Otherwise it is unknown.
    async fn unknown_refresh(
        &self,
        tenant: &TenantId,
        client: &OAuthClient,
        handle: &str,
        now: OffsetDateTime,
    ) -> Result<OAuthError, StoreError> {
        let handle = self.digest(handle);
        match self.grants.find_refresh_by_handle(&handle).await? {
            // Another tenant's or client's family: refused with no side effect.
            Some(r) if r.tenant == *tenant && r.client_id == client.id => {
                if r.revoked_at.is_some() {
                    Ok(OAuthError::invalid_grant("refresh token revoked"))
                } else {
                    self.reuse_detected(&r, client, now).await
                }
            }
            _ => Ok(OAuthError::unknown_grant("unknown refresh token")),
        }
    }

    /// A consumed code was presented again: revoke every token issued from it.
    async fn code_replayed(
        &self,
        record: &AuthorizationCodeRecord,
        client: &OAuthClient,
        now: OffsetDateTime,
    ) -> Result<OAuthError, StoreError> {
        let issued = (&record.tenant, &record.client_id, &*record.subject);
        self.revoke_family_after_replay(&record.family, issued, client, now, |family, revoked| {
            AuditEventKind::CodeReplayDetected { family, revoked }
        })
        .await?;
        Ok(OAuthError::invalid_grant(
            "authorization code already used; tokens issued from it are revoked",
        ))
    }
    async fn emit_rotated(
        &self,
        tenant: &TenantId,
        client: &OAuthClient,
        family: FamilyId,
        subject: &str,
        scopes: ScopeSet,
        now: OffsetDateTime,
    ) {
        self.emit(
            AuditEvent::new(
                now,
                tenant.clone(),
                Actor::Client {
                    client_id: client.id.clone(),
                },
                AuditEventKind::RefreshRotated { family, scopes },
            )
            .with_client(client.id.clone())
            .with_subject(subject),
        )
        .await;
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

    /// Revokes `family` after a replay by `presenter`, and audits it (with
    /// `kind`) in the tenant the family was issued in.
    async fn revoke_family_after_replay(
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

    #[allow(clippy::too_many_arguments)] // One call site per grant; a struct would only rename them.
    fn new_tokens(
        &self,
        client: &OAuthClient,
        family: &FamilyId,
        subject: &Arc<str>,
        access_scopes: &ScopeSet,
        family_scopes: &ScopeSet,
        now: OffsetDateTime,
        family_expires_at: Option<OffsetDateTime>,
        handle: Option<(&str, Option<Digest>)>,
    ) -> (TokenResponse, NewTokens) {
        let access_scopes = &access_scopes.interned_in(family_scopes);
        let access_ttl = client
            .access_token_ttl
            .unwrap_or(self.config.access_token_ttl);
        let family_expires_at =
            family_expires_at.unwrap_or(now.saturating_add(self.config.refresh_family_lifetime));
        let refresh_ttl = client
            .refresh_token_ttl
            .unwrap_or(self.config.refresh_token_ttl);
        let refresh_expires_at = now.saturating_add(refresh_ttl).min(family_expires_at);
        let access_token = AccessToken::new(random_token(ACCESS_TOKEN_PREFIX));
        // The family's handle (a new family draws one), then the token's own
        // secret.
        let refresh_token = RefreshToken::new(random_token_in_family(
            REFRESH_TOKEN_PREFIX,
            handle.map(|(h, _)| h),
        ));
        // The presented token's record holds the handle's digest already,
        // unless it predates handles or the hasher (pepper) changed since.
        let handle_digest = match handle {
            Some((_, Some(d))) if d.version() == self.config.hasher.version() => d,
            _ => self.digest(family_handle(
                refresh_token.expose_secret(),
                REFRESH_TOKEN_PREFIX,
            )),
        };
        let access = AccessTokenRecord {
            digest: self.digest(access_token.expose_secret()),
            family: family.clone(),
            tenant: client.tenant.clone(),
            client_id: client.id.clone(),
            subject: Arc::clone(subject),
            scopes: access_scopes.clone(),
            issued_at: now,
            expires_at: now.saturating_add(access_ttl),
            revoked_at: None,
        };
        let refresh = RefreshTokenRecord {
            digest: self.digest(refresh_token.expose_secret()),
            handle: Some(handle_digest),
            family: family.clone(),
            tenant: client.tenant.clone(),
            client_id: client.id.clone(),
            subject: Arc::clone(subject),
            scopes: family_scopes.clone(),
            issued_at: now,
            expires_at: refresh_expires_at,
            family_expires_at,
            rotated_at: None,
            revoked_at: None,
        };
        let response = TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: access_ttl.whole_seconds(),
            refresh_token: Some(refresh_token),
            scope: access_scopes.clone(),
        };
        let tokens = NewTokens {
            access,
            refresh: Some(refresh),
        };
        (response, tokens)
    }

    /// Authenticates the client of a token, revocation or introspection request.
    async fn authenticate_client(
        &self,
        tenant: &TenantId,
        authorization: Option<&str>,
        params: &Params<'_>,
    ) -> Result<Arc<OAuthClient>, OAuthError> {
        let creds = client_credentials(authorization, params)?;
        let client = self.clients.get(tenant, &creds.client_id).await?;
        let outcome = decide::check_client(client.as_deref(), tenant, &creds, &self.config.hasher);
        match outcome {
            Ok(()) => {
                client.ok_or_else(|| OAuthError::invalid_client("client authentication failed"))
            }
            Err(reason) => {
                self.emit(
                    AuditEvent::new(
                        self.clock.now(),
                        tenant.clone(),
                        Actor::Client {
                            client_id: creds.client_id.clone(),
                        },
                        AuditEventKind::ClientAuthFailed {
                            reason: reason.to_owned(),
                        },
                    )
                    .with_client(creds.client_id.clone()),
                )
                .await;
                Err(OAuthError::invalid_client("client authentication failed")
                    .with_basic_challenge(creds.basic))
            }
        }
    }

    // ----- revocation, introspection, metadata ---------------------------

    /// The revocation endpoint (RFC 7009). The client authenticates as at the
    /// token endpoint. Revoking a refresh token revokes its whole family;
    /// revoking an access token revokes that token.
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
        let now = self.clock.now();
        let digest = self.digest(token);
        let owned = |t: &TenantId, c: &ClientId| *t == *tenant && *c == client.id;
        let family = if is_token_shape(token, REFRESH_TOKEN_PREFIX) {
            // A rotated token the store has forgotten still names its family.
            let found = match self.grants.find_refresh_token(&digest).await? {
                Some(r) => Some(r),
                None => {
                    let handle = self.digest(family_handle(token, REFRESH_TOKEN_PREFIX));
                    self.grants.find_refresh_by_handle(&handle).await?
                }
            };
            match found {
                Some(r) if owned(&r.tenant, &r.client_id) => Some((
                    r.family.clone(),
                    self.grants.revoke_family(&r.family, now).await?,
                )),
                _ => None,
            }
        } else if is_token_shape(token, ACCESS_TOKEN_PREFIX) {
            match self.grants.find_access_token(&digest).await? {
                Some(a) if owned(&a.tenant, &a.client_id) => {
                    let n = u64::from(self.grants.revoke_access_token(&digest, now).await?);
                    Some((a.family.clone(), n))
                }
                _ => None,
            }
        } else {
            None
        };
        if let Some((family, revoked)) = family {
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
        }
        Ok(())
    }

    /// The introspection endpoint (RFC 7662), for a confidential client of the
    /// tenant authenticating as at the token endpoint.
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
        // A confidential client of the tenant is trusted as a resource server:
        // it may introspect any access token of its tenant, which is what a
        // resource server receiving other clients' tokens needs (RFC 7662
        // §2.1, §4). A refresh token is only ever sent to the server by the
        // client it was issued to: another client's is inactive to it.
        let answer = self.introspect_token(tenant, token).await?;
        if is_token_shape(token, REFRESH_TOKEN_PREFIX)
            && answer.client_id.as_ref().is_some_and(|c| *c != client.id)
        {
            return Ok(Introspection::inactive());
        }
        Ok(answer)
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
        let now = self.clock.now();
        let digest = self.digest(token);
        let iss = Some(self.config.issuer_for(tenant));
        if is_token_shape(token, ACCESS_TOKEN_PREFIX)
            && let Some(a) = self.grants.find_access_token(&digest).await?
            && decide::access_token_active(&a, tenant, now)
        {
            return Ok(Introspection {
                active: true,
                scope: Some(a.scopes.clone()),
                client_id: Some(a.client_id.clone()),
                sub: Some(a.subject.to_string()),
                exp: Some(a.expires_at.unix_timestamp()),
                iat: Some(a.issued_at.unix_timestamp()),
                token_type: Some("Bearer"),
                iss,
            });
        }
        if is_token_shape(token, REFRESH_TOKEN_PREFIX)
            && let Some(r) = self.grants.find_refresh_token(&digest).await?
            && decide::refresh_token_active(&r, tenant, now)
        {
            return Ok(Introspection {
                active: true,
                scope: Some(r.scopes.clone()),
                client_id: Some(r.client_id.clone()),
                sub: Some(r.subject.to_string()),
                exp: Some(r.expires_at.unix_timestamp()),
                iat: Some(r.issued_at.unix_timestamp()),
                // Refresh tokens have no RFC 6749 §7.1 token type.
                token_type: None,
                iss,
            });
        }
        Ok(Introspection::inactive())
    }

    /// Validates an OAuth access token presented as a bearer credential to a
    /// resource, for `tenant`, requiring `required`.
    ///
    /// # Errors
    ///
    /// [`AuthError::Rejected`]: malformed, unknown, wrong tenant, revoked,
    /// expired, or insufficient scope. [`AuthError::Store`] when the store fails.
    pub async fn validate_access_token(
        &self,
        token: &str,
        tenant: &TenantId,
        required: &ScopeSet,
    ) -> Result<Principal, AuthError> {
        self.validate_access_token_in(token, tenant.as_str(), required)
            .await
    }

    /// [`AuthorizationServer::validate_access_token`] for a validated tenant
    /// name (read from a header without allocating).
    pub(crate) async fn validate_access_token_in(
        &self,
        token: &str,
        tenant: &str,
        required: &ScopeSet,
    ) -> Result<Principal, AuthError> {
        let digest = self.checked_digest(token)?;
        let found = match self.grants.find_access_token_now(&digest) {
            Some(found) => found,
            None => {
                let timer = crate::metrics::StoreTimer::start("find_access_token");
                let found = self.grants.find_access_token(&digest).await;
                timer.stop();
                found
            }
        };
        self.verify_found(found, &digest, tenant, required)
    }

    /// The validation without waiting on the store: `None` when the store
    /// cannot answer synchronously (see [`GrantStore::find_access_token_now`]).
    pub(crate) fn validate_access_token_now(
        &self,
        token: &str,
        tenant: &str,
        required: &ScopeSet,
    ) -> Option<Result<Principal, AuthError>> {
        let digest = match self.checked_digest(token) {
            Ok(digest) => digest,
            Err(e) => return Some(Err(e)),
        };
        let found = self.grants.find_access_token_now(&digest)?;
        Some(self.verify_found(found, &digest, tenant, required))
    }

    /// The access token's digest, if it has the token shape: anything else
    /// is refused before any digest or lookup.
    fn checked_digest(&self, token: &str) -> Result<Digest, AuthError> {
        if !is_token_shape(token, ACCESS_TOKEN_PREFIX) {
            return Err(Rejection::Malformed.into());
        }
        Ok(self.digest(token))
    }

    fn verify_found(
        &self,
        found: Result<Option<Arc<AccessTokenRecord>>, StoreError>,
        digest: &Digest,
        tenant: &str,
        required: &ScopeSet,
    ) -> Result<Principal, AuthError> {
        let record = found?.ok_or(Rejection::Unknown)?;
        decide::verify_access_token(&record, digest, tenant, required, self.clock.now())?;
        Ok(Principal::verified(record))
    }

    /// The server metadata of `tenant` (RFC 8414), served at
    /// `/.well-known/oauth-authorization-server`.
    pub fn metadata(&self, tenant: &TenantId) -> ServerMetadata {
        let issuer = self.config.issuer_for(tenant);
        let base = issuer.trim_end_matches('/');
        let e = &self.config.endpoints;
        let mut methods = vec!["S256"];
        if self.config.dangerous_options().allow_plain_pkce {
            methods.push("plain");
        }
        let scopes: Vec<String> = self
            .config
            .known_scopes
            .iter()
            .map(|s| s.to_string())
            .collect();
        ServerMetadata {
            authorization_endpoint: format!("{base}{}", e.authorize),
            token_endpoint: format!("{base}{}", e.token),
            revocation_endpoint: format!("{base}{}", e.revoke),
            introspection_endpoint: format!("{base}{}", e.introspect),
            issuer,
            response_types_supported: vec!["code"],
            response_modes_supported: vec!["query"],
            grant_types_supported: vec!["authorization_code", "refresh_token"],
            code_challenge_methods_supported: methods,
            token_endpoint_auth_methods_supported: vec![
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            revocation_endpoint_auth_methods_supported: vec![
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            introspection_endpoint_auth_methods_supported: vec![
                "client_secret_basic",
                "client_secret_post",
            ],
            scopes_supported: (!scopes.is_empty()).then_some(scopes),
            authorization_response_iss_parameter_supported: true,
        }
    }

    /// Deletes codes and tokens that expired before now. Run it periodically.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store fails.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        self.grants.purge_expired(self.clock.now()).await
    }

    fn digest(&self, secret: &str) -> Digest {
        self.config.hasher.digest(secret.as_bytes())
    }

    async fn emit(&self, event: AuditEvent) {
        crate::audit::record_committed(&*self.audit, event).await;
    }
}
