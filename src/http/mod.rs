//! Framework-neutral HTTP: parsing the headers this crate reads and mapping
//! every error to a status code, headers and a JSON body.
//!
//! Adapters (axum, actix-web) only copy an [`HttpResponse`] into their own
//! response type, so both answer byte for byte the same.
//!
//! | rejection | status | `WWW-Authenticate` | body `error` |
//! |---|---|---|---|
//! | no bearer credential | 401 | `Bearer realm="api"` | `unauthorized` |
//! | malformed, unknown, wrong tenant, revoked, expired | 401 | `Bearer realm="api", error="invalid_token", …` | `invalid_token` |
//! | client IP outside the allowlist | 403 | – | `ip_not_allowed` |
//! | missing scope | 403 | `Bearer realm="api", error="insufficient_scope", scope="…"` | `insufficient_scope` |
//! | missing or malformed `X-Tenant-Id` | 400 | – | `invalid_request` |
//! | store failure | 503 | – (`Retry-After: 5`) | `temporarily_unavailable` |
//!
//! The realm is [`DEFAULT_REALM`] (`api`) unless [`HttpAuthConfig::realm`]
//! names the application's own.
//!
//! Unknown, wrong-tenant, revoked and expired credentials get the very same
//! response, so a caller cannot probe which keys exist or what state they are
//! in. See RFC 6750 §3.

use serde_json::{Value, json};

mod admin;
mod auth;
mod bearer;
mod builder;
mod client_ip;
mod consent;
mod csrf;
mod extract;
mod login;
mod oauth;
mod pages;
mod registration;
mod request;
mod resource_server;
mod tenant;

pub use auth::{EndpointGroup, HttpAuth, HttpAuthConfig, body_too_large};
pub use bearer::HttpAuthentication;
pub use builder::{BuildError, HttpAuthBuilder};
pub use client_ip::TrustedProxies;
pub use consent::{ConsentContext, ConsentHandler, Interaction, SignIn};
pub use csrf::{CSRF_COOKIE, CsrfKey, DEVICE_COOKIE};
pub(crate) use extract::ChallengeRealm;
pub use extract::{
    AuthRejection, InvalidRequirement, RequireScopes, ScopeRequirement, require_scopes,
    required_scopes, requirement_problem,
};
pub use login::{LoginConsent, StaticUsers, UserDirectory};
pub use request::{HeaderSource, HeaderStats, HttpRequest};
pub(crate) use request::{at_most_one, readable_or_replaced};
pub use resource_server::{
    PROTECTED_RESOURCE_METADATA_PATH, ProtectedResource, ProtectedResourceMetadata,
};
pub use tenant::TenantSource;

pub use crate::credential::{MAX_AUTHORIZATION_LEN, bearer_token, tenant_from_header};
pub(crate) use crate::credential::{bearer_credential, tenant_refusal};

use crate::{
    AuthError, Rejection,
    api_key::ApiKeyError,
    oauth::{
        AuthorizeError, ClientError, ErrorRedirect, Introspection, OAuthError, OAuthErrorCode,
        TokenResponse,
    },
};

/// The realm named in `WWW-Authenticate` challenges unless
/// [`HttpAuthConfig::realm`] names another.
pub const DEFAULT_REALM: &str = "api";

/// `response` with its challenges naming `realm` instead of
/// [`DEFAULT_REALM`] (`realm` already fit for a quoted string: see
/// [`HttpAuthConfig::with_realm`]).
/// Adds `resource_metadata="…"` (RFC 9728 §5.1) to the `Bearer` challenge
/// of a `401` or `403`.
pub(crate) fn with_resource_metadata(mut response: HttpResponse, url: &str) -> HttpResponse {
    if matches!(response.status, 401 | 403) {
        for (name, value) in &mut response.headers {
            if name.eq_ignore_ascii_case("WWW-Authenticate") && value.starts_with("Bearer") {
                value.push_str(&format!(", resource_metadata=\"{url}\""));
            }
        }
    }
    response
}

pub(crate) fn in_realm(mut response: HttpResponse, realm: &str) -> HttpResponse {
    if realm != DEFAULT_REALM {
        let default = concat!("realm=\"", "api", "\"");
        for (name, value) in &mut response.headers {
            if name.eq_ignore_ascii_case("WWW-Authenticate") && value.contains(default) {
                *value = value.replace(default, &format!("realm=\"{realm}\""));
            }
        }
    }
    response
}

/// The name of the tenant header.
pub const TENANT_HEADER: &str = "X-Tenant-Id";

/// A response in framework-neutral form: status, headers and a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Headers, including `Content-Type`.
    pub headers: Vec<(&'static str, String)>,
    /// The body (JSON).
    pub body: String,
}

impl HttpResponse {
    /// A JSON response.
    pub fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: vec![
                ("Content-Type", "application/json".to_owned()),
                ("Cache-Control", "no-store".to_owned()),
                ("X-Content-Type-Options", "nosniff".to_owned()),
            ],
            body: body.to_string(),
        }
    }

    /// An HTML page (for errors the authorization endpoint must not redirect).
    /// Framed by nobody (`X-Frame-Options: DENY`, CSP `frame-ancestors 'none'`)
    /// and never cached.
    pub fn html(status: u16, body: String) -> Self {
        Self {
            status,
            headers: vec![
                ("Content-Type", "text/html; charset=utf-8".to_owned()),
                ("Cache-Control", "no-store".to_owned()),
                ("X-Content-Type-Options", "nosniff".to_owned()),
                ("X-Frame-Options", "DENY".to_owned()),
                (
                    "Content-Security-Policy",
                    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
                        .to_owned(),
                ),
                ("Referrer-Policy", "no-referrer".to_owned()),
            ],
            body,
        }
    }

    /// A `302 Found` redirect to `location`, never cached.
    pub fn redirect(location: String) -> Self {
        Self {
            status: 302,
            headers: vec![
                ("Location", location),
                ("Cache-Control", "no-store".to_owned()),
                ("Referrer-Policy", "no-referrer".to_owned()),
            ],
            body: String::new(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn error_body(error: &str, description: &str) -> Value {
    json!({ "error": error, "error_description": description })
}

/// The response for a refused credential (see the [module table](self)).
pub fn rejection_response(rejection: &Rejection) -> HttpResponse {
    match rejection {
        Rejection::MissingCredentials => HttpResponse::json(
            401,
            &error_body(
                "unauthorized",
                "expected an Authorization: Bearer credential",
            ),
        )
        .with_header(
            "WWW-Authenticate",
            format!("Bearer realm=\"{DEFAULT_REALM}\""),
        ),
        Rejection::MissingTenant => HttpResponse::json(
            400,
            &error_body("invalid_request", "missing X-Tenant-Id header"),
        ),
        Rejection::RepeatedHeader => HttpResponse::json(
            400,
            &error_body(
                "invalid_request",
                "Authorization, X-Tenant-Id and Host must each be sent at most once",
            ),
        ),
        Rejection::InvalidTenant => HttpResponse::json(
            400,
            &error_body(
                "invalid_request",
                "X-Tenant-Id must be 1 to 63 of a-z, 0-9 and -, not starting or ending with -",
            ),
        ),
        Rejection::Malformed
        | Rejection::Unknown
        | Rejection::WrongAudience
        | Rejection::WrongTenant
        | Rejection::Revoked
        | Rejection::Expired => {
            let description = "the credential is invalid, expired or revoked";
            HttpResponse::json(401, &error_body("invalid_token", description)).with_header(
                "WWW-Authenticate",
                format!("Bearer realm=\"{DEFAULT_REALM}\", error=\"invalid_token\", error_description=\"{description}\""),
            )
        }
        Rejection::IpNotAllowed => HttpResponse::json(
            403,
            &error_body(
                "ip_not_allowed",
                "the client IP is not in this key's allowlist",
            ),
        ),
        Rejection::InsufficientScope { required } => {
            let mut body = error_body(
                "insufficient_scope",
                "the credential lacks a required scope",
            );
            body["scope"] = Value::String(required.to_string());
            HttpResponse::json(403, &body).with_header(
                "WWW-Authenticate",
                format!(
                    "Bearer realm=\"{DEFAULT_REALM}\", error=\"insufficient_scope\", scope=\"{required}\""
                ),
            )
        }
    }
}

/// `429 Too Many Requests` with `Retry-After`: too many failed
/// authentications from this IP or for this credential.
pub fn too_many_requests_response(retry_after: std::time::Duration) -> HttpResponse {
    let secs = retry_after.as_secs().max(1);
    HttpResponse::json(
        429,
        &error_body(
            "too_many_requests",
            "too many failed authentications; retry later",
        ),
    )
    .with_header("Retry-After", secs.to_string())
}

/// `503` with a JSON error: the store is down or failing. Never a `401`.
pub fn unavailable_response() -> HttpResponse {
    HttpResponse::json(
        503,
        &error_body(
            "temporarily_unavailable",
            "the credential store is unavailable; retry later",
        ),
    )
    .with_header("Retry-After", "5".to_owned())
}

/// The response for an [`AuthError`].
pub fn auth_error_response(error: &AuthError) -> HttpResponse {
    match error {
        AuthError::Rejected(r) => rejection_response(r),
        AuthError::Store(e) => {
            tracing::error!(error = %e, "store failure during authentication");
            unavailable_response()
        }
    }
}

/// The response for a key administration error.
pub fn api_key_error_response(error: &ApiKeyError) -> HttpResponse {
    match error {
        ApiKeyError::NotFound => {
            HttpResponse::json(404, &error_body("not_found", "no such API key"))
        }
        ApiKeyError::Invalid(why) => HttpResponse::json(400, &error_body("invalid_request", why)),
        ApiKeyError::AlreadyRotated { successor } => {
            let mut body = error_body(
                "already_rotated",
                "this key was already rotated; rotate its successor",
            );
            body["successor"] = Value::String(successor.to_string());
            HttpResponse::json(409, &body)
        }
        ApiKeyError::Revoked => {
            HttpResponse::json(409, &error_body("revoked", "this key is revoked"))
        }
        ApiKeyError::Store(e) => {
            tracing::error!(error = %e, "store failure during key administration");
            unavailable_response()
        }
    }
}

/// The response for a client registration error.
pub fn client_error_response(error: &ClientError) -> HttpResponse {
    match error {
        ClientError::Invalid(why) => {
            HttpResponse::json(400, &error_body("invalid_client_metadata", why))
        }
        ClientError::NotFound => {
            HttpResponse::json(404, &error_body("not_found", "no such client"))
        }
        ClientError::Conflict => HttpResponse::json(
            409,
            &error_body(
                "conflict",
                "this tenant has a client with this client_id already",
            ),
        ),
        ClientError::Store(e) => {
            tracing::error!(error = %e, "store failure during client administration");
            unavailable_response()
        }
    }
}

/// The JSON error response of the token, revocation and introspection
/// endpoints (RFC 6749 §5.2): 400, or 401 with `WWW-Authenticate: Basic`
/// for `invalid_client`; never cached.
pub fn oauth_error_response(error: &OAuthError) -> HttpResponse {
    let mut r = HttpResponse::json(
        error.code.status(),
        &error_body(error.code.as_str(), &error.description),
    )
    .with_header("Pragma", "no-cache".to_owned());
    // Every 401 carries a challenge (RFC 9110 §15.5.2); Basic is the scheme
    // the token endpoint accepts (RFC 6749 §5.2).
    if error.code == OAuthErrorCode::InvalidClient {
        r = r.with_header(
            "WWW-Authenticate",
            format!("Basic realm=\"{DEFAULT_REALM}\""),
        );
    }
    if error.code == OAuthErrorCode::TemporarilyUnavailable {
        r = r.with_header("Retry-After", "5".to_owned());
    }
    r
}

/// A successful token response: 200, JSON, `Cache-Control: no-store`,
/// `Pragma: no-cache` (RFC 6749 §5.1).
pub fn token_response(tokens: &TokenResponse) -> HttpResponse {
    let body = serde_json::to_value(tokens).unwrap_or(Value::Null);
    HttpResponse::json(200, &body).with_header("Pragma", "no-cache".to_owned())
}

/// An introspection answer (RFC 7662 §2.2): 200, JSON, not cached.
pub fn introspection_response(answer: &Introspection) -> HttpResponse {
    let body = serde_json::to_value(answer).unwrap_or(Value::Null);
    HttpResponse::json(200, &body).with_header("Pragma", "no-cache".to_owned())
}

/// The revocation endpoint's success (RFC 7009 §2.2): 200 with an empty JSON object.
pub fn revocation_response() -> HttpResponse {
    HttpResponse::json(200, &json!({}))
}

/// Server metadata (RFC 8414 §3.2): 200, JSON, cacheable for an hour.
pub fn metadata_response(metadata: &impl serde::Serialize) -> HttpResponse {
    let body = serde_json::to_value(metadata).unwrap_or(Value::Null);
    let mut r = HttpResponse::json(200, &body);
    r.headers.retain(|(n, _)| *n != "Cache-Control");
    r.with_header("Cache-Control", "public, max-age=3600".to_owned())
}

/// The `/metrics` response for a Prometheus handle (feature `prometheus`;
/// see [`crate::metrics`]): `200`, the text exposition format, never
/// cached.
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub fn metrics_response(handle: &metrics_exporter_prometheus::PrometheusHandle) -> HttpResponse {
    HttpResponse {
        status: 200,
        headers: vec![
            (
                "Content-Type",
                "text/plain; version=0.0.4; charset=utf-8".to_owned(),
            ),
            ("Cache-Control", "no-store".to_owned()),
        ],
        body: handle.render(),
    }
}

/// The redirect that answers an authorization request with an error.
pub fn error_redirect_response(redirect: &ErrorRedirect) -> HttpResponse {
    HttpResponse::redirect(redirect.location())
}

/// The response to a failed authorization request: a redirect to the client
/// when it may redirect, else a 400 HTML error page.
pub fn authorize_error_response(error: &AuthorizeError) -> HttpResponse {
    match error {
        AuthorizeError::Redirect(r) => error_redirect_response(r),
        AuthorizeError::NoRedirect(e) => error_page(e),
    }
}

/// A 400 HTML page for an authorization error that must not redirect.
pub fn error_page(error: &OAuthError) -> HttpResponse {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Authorization error</title></head>\
         <body><h1>Authorization error</h1><p><code>{}</code>: {}</p>\
         <p>You were not sent back to the application.</p></body></html>",
        html_escape(error.code.as_str()),
        html_escape(&error.description)
    );
    HttpResponse::html(
        if error.code == OAuthErrorCode::TemporarilyUnavailable {
            503
        } else {
            400
        },
        body,
    )
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreError;

    fn body(r: &HttpResponse) -> Value {
        serde_json::from_str(&r.body).unwrap()
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token(Some("Bearer pk_live_x")), Ok("pk_live_x"));
        assert_eq!(bearer_token(Some("BEARER  abc== ")), Ok("abc=="));
        assert_eq!(bearer_token(Some("Bearer")), Err(Rejection::Malformed));
        assert_eq!(
            bearer_token(Some("Bearerabc")),
            Err(Rejection::MissingCredentials)
        );
        assert_eq!(
            bearer_token(Some("Bearer\tabc")),
            Err(Rejection::MissingCredentials)
        );
        assert_eq!(
            bearer_token(Some("Bé abc")),
            Err(Rejection::MissingCredentials)
        );
        assert_eq!(bearer_token(Some("Bearer ")), Err(Rejection::Malformed));
        assert_eq!(bearer_token(Some("Bearer =")), Err(Rejection::Malformed));
        assert_eq!(bearer_token(Some("Bearer a\"b")), Err(Rejection::Malformed));
        assert_eq!(bearer_token(Some("Bearer a=b")), Err(Rejection::Malformed));
        assert_eq!(
            bearer_token(Some("pk_live_x")),
            Err(Rejection::MissingCredentials)
        );
        assert_eq!(bearer_token(Some("")), Err(Rejection::MissingCredentials));
        let long = format!("Bearer {}", "a".repeat(MAX_AUTHORIZATION_LEN));
        assert_eq!(bearer_token(Some(&long)), Err(Rejection::Malformed));
    }

    #[test]
    fn tenant_header() {
        assert_eq!(tenant_from_header(Some("acme")).unwrap().as_str(), "acme");
        assert_eq!(
            tenant_from_header(None).unwrap_err(),
            Rejection::MissingTenant
        );
        assert_eq!(
            tenant_from_header(Some(" ")).unwrap_err(),
            Rejection::MissingTenant
        );
        assert_eq!(
            tenant_from_header(Some("ACME")).unwrap_err(),
            Rejection::InvalidTenant
        );
        assert_eq!(
            tenant_from_header(Some(" \tacme ")).unwrap().as_str(),
            "acme",
            "optional whitespace"
        );
        assert_eq!(
            tenant_from_header(Some("acme\u{a0}")).unwrap_err(),
            Rejection::InvalidTenant,
            "a no-break space is not HTTP whitespace"
        );
    }

    #[test]
    fn invalid_credentials_are_indistinguishable() {
        let all: Vec<HttpResponse> = [
            Rejection::Malformed,
            Rejection::Unknown,
            Rejection::WrongTenant,
            Rejection::Revoked,
            Rejection::Expired,
        ]
        .iter()
        .map(rejection_response)
        .collect();
        assert!(all.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(all[0].status, 401);
        assert!(
            all[0]
                .header("www-authenticate")
                .unwrap()
                .contains("error=\"invalid_token\"")
        );
        assert_eq!(body(&all[0])["error"], "invalid_token");
    }

    #[test]
    fn statuses_and_challenges() {
        let missing = rejection_response(&Rejection::MissingCredentials);
        assert_eq!(missing.status, 401);
        assert_eq!(
            missing.header("WWW-Authenticate"),
            Some("Bearer realm=\"api\"")
        );

        let scope = rejection_response(&Rejection::InsufficientScope {
            required: "documents:write".parse().unwrap(),
        });
        assert_eq!(scope.status, 403);
        assert_eq!(
            scope.header("WWW-Authenticate"),
            Some("Bearer realm=\"api\", error=\"insufficient_scope\", scope=\"documents:write\"")
        );
        assert_eq!(body(&scope)["scope"], "documents:write");

        let ip = rejection_response(&Rejection::IpNotAllowed);
        assert_eq!((ip.status, ip.header("WWW-Authenticate")), (403, None));
        assert_eq!(body(&ip)["error"], "ip_not_allowed");

        for r in [
            Rejection::MissingTenant,
            Rejection::InvalidTenant,
            Rejection::RepeatedHeader,
        ] {
            let resp = rejection_response(&r);
            assert_eq!(resp.status, 400);
            assert_eq!(body(&resp)["error"], "invalid_request");
        }

        let down = auth_error_response(&AuthError::Store(StoreError::unavailable(
            std::io::Error::other("down"),
        )));
        assert_eq!(down.status, 503);
        assert_eq!(body(&down)["error"], "temporarily_unavailable");
        assert!(down.header("Retry-After").is_some());
    }

    #[test]
    fn descriptions_use_only_rfc6749_characters() {
        for r in [
            Rejection::MissingCredentials,
            Rejection::MissingTenant,
            Rejection::InvalidTenant,
            Rejection::RepeatedHeader,
            Rejection::Unknown,
            Rejection::IpNotAllowed,
            Rejection::InsufficientScope {
                required: "a:b".parse().unwrap(),
            },
        ] {
            let b = body(&rejection_response(&r));
            let d = b["error_description"].as_str().unwrap();
            assert!(
                d.bytes().all(|c| c == 0x20
                    || c == 0x21
                    || (0x23..=0x5B).contains(&c)
                    || (0x5D..=0x7E).contains(&c)),
                "{d}"
            );
        }
    }

    #[test]
    fn oauth_errors() {
        let e = oauth_error_response(&OAuthError::invalid_grant("nope"));
        assert_eq!(e.status, 400);
        assert_eq!(e.header("Cache-Control"), Some("no-store"));
        assert_eq!(e.header("Pragma"), Some("no-cache"));
        assert_eq!(
            body(&e),
            json!({"error": "invalid_grant", "error_description": "nope"})
        );
        let c = oauth_error_response(&OAuthError::invalid_client("x").with_basic_challenge(true));
        assert_eq!(c.status, 401);
        assert_eq!(c.header("WWW-Authenticate"), Some("Basic realm=\"api\""));
        let c = oauth_error_response(&OAuthError::invalid_client("x"));
        assert_eq!(
            (c.status, c.header("WWW-Authenticate")),
            (401, Some("Basic realm=\"api\""))
        );
    }

    #[test]
    fn error_pages_escape_and_forbid_framing() {
        let p = error_page(&OAuthError::invalid_request("<script>alert(1)</script>"));
        assert_eq!(p.status, 400);
        assert!(!p.body.contains("<script>"));
        assert_eq!(p.header("X-Frame-Options"), Some("DENY"));
        assert!(
            p.header("Content-Security-Policy")
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
    }

    #[test]
    fn admin_errors() {
        assert_eq!(api_key_error_response(&ApiKeyError::NotFound).status, 404);
        assert_eq!(
            api_key_error_response(&ApiKeyError::Invalid("x")).status,
            400
        );
        assert_eq!(api_key_error_response(&ApiKeyError::Revoked).status, 409);
    }
}
