//! The HTTP endpoints, framework-neutral: every adapter converts its request
//! to an [`HttpRequest`], calls [`HttpAuth::handle`] or
//! [`HttpAuth::authenticate`], and copies the [`HttpResponse`] back, so all
//! adapters answer byte for byte the same.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/oauth/authorize` | validate, then the login-and-consent page |
//! | POST | `/oauth/authorize` | the consent form (CSRF-protected) → 303 to the client |
//! | POST | `/oauth/token` | token endpoint (RFC 6749 §3.2) |
//! | POST | `/oauth/revoke` | revocation (RFC 7009) |
//! | POST | `/oauth/introspect` | introspection (RFC 7662) |
//! | GET | `/.well-known/oauth-authorization-server` | metadata (RFC 8414); also `/.well-known/openid-configuration` |
//! | GET, POST | `/admin/api-keys` | list, create keys |
//! | GET | `/admin/api-keys/{id}` | one key and its rotation traffic |
//! | POST | `/admin/api-keys/{id}/rotate`, `/admin/api-keys/{id}/revoke` | rotate, revoke |
//! | GET | `/admin/audit?key_id=…&limit=…` | the audit log |
//! | GET, POST | `/admin/clients` | list, register OAuth clients |
//!
//! The admin endpoints need a credential holding the admin scope
//! (`keys:admin` by default) for the tenant named by `X-Tenant-Id`.

use std::{net::IpAddr, sync::Arc, time::Instant};

use serde::Deserialize;
use serde_json::json;

use super::{
    HeaderSource, HttpRequest, HttpResponse, TenantSource, TrustedProxies, api_key_error_response,
    auth_error_response, authorize_error_response, client_error_response, error_page,
    error_redirect_response, introspection_response,
    login::{CSRF_COOKIE, CsrfKey, UserDirectory},
    metadata_response, oauth_error_response,
    pages::consent_page,
    rejection_response, revocation_response,
    throttle::{Subject, Throttle, ThrottleConfig},
    token_response, too_many_requests_response,
};
use crate::{
    Actor, ApiKeyError, AuditEvent, AuditEventKind, AuditLog, AuditQuery, AuthMethod,
    Authenticator, KeyId, NewApiKey, Principal, Rejection, RotateOptions, Scope, ScopeSet,
    TenantId,
    api_key::{Decided, PendingFollowUp},
    oauth::{
        AuthorizationServer, AuthorizeError, NewClient, OAuthError, OAuthErrorCode, TokenRequest,
        ValidatedAuthorization,
    },
};

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpAuthConfig {
    /// Where API and admin requests name their tenant. Defaults to the
    /// `X-Tenant-Id` header.
    pub api_tenant: TenantSource,
    /// Where OAuth requests (reached by browser navigation, which cannot add
    /// headers) name their tenant. Defaults to the `X-Tenant-Id` header.
    pub oauth_tenant: TenantSource,
    /// Proxies whose forwarding headers are believed. Defaults to none.
    pub trusted_proxies: TrustedProxies,
    /// Largest request body read, in bytes; larger is `413`. Defaults to 64 KiB.
    pub max_body: usize,
    /// Largest total size of request headers, in bytes; larger is `400`.
    /// Defaults to 16 KiB.
    pub max_headers: usize,
    /// The scope the admin endpoints require. Defaults to `keys:admin`.
    pub admin_scope: Scope,
    /// The scope that lets an API key call the introspection endpoint.
    /// Defaults to `tokens:introspect`.
    pub introspect_scope: Scope,
    /// Whether the consent form's CSRF cookie is `Secure` (HTTPS only).
    /// Defaults to `true`; turn off only for plain-HTTP development servers.
    pub secure_cookies: bool,
    /// Signs consent-form CSRF tokens. Defaults to a random key per process;
    /// instances behind one load balancer need a shared one.
    pub csrf_key: CsrfKey,
    /// Throttling of failed authentication (429 with `Retry-After`).
    /// Defaults to on with [`ThrottleConfig::default`]: 30 failures per IP
    /// and per credential per minute. `None` turns it off.
    pub throttle: Option<ThrottleConfig>,
}

impl Default for HttpAuthConfig {
    fn default() -> Self {
        Self {
            api_tenant: TenantSource::Header,
            oauth_tenant: TenantSource::Header,
            trusted_proxies: TrustedProxies::none(),
            max_body: 64 * 1024,
            max_headers: 16 * 1024,
            admin_scope: Scope::parse("keys:admin")
                .unwrap_or_else(|_| unreachable!("a valid scope")),
            introspect_scope: Scope::parse("tokens:introspect")
                .unwrap_or_else(|_| unreachable!("a valid scope")),
            secure_cookies: true,
            csrf_key: CsrfKey::random(),
            throttle: Some(ThrottleConfig::default()),
        }
    }
}

impl HttpAuthConfig {
    /// Sets [`api_tenant`](Self::api_tenant).
    pub fn with_api_tenant(mut self, source: TenantSource) -> Self {
        self.api_tenant = source;
        self
    }
    /// Sets [`oauth_tenant`](Self::oauth_tenant).
    pub fn with_oauth_tenant(mut self, source: TenantSource) -> Self {
        self.oauth_tenant = source;
        self
    }
    /// Sets [`trusted_proxies`](Self::trusted_proxies).
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.trusted_proxies = proxies;
        self
    }
    /// Sets [`secure_cookies`](Self::secure_cookies).
    pub fn with_secure_cookies(mut self, secure: bool) -> Self {
        self.secure_cookies = secure;
        self
    }
    /// Sets [`csrf_key`](Self::csrf_key).
    pub fn with_csrf_key(mut self, key: CsrfKey) -> Self {
        self.csrf_key = key;
        self
    }
    /// Sets [`throttle`](Self::throttle).
    pub fn with_throttle(mut self, throttle: Option<ThrottleConfig>) -> Self {
        self.throttle = throttle;
        self
    }

    /// Sets [`max_body`](Self::max_body).
    pub fn with_max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }
}

/// The HTTP face of the library: authentication for middleware and the
/// OAuth and admin endpoints. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpAuth {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    authenticator: Authenticator,
    oauth: AuthorizationServer,
    audit: Arc<dyn AuditLog>,
    users: Arc<dyn UserDirectory>,
    throttle: Option<Throttle>,
    config: HttpAuthConfig,
}

impl HttpAuth {
    /// The HTTP layer over `authenticator` (API keys), `oauth`, the readable
    /// `audit` log and the application's `users`.
    pub fn new(
        authenticator: Authenticator,
        oauth: AuthorizationServer,
        audit: Arc<dyn AuditLog>,
        users: Arc<dyn UserDirectory>,
        config: HttpAuthConfig,
    ) -> Self {
        let authenticator = authenticator.with_oauth(oauth.clone());
        Self {
            inner: Arc::new(Inner {
                authenticator,
                oauth,
                audit,
                users,
                throttle: config.throttle.map(Throttle::new),
                config,
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &HttpAuthConfig {
        &self.inner.config
    }

    /// The bearer authenticator (API keys and access tokens).
    pub fn authenticator(&self) -> &Authenticator {
        &self.inner.authenticator
    }

    /// The authorization server.
    pub fn oauth(&self) -> &AuthorizationServer {
        &self.inner.oauth
    }

    /// The client IP of a request (see [`TrustedProxies`]).
    pub fn client_ip(&self, headers: &impl HeaderSource, peer: Option<IpAddr>) -> Option<IpAddr> {
        self.inner.config.trusted_proxies.client_ip(peer, headers)
    }

    /// Authenticates an API request (bearer API key or access token, tenant
    /// from [`HttpAuthConfig::api_tenant`]) needing `required`: the
    /// middleware's job. On failure, the response to send.
    ///
    /// # Errors
    ///
    /// The error response: 400 (headers too large, tenant missing or
    /// malformed), 401, 403 or 503 — see the [module table](super).
    pub async fn authenticate(
        &self,
        headers: &impl HeaderSource,
        peer: Option<IpAddr>,
        required: &ScopeSet,
    ) -> Result<Principal, HttpResponse> {
        match self.authenticate_now(headers, peer, required) {
            Attempt::Done(result) => result,
            // Boxed: the waiting path's future is large, and with the memory
            // stores rarely taken (a due write, or a watching throttle).
            Attempt::Later(later) => Box::pin(self.complete(later, headers, peer, required)).await,
        }
    }

    /// [`HttpAuth::authenticate`] as far as it goes without waiting: the
    /// answer when the store answers synchronously and nothing must be
    /// written first (with the memory stores: nearly always), so a
    /// middleware needs no boxed future. Otherwise [`Attempt::Later`], for
    /// [`HttpAuth::complete`].
    pub(crate) fn authenticate_now(
        &self,
        headers: &impl HeaderSource,
        peer: Option<IpAddr>,
        required: &ScopeSet,
    ) -> Attempt {
        let presented = match self.presented(headers, peer) {
            Ok(presented) => presented,
            Err(response) => return Attempt::Done(Err(response)),
        };
        if self.watching() {
            return Attempt::Later(Later::Wait);
        }
        let (token, ip) = (presented.token, presented.ip);
        let Some(decided) =
            self.inner
                .authenticator
                .authenticate_now(token, &presented.tenant, ip, required)
        else {
            return Attempt::Later(Later::Wait);
        };
        match decided {
            Decided::Done(result) => Attempt::Done(self.concluded(result, ip, token)),
            Decided::FollowUp(pending) => Attempt::Later(Later::FollowUp(FollowUp {
                // The credential is borrowed from the request: what a
                // refusal counts against is computed now.
                failure: pending
                    .rejection()
                    .is_some_and(counts_as_failure)
                    .then(|| subjects(ip, "bearer", token)),
                pending,
            })),
        }
    }

    /// The answer of an [`Attempt::Later`], for the same request: the
    /// decided answer once its write has run, or the whole authentication
    /// when the throttle or the store must be waited on.
    pub(crate) async fn complete(
        &self,
        later: Later,
        headers: &impl HeaderSource,
        peer: Option<IpAddr>,
        required: &ScopeSet,
    ) -> Result<Principal, HttpResponse> {
        match later {
            Later::FollowUp(pending) => self.finish(pending).await,
            Later::Wait => self.authenticate_waiting(headers, peer, required).await,
        }
    }

    /// The answer of a [`Later::FollowUp`], after its write.
    async fn finish(&self, pending: FollowUp) -> Result<Principal, HttpResponse> {
        let result = self.inner.authenticator.finish(*pending.pending).await;
        if let (Some(subjects), true) = (&pending.failure, failed(&result)) {
            self.failed(subjects);
        }
        result.map_err(|e| auth_error_response(&e))
    }

    /// [`HttpAuth::authenticate`] when the throttle or the store must be
    /// waited on (after [`Later::Wait`]).
    async fn authenticate_waiting(
        &self,
        headers: &impl HeaderSource,
        peer: Option<IpAddr>,
        required: &ScopeSet,
    ) -> Result<Principal, HttpResponse> {
        let presented = self.presented(headers, peer)?;
        let (token, tenant, ip) = (presented.token, &presented.tenant, presented.ip);
        if self.watching() {
            let tenant = TenantId::parse(tenant).ok();
            if let Some(response) = self
                .throttled(&subjects(ip, "bearer", token), tenant.as_ref(), ip)
                .await
            {
                return Err(response);
            }
        }
        let result = self
            .inner
            .authenticator
            .authenticate_in(token, tenant, ip, required)
            .await;
        self.concluded(result, ip, token)
    }

    /// The credential, tenant and client IP of an API request.
    fn presented<'h>(
        &'h self,
        headers: &'h impl HeaderSource,
        peer: Option<IpAddr>,
    ) -> Result<Presented<'h>, HttpResponse> {
        if headers.headers_len() > self.inner.config.max_headers {
            return Err(headers_too_large());
        }
        let token = headers
            .single_header("authorization")
            .and_then(super::bearer_credential)
            .map_err(|r| rejection_response(&r))?;
        // The validated name, read from the header without allocating.
        let tenant = self
            .inner
            .config
            .api_tenant
            .resolve_name(headers)
            .map_err(|r| rejection_response(&super::tenant_refusal(token, r)))?;
        Ok(Presented {
            token,
            tenant,
            ip: self.client_ip(headers, peer),
        })
    }

    /// Whether the throttle may refuse a request: with no failure in the
    /// last window nothing can be throttled, and no fingerprint is computed.
    fn watching(&self) -> bool {
        self.inner
            .throttle
            .as_ref()
            .is_some_and(|t| !t.idle(Instant::now))
    }

    /// Counts a refusal against the credential and IP, and maps the answer.
    fn concluded(
        &self,
        result: Result<Principal, crate::AuthError>,
        ip: Option<IpAddr>,
        token: &str,
    ) -> Result<Principal, HttpResponse> {
        if failed(&result) {
            self.failed(&subjects(ip, "bearer", token));
        }
        result.map_err(|e| auth_error_response(&e))
    }

    /// The 429 response if any of `subjects` is throttled, audited in
    /// `tenant` when it is known: once per throttled subject and window.
    async fn throttled(
        &self,
        subjects: &[Subject],
        tenant: Option<&TenantId>,
        ip: Option<IpAddr>,
    ) -> Option<HttpResponse> {
        let throttle = self.inner.throttle.as_ref()?;
        let now = Instant::now();
        let retry_after = throttle.blocked(subjects, now)?;
        tracing::warn!(
            target: "papyrus_auth::audit",
            ip = ?ip,
            retry_after = retry_after.as_secs(),
            "throttled after repeated authentication failures"
        );
        // One event per subject and window: refusals cost an attacker
        // nothing, and each would otherwise add a row to the log of
        // whatever tenant the request names.
        if let Some(tenant) = tenant
            && throttle.first_refusal(subjects, now)
        {
            let kind = AuditEventKind::Throttled {
                retry_after: retry_after.as_secs().max(1),
            };
            let event =
                AuditEvent::new(self.inner.oauth.now(), tenant.clone(), Actor::System, kind)
                    .with_ip(ip);
            crate::audit::record_committed(&*self.inner.audit, event).await;
        }
        Some(too_many_requests_response(retry_after))
    }

    fn failed(&self, subjects: &[Subject]) {
        if let Some(throttle) = &self.inner.throttle {
            throttle.record_failure(subjects, Instant::now());
        }
    }

    /// Handles a request to one of the library's endpoints (see the module
    /// table); anything else is a 404 JSON error.
    pub async fn handle(&self, req: &HttpRequest) -> HttpResponse {
        if req.headers_len() > self.inner.config.max_headers {
            return headers_too_large();
        }
        if req.body.len() > self.inner.config.max_body {
            return body_too_large();
        }
        let path = req.path.trim_end_matches('/');
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        let m = req.method.as_str();
        match (m, segments.as_slice()) {
            ("GET", ["oauth", "authorize"]) => self.authorize_page(req).await,
            ("POST", ["oauth", "authorize"]) => self.consent(req).await,
            ("POST", ["oauth", "token"]) => self.token(req).await,
            ("POST", ["oauth", "revoke"]) => self.revoke(req).await,
            ("POST", ["oauth", "introspect"]) => self.introspect(req).await,
            (
                "GET",
                [
                    ".well-known",
                    "oauth-authorization-server" | "openid-configuration",
                ],
            ) => self.metadata(req),
            ("GET", ["admin", "api-keys"]) => self.admin(req, Admin::ListKeys).await,
            ("POST", ["admin", "api-keys"]) => self.admin(req, Admin::CreateKey).await,
            ("GET", ["admin", "api-keys", id]) => self.admin(req, Admin::GetKey(id)).await,
            ("POST", ["admin", "api-keys", id, "rotate"]) => {
                self.admin(req, Admin::RotateKey(id)).await
            }
            ("POST", ["admin", "api-keys", id, "revoke"]) => {
                self.admin(req, Admin::RevokeKey(id)).await
            }
            ("GET", ["admin", "audit"]) => self.admin(req, Admin::Audit).await,
            ("GET", ["admin", "clients"]) => self.admin(req, Admin::ListClients).await,
            ("POST", ["admin", "clients"]) => self.admin(req, Admin::CreateClient).await,
            (_, ["oauth", "authorize"]) => method_not_allowed("GET, POST"),
            (_, ["oauth", "token" | "revoke" | "introspect"]) => method_not_allowed("POST"),
            (_, [".well-known", _]) => method_not_allowed("GET"),
            (_, ["admin", "api-keys" | "clients"]) => method_not_allowed("GET, POST"),
            (_, ["admin", "api-keys", _]) | (_, ["admin", "audit"]) => method_not_allowed("GET"),
            (_, ["admin", "api-keys", _, "rotate" | "revoke"]) => method_not_allowed("POST"),
            _ => HttpResponse::json(
                404,
                &json!({"error": "not_found", "error_description": "no such endpoint"}),
            ),
        }
    }

    fn oauth_tenant(&self, req: &HttpRequest) -> Result<TenantId, HttpResponse> {
        self.inner
            .config
            .oauth_tenant
            .resolve(req)
            .map_err(|r| rejection_response(&r))
    }

    // ----- authorization endpoint -------------------------------------------

    async fn authorize_page(&self, req: &HttpRequest) -> HttpResponse {
        let tenant = match self.inner.config.oauth_tenant.resolve(req) {
            Ok(t) => t,
            Err(_) => {
                return error_page(&OAuthError::invalid_request(
                    "this address names no valid tenant",
                ));
            }
        };
        match self.inner.oauth.authorize(&tenant, &req.query).await {
            Ok(v) => self.render_consent(&tenant, &v, &req.query, None, 200),
            Err(e) => authorize_error_response(&e),
        }
    }

    fn render_consent(
        &self,
        tenant: &TenantId,
        v: &ValidatedAuthorization,
        request: &str,
        error: Option<&str>,
        status: u16,
    ) -> HttpResponse {
        let nonce = CsrfKey::nonce();
        let now = time::OffsetDateTime::now_utc();
        let token = self
            .inner
            .config
            .csrf_key
            .token(&nonce, tenant, request, now);
        let secure = if self.inner.config.secure_cookies {
            "; Secure"
        } else {
            ""
        };
        let mut page = HttpResponse::html(status, consent_page(v, request, &token, error)).with_header(
            "Set-Cookie",
            format!("{CSRF_COOKIE}={nonce}; Path=/oauth/authorize; HttpOnly; SameSite=Lax; Max-Age=600{secure}"),
        );
        // The form posts here and is answered with a redirect to the client,
        // which browsers check against `form-action` too: allow its origin.
        let form_action = match csp_source(&v.redirect_uri) {
            Some(origin) => format!("; form-action 'self' {origin}"),
            None => String::new(),
        };
        for (name, value) in &mut page.headers {
            if *name == "Content-Security-Policy" {
                value.push_str(&form_action);
            }
        }
        page
    }

    async fn consent(&self, req: &HttpRequest) -> HttpResponse {
        if !is_form(req) {
            return error_page(&OAuthError::invalid_request(
                "the consent form must be posted as a form",
            ));
        }
        let tenant = match self.inner.config.oauth_tenant.resolve(req) {
            Ok(t) => t,
            Err(_) => {
                return error_page(&OAuthError::invalid_request(
                    "this address names no valid tenant",
                ));
            }
        };
        let form = Form::parse(req.body_str().unwrap_or(""));
        let request = form.one("request").unwrap_or("");
        let token = form.one("csrf_token").unwrap_or("");
        let nonce = req.cookie(CSRF_COOKIE).unwrap_or("");
        let now = time::OffsetDateTime::now_utc();
        if !self
            .inner
            .config
            .csrf_key
            .verify(token, nonce, &tenant, request, now)
        {
            let mut page = error_page(&OAuthError::invalid_request(
                "the form expired or was not sent from this site; go back and try again",
            ));
            page.status = 403;
            return page;
        }
        let v = match self.inner.oauth.authorize(&tenant, request).await {
            Ok(v) => v,
            Err(AuthorizeError::Redirect(r)) => return see_other(error_redirect_response(&r)),
            Err(e) => return authorize_error_response(&e),
        };
        match form.one("decision") {
            Some("deny") => {
                return see_other(error_redirect_response(
                    &self.inner.oauth.deny(&v, None).await,
                ));
            }
            Some("approve") => {}
            _ => {
                return error_page(&OAuthError::invalid_request(
                    "decision must be approve or deny",
                ));
            }
        }
        let (username, password) = (
            form.one("username").unwrap_or(""),
            form.one("password").unwrap_or(""),
        );
        let ip = self.client_ip(req, req.peer);
        let subjects = named_subjects(ip, "user", &format!("{tenant}/{username}"));
        if self.throttled(&subjects, Some(&tenant), ip).await.is_some() {
            let wait = "Too many failed sign-ins. Wait a minute and try again.";
            return self.render_consent(&tenant, &v, request, Some(wait), 429);
        }
        let subject = match self
            .inner
            .users
            .verify_password(&tenant, username, password)
            .await
        {
            Ok(Some(s)) => s,
            Ok(None) => {
                self.failed(&subjects);
                let wrong = "Wrong username or password.";
                return self.render_consent(&tenant, &v, request, Some(wrong), 401);
            }
            Err(e) => return error_page(&e.into()),
        };
        let chosen: Vec<Scope> = form
            .all("scope")
            .filter_map(|s| Scope::parse(s).ok())
            .collect();
        let approved = ScopeSet::from_scopes(chosen)
            .unwrap_or_default()
            .intersection(&v.scopes);
        if approved.is_empty() {
            return self.render_consent(
                &tenant,
                &v,
                request,
                Some("Choose at least one permission, or deny."),
                400,
            );
        }
        match self.inner.oauth.approve(&v, &subject, &approved).await {
            Ok(location) => see_other(HttpResponse::redirect(location)),
            Err(e) => error_page(&e),
        }
    }

    // ----- token, revocation, introspection, metadata ------------------------

    async fn token(&self, req: &HttpRequest) -> HttpResponse {
        let (tenant, body) = match self.form_request(req) {
            Ok(x) => x,
            Err(r) => return r,
        };
        let ip = self.client_ip(req, req.peer);
        let subjects = named_subjects(ip, "client", &presented_client_id(req, body));
        if let Some(r) = self.throttled(&subjects, Some(&tenant), ip).await {
            return r;
        }
        let request = TokenRequest::new(req.header("authorization"), body);
        match self.inner.oauth.token(&tenant, &request).await {
            Ok(tokens) => token_response(&tokens),
            Err(e) => {
                if matches!(
                    e.code,
                    OAuthErrorCode::InvalidClient | OAuthErrorCode::InvalidGrant
                ) {
                    self.failed(&subjects);
                }
                oauth_error_response(&e)
            }
        }
    }

    async fn revoke(&self, req: &HttpRequest) -> HttpResponse {
        let (tenant, body) = match self.form_request(req) {
            Ok(x) => x,
            Err(r) => return r,
        };
        match self
            .inner
            .oauth
            .revoke(
                &tenant,
                &TokenRequest::new(req.header("authorization"), body),
            )
            .await
        {
            Ok(()) => revocation_response(),
            Err(e) => oauth_error_response(&e),
        }
    }

    async fn introspect(&self, req: &HttpRequest) -> HttpResponse {
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
            let token = Form::parse(body).one("token").map(str::to_owned);
            let Some(token) = token else {
                return oauth_error_response(&OAuthError::invalid_request(
                    "missing parameter token",
                ));
            };
            return match self
                .inner
                .oauth
                .introspect_token(principal.tenant(), &token)
                .await
            {
                Ok(answer) => introspection_response(&answer),
                Err(e) => oauth_error_response(&e.into()),
            };
        }
        match self
            .inner
            .oauth
            .introspect(&tenant, &TokenRequest::new(authorization, body))
            .await
        {
            Ok(answer) => introspection_response(&answer),
            Err(e) => {
                let response = oauth_error_response(&e);
                if response.status != 401 {
                    return response;
                }
                // An API key holding the introspection scope is accepted too:
                // challenge for it beside the client's Basic credentials.
                response.with_header(
                    "WWW-Authenticate",
                    format!("Bearer realm=\"{}\"", super::REALM),
                )
            }
        }
    }

    fn metadata(&self, req: &HttpRequest) -> HttpResponse {
        match self.oauth_tenant(req) {
            Ok(tenant) => metadata_response(&self.inner.oauth.metadata(&tenant)),
            Err(r) => r,
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

    // ----- admin -----------------------------------------------------------------

    async fn admin(&self, req: &HttpRequest, op: Admin<'_>) -> HttpResponse {
        let required =
            ScopeSet::from_scopes([self.inner.config.admin_scope.clone()]).unwrap_or_default();
        let principal = match self.authenticate(req, req.peer, &required).await {
            Ok(p) => p,
            Err(r) => return r,
        };
        let tenant = principal.tenant().clone();
        let actor = match &principal.method() {
            AuthMethod::ApiKey { key_id } => Actor::ApiKey {
                key_id: key_id.clone(),
            },
            _ => Actor::User {
                subject: principal.subject().to_string(),
            },
        };
        let keys = self.inner.authenticator.api_keys();
        let key_id =
            |id: &str| KeyId::parse(id).map_err(|_| api_key_error_response(&ApiKeyError::NotFound));
        let result: Result<HttpResponse, HttpResponse> = async {
            Ok(match op {
                Admin::ListKeys => {
                    let list = keys
                        .list(&tenant)
                        .await
                        .map_err(|e| api_key_error_response(&e))?;
                    HttpResponse::json(200, &json!({ "api_keys": list }))
                }
                Admin::CreateKey => {
                    let new: NewApiKey = json_body(req)?;
                    let created = keys
                        .create(&tenant, new, &actor)
                        .await
                        .map_err(|e| api_key_error_response(&e))?;
                    HttpResponse::json(
                        201,
                        &json!({ "key": created.key.expose_secret(), "api_key": created.info }),
                    )
                }
                Admin::GetKey(id) => {
                    let id = key_id(id)?;
                    let info = keys
                        .get(&tenant, &id)
                        .await
                        .map_err(|e| api_key_error_response(&e))?;
                    let traffic = keys
                        .rotation_traffic(&tenant, &id)
                        .await
                        .map_err(|e| api_key_error_response(&e))?;
                    HttpResponse::json(200, &json!({ "api_key": info, "traffic": traffic }))
                }
                Admin::RotateKey(id) => {
                    let id = key_id(id)?;
                    let options: RotateOptions = if req.body.is_empty() {
                        RotateOptions::default()
                    } else {
                        json_body(req)?
                    };
                    let created = keys
                        .rotate(&tenant, &id, options, &actor)
                        .await
                        .map_err(|e| api_key_error_response(&e))?;
                    HttpResponse::json(
                        201,
                        &json!({ "key": created.key.expose_secret(), "api_key": created.info }),
                    )
                }
                Admin::RevokeKey(id) => {
                    let id = key_id(id)?;
                    let info = keys
                        .revoke(&tenant, &id, &actor)
                        .await
                        .map_err(|e| api_key_error_response(&e))?;
                    HttpResponse::json(200, &json!({ "api_key": info }))
                }
                Admin::Audit => {
                    let params: Vec<(String, String)> =
                        form_urlencoded::parse(req.query.as_bytes())
                            .into_owned()
                            .collect();
                    let get =
                        |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
                    let mut query = AuditQuery::tenant(tenant.clone());
                    if let Some(id) = get("key_id") {
                        query = query.key(key_id(id)?);
                    }
                    if let Some(limit) = get("limit") {
                        let limit = limit
                            .parse::<usize>()
                            .map_err(|_| bad_request("limit must be a number"))?;
                        query = query.limit(limit.min(1000));
                    }
                    let events = self
                        .inner
                        .audit
                        .query(&query)
                        .await
                        .map_err(|e| api_key_error_response(&e.into()))?;
                    HttpResponse::json(200, &json!({ "events": events }))
                }
                Admin::ListClients => {
                    let list = self
                        .inner
                        .oauth
                        .list_clients(&tenant)
                        .await
                        .map_err(|e| client_error_response(&e))?;
                    HttpResponse::json(200, &json!({ "clients": list }))
                }
                Admin::CreateClient => {
                    let new: NewClient = json_body(req)?;
                    let r = self
                        .inner
                        .oauth
                        .register_client(&tenant, new, &actor)
                        .await
                        .map_err(|e| client_error_response(&e))?;
                    let secret = r.secret.as_ref().map(|s| s.expose_secret());
                    HttpResponse::json(201, &json!({ "client": r.client, "client_secret": secret }))
                }
            })
        }
        .await;
        result.unwrap_or_else(|r| r)
    }
}

/// What [`HttpAuth::authenticate_now`] could do without waiting.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// The answer.
    Done(Result<Principal, HttpResponse>),
    /// Something must be awaited first: [`HttpAuth::complete`].
    Later(Later),
}

/// What an [`Attempt::Later`] waits for.
#[derive(Debug)]
pub(crate) enum Later {
    /// Decided; a write must finish first.
    FollowUp(FollowUp),
    /// The throttle or the store must be waited on. Nothing has happened yet.
    Wait,
}

/// A decided API authentication whose follow-up write has yet to run.
#[derive(Debug)]
pub(crate) struct FollowUp {
    pending: Box<PendingFollowUp>,
    /// What a refusal counts against, when the decision is a counted refusal.
    failure: Option<Vec<Subject>>,
}

/// The parts of an API request that authenticate it.
struct Presented<'h> {
    token: &'h str,
    tenant: std::borrow::Cow<'h, str>,
    ip: Option<IpAddr>,
}

/// Whether a refusal counts toward the failure throttle: a presented
/// credential that is wrong, not a missing one or a store failure.
fn counts_as_failure(rejection: &Rejection) -> bool {
    matches!(
        rejection,
        Rejection::Malformed
            | Rejection::Unknown
            | Rejection::WrongTenant
            | Rejection::Revoked
            | Rejection::Expired
    )
}

/// Whether `result` is a refusal that counts toward the failure throttle.
fn failed(result: &Result<Principal, crate::AuthError>) -> bool {
    matches!(result, Err(crate::AuthError::Rejected(r)) if counts_as_failure(r))
}

/// The throttle counters a request counts against: its IP and a credential.
fn subjects(ip: Option<IpAddr>, kind: &str, credential: &str) -> Vec<Subject> {
    let mut v = Vec::with_capacity(2);
    if let Some(ip) = ip {
        v.push(Subject::Ip(ip));
    }
    if !credential.is_empty() {
        v.push(Subject::credential(kind, credential));
    }
    v
}

/// [`subjects`] for a credential that is a public name (a client id, a
/// username): counted per IP, so that failing on purpose from one address
/// cannot lock every user of a client, or a user, out everywhere.
fn named_subjects(ip: Option<IpAddr>, kind: &str, name: &str) -> Vec<Subject> {
    if name.is_empty() {
        return subjects(ip, kind, "");
    }
    let from = ip.map_or_else(String::new, |ip| ip.to_string());
    subjects(ip, kind, &format!("{name}\0{from}"))
}

/// The CSP source expression of a redirect URI's origin (`https://host:port`,
/// or `scheme:` for a private-use scheme), if every character is one a
/// policy can carry as it is; `None` otherwise (the page then sets no
/// `form-action` rather than one that would block the redirect).
fn csp_source(redirect_uri: &str) -> Option<String> {
    let (scheme, rest) = redirect_uri.split_once(':')?;
    if !crate::oauth::is_uri_scheme(scheme) {
        return None;
    }
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Some(format!("{scheme}:"));
    }
    let authority = rest.strip_prefix("//")?;
    let authority = authority.split(['/', '?', '#']).next()?;
    let authority_ok = !authority.is_empty()
        && authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    authority_ok.then(|| format!("{scheme}://{authority}"))
}

/// The client id a token-endpoint request names (Basic user or `client_id`).
fn presented_client_id(req: &HttpRequest, body: &str) -> String {
    let basic = req.header("authorization").and_then(|h| {
        let (scheme, value) = h.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, value.trim())
                .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        Some(text.split(':').next().unwrap_or("").to_owned())
    });
    basic.unwrap_or_else(|| Form::parse(body).one("client_id").unwrap_or("").to_owned())
}

/// An admin operation.
#[derive(Debug, Clone, Copy)]
enum Admin<'a> {
    ListKeys,
    CreateKey,
    GetKey(&'a str),
    RotateKey(&'a str),
    RevokeKey(&'a str),
    Audit,
    ListClients,
    CreateClient,
}

/// A parsed form body (repeated fields kept).
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &str) -> Self {
        Self(
            form_urlencoded::parse(body.as_bytes())
                .take(64)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }
    /// The value of a field sent exactly once.
    fn one<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        let mut it = self.all(name);
        let first = it.next();
        if it.next().is_some() { None } else { first }
    }
    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn is_form(req: &HttpRequest) -> bool {
    req.header("content-type")
        .and_then(|c| c.split(';').next())
        .is_some_and(|c| {
            c.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

fn json_body<T: for<'de> Deserialize<'de>>(req: &HttpRequest) -> Result<T, HttpResponse> {
    let is_json = req
        .header("content-type")
        .and_then(|c| c.split(';').next())
        .is_some_and(|c| c.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(HttpResponse::json(
            415,
            &json!({"error": "unsupported_media_type", "error_description": "send the body as application/json"}),
        ));
    }
    serde_json::from_slice(&req.body).map_err(|e| {
        let message = OAuthError::invalid_request(format!("invalid JSON body: {e}")).description;
        bad_request(&message)
    })
}

fn bad_request(description: &str) -> HttpResponse {
    HttpResponse::json(
        400,
        &json!({"error": "invalid_request", "error_description": description}),
    )
}

fn headers_too_large() -> HttpResponse {
    HttpResponse::json(
        400,
        &json!({"error": "invalid_request", "error_description": "request headers are too large"}),
    )
}

/// The `413` JSON error for a body over the limit.
pub fn body_too_large() -> HttpResponse {
    HttpResponse::json(
        413,
        &json!({"error": "payload_too_large", "error_description": "the request body is too large"}),
    )
}

fn method_not_allowed(allow: &str) -> HttpResponse {
    HttpResponse::json(
        405,
        &json!({"error": "method_not_allowed", "error_description": "method not allowed"}),
    )
    .with_header("Allow", allow.to_owned())
}

/// A redirect answering a POST: 303 See Other, so the browser follows with GET.
fn see_other(mut r: HttpResponse) -> HttpResponse {
    r.status = 303;
    r
}

/// Compile-time check: the handler's future can cross threads (axum and
/// multi-threaded runtimes need it).
#[allow(dead_code)]
fn assert_send<'a>(
    auth: &'a HttpAuth,
    req: &'a HttpRequest,
) -> impl std::future::Future<Output = HttpResponse> + Send + 'a {
    auth.handle(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_source_is_the_redirect_origin_or_nothing() {
        for (uri, source) in [
            (
                "https://app.example.com/cb?x=1",
                Some("https://app.example.com"),
            ),
            (
                "HTTPS://App.example.com:8443/cb",
                Some("https://App.example.com:8443"),
            ),
            (
                "http://127.0.0.1:51004/callback",
                Some("http://127.0.0.1:51004"),
            ),
            ("http://[::1]:8080/cb#f", Some("http://[::1]:8080")),
            ("com.example.app:/oauth2redirect", Some("com.example.app:")),
            // Nothing a policy could not carry as it is.
            ("https://app.example.com;script-src *", None),
            ("https://app example.com/cb", None),
            ("https:///cb", None),
            ("https:app.example.com", None),
            ("1https://x/cb", None),
            ("no-scheme", None),
        ] {
            assert_eq!(csp_source(uri).as_deref(), source, "{uri}");
        }
    }
}
