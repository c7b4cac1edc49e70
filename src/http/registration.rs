//! `POST /oauth/register` (RFC 7591) and `GET`/`DELETE
//! /oauth/register/{client_id}` (RFC 7592), under the tenant's
//! [`RegistrationPolicy`].

use super::{
    HeaderSource, HttpRequest, HttpResponse,
    auth::{HttpAuth, bearer_failure_subjects, is_json, not_found},
    oauth_error_response, too_many_requests_response,
};
use crate::{
    AuthMethod, ScopeSet, TenantId,
    audit::Actor,
    oauth::{
        AuthorizationServer, ClientId, ClientMetadata, OAuthError, OAuthErrorCode, REGISTER_SCOPE,
        RegistrationPolicy,
    },
    throttle::Subject,
};

impl HttpAuth {
    /// `POST /oauth/register`.
    pub(super) async fn register(
        &self,
        oauth: &AuthorizationServer,
        req: &HttpRequest,
    ) -> HttpResponse {
        let tenant = match self.oauth_tenant(req) {
            Ok(t) => t,
            Err(r) => return r,
        };
        let policy = oauth.config().registration_for(&tenant);
        if policy == RegistrationPolicy::Off {
            return not_found();
        }
        // Every attempt counts against its address: a registration leaves a
        // client behind, and costs the caller nothing.
        let ip = self.client_ip(req, req.peer);
        if let Some(ip) = ip
            && let Some(refusal) = self
                .failed(&[Subject::registration_from(ip)], Some(&tenant), Some(ip))
                .await
        {
            return too_many_requests_response(refusal.retry_after);
        }
        let actor = match policy {
            RegistrationPolicy::InitialAccessToken => match self.initial_access(req, &tenant).await
            {
                Ok(actor) => Some(actor),
                Err(r) => return r,
            },
            _ => None,
        };
        if !is_json(req) {
            return oauth_error_response(&OAuthError::invalid_request(
                "a registration is a JSON object (Content-Type: application/json)",
            ));
        }
        let metadata: ClientMetadata = match serde_json::from_slice(&req.body) {
            Ok(m) => m,
            Err(_) => {
                return oauth_error_response(&OAuthError::new(
                    OAuthErrorCode::InvalidClientMetadata,
                    "the body is not client metadata (RFC 7591 section 2)",
                ));
            }
        };
        match oauth
            .register_dynamic(&tenant, metadata, actor.as_ref())
            .await
        {
            Ok(registration) => {
                let body = serde_json::to_value(&registration).unwrap_or_default();
                HttpResponse::json(201, &body).with_header("Pragma", "no-cache".to_owned())
            }
            Err(e) => oauth_error_response(&e),
        }
    }

    /// The initial access token of a gated registration: an API key (or
    /// token) of `tenant` holding [`REGISTER_SCOPE`].
    async fn initial_access(
        &self,
        req: &HttpRequest,
        tenant: &TenantId,
    ) -> Result<Actor, HttpResponse> {
        let required = ScopeSet::from_scopes([REGISTER_SCOPE
            .parse()
            .unwrap_or_else(|_| unreachable!("a valid scope"))])
        .unwrap_or_default();
        let principal = self.authenticate(req, req.peer, &required).await?;
        if principal.tenant() != tenant {
            return Err(super::rejection_response(&crate::Rejection::WrongTenant));
        }
        Ok(match principal.method() {
            AuthMethod::ApiKey { key_id } => Actor::ApiKey { key_id },
            AuthMethod::AccessToken { client_id } => Actor::Client { client_id },
        })
    }

    /// `GET` or `DELETE /oauth/register/{client_id}` with the registration
    /// access token.
    pub(super) async fn manage_registration(
        &self,
        oauth: &AuthorizationServer,
        req: &HttpRequest,
        id: &str,
    ) -> HttpResponse {
        let tenant = match self.oauth_tenant(req) {
            Ok(t) => t,
            Err(r) => return r,
        };
        if oauth.config().registration_for(&tenant) == RegistrationPolicy::Off {
            return not_found();
        }
        let token = match req
            .single_header("authorization")
            .and_then(super::bearer_credential)
        {
            Ok(token) => token,
            Err(_) => return invalid_token(),
        };
        let Ok(id) = ClientId::parse(id) else {
            return invalid_token();
        };
        let answer = if req.method == "DELETE" {
            oauth
                .delete_registration(&tenant, &id, token)
                .await
                .map(|()| HttpResponse {
                    status: 204,
                    headers: vec![("Cache-Control", "no-store".to_owned())],
                    body: String::new(),
                })
        } else {
            oauth
                .read_registration(&tenant, &id, token)
                .await
                .map(|r| HttpResponse::json(200, &serde_json::to_value(&r).unwrap_or_default()))
        };
        match answer {
            Ok(r) => r,
            Err(e) if e.code == OAuthErrorCode::InvalidToken => {
                // A guess: counted like an unknown bearer credential.
                let ip = self.client_ip(req, req.peer);
                let subjects = bearer_failure_subjects(&crate::Rejection::Unknown, ip, token)
                    .unwrap_or_default();
                match self.failed(&subjects, Some(&tenant), ip).await {
                    Some(refusal) => too_many_requests_response(refusal.retry_after),
                    None => invalid_token(),
                }
            }
            Err(e) => oauth_error_response(&e),
        }
    }
}

/// `401 invalid_token` with its challenge (RFC 6750 §3.1).
fn invalid_token() -> HttpResponse {
    let description = "the registration access token is missing or invalid for this client";
    HttpResponse::json(
        401,
        &serde_json::json!({"error": "invalid_token", "error_description": description}),
    )
    .with_header(
        "WWW-Authenticate",
        format!(
            "Bearer realm=\"{}\", error=\"invalid_token\", error_description=\"{description}\"",
            super::DEFAULT_REALM
        ),
    )
}
