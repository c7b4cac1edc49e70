//! The token, revocation, introspection and metadata endpoints.
//!
//! Each request is answered on its merits first; only a failed client
//! authentication or a refused grant is counted, against what its
//! [`CredentialFailure`] says (see [`crate::throttle`]), and turned into
//! `429` once over a limit.

use std::net::IpAddr;

use super::{
    HeaderSource, HttpRequest, HttpResponse,
    auth::{HttpAuth, is_form},
    introspection_response, metadata_response, oauth_error_response, revocation_response,
    token_response, too_many_requests_response,
};
use crate::{
    ScopeSet, TenantId,
    metrics::{self, Outcome},
    oauth::{
        AuthorizationServer, CredentialFailure, OAuthError, Params, TokenRequest,
        presented_client_id,
    },
    throttle::Subject,
};

impl HttpAuth {
    /// `POST /oauth/token`.
    pub(super) async fn token(
        &self,
        oauth: &AuthorizationServer,
        req: &HttpRequest,
    ) -> HttpResponse {
        let (tenant, body) = match self.form_request(req) {
            Ok(x) => x,
            Err(r) => return r,
        };
        let request = TokenRequest::new(req.header("authorization"), body);
        match oauth.token(&tenant, &request).await {
            Ok(tokens) => {
                metrics::authentication("oauth_client", Outcome::Success, "none");
                token_response(&tokens)
            }
            Err(e) => self.oauth_failure(req, &tenant, body, &e).await,
        }
    }

    /// `POST /oauth/revoke`.
    pub(super) async fn revoke(
        &self,
        oauth: &AuthorizationServer,
        req: &HttpRequest,
    ) -> HttpResponse {
        let (tenant, body) = match self.form_request(req) {
            Ok(x) => x,
            Err(r) => return r,
        };
        let request = TokenRequest::new(req.header("authorization"), body);
        match oauth.revoke(&tenant, &request).await {
            Ok(()) => revocation_response(),
            Err(e) => self.oauth_failure(req, &tenant, body, &e).await,
        }
    }

    /// `POST /oauth/introspect`: a confidential client, or a bearer
    /// credential holding the introspection scope.
    pub(super) async fn introspect(
        &self,
        oauth: &AuthorizationServer,
        req: &HttpRequest,
    ) -> HttpResponse {
        let (tenant, body) = match self.form_request(req) {
            Ok(x) => x,
            Err(r) => return r,
        };
        let authorization = req.header("authorization");
        // Compared as bytes: a header is not sliced where a character may
        // not end.
        let bearer = authorization.is_some_and(|h| {
            h.len() > 7
                && h.as_bytes()
                    .get(..7)
                    .is_some_and(|p| p.eq_ignore_ascii_case(b"bearer "))
        });
        if bearer {
            // An API key (or token) holding the introspection scope.
            let required = ScopeSet::from_scopes([self.inner.config.introspect_scope.clone()])
                .unwrap_or_default();
            let principal = match self.authenticate(req, req.peer, &required).await {
                Ok(p) => p,
                Err(r) => return r,
            };
            let token = Params::parse(body)
                .ok()
                .and_then(|p| p.get("token").ok().flatten().map(str::to_owned));
            let Some(token) = token else {
                return oauth_error_response(&OAuthError::invalid_request(
                    "missing parameter token",
                ));
            };
            return match oauth.introspect_token(principal.tenant(), &token).await {
                Ok(answer) => introspection_response(&answer),
                Err(e) => oauth_error_response(&e.into()),
            };
        }
        match oauth
            .introspect(&tenant, &TokenRequest::new(authorization, body))
            .await
        {
            Ok(answer) => introspection_response(&answer),
            Err(e) => {
                let response = self.oauth_failure(req, &tenant, body, &e).await;
                if response.status != 401 {
                    return response;
                }
                // An API key holding the introspection scope is accepted too:
                // challenge for it beside the client's Basic credentials.
                response.with_header(
                    "WWW-Authenticate",
                    format!("Bearer realm=\"{}\"", super::DEFAULT_REALM),
                )
            }
        }
    }

    /// `GET /.well-known/oauth-authorization-server`.
    pub(super) fn metadata(&self, oauth: &AuthorizationServer, req: &HttpRequest) -> HttpResponse {
        match self.oauth_tenant(req) {
            Ok(tenant) => metadata_response(&oauth.metadata(&tenant)),
            Err(r) => r,
        }
    }

    /// The answer to a failed token, revocation or introspection request:
    /// its error, or `429` once what it failed on is over a limit.
    async fn oauth_failure(
        &self,
        req: &HttpRequest,
        tenant: &TenantId,
        body: &str,
        error: &OAuthError,
    ) -> HttpResponse {
        let Some(kind) = error.failure else {
            let outcome = if error.code.status() == 503 {
                metrics::store_error("oauth");
                Outcome::Unavailable
            } else {
                Outcome::Rejected
            };
            metrics::authentication("oauth_client", outcome, error.code.as_str());
            return oauth_error_response(error);
        };
        let ip = self.client_ip(req, req.peer);
        let subjects = oauth_failure_subjects(kind, ip, req.header("authorization"), body);
        match self.failed(&subjects, Some(tenant), ip).await {
            Some(refusal) => {
                metrics::authentication("oauth_client", Outcome::Throttled, error.code.as_str());
                too_many_requests_response(refusal.retry_after)
            }
            None => {
                metrics::authentication("oauth_client", Outcome::Rejected, error.code.as_str());
                oauth_error_response(error)
            }
        }
    }

    /// The tenant and form body of a token, revocation or introspection request.
    fn form_request<'r>(&self, req: &'r HttpRequest) -> Result<(TenantId, &'r str), HttpResponse> {
        if !is_form(req) {
            return Err(oauth_error_response(&OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            )));
        }
        let body = req.body_str().ok_or_else(|| {
            oauth_error_response(&OAuthError::invalid_request("the body is not UTF-8"))
        })?;
        if req.single_header("authorization").is_err() {
            return Err(oauth_error_response(&OAuthError::invalid_request(
                "the Authorization header was sent more than once",
            )));
        }
        Ok((self.oauth_tenant(req)?, body))
    }
}

/// What a failed token-endpoint request counts against, by
/// [`CredentialFailure`]: a failed client authentication against the
/// address and the client id from it (read by the very decoder that
/// authenticated it), a guessed grant against the address and the grant, a
/// refused grant of ours against that grant alone.
fn oauth_failure_subjects(
    kind: CredentialFailure,
    ip: Option<IpAddr>,
    authorization: Option<&str>,
    body: &str,
) -> Vec<Subject> {
    let address = ip.map(Subject::address);
    let grant = || {
        let params = Params::parse(body).ok()?;
        let value = ["code", "refresh_token"]
            .iter()
            .find_map(|name| params.get(name).ok().flatten())?;
        Some(Subject::credential("grant", value))
    };
    match kind {
        CredentialFailure::Client => {
            let client = presented_client_id(authorization, body);
            address
                .into_iter()
                .chain((!client.is_empty()).then(|| Subject::client_from(&client, ip)))
                .collect()
        }
        CredentialFailure::UnknownGrant => address.into_iter().chain(grant()).collect(),
        CredentialFailure::KnownGrant => grant().into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_grant_of_ours_never_costs_the_address() {
        let ip = Some("192.0.2.1".parse().unwrap());
        let body = "grant_type=refresh_token&refresh_token=prt_abc&client_id=demo-spa";
        let known = oauth_failure_subjects(CredentialFailure::KnownGrant, ip, None, body);
        assert_eq!(known, vec![Subject::credential("grant", "prt_abc")]);
        let guess = oauth_failure_subjects(CredentialFailure::UnknownGrant, ip, None, body);
        assert_eq!(
            guess,
            vec![
                Subject::address("192.0.2.1".parse().unwrap()),
                Subject::credential("grant", "prt_abc")
            ]
        );
        let client = oauth_failure_subjects(CredentialFailure::Client, ip, None, body);
        assert_eq!(
            client,
            vec![
                Subject::address("192.0.2.1".parse().unwrap()),
                Subject::client_from("demo-spa", ip)
            ]
        );
    }

    #[test]
    fn the_client_counted_is_the_client_authenticated() {
        // `a%3Ab` form-decodes to `a:b` in Basic credentials (RFC 6749
        // §2.3.1), as client authentication reads it.
        let basic = format!(
            "Basic {}",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "a%2Bb:secret")
        );
        let ip = Some("192.0.2.1".parse().unwrap());
        let s = oauth_failure_subjects(CredentialFailure::Client, ip, Some(&basic), "");
        assert_eq!(s[1], Subject::client_from("a+b", ip));
    }
}
