//! The authorization endpoint (RFC 6749 §4.1.1, RFC 7636 §4.3): request
//! validation and the approval's rule as pure functions
//! ([`AuthorizationRequest::parse`], `validate`, [`plan_approval`]), and
//! the drivers that read the client and issue the code
//! ([`AuthorizationServer::authorize`], [`AuthorizationServer::approve`],
//! [`AuthorizationServer::deny`]).
//!
//! Errors come in two kinds, and the type keeps them apart:
//! * [`AuthorizeError::NoRedirect`]: the client or its redirect URI cannot be
//!   trusted (unknown `client_id`, unregistered `redirect_uri`, either one
//!   repeated). The user agent must **not** be redirected (RFC 6749
//!   §4.1.2.1): show an error page.
//! * [`AuthorizeError::Redirect`]: everything else. The user agent goes back
//!   to the client's redirect URI with `error`, `error_description`, the
//!   exact `state` and `iss` (RFC 9207).

use std::borrow::Cow;

use serde::Serialize;

use super::{
    AuthorizationCodeRecord, AuthorizationServer, CODE_PREFIX, ClientId, ClientInfo, CodeChallenge,
    CodeChallengeMethod, FamilyId, OAuthClient, OAuthError, OAuthErrorCode, Resources,
    params::{Params, append_query},
    plan_new_resources, redirect_uri_matches,
};
use crate::{
    AuditEvent, AuditEventKind, AuthorizationCode, ScopeSet, TenantId, audit::Actor,
    secret::random_token,
};

/// What the validation needs to know about the server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AuthorizePolicy<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) known_scopes: &'a ScopeSet,
    /// The tenant's registered resources (RFC 8707).
    pub(crate) resources: &'a Resources,
    pub(crate) allow_plain_pkce: bool,
}

/// A parsed authorization request whose client is still to be looked up.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest<'a> {
    params: Params<'a>,
    client_id: ClientId,
}

impl<'a> AuthorizationRequest<'a> {
    /// Parses the query string of `GET /oauth/authorize` (or the consent
    /// form's body, which repeats it).
    ///
    /// # Errors
    ///
    /// [`AuthorizeError::NoRedirect`] when the query is oversized, or
    /// `client_id` is missing, malformed or repeated, or `redirect_uri` is
    /// repeated.
    pub fn parse(query: &'a str) -> Result<Self, AuthorizeError> {
        let params = Params::parse(query).map_err(AuthorizeError::NoRedirect)?;
        params
            .get("redirect_uri")
            .map_err(AuthorizeError::NoRedirect)?;
        let client_id = params
            .get("client_id")
            .map_err(AuthorizeError::NoRedirect)?
            .ok_or_else(|| {
                AuthorizeError::NoRedirect(OAuthError::invalid_request("missing client_id"))
            })?;
        let client_id = ClientId::parse(client_id).map_err(|_| {
            AuthorizeError::NoRedirect(OAuthError::invalid_request("unknown client_id"))
        })?;
        Ok(Self { params, client_id })
    }

    /// The `client_id` to look up.
    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    /// Validates the request against the client found for its `client_id`
    /// (`None` if there is none). Pure.
    pub(crate) fn validate(
        &self,
        tenant: &TenantId,
        client: Option<&OAuthClient>,
        policy: AuthorizePolicy<'_>,
    ) -> Result<ValidatedAuthorization, AuthorizeError> {
        let p = &self.params;
        let no_redirect =
            |d: &'static str| AuthorizeError::NoRedirect(OAuthError::invalid_request(d));
        // 1. The client must exist in this tenant.
        let client = client
            .filter(|c| c.tenant == *tenant && c.id == self.client_id)
            .ok_or_else(|| no_redirect("unknown client_id"))?;
        // 2. The redirect URI must be registered (exactly), or implied by a
        //    single registration.
        let sent = p.get("redirect_uri").map_err(AuthorizeError::NoRedirect)?;
        let redirect_uri = match sent {
            Some(uri) if client_redirect_matches(client, uri) => uri.to_owned(),
            Some(_) => {
                return Err(no_redirect(
                    "redirect_uri is not registered for this client",
                ));
            }
            None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
            None => return Err(no_redirect("missing redirect_uri")),
        };
        // From here on, errors go back to the client. `state` is echoed
        // exactly; a repeated state is an error that carries no state, and
        // so is one that was not UTF-8 once decoded (it could not be echoed
        // exactly: its bytes were replaced by U+FFFD).
        let state = p.get("state").ok().flatten().map(str::to_owned);
        let state_lossy = state.as_deref().is_some_and(|s| s.contains('\u{FFFD}'));
        let state = state.filter(|_| !state_lossy);
        let redirect = |error: OAuthError| {
            AuthorizeError::Redirect(ErrorRedirect {
                redirect_uri: redirect_uri.clone(),
                error,
                state: state.clone(),
                issuer: policy.issuer.to_owned(),
            })
        };
        if let Some(name) = p.first_repeated() {
            return Err(redirect(OAuthError::invalid_request(Cow::Owned(format!(
                "parameter {name} is repeated"
            )))));
        }
        if state_lossy {
            return Err(redirect(OAuthError::invalid_request(
                "state must be UTF-8 (RFC 6749 A.5: visible ASCII), to be echoed exactly",
            )));
        }
        if !client
            .grant_types
            .contains(super::GrantTypes::AUTHORIZATION_CODE)
        {
            return Err(redirect(OAuthError::unauthorized_client(
                "this client is not registered for the authorization code grant",
            )));
        }
        match p.get("response_type").map_err(redirect)? {
            None => {
                return Err(redirect(OAuthError::invalid_request(
                    "missing response_type",
                )));
            }
            Some("code") => {}
            Some(_) => {
                return Err(redirect(OAuthError::new(
                    OAuthErrorCode::UnsupportedResponseType,
                    "only response_type=code is supported",
                )));
            }
        }
        // Every record this grant leads to shares the client's scope strings.
        let scopes = plan_requested_scopes(
            p.get("scope").map_err(redirect)?,
            client,
            policy.known_scopes,
        )
        .map_err(redirect)?;
        // RFC 8707 §2: the resources the tokens are to be for, each
        // registered for the tenant.
        let resources = Resources::parse(p.all("resource"))
            .and_then(|r| plan_new_resources(&r, policy.resources))
            .map_err(redirect)?;
        let challenge = p.get("code_challenge").map_err(redirect)?.ok_or_else(|| {
            redirect(OAuthError::invalid_request(
                "code_challenge required (PKCE)",
            ))
        })?;
        let method = match p.get("code_challenge_method").map_err(redirect)? {
            Some("S256") => CodeChallengeMethod::S256,
            Some("plain") | None if policy.allow_plain_pkce => CodeChallengeMethod::Plain,
            Some("plain") | None => {
                return Err(redirect(OAuthError::invalid_request(
                    "code_challenge_method must be S256",
                )));
            }
            Some(_) => {
                return Err(redirect(OAuthError::invalid_request(
                    "unsupported code_challenge_method",
                )));
            }
        };
        let challenge = CodeChallenge::new(challenge, method).ok_or_else(|| {
            redirect(OAuthError::invalid_request(
                "code_challenge must be 43 to 128 unreserved characters",
            ))
        })?;
        Ok(ValidatedAuthorization {
            // The client's own (equal) tenant value, shared by its records.
            tenant: client.tenant.clone(),
            client: client.info(),
            redirect_uri,
            redirect_uri_sent: sent.is_some(),
            scopes,
            resources,
            state,
            challenge,
            issuer: policy.issuer.to_owned(),
        })
    }
}

/// The scopes a request gets (an authorization request, a client
/// credentials request): those it names (or the client's defaults), which
/// must be non-empty, known and within the client's allowed scopes; they
/// share the client's scope strings. Pure.
///
/// # Errors
///
/// `invalid_scope`, saying which rule the request breaks.
pub fn plan_requested_scopes(
    requested: Option<&str>,
    client: &OAuthClient,
    known: &ScopeSet,
) -> Result<ScopeSet, OAuthError> {
    let scopes = match requested {
        None => client.default_scopes.clone(),
        Some(s) => s
            .parse::<ScopeSet>()
            .map_err(|e| OAuthError::invalid_scope(Cow::Owned(format!("scope: {e}"))))?,
    };
    if scopes.is_empty() {
        return Err(OAuthError::invalid_scope(
            "no scope requested and the client has no default scope",
        ));
    }
    if !known.is_empty() && !known.contains_all(&scopes) {
        return Err(OAuthError::invalid_scope(Cow::Owned(format!(
            "unknown scope: {}",
            known.missing_from(&scopes)
        ))));
    }
    if !client.allowed_scopes.contains_all(&scopes) {
        return Err(OAuthError::invalid_scope(Cow::Owned(format!(
            "scope not allowed for this client: {}",
            client.allowed_scopes.missing_from(&scopes)
        ))));
    }
    Ok(scopes.interned_in(&client.allowed_scopes))
}

/// Whether `client` chose its own redirect URIs (dynamic registration or
/// a metadata document).
fn self_registered(client: &OAuthClient) -> bool {
    client.registration_digest.is_some() || client.id.is_metadata_url()
}

/// Exact match, plus the RFC 8252 §7.3 any-port rule for loopback URIs of
/// public (native) clients only.
fn client_redirect_matches(client: &OAuthClient, uri: &str) -> bool {
    match client.kind {
        super::ClientKind::Public => redirect_uri_matches(&client.redirect_uris, uri),
        super::ClientKind::Confidential => client.redirect_uris.iter().any(|r| r == uri),
    }
}

/// A valid authorization request, ready for the application's login and
/// consent step.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ValidatedAuthorization {
    /// The tenant.
    pub tenant: TenantId,
    /// The client (for the consent page: its name and id).
    pub client: ClientInfo,
    /// Where the answer goes.
    pub redirect_uri: String,
    /// Whether the request sent `redirect_uri` (the token request must then
    /// repeat it).
    pub redirect_uri_sent: bool,
    /// The scopes requested (or the client's defaults).
    pub scopes: ScopeSet,
    /// The resources the tokens are to be for (RFC 8707); empty when the
    /// request named none (the tokens are then not bound to any).
    pub resources: Resources,
    /// The client's `state`, echoed exactly.
    pub state: Option<String>,
    /// The PKCE challenge.
    #[serde(skip)]
    pub challenge: CodeChallenge,
    /// The issuer identifier, sent as `iss` (RFC 9207).
    pub issuer: String,
}

impl ValidatedAuthorization {
    /// The redirect that answers the request with an error, such as
    /// `access_denied` when the user declines.
    pub fn error_redirect(&self, error: OAuthError) -> ErrorRedirect {
        ErrorRedirect {
            redirect_uri: self.redirect_uri.clone(),
            error,
            state: self.state.clone(),
            issuer: self.issuer.clone(),
        }
    }

    pub(crate) fn success_location(&self, code: &str) -> String {
        let mut pairs = vec![("code", code)];
        if let Some(s) = &self.state {
            pairs.push(("state", s));
        }
        pairs.push(("iss", &self.issuer));
        append_query(&self.redirect_uri, &pairs)
    }
}

/// An error to send back to the client's redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorRedirect {
    /// The verified redirect URI.
    pub redirect_uri: String,
    /// The error.
    pub error: OAuthError,
    /// The client's `state`, if it sent one.
    pub state: Option<String>,
    /// The issuer, sent as `iss`.
    pub issuer: String,
}

impl ErrorRedirect {
    /// The `Location` to redirect to:
    /// `redirect_uri?error=…&error_description=…&state=…&iss=…`.
    pub fn location(&self) -> String {
        let mut pairs = vec![
            ("error", self.error.code.as_str()),
            ("error_description", &*self.error.description),
        ];
        if let Some(s) = &self.state {
            pairs.push(("state", s));
        }
        pairs.push(("iss", &self.issuer));
        append_query(&self.redirect_uri, &pairs)
    }
}

/// Why an authorization request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorizeError {
    /// Do not redirect: show an error page (HTTP 400).
    #[error("authorization request refused without redirect: {0}")]
    NoRedirect(OAuthError),
    /// Redirect to the client with the error.
    #[error("authorization request refused: {}", .0.error)]
    Redirect(ErrorRedirect),
}

/// The scopes an approval grants: `approved` (interned in the request's
/// set), which must be a non-empty subset of the requested scopes, for a
/// subject of 1 to 256 bytes. Pure. The user may narrow what the client
/// asked for, never widen it (RFC 6749 §3.3).
///
/// # Errors
///
/// `invalid_scope` for an empty or wider set; `invalid_request` for a bad
/// subject.
pub fn plan_approval(
    request: &ValidatedAuthorization,
    subject: &str,
    approved: &ScopeSet,
) -> Result<ScopeSet, OAuthError> {
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
    Ok(approved.interned_in(&request.scopes))
}

impl AuthorizationServer {
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
            .find_client(tenant, request.client_id())
            .await
            .map_err(AuthorizeError::NoRedirect)?;
        let issuer = self.config.issuer_for(tenant);
        let validated = request.validate(
            tenant,
            client.as_deref(),
            AuthorizePolicy {
                issuer: &issuer,
                known_scopes: &self.config.known_scopes,
                resources: &self.config.resources_for(tenant),
                allow_plain_pkce: self.config.dangerous_options().allow_plain_pkce,
            },
        );
        // RFC 9700 §4.18: a client that registered itself (or names itself
        // by a metadata document) chose its redirect URIs without anyone's
        // review; an invalid request is shown an error page instead of
        // being sent there without the user's interaction.
        match validated {
            Err(AuthorizeError::Redirect(r)) if client.as_deref().is_some_and(self_registered) => {
                Err(AuthorizeError::NoRedirect(r.error))
            }
            other => other,
        }
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
        let approved = &plan_approval(request, subject, approved)?;
        let now = self.now();
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
            resources: request.resources.clone(),
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
            self.now(),
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
}
