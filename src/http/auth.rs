//! [`HttpAuth`]: the HTTP face of the library, and the router of its
//! endpoints. Every adapter converts its request to an [`HttpRequest`],
//! calls [`HttpAuth::handle`] or [`HttpAuth::authenticate`], and copies the
//! [`HttpResponse`] back, so all adapters answer byte for byte the same.
//!
//! | method | path | what | in |
//! |---|---|---|---|
//! | GET | `/oauth/authorize` | validate, then the login-and-consent page | `consent` |
//! | POST | `/oauth/authorize` | the consent form (CSRF-protected) → 303 to the client | `consent` |
//! | POST | `/oauth/token` | token endpoint (RFC 6749 §3.2) | `oauth` |
//! | POST | `/oauth/revoke` | revocation (RFC 7009) | `oauth` |
//! | POST | `/oauth/introspect` | introspection (RFC 7662) | `oauth` |
//! | GET | `/.well-known/oauth-authorization-server` | metadata (RFC 8414); also `/.well-known/openid-configuration` | `oauth` |
//! | GET, POST | `/admin/api-keys` | list, create keys | `admin` |
//! | GET | `/admin/api-keys/{id}` | one key and its rotation traffic | `admin` |
//! | POST | `/admin/api-keys/{id}/rotate`, `/admin/api-keys/{id}/revoke` | rotate, revoke | `admin` |
//! | GET | `/admin/audit?key_id=…&limit=…` | the audit log | `admin` |
//! | GET, POST | `/admin/clients` | list, register OAuth clients | `admin` |
//!
//! The admin endpoints need a credential holding the admin scope
//! (`keys:admin` by default) for the tenant named by `X-Tenant-Id`.

use std::{net::IpAddr, sync::Arc};

use serde::Deserialize;
use serde_json::json;

use super::{
    HeaderSource, HttpRequest, HttpResponse, TenantSource, TrustedProxies,
    admin::Admin,
    consent::ConsentHandler,
    csrf::{CsrfKey, KeyRing},
    rejection_response,
};
use crate::{
    AuditEvent, AuditEventKind, AuditLog, Rejection, Scope, TenantId,
    audit::Actor,
    authenticator::Authenticator,
    oauth::{AuthorizationServer, OAuthError},
    signing::SigningKeyStore,
    throttle::{FailureCounters, Refusal, Subject, Throttle, ThrottleConfig},
};

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpAuthConfig {
    /// Where API and admin requests name their tenant. Defaults to the
    /// `X-Tenant-Id` header.
    pub api_tenant: TenantSource,
    /// Where OAuth requests (reached by browser navigation, which cannot add
    /// headers) name their tenant. Defaults to [`TenantSource::Issuer`]:
    /// the host a browser asks for, under the issuer's
    /// (`https://{tenant}.auth.example.com`).
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
    /// Whether the consent form's cookies are `Secure` (HTTPS only).
    /// Defaults to `true`; turn off only for plain-HTTP development servers.
    pub secure_cookies: bool,
    /// An explicit key for what the HTTP layer signs (consent-form CSRF
    /// tokens, sign-in device cookies), overriding the key ring in the
    /// signing-key store. Defaults to none: keys are created in the store
    /// (see [`HttpAuth::with_signing_keys`]) and rotated weekly.
    pub csrf_key: Option<CsrfKey>,
    /// Limits on failing requests and sign-ins (429 with `Retry-After`; see
    /// [`crate::throttle`]). Defaults to on with [`ThrottleConfig::default`].
    /// `None` turns it off.
    pub throttle: Option<ThrottleConfig>,
    /// The realm of the `WWW-Authenticate` challenges (RFC 7235 §2.2).
    /// Defaults to [`DEFAULT_REALM`](super::DEFAULT_REALM), `api`.
    pub realm: String,
    /// The resource the bearer layer protects (RFC 8707, RFC 9728): tokens
    /// bound to other resources are refused, challenges name the metadata,
    /// and the metadata is served. Defaults to none: no audience check.
    pub protected_resource: Option<super::ProtectedResource>,
}

impl Default for HttpAuthConfig {
    fn default() -> Self {
        Self {
            api_tenant: TenantSource::Header,
            oauth_tenant: TenantSource::Issuer,
            trusted_proxies: TrustedProxies::none(),
            max_body: 64 * 1024,
            max_headers: 16 * 1024,
            admin_scope: Scope::parse("keys:admin")
                .unwrap_or_else(|_| unreachable!("a valid scope")),
            introspect_scope: Scope::parse("tokens:introspect")
                .unwrap_or_else(|_| unreachable!("a valid scope")),
            secure_cookies: true,
            csrf_key: None,
            throttle: Some(ThrottleConfig::default()),
            realm: super::DEFAULT_REALM.to_owned(),
            protected_resource: None,
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
    /// Sets [`protected_resource`](Self::protected_resource).
    pub fn with_protected_resource(mut self, resource: super::ProtectedResource) -> Self {
        self.protected_resource = Some(resource);
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
    /// Sets [`csrf_key`](Self::csrf_key): one explicit key instead of the
    /// store's ring.
    pub fn with_csrf_key(mut self, key: CsrfKey) -> Self {
        self.csrf_key = Some(key);
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
    /// Sets [`realm`](Self::realm), keeping only the characters a quoted
    /// string may hold as they are (printable ASCII but `"` and `\`).
    pub fn with_realm(mut self, realm: &str) -> Self {
        self.realm = realm
            .chars()
            .filter(|c| (c.is_ascii_graphic() || *c == ' ') && !matches!(c, '"' | '\\'))
            .collect();
        if self.realm.is_empty() {
            super::DEFAULT_REALM.clone_into(&mut self.realm);
        }
        self
    }

    /// The longest life of anything the HTTP layer signs.
    fn longest_signed(&self) -> time::Duration {
        let device = self
            .throttle
            .map(|t| t.sign_in.device_lifetime)
            .unwrap_or_default();
        time::Duration::try_from(device).unwrap_or(time::Duration::days(30))
    }
}

/// The HTTP face of the library: authentication for middleware and the
/// OAuth and admin endpoints. Cheap to clone.
///
/// With feature `metrics`, install the application's `metrics` recorder
/// before building it (see [`crate::metrics`]).
///
/// # Fleets
///
/// Two things are shared through stores so that instances behind one load
/// balancer agree: the keys it signs with ([`with_signing_keys`](Self::with_signing_keys):
/// a consent form drawn by one instance verifies on another) and the
/// failure counters of the throttle ([`with_failure_counters`](Self::with_failure_counters):
/// N instances do not give an attacker N times the tries). Both default to
/// this process's memory.
#[derive(Debug, Clone)]
pub struct HttpAuth {
    pub(super) inner: Arc<Inner>,
}

#[derive(Debug, Clone)]
pub(super) struct Inner {
    pub(super) authenticator: Authenticator,
    /// OAuth, when served.
    pub(super) oauth: Option<OAuthParts>,
    /// The admin API's audit log, when the admin API is served.
    pub(super) admin: Option<Arc<dyn AuditLog>>,
    pub(super) throttle: Option<Arc<Throttle>>,
    pub(super) keys: Arc<KeyRing>,
    pub(super) successes: crate::metrics::Successes,
    /// The configured realm, when it is not the default (for extractors).
    pub(super) realm: Option<super::extract::ChallengeRealm>,
    pub(super) config: HttpAuthConfig,
}

/// The groups of the library's endpoints, for mounting some and not
/// others (the adapters' `routes`/`configure` functions mount the groups an
/// [`HttpAuth`] serves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EndpointGroup {
    /// `/oauth/authorize`, `/oauth/token`, `/oauth/revoke`,
    /// `/oauth/introspect`: served with OAuth.
    OAuth,
    /// `/.well-known/oauth-authorization-server` and
    /// `/.well-known/openid-configuration` (RFC 8414): served with OAuth.
    Metadata,
    /// `/admin/api-keys…`, `/admin/audit`, and with OAuth `/admin/clients`:
    /// served with the admin API.
    Admin,
    /// `/.well-known/oauth-protected-resource` and the path-suffixed form
    /// (RFC 9728): served with a
    /// [`protected_resource`](HttpAuthConfig::protected_resource).
    ResourceMetadata,
}

/// What serving OAuth takes: the server, and who signs users in.
#[derive(Debug, Clone)]
pub(super) struct OAuthParts {
    pub(super) server: AuthorizationServer,
    pub(super) consent: Arc<dyn ConsentHandler>,
}

impl HttpAuth {
    pub(super) fn key_ring(config: &HttpAuthConfig, store: Arc<dyn SigningKeyStore>) -> KeyRing {
        match &config.csrf_key {
            Some(key) => KeyRing::fixed(key),
            None => KeyRing::stored(store, config.longest_signed()),
        }
    }

    pub(super) fn rebuilt(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| (*shared).clone());
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Keeps the signing keys (consent-form CSRF tokens, sign-in device
    /// cookies) in `store`: give every instance of a fleet the same store
    /// (the SQL stores implement [`SigningKeyStore`]). The first instance
    /// that needs a key creates it; keys rotate weekly and keep verifying
    /// what they signed for its whole life. An explicit
    /// [`HttpAuthConfig::csrf_key`] takes precedence.
    pub fn with_signing_keys(self, store: Arc<dyn SigningKeyStore>) -> Self {
        self.rebuilt(|inner| inner.keys = Arc::new(Self::key_ring(&inner.config, store)))
    }

    /// Counts failures in `counters` (shared by a fleet: Redis, with feature
    /// `redis`), in process while they fail. No effect when the throttle is
    /// off.
    pub fn with_failure_counters(self, counters: Arc<dyn FailureCounters>) -> Self {
        self.rebuilt(|inner| {
            inner.throttle = inner
                .config
                .throttle
                .map(|config| Arc::new(Throttle::with_counters(config, counters)));
        })
    }

    /// The same authentication (stores, authorization server, throttle,
    /// signing keys: all shared) guarding another resource: for an
    /// application that serves several resources (an API and an MCP
    /// server, say), one layer per resource, each refusing the others'
    /// tokens. See [`ProtectedResource`](super::ProtectedResource).
    pub fn protecting(&self, resource: super::ProtectedResource) -> Self {
        self.clone()
            .rebuilt(|inner| inner.config.protected_resource = Some(resource))
    }

    /// The same authentication, finding the tenant of API requests in
    /// `source` (see [`HttpAuthConfig::api_tenant`]): for a resource whose
    /// clients cannot send `X-Tenant-Id` (an MCP client knows only a URL).
    ///
    /// # Errors
    ///
    /// [`BuildError::OAuthTenant`](super::BuildError::OAuthTenant) for
    /// [`TenantSource::Issuer`] when the issuer names no `{tenant}` in its
    /// host.
    pub fn with_api_tenant(self, source: TenantSource) -> Result<Self, super::BuildError> {
        let source = match &self.inner.oauth {
            Some(o) => super::builder::from_issuer(&source, &o.server)?,
            None => source,
        };
        Ok(self.rebuilt(|inner| inner.config.api_tenant = source))
    }

    /// Whether this `HttpAuth` serves `group` (its endpoints answer 404
    /// otherwise).
    pub fn serves(&self, group: EndpointGroup) -> bool {
        match group {
            EndpointGroup::OAuth | EndpointGroup::Metadata => self.inner.oauth.is_some(),
            EndpointGroup::Admin => self.inner.admin.is_some(),
            EndpointGroup::ResourceMetadata => self.inner.config.protected_resource.is_some(),
        }
    }

    /// The realm extractors should name, when not the default: the
    /// adapters put it beside the principal.
    pub(crate) fn challenge_for(
        &self,
        headers: &impl HeaderSource,
    ) -> Option<super::extract::ChallengeRealm> {
        match self.resource_metadata_url(headers) {
            None => self.inner.realm.clone(),
            Some(url) => Some(super::extract::ChallengeRealm {
                realm: self.inner.realm.as_ref().and_then(|r| r.realm.clone()),
                resource_metadata: Some(url),
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

    /// The authorization server, when OAuth is served.
    pub fn oauth(&self) -> Option<&AuthorizationServer> {
        self.inner.oauth.as_ref().map(|o| &o.server)
    }

    /// The time now: by the authorization server's clock when OAuth is
    /// served (CSRF tokens and audit events agree with its codes), else by
    /// the API key service's.
    pub(super) fn now(&self) -> time::OffsetDateTime {
        match &self.inner.oauth {
            Some(o) => o.server.now(),
            None => self.inner.authenticator.api_keys().now(),
        }
    }

    /// The client IP of a request (see [`TrustedProxies`]).
    pub fn client_ip(&self, headers: &impl HeaderSource, peer: Option<IpAddr>) -> Option<IpAddr> {
        self.inner.config.trusted_proxies.client_ip(peer, headers)
    }

    /// Handles a request to one of the library's endpoints (see the module
    /// table); anything else, and the endpoints of a part not served (OAuth,
    /// the admin API), is a 404 JSON error.
    pub async fn handle(&self, req: &HttpRequest) -> HttpResponse {
        let response = self.route(req).await;
        super::in_realm(response, &self.inner.config.realm)
    }

    async fn route(&self, req: &HttpRequest) -> HttpResponse {
        if req.headers_len() > self.inner.config.max_headers {
            return headers_too_large();
        }
        if req.body.len() > self.inner.config.max_body {
            return body_too_large();
        }
        // RFC 9112 §3.2: a request with two `Host` lines is a 400.
        if let Err(r) = req.single_header("host") {
            return rejection_response(&r);
        }
        let path = req.path.trim_end_matches('/');
        if let Some(resource) = &self.inner.config.protected_resource
            && path.starts_with(super::PROTECTED_RESOURCE_METADATA_PATH)
        {
            return self.protected_resource_metadata(resource, req, path);
        }
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        let m = req.method.as_str();
        let served = match segments.as_slice() {
            ["oauth", ..] | [".well-known", ..] | ["admin", "clients"] => {
                self.inner.oauth.is_some()
            }
            _ => true,
        } && (segments.first() != Some(&"admin") || self.inner.admin.is_some());
        if !served {
            return not_found();
        }
        let oauth = self.inner.oauth.as_ref();
        match (m, segments.as_slice(), oauth) {
            ("GET", ["oauth", "authorize"], Some(o)) => self.authorize_page(o, req).await,
            ("POST", ["oauth", "authorize"], Some(o)) => self.consent(o, req).await,
            ("POST", ["oauth", "token"], Some(o)) => self.token(&o.server, req).await,
            ("POST", ["oauth", "revoke"], Some(o)) => self.revoke(&o.server, req).await,
            ("POST", ["oauth", "introspect"], Some(o)) => self.introspect(&o.server, req).await,
            ("POST", ["oauth", "register"], Some(o)) => self.register(&o.server, req).await,
            ("GET" | "DELETE", ["oauth", "register", id], Some(o)) => {
                self.manage_registration(&o.server, req, id).await
            }
            (
                "GET",
                [
                    ".well-known",
                    "oauth-authorization-server" | "openid-configuration",
                ],
                Some(o),
            ) => self.metadata(&o.server, req),
            ("GET", ["admin", "api-keys"], _) => self.admin(req, Admin::ListKeys).await,
            ("POST", ["admin", "api-keys"], _) => self.admin(req, Admin::CreateKey).await,
            ("GET", ["admin", "api-keys", id], _) => self.admin(req, Admin::GetKey(id)).await,
            ("POST", ["admin", "api-keys", id, "rotate"], _) => {
                self.admin(req, Admin::RotateKey(id)).await
            }
            ("POST", ["admin", "api-keys", id, "revoke"], _) => {
                self.admin(req, Admin::RevokeKey(id)).await
            }
            ("GET", ["admin", "audit"], _) => self.admin(req, Admin::Audit).await,
            ("GET", ["admin", "clients"], _) => self.admin(req, Admin::ListClients).await,
            ("POST", ["admin", "clients"], _) => self.admin(req, Admin::CreateClient).await,
            (_, ["oauth", "authorize"], _) => method_not_allowed("GET, POST"),
            (_, ["oauth", "token" | "revoke" | "introspect" | "register"], _) => {
                method_not_allowed("POST")
            }
            (_, ["oauth", "register", _], _) => method_not_allowed("GET, DELETE"),
            (
                _,
                [
                    ".well-known",
                    "oauth-authorization-server" | "openid-configuration",
                ],
                _,
            ) => method_not_allowed("GET"),
            (_, ["admin", "api-keys" | "clients"], _) => method_not_allowed("GET, POST"),
            (_, ["admin", "api-keys", _], _) | (_, ["admin", "audit"], _) => {
                method_not_allowed("GET")
            }
            (_, ["admin", "api-keys", _, "rotate" | "revoke"], _) => method_not_allowed("POST"),
            _ => not_found(),
        }
    }

    /// `GET /.well-known/oauth-protected-resource[/path]` (RFC 9728 §3):
    /// the metadata of the configured resource, at its path-suffixed URL
    /// and at the bare one (clients that found no path-suffixed document
    /// try it next).
    fn protected_resource_metadata(
        &self,
        resource: &super::ProtectedResource,
        req: &HttpRequest,
        path: &str,
    ) -> HttpResponse {
        // A client that fetches metadata knows only a URL: the API's tenant
        // source, else the OAuth endpoints' (the host).
        let config = &self.inner.config;
        let tenant = match config
            .api_tenant
            .resolve(req)
            .or_else(|_| config.oauth_tenant.resolve(req))
        {
            Ok(tenant) => tenant,
            Err(r) => return rejection_response(&r),
        };
        if path != super::PROTECTED_RESOURCE_METADATA_PATH
            && path != resource.metadata_path_for(&tenant)
        {
            return not_found();
        }
        if req.method != "GET" {
            return method_not_allowed("GET");
        }
        let issuer = self.oauth().map(|o| o.config().issuer_for(&tenant));
        super::metadata_response(&resource.metadata(&tenant, issuer))
    }

    /// The tenant an OAuth request names.
    pub(super) fn oauth_tenant(&self, req: &HttpRequest) -> Result<TenantId, HttpResponse> {
        self.inner
            .config
            .oauth_tenant
            .resolve(req)
            .map_err(|r| rejection_response(&r))
    }

    /// Counts a failure against `subjects`: the refusal (429) if one of them
    /// is over its limit, audited in `tenant` once per subject and window.
    pub(super) async fn failed(
        &self,
        subjects: &[Subject],
        tenant: Option<&TenantId>,
        ip: Option<IpAddr>,
    ) -> Option<Refusal> {
        let refusal = self.inner.throttle.as_ref()?.fail(subjects).await?;
        self.audit_refusal(refusal, tenant, ip).await;
        Some(refusal)
    }

    /// Whether an attempt naming `subjects` is refused before it is checked
    /// (the sign-in form), audited as [`failed`](Self::failed) is.
    pub(super) async fn refused_before_checking(
        &self,
        subjects: &[Subject],
        tenant: Option<&TenantId>,
        ip: Option<IpAddr>,
    ) -> Option<Refusal> {
        let refusal = self.inner.throttle.as_ref()?.check(subjects).await?;
        self.audit_refusal(refusal, tenant, ip).await;
        Some(refusal)
    }

    /// One audit event per throttled subject and window (the first
    /// refusal): refusals cost an attacker nothing, and each would otherwise
    /// add a row to the log of whatever tenant the request names.
    async fn audit_refusal(&self, refusal: Refusal, tenant: Option<&TenantId>, ip: Option<IpAddr>) {
        tracing::warn!(
            target: "papyrus_auth::audit",
            ip = ?ip,
            retry_after = refusal.retry_after.as_secs(),
            "throttled after repeated authentication failures"
        );
        if let (Some(tenant), true) = (tenant, refusal.first) {
            let kind = AuditEventKind::Throttled {
                retry_after: refusal.retry_after.as_secs().max(1),
            };
            let event =
                AuditEvent::new(self.now(), tenant.clone(), Actor::System, kind).with_ip(ip);
            let sink = self.inner.authenticator.api_keys().audit_sink();
            crate::audit::record_committed(&**sink, event).await;
        }
    }
}

/// What a refused credential counts against: `Rejection::Unknown` and
/// `Malformed` are guesses (the address and the credential);
/// `WrongTenant`, `Revoked` and `Expired` name a credential this library
/// issued, which counts against that credential alone (a lingering replica
/// with a revoked key does not cost its address anything). Any other
/// refusal (a missing credential, a tenant or scope problem) counts nothing.
pub(super) fn bearer_failure_subjects(
    rejection: &Rejection,
    ip: Option<IpAddr>,
    token: &str,
) -> Option<Vec<Subject>> {
    let credential = Subject::credential("bearer", token);
    match rejection {
        Rejection::Malformed | Rejection::Unknown => Some(
            ip.map(Subject::address)
                .into_iter()
                .chain([credential])
                .collect(),
        ),
        Rejection::WrongTenant
        | Rejection::WrongAudience
        | Rejection::Revoked
        | Rejection::Expired => Some(vec![credential]),
        _ => None,
    }
}

/// The answer for a path the library does not serve.
pub(super) fn not_found() -> HttpResponse {
    HttpResponse::json(
        404,
        &json!({"error": "not_found", "error_description": "no such endpoint"}),
    )
}

pub(super) fn is_form(req: &HttpRequest) -> bool {
    req.header("content-type")
        .and_then(|c| c.split(';').next())
        .is_some_and(|c| {
            c.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Whether the body is declared `application/json` (parameters ignored).
pub(super) fn is_json(req: &HttpRequest) -> bool {
    req.header("content-type")
        .and_then(|c| c.split(';').next())
        .is_some_and(|c| c.trim().eq_ignore_ascii_case("application/json"))
}

pub(super) fn json_body<T: for<'de> Deserialize<'de>>(
    req: &HttpRequest,
) -> Result<T, HttpResponse> {
    if !is_json(req) {
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

pub(super) fn bad_request(description: &str) -> HttpResponse {
    HttpResponse::json(
        400,
        &json!({"error": "invalid_request", "error_description": description}),
    )
}

pub(super) fn headers_too_large() -> HttpResponse {
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
pub(super) fn see_other(mut r: HttpResponse) -> HttpResponse {
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
    fn known_credentials_never_cost_their_address() {
        let ip = Some("192.0.2.7".parse().unwrap());
        for r in [Rejection::Malformed, Rejection::Unknown] {
            let s = bearer_failure_subjects(&r, ip, "pk_live_x").unwrap();
            assert_eq!(s.len(), 2, "{r}: a guess counts against the address");
        }
        for r in [
            Rejection::WrongTenant,
            Rejection::Revoked,
            Rejection::Expired,
        ] {
            let s = bearer_failure_subjects(&r, ip, "pk_live_x").unwrap();
            assert_eq!(
                s,
                vec![Subject::credential("bearer", "pk_live_x")],
                "{r}: the credential alone"
            );
        }
        for r in [
            Rejection::MissingCredentials,
            Rejection::MissingTenant,
            Rejection::IpNotAllowed,
            Rejection::InsufficientScope {
                required: "a:b".parse().unwrap(),
            },
        ] {
            assert_eq!(bearer_failure_subjects(&r, ip, "pk_live_x"), None, "{r}");
        }
    }
}
