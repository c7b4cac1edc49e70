//! Black-box tests of the OAuth 2.0 authorization server core.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::{collections::HashMap, sync::Arc};

use base64::Engine as _;
use papyrus_auth::{
    Actor, ApiKeys, AuditEventKind, AuditLog, AuditQuery, AuthError, AuthMethod, AuthRequest,
    Authenticator, ManualClock, MemoryApiKeyStore, MemoryAuditLog, MemoryClientStore,
    MemoryGrantStore, NewApiKey, Rejection, ScopeSet, TenantId, http,
    oauth::{
        AuthorizationServer, AuthorizationServerConfig, AuthorizeError, ClientId, ClientInfo,
        ClientKind, CodeChallenge, NewClient, OAuthError, OAuthErrorCode, TokenRequest,
        TokenResponse, ValidatedAuthorization,
    },
};
use time::{Duration, macros::datetime};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const CALLBACK: &str = "https://app.example.com/callback";

struct Fx {
    server: AuthorizationServer,
    audit: Arc<MemoryAuditLog>,
    grants: Arc<MemoryGrantStore>,
    clock: ManualClock,
    acme: TenantId,
    spa: ClientInfo,
    backend: ClientInfo,
    backend_secret: String,
}

/// Papyrus's settings: its issuer and its scopes.
fn papyrus() -> AuthorizationServerConfig {
    AuthorizationServerConfig::new("https://{tenant}.papyrus.io".parse().unwrap())
        .with_known_scopes(
            "documents:read documents:write workflows:read workflows:write analytics:read"
                .parse()
                .unwrap(),
        )
}

async fn fx() -> Fx {
    fx_with(papyrus()).await
}

async fn fx_with(config: AuthorizationServerConfig) -> Fx {
    let audit = Arc::new(MemoryAuditLog::new());
    let grants = Arc::new(MemoryGrantStore::new());
    let clock = ManualClock::new(datetime!(2026-05-01 10:00 UTC));
    let server = AuthorizationServer::new(
        "https://{tenant}.papyrus.io".parse().unwrap(),
        Arc::new(MemoryClientStore::new()),
        grants.clone(),
        audit.clone(),
    )
    .with_clock(Arc::new(clock.clone()))
    .with_config(config);
    let acme: TenantId = "acme".parse().unwrap();
    let spa = server
        .register_client(
            &acme,
            NewClient::new(
                "Portal",
                ClientKind::Public,
                CALLBACK,
                "documents:read documents:write workflows:read"
                    .parse()
                    .unwrap(),
            )
            .with_redirect_uri("http://127.0.0.1/native")
            .with_default_scopes("documents:read".parse().unwrap()),
            &Actor::System,
        )
        .await
        .unwrap()
        .client;
    let registered = server
        .register_client(
            &acme,
            NewClient::new(
                "Backend",
                ClientKind::Confidential,
                "https://backend.example.com/cb",
                "documents:read".parse().unwrap(),
            ),
            &Actor::System,
        )
        .await
        .unwrap();
    Fx {
        server,
        audit,
        grants,
        clock,
        acme,
        spa,
        backend: registered.client,
        backend_secret: registered.secret.unwrap().expose_secret().to_owned(),
    }
}

fn query(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

/// Query parameters from a redirect `Location`.
fn location_params(location: &str) -> HashMap<String, String> {
    let q = location.split_once('?').unwrap().1;
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

impl Fx {
    fn authorize_pairs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("response_type", "code".into()),
            ("client_id", self.spa.client_id.to_string()),
            ("redirect_uri", CALLBACK.into()),
            ("scope", "documents:read workflows:read".into()),
            ("code_challenge", CHALLENGE.into()),
            ("code_challenge_method", "S256".into()),
            ("state", "st&te=1 ü".into()),
        ]
    }

    fn query_with(&self, change: &[(&'static str, Option<&str>)]) -> String {
        let mut pairs = self.authorize_pairs();
        for (k, v) in change {
            pairs.retain(|(n, _)| n != k);
            if let Some(v) = v {
                pairs.push((k, (*v).to_owned()));
            }
        }
        query(
            &pairs
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect::<Vec<_>>(),
        )
    }

    async fn authorize(&self, q: &str) -> Result<ValidatedAuthorization, AuthorizeError> {
        self.server.authorize(&self.acme, q).await
    }

    async fn code(&self) -> String {
        let req = self.authorize(&self.query_with(&[])).await.unwrap();
        let loc = self
            .server
            .approve(&req, "alice", &req.scopes)
            .await
            .unwrap();
        location_params(&loc)["code"].clone()
    }

    async fn token(
        &self,
        authorization: Option<&str>,
        pairs: &[(&str, &str)],
    ) -> Result<TokenResponse, OAuthError> {
        self.server
            .token(&self.acme, &TokenRequest::new(authorization, &query(pairs)))
            .await
    }

    async fn exchange(&self, code: &str) -> Result<TokenResponse, OAuthError> {
        let id = self.spa.client_id.to_string();
        self.token(
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", CALLBACK),
                ("client_id", &id),
                ("code_verifier", VERIFIER),
            ],
        )
        .await
    }

    async fn refresh(&self, token: &str, scope: Option<&str>) -> Result<TokenResponse, OAuthError> {
        let id = self.spa.client_id.to_string();
        let mut pairs = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", id.as_str()),
        ];
        if let Some(s) = scope {
            pairs.push(("scope", s));
        }
        self.token(None, &pairs).await
    }

    async fn tokens(&self) -> TokenResponse {
        let code = self.code().await;
        self.exchange(&code).await.unwrap()
    }

    async fn validate(
        &self,
        access: &str,
        tenant: &str,
        need: &str,
    ) -> Result<papyrus_auth::Principal, AuthError> {
        self.server
            .validate_access_token(access, &tenant.parse().unwrap(), &need.parse().unwrap())
            .await
    }

    /// Why `access` is refused in tenant `acme` with no scope needed
    /// (`None`: it is accepted).
    async fn rejection(&self, access: &str) -> Option<Rejection> {
        let refused = self.validate(access, "acme", "").await.err()?;
        refused.rejection().cloned()
    }

    async fn kinds(&self) -> Vec<AuditEventKind> {
        self.audit
            .query(&AuditQuery::tenant(self.acme.clone()).limit(1000))
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }
}

fn no_redirect(r: Result<ValidatedAuthorization, AuthorizeError>) -> OAuthError {
    match r {
        Err(AuthorizeError::NoRedirect(e)) => e,
        other => panic!("expected NoRedirect, got {other:?}"),
    }
}

fn redirect(r: Result<ValidatedAuthorization, AuthorizeError>) -> HashMap<String, String> {
    match r {
        Err(AuthorizeError::Redirect(e)) => {
            let loc = e.location();
            assert!(loc.starts_with(&e.redirect_uri));
            location_params(&loc)
        }
        other => panic!("expected Redirect, got {other:?}"),
    }
}

fn code_of(e: Result<TokenResponse, OAuthError>) -> OAuthErrorCode {
    e.expect_err("expected an OAuth error").code
}

// ----- the whole flow -----------------------------------------------------

#[tokio::test]
async fn full_code_flow_with_rfc7636_vector() {
    let f = fx().await;
    assert_eq!(CodeChallenge::s256_of(VERIFIER).as_str(), CHALLENGE);
    let req = f.authorize(&f.query_with(&[])).await.unwrap();
    assert_eq!(req.client.name, "Portal");
    assert_eq!(req.scopes, "documents:read workflows:read".parse().unwrap());
    let loc = f.server.approve(&req, "alice", &req.scopes).await.unwrap();
    assert!(loc.starts_with("https://app.example.com/callback?code=pac_"));
    let p = location_params(&loc);
    assert_eq!(p["state"], "st&te=1 ü", "state is echoed exactly");
    assert_eq!(p["iss"], "https://acme.papyrus.io");

    let tokens = f.exchange(&p["code"]).await.unwrap();
    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!(tokens.expires_in, 3600);
    assert_eq!(
        tokens.scope,
        "documents:read workflows:read".parse().unwrap()
    );
    assert!(tokens.access_token.expose_secret().starts_with("pat_"));
    assert!(
        tokens
            .refresh_token
            .as_ref()
            .unwrap()
            .expose_secret()
            .starts_with("prt_")
    );

    let resp = http::token_response(&tokens);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("Cache-Control"), Some("no-store"));
    assert_eq!(resp.header("Pragma"), Some("no-cache"));
    let json: serde_json::Value = serde_json::from_str(&resp.body).unwrap();
    assert_eq!(json["access_token"], tokens.access_token.expose_secret());
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(json["expires_in"], 3600);
    assert_eq!(json["scope"], "documents:read workflows:read");

    let p = f
        .validate(
            tokens.access_token.expose_secret(),
            "acme",
            "documents:read",
        )
        .await
        .unwrap();
    assert_eq!(p.subject(), "alice");
    assert_eq!(
        p.method(),
        AuthMethod::AccessToken {
            client_id: f.spa.client_id.clone()
        }
    );
    let kinds = f.kinds().await;
    assert!(
        kinds
            .iter()
            .any(|k| matches!(k, AuditEventKind::CodeIssued { .. }))
    );
    assert!(
        kinds
            .iter()
            .any(|k| matches!(k, AuditEventKind::TokensIssued { .. }))
    );
}

#[tokio::test]
async fn issue_and_rotation_audits_name_the_family_user_client_and_scopes() {
    let f = fx().await;
    let t1 = f.tokens().await;
    let r1 = t1.refresh_token.unwrap().expose_secret().to_owned();
    f.refresh(&r1, Some("documents:read")).await.unwrap();
    let events = f
        .audit
        .query(&AuditQuery::tenant(f.acme.clone()).limit(1000))
        .await
        .unwrap();
    let issued = events
        .iter()
        .find(|e| matches!(e.kind, AuditEventKind::TokensIssued { .. }))
        .expect("tokens issued");
    let rotated = events
        .iter()
        .find(|e| matches!(e.kind, AuditEventKind::RefreshRotated { .. }))
        .expect("refresh rotated");
    let (
        AuditEventKind::TokensIssued {
            family: issued_family,
            scopes: issued_scopes,
        },
        AuditEventKind::RefreshRotated {
            family: rotated_family,
            scopes: rotated_scopes,
        },
    ) = (&issued.kind, &rotated.kind)
    else {
        unreachable!("matched above")
    };
    assert_eq!(issued_family, rotated_family, "one family");
    assert_eq!(*issued_scopes, t1.scope);
    assert_eq!(
        rotated_scopes.to_string(),
        "documents:read",
        "the narrowed access scope"
    );
    for e in [issued, rotated] {
        assert_eq!(e.subject.as_deref(), Some("alice"));
        assert_eq!(e.client_id.as_ref(), Some(&f.spa.client_id));
    }
}

#[tokio::test]
async fn approving_fewer_scopes_narrows_the_grant() {
    let f = fx().await;
    let req = f.authorize(&f.query_with(&[])).await.unwrap();
    let loc = f
        .server
        .approve(&req, "alice", &"documents:read".parse().unwrap())
        .await
        .unwrap();
    let tokens = f.exchange(&location_params(&loc)["code"]).await.unwrap();
    assert_eq!(tokens.scope, "documents:read".parse().unwrap());
    let wider = f
        .server
        .approve(&req, "alice", &"documents:write".parse().unwrap())
        .await;
    assert_eq!(wider.unwrap_err().code, OAuthErrorCode::InvalidScope);
    let none = f.server.approve(&req, "alice", &ScopeSet::empty()).await;
    assert_eq!(none.unwrap_err().code, OAuthErrorCode::InvalidScope);
}

#[tokio::test]
async fn default_scopes_and_single_redirect_uri() {
    let f = fx().await;
    let req = f
        .authorize(&f.query_with(&[("scope", None)]))
        .await
        .unwrap();
    assert_eq!(req.scopes, "documents:read".parse().unwrap());
    // The SPA registered two URIs: redirect_uri is required.
    let e = no_redirect(f.authorize(&f.query_with(&[("redirect_uri", None)])).await);
    assert_eq!(e.code, OAuthErrorCode::InvalidRequest);
}

#[tokio::test]
async fn user_denial_redirects_with_access_denied() {
    let f = fx().await;
    let req = f.authorize(&f.query_with(&[])).await.unwrap();
    let r = f.server.deny(&req, Some("alice")).await;
    let p = location_params(&r.location());
    assert_eq!(p["error"], "access_denied");
    assert_eq!(p["state"], "st&te=1 ü");
    assert_eq!(p["iss"], "https://acme.papyrus.io");
    assert!(
        f.kinds()
            .await
            .contains(&AuditEventKind::AuthorizationDenied)
    );
}

// ----- authorization errors ----------------------------------------------

#[tokio::test]
async fn client_and_redirect_errors_never_redirect() {
    let f = fx().await;
    let cases: Vec<(&str, String)> = vec![
        ("missing client_id", f.query_with(&[("client_id", None)])),
        (
            "unknown client_id",
            f.query_with(&[("client_id", Some("cli_nope"))]),
        ),
        (
            "malformed client_id",
            f.query_with(&[("client_id", Some("a b"))]),
        ),
        (
            "unregistered redirect_uri",
            f.query_with(&[("redirect_uri", Some("https://evil.example/cb"))]),
        ),
        (
            "prefix of a registered uri",
            f.query_with(&[("redirect_uri", Some("https://app.example.com/callback/x"))]),
        ),
        (
            "repeated client_id",
            format!("{}&client_id={}", f.query_with(&[]), f.spa.client_id),
        ),
        (
            "repeated redirect_uri",
            format!("{}&redirect_uri=x", f.query_with(&[])),
        ),
        (
            "oversized",
            format!("{}&x={}", f.query_with(&[]), "a".repeat(5000)),
        ),
    ];
    for (what, q) in cases {
        let e = no_redirect(f.authorize(&q).await);
        assert_eq!(e.code, OAuthErrorCode::InvalidRequest, "{what}");
        let page = http::authorize_error_response(&AuthorizeError::NoRedirect(e));
        assert_eq!(page.status, 400, "{what}");
        assert!(page.header("Location").is_none());
    }
    // A client of another tenant is unknown here.
    let other = f
        .server
        .authorize(&"globex".parse().unwrap(), &f.query_with(&[]))
        .await;
    assert_eq!(no_redirect(other).code, OAuthErrorCode::InvalidRequest);
}

#[tokio::test]
async fn other_errors_redirect_with_state_and_iss() {
    let f = fx().await;
    let long = "a".repeat(129);
    type Change<'a> = Vec<(&'static str, Option<&'a str>)>;
    let cases: Vec<(&str, Change<'_>, &str)> = vec![
        (
            "missing response_type",
            vec![("response_type", None)],
            "invalid_request",
        ),
        (
            "response_type token",
            vec![("response_type", Some("token"))],
            "unsupported_response_type",
        ),
        (
            "missing challenge",
            vec![("code_challenge", None)],
            "invalid_request",
        ),
        (
            "method plain",
            vec![("code_challenge_method", Some("plain"))],
            "invalid_request",
        ),
        (
            "method omitted",
            vec![("code_challenge_method", None)],
            "invalid_request",
        ),
        (
            "method unknown",
            vec![("code_challenge_method", Some("S512"))],
            "invalid_request",
        ),
        (
            "challenge too short",
            vec![("code_challenge", Some("abc"))],
            "invalid_request",
        ),
        (
            "challenge too long",
            vec![("code_challenge", Some(&long))],
            "invalid_request",
        ),
        (
            "challenge bad chars",
            vec![(
                "code_challenge",
                Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"),
            )],
            "invalid_request",
        ),
        (
            "unknown scope",
            vec![("scope", Some("documents:read admin:everything"))],
            "invalid_scope",
        ),
        (
            "scope not allowed",
            vec![("scope", Some("analytics:read"))],
            "invalid_scope",
        ),
        (
            "malformed scope",
            vec![("scope", Some("documents:read  x"))],
            "invalid_scope",
        ),
    ];
    for (what, change, code) in cases {
        let p = redirect(f.authorize(&f.query_with(&change)).await);
        assert_eq!(p["error"], code, "{what}");
        assert_eq!(p["state"], "st&te=1 ü", "{what}");
        assert_eq!(p["iss"], "https://acme.papyrus.io", "{what}");
        assert!(!p["error_description"].is_empty());
    }
    let p = redirect(
        f.authorize(&format!("{}&scope=documents:read", f.query_with(&[])))
            .await,
    );
    assert_eq!(p["error"], "invalid_request", "repeated scope");
    // A state that is not UTF-8 once decoded could not be echoed exactly:
    // refused, and not echoed.
    let p = redirect(
        f.authorize(&format!(
            "{}&state=%FF%C0%80",
            f.query_with(&[("state", None)])
        ))
        .await,
    );
    assert_eq!(p["error"], "invalid_request", "lossy state");
    assert!(!p.contains_key("state"), "{p:?}");
    let http = http::authorize_error_response(
        &f.authorize(&f.query_with(&[("response_type", None)]))
            .await
            .unwrap_err(),
    );
    assert_eq!(http.status, 302);
    assert!(http.header("Location").unwrap().starts_with(CALLBACK));
}

#[tokio::test]
async fn plain_pkce_only_through_the_dangerous_switch() {
    let mut config = papyrus();
    config.dangerous().allow_plain_pkce = true;
    let f = fx_with(config).await;
    let req = f
        .authorize(&f.query_with(&[
            ("code_challenge", Some(VERIFIER)),
            ("code_challenge_method", Some("plain")),
        ]))
        .await
        .unwrap();
    let loc = f.server.approve(&req, "alice", &req.scopes).await.unwrap();
    assert!(f.exchange(&location_params(&loc)["code"]).await.is_ok());
    assert!(
        f.server
            .metadata(&f.acme)
            .code_challenge_methods_supported
            .contains(&"plain")
    );
}

#[tokio::test]
async fn loopback_redirects_may_use_any_port() {
    let f = fx().await;
    let req = f
        .authorize(&f.query_with(&[("redirect_uri", Some("http://127.0.0.1:51234/native"))]))
        .await
        .unwrap();
    assert_eq!(req.redirect_uri, "http://127.0.0.1:51234/native");
    let e = no_redirect(
        f.authorize(&f.query_with(&[("redirect_uri", Some("http://127.0.0.1:51234/other"))]))
            .await,
    );
    assert_eq!(e.code, OAuthErrorCode::InvalidRequest);
}

// ----- token endpoint errors ---------------------------------------------

#[tokio::test]
async fn token_request_errors() {
    let f = fx().await;
    let id = f.spa.client_id.to_string();
    let code = f.code().await;
    let base = |extra: &[(&'static str, &'static str)]| {
        let mut v: Vec<(&str, String)> = vec![
            ("grant_type", "authorization_code".into()),
            ("code", code.clone()),
            ("redirect_uri", CALLBACK.into()),
            ("client_id", id.clone()),
            ("code_verifier", VERIFIER.into()),
        ];
        for (k, val) in extra {
            v.retain(|(n, _)| n != k);
            if !val.is_empty() {
                v.push((k, (*val).into()));
            }
        }
        v
    };
    async fn send(f: &Fx, v: Vec<(&str, String)>) -> Result<TokenResponse, OAuthError> {
        let pairs: Vec<(&str, &str)> = v.iter().map(|(k, s)| (*k, s.as_str())).collect();
        f.token(None, &pairs).await
    }
    assert_eq!(
        code_of(send(&f, base(&[("grant_type", "")])).await),
        OAuthErrorCode::InvalidRequest
    );
    assert_eq!(
        code_of(send(&f, base(&[("grant_type", "password")])).await),
        OAuthErrorCode::UnsupportedGrantType
    );
    // Supported, but not for a client that did not register for it.
    assert_eq!(
        code_of(send(&f, base(&[("grant_type", "client_credentials")])).await),
        OAuthErrorCode::UnauthorizedClient
    );
    assert_eq!(
        code_of(send(&f, base(&[("code", "")])).await),
        OAuthErrorCode::InvalidRequest
    );
    assert_eq!(
        code_of(send(&f, base(&[("code_verifier", "")])).await),
        OAuthErrorCode::InvalidRequest
    );
    assert_eq!(
        code_of(send(&f, base(&[("code_verifier", "short")])).await),
        OAuthErrorCode::InvalidRequest
    );
    assert_eq!(
        code_of(send(&f, base(&[("redirect_uri", "")])).await),
        OAuthErrorCode::InvalidRequest
    );
    assert_eq!(
        code_of(send(&f, base(&[("client_id", "")])).await),
        OAuthErrorCode::InvalidClient
    );
    assert_eq!(
        code_of(send(&f, base(&[("code", "pac_unknown")])).await),
        OAuthErrorCode::InvalidGrant
    );
    let mut repeated = base(&[]);
    repeated.push(("code", "x".into()));
    assert_eq!(
        code_of(send(&f, repeated).await),
        OAuthErrorCode::InvalidRequest
    );
    // None of the above burned the code: it still exchanges.
    assert!(send(&f, base(&[])).await.is_ok());
}

#[tokio::test]
async fn wrong_verifier_and_mismatched_redirect_are_invalid_grant() {
    let f = fx().await;
    let id = f.spa.client_id.to_string();
    let code = f.code().await;
    let wrong = "x".repeat(43);
    let r = f
        .token(
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("client_id", &id),
                ("code_verifier", &wrong),
            ],
        )
        .await;
    assert_eq!(code_of(r), OAuthErrorCode::InvalidGrant);

    let code = f.code().await;
    let r = f
        .token(
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1/native"),
                ("client_id", &id),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(code_of(r), OAuthErrorCode::InvalidGrant);
    // A code requested without redirect_uri (the client has one): the token
    // request may name it, and only it.
    assert_eq!(
        code_of(
            backend_tokens_with(&f, None, &[("redirect_uri", "https://evil.example/cb")]).await
        ),
        OAuthErrorCode::InvalidGrant
    );
    assert!(
        backend_tokens_with(
            &f,
            None,
            &[("redirect_uri", "https://backend.example.com/cb")]
        )
        .await
        .is_ok()
    );
}

#[tokio::test]
async fn codes_expire_after_sixty_seconds() {
    let f = fx().await;
    let code = f.code().await;
    f.clock.advance(Duration::seconds(60));
    assert_eq!(
        code_of(f.exchange(&code).await),
        OAuthErrorCode::InvalidGrant
    );
    let code = f.code().await;
    f.clock.advance(Duration::seconds(59));
    assert!(f.exchange(&code).await.is_ok());
}

#[tokio::test]
async fn code_replay_revokes_what_it_issued() {
    let f = fx().await;
    let code = f.code().await;
    let first = f.exchange(&code).await.unwrap();
    let access = first.access_token.expose_secret().to_owned();
    assert!(f.validate(&access, "acme", "").await.is_ok());
    let second = f.exchange(&code).await;
    assert_eq!(code_of(second), OAuthErrorCode::InvalidGrant);
    assert_eq!(f.rejection(&access).await, Some(Rejection::Revoked));
    let refresh = first.refresh_token.unwrap().expose_secret().to_owned();
    assert_eq!(
        code_of(f.refresh(&refresh, None).await),
        OAuthErrorCode::InvalidGrant
    );
    assert!(
        f.kinds()
            .await
            .iter()
            .any(|k| matches!(k, AuditEventKind::CodeReplayDetected { revoked: 2, .. }))
    );
}

#[tokio::test]
async fn a_code_is_bound_to_its_client_and_tenant() {
    let f = fx().await;
    let code = f.code().await;
    let backend = f.backend.client_id.to_string();
    let r = f
        .token(
            Some(&basic(&backend, &f.backend_secret)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(code_of(r), OAuthErrorCode::InvalidGrant);
    // The SPA client does not exist in tenant globex: invalid_client there.
    let code = f.code().await;
    let id = f.spa.client_id.to_string();
    let body = query(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", CALLBACK),
        ("client_id", &id),
        ("code_verifier", VERIFIER),
    ]);
    let r = f
        .server
        .token(&"globex".parse().unwrap(), &TokenRequest::new(None, &body))
        .await;
    assert_eq!(code_of(r), OAuthErrorCode::InvalidClient);
}

// ----- client authentication ----------------------------------------------

async fn backend_tokens(f: &Fx) -> Result<TokenResponse, OAuthError> {
    backend_tokens_with(f, None, &[]).await
}

async fn backend_tokens_with(
    f: &Fx,
    auth: Option<&str>,
    extra: &[(&str, &str)],
) -> Result<TokenResponse, OAuthError> {
    let q = query(&[
        ("response_type", "code"),
        ("client_id", f.backend.client_id.as_str()),
        ("scope", "documents:read"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let req = f.authorize(&q).await.unwrap();
    let loc = f.server.approve(&req, "bob", &req.scopes).await.unwrap();
    let code = location_params(&loc)["code"].clone();
    let default_auth = basic(f.backend.client_id.as_str(), &f.backend_secret);
    let mut pairs = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", VERIFIER),
    ];
    pairs.extend_from_slice(extra);
    f.token(Some(auth.unwrap_or(&default_auth)), &pairs).await
}

#[tokio::test]
async fn confidential_clients_authenticate_with_basic_or_post() {
    let f = fx().await;
    assert!(backend_tokens(&f).await.is_ok(), "client_secret_basic");
    let id = f.backend.client_id.to_string();
    let post = backend_tokens_with(
        &f,
        Some(""),
        &[("client_id", &id), ("client_secret", &f.backend_secret)],
    )
    .await;
    assert!(post.is_ok(), "client_secret_post: {post:?}");
}

#[tokio::test]
async fn client_authentication_failures() {
    let f = fx().await;
    let id = f.backend.client_id.to_string();
    let wrong = basic(&id, "pcs_wrong");
    let e = backend_tokens_with(&f, Some(&wrong), &[])
        .await
        .unwrap_err();
    assert_eq!(e.code, OAuthErrorCode::InvalidClient);
    let resp = http::oauth_error_response(&e);
    assert_eq!(resp.status, 401);
    assert_eq!(resp.header("WWW-Authenticate"), Some("Basic realm=\"api\""));

    let e = backend_tokens_with(
        &f,
        Some(""),
        &[("client_id", &id), ("client_secret", "pcs_wrong")],
    )
    .await
    .unwrap_err();
    assert_eq!(
        (e.code, e.basic_challenge),
        (OAuthErrorCode::InvalidClient, false)
    );
    let e = backend_tokens_with(&f, Some(""), &[("client_id", &id)])
        .await
        .unwrap_err();
    assert_eq!(
        e.code,
        OAuthErrorCode::InvalidClient,
        "confidential client without secret"
    );
    let both = backend_tokens_with(&f, None, &[("client_secret", &f.backend_secret)])
        .await
        .unwrap_err();
    assert_eq!(
        both.code,
        OAuthErrorCode::InvalidRequest,
        "basic and post at once"
    );
    let unknown = backend_tokens_with(&f, Some(&basic("cli_unknown", "x")), &[])
        .await
        .unwrap_err();
    assert_eq!(unknown.code, OAuthErrorCode::InvalidClient);

    // A public client that sends a secret is refused.
    let code = f.code().await;
    let spa = f.spa.client_id.to_string();
    let r = f
        .token(
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("client_id", &spa),
                ("client_secret", "anything"),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(code_of(r), OAuthErrorCode::InvalidClient);
    let failures = f
        .kinds()
        .await
        .into_iter()
        .filter(|k| matches!(k, AuditEventKind::ClientAuthFailed { .. }))
        .count();
    assert!(failures >= 4, "{failures}");
}

// ----- refresh ---------------------------------------------------------------

#[tokio::test]
async fn refresh_rotates_on_every_use() {
    let f = fx().await;
    let t1 = f.tokens().await;
    let r1 = t1.refresh_token.unwrap().expose_secret().to_owned();
    let t2 = f.refresh(&r1, None).await.unwrap();
    let r2 = t2
        .refresh_token
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_owned();
    assert_ne!(r1, r2);
    assert_ne!(t1.access_token, t2.access_token);
    assert_eq!(t2.scope, "documents:read workflows:read".parse().unwrap());
    let t3 = f.refresh(&r2, None).await.unwrap();
    assert!(
        f.validate(t3.access_token.expose_secret(), "acme", "workflows:read")
            .await
            .is_ok()
    );
    assert!(
        f.kinds()
            .await
            .iter()
            .any(|k| matches!(k, AuditEventKind::RefreshRotated { .. }))
    );
}

#[tokio::test]
async fn reuse_of_a_rotated_refresh_token_revokes_the_family() {
    let f = fx().await;
    let t1 = f.tokens().await;
    let r1 = t1.refresh_token.unwrap().expose_secret().to_owned();
    let t2 = f.refresh(&r1, None).await.unwrap();
    let r2 = t2
        .refresh_token
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_owned();
    // The attacker (or a confused client) presents r1 again.
    assert_eq!(
        code_of(f.refresh(&r1, None).await),
        OAuthErrorCode::InvalidGrant
    );
    // Everything in the family is dead: the legitimate r2 and both access tokens.
    assert_eq!(
        code_of(f.refresh(&r2, None).await),
        OAuthErrorCode::InvalidGrant
    );
    for access in [
        t1.access_token.expose_secret(),
        t2.access_token.expose_secret(),
    ] {
        assert_eq!(f.rejection(access).await, Some(Rejection::Revoked));
    }
    assert!(
        f.kinds()
            .await
            .iter()
            // Both access tokens and r2; r1 itself was forgotten when it
            // was rotated, and found again by its family handle.
            .any(|k| matches!(k, AuditEventKind::RefreshReuseDetected { revoked: 3, .. }))
    );
    // Other families are untouched.
    let other = f.tokens().await;
    assert!(
        f.validate(other.access_token.expose_secret(), "acme", "")
            .await
            .is_ok()
    );
}

/// `token` with its last character changed (its family handle kept).
fn other_secret(token: &str) -> String {
    let mut t = token.to_owned();
    let last = t.pop().unwrap();
    t.push(if last == 'a' { 'b' } else { 'a' });
    t
}

#[tokio::test]
async fn refresh_tokens_name_their_family_and_rotated_ones_are_forgotten() {
    let f = fx().await;
    let t1 = f.tokens().await;
    let r1 = t1.refresh_token.unwrap().expose_secret().to_owned();
    let t2 = f.refresh(&r1, None).await.unwrap();
    let r2 = t2.refresh_token.unwrap().expose_secret().to_owned();
    // `prt_`, then the family handle (22 characters), then the secret.
    assert_eq!(r1.len(), 4 + 43);
    assert_eq!(r1[..26], r2[..26], "one handle per family");
    assert_ne!(r1[26..], r2[26..]);
    let other_family = f.tokens().await;
    let r_other = other_family
        .refresh_token
        .unwrap()
        .expose_secret()
        .to_owned();
    assert_ne!(
        r1[4..26],
        r_other[4..26],
        "each family draws its own handle"
    );
    // The rotated r1 is not kept in the store...
    let digest = f.server.config().hasher.digest(r1.as_bytes());
    assert!(
        f.server
            .grants()
            .find_refresh_token(&digest)
            .await
            .unwrap()
            .is_none(),
        "a rotated refresh token is forgotten (no grace window)"
    );
    // ...and an unknown handle is just unknown: nothing is revoked.
    let stranger = format!("prt_{}", "Z".repeat(43));
    assert_eq!(
        code_of(f.refresh(&stranger, None).await),
        OAuthErrorCode::InvalidGrant
    );
    assert!(
        f.validate(t2.access_token.expose_secret(), "acme", "")
            .await
            .is_ok()
    );
    // A secret that was never issued, with this family's handle: only a
    // holder of one of the family's tokens can make one. A reuse.
    assert_eq!(
        code_of(f.refresh(&other_secret(&r2), None).await),
        OAuthErrorCode::InvalidGrant
    );
    assert_eq!(
        f.rejection(t2.access_token.expose_secret()).await,
        Some(Rejection::Revoked),
        "the family is revoked"
    );
    assert_eq!(
        code_of(f.refresh(&r2, None).await),
        OAuthErrorCode::InvalidGrant
    );
    assert!(
        f.validate(other_family.access_token.expose_secret(), "acme", "")
            .await
            .is_ok(),
        "other families are untouched"
    );
}

#[tokio::test]
async fn another_clients_handle_revokes_nothing() {
    let f = fx().await;
    let t = f.tokens().await;
    let r = t.refresh_token.unwrap().expose_secret().to_owned();
    let backend = basic(f.backend.client_id.as_str(), &f.backend_secret);
    let forged = other_secret(&r);
    let refused = f
        .token(
            Some(&backend),
            &[("grant_type", "refresh_token"), ("refresh_token", &forged)],
        )
        .await;
    assert_eq!(code_of(refused), OAuthErrorCode::InvalidGrant);
    assert!(
        f.validate(t.access_token.expose_secret(), "acme", "")
            .await
            .is_ok(),
        "another client's presentation has no side effect"
    );
    assert!(f.refresh(&r, None).await.is_ok());
}

#[tokio::test]
async fn revoking_a_forgotten_rotated_token_revokes_its_family() {
    let f = fx().await;
    let t1 = f.tokens().await;
    let r1 = t1.refresh_token.unwrap().expose_secret().to_owned();
    let t2 = f.refresh(&r1, None).await.unwrap();
    let id = f.spa.client_id.to_string();
    f.server
        .revoke(
            &f.acme,
            &TokenRequest::new(None, &query(&[("token", &r1), ("client_id", &id)])),
        )
        .await
        .unwrap();
    assert_eq!(
        f.rejection(t2.access_token.expose_secret()).await,
        Some(Rejection::Revoked)
    );
}

#[tokio::test]
async fn refresh_may_narrow_but_never_widen() {
    let f = fx().await;
    let t = f.tokens().await;
    let r = t.refresh_token.unwrap().expose_secret().to_owned();
    let narrow = f.refresh(&r, Some("documents:read")).await.unwrap();
    assert_eq!(narrow.scope, "documents:read".parse().unwrap());
    assert_eq!(
        f.validate(
            narrow.access_token.expose_secret(),
            "acme",
            "workflows:read"
        )
        .await
        .unwrap_err()
        .rejection(),
        Some(&Rejection::InsufficientScope {
            required: "workflows:read".parse().unwrap()
        })
    );
    // The new refresh token keeps the family's full scope.
    let r2 = narrow.refresh_token.unwrap().expose_secret().to_owned();
    let full = f.refresh(&r2, None).await.unwrap();
    assert_eq!(full.scope, "documents:read workflows:read".parse().unwrap());
    let r3 = full.refresh_token.unwrap().expose_secret().to_owned();
    assert_eq!(
        code_of(f.refresh(&r3, Some("documents:write")).await),
        OAuthErrorCode::InvalidScope
    );
    assert_eq!(
        code_of(f.refresh(&r3, Some("documents:read  x")).await),
        OAuthErrorCode::InvalidScope
    );
    // A refused widening does not consume the token.
    assert!(f.refresh(&r3, None).await.is_ok());
}

#[tokio::test]
async fn refresh_errors() {
    let f = fx().await;
    let t = f.tokens().await;
    let r = t.refresh_token.unwrap().expose_secret().to_owned();
    assert_eq!(
        code_of(f.refresh("prt_unknown", None).await),
        OAuthErrorCode::InvalidGrant
    );
    let id = f.spa.client_id.to_string();
    assert_eq!(
        code_of(
            f.token(None, &[("grant_type", "refresh_token"), ("client_id", &id)])
                .await
        ),
        OAuthErrorCode::InvalidRequest
    );
    // Another client cannot use it.
    let backend = basic(f.backend.client_id.as_str(), &f.backend_secret);
    let r_other = f
        .token(
            Some(&backend),
            &[("grant_type", "refresh_token"), ("refresh_token", &r)],
        )
        .await;
    assert_eq!(code_of(r_other), OAuthErrorCode::InvalidGrant);
    assert!(
        f.refresh(&r, None).await.is_ok(),
        "the failed attempt did not consume it"
    );
}

#[tokio::test]
async fn refresh_tokens_expire_and_families_have_an_absolute_lifetime() {
    let config = papyrus()
        .with_refresh_token_ttl(Duration::days(10))
        .with_refresh_family_lifetime(Duration::days(25));
    let f = fx_with(config).await;
    let t = f.tokens().await;
    let mut r = t.refresh_token.unwrap().expose_secret().to_owned();
    f.clock.advance(Duration::days(10));
    assert_eq!(
        code_of(f.refresh(&r, None).await),
        OAuthErrorCode::InvalidGrant,
        "idle expiry"
    );

    let t = f.tokens().await;
    r = t.refresh_token.unwrap().expose_secret().to_owned();
    for _ in 0..2 {
        f.clock.advance(Duration::days(9));
        r = f
            .refresh(&r, None)
            .await
            .unwrap()
            .refresh_token
            .unwrap()
            .expose_secret()
            .to_owned();
    }
    f.clock.advance(Duration::days(7)); // 25 days after the family began
    assert_eq!(
        code_of(f.refresh(&r, None).await),
        OAuthErrorCode::InvalidGrant,
        "family lifetime"
    );
}

#[tokio::test]
async fn optional_grace_window_for_concurrent_refreshes() {
    let f = fx_with(papyrus().with_refresh_reuse_grace(Duration::seconds(10))).await;
    let t = f.tokens().await;
    let r1 = t.refresh_token.unwrap().expose_secret().to_owned();
    let a = f.refresh(&r1, None).await.unwrap();
    f.clock.advance(Duration::seconds(5));
    let b = f.refresh(&r1, None).await.expect("within the grace window");
    assert!(
        f.validate(a.access_token.expose_secret(), "acme", "")
            .await
            .is_ok(),
        "no revocation"
    );
    assert!(
        f.validate(b.access_token.expose_secret(), "acme", "")
            .await
            .is_ok()
    );
    f.clock.advance(Duration::seconds(5));
    assert_eq!(
        code_of(f.refresh(&r1, None).await),
        OAuthErrorCode::InvalidGrant
    );
    assert!(
        f.validate(a.access_token.expose_secret(), "acme", "")
            .await
            .is_err(),
        "family revoked after grace"
    );
}

// ----- concurrency -----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_code_exchanged_by_32_tasks_succeeds_once() {
    let f = Arc::new(fx().await);
    for _round in 0..5 {
        let code = f.code().await;
        let barrier = Arc::new(tokio::sync::Barrier::new(32));
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let (f, code, barrier) = (f.clone(), code.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                f.exchange(&code).await.is_ok()
            }));
        }
        let mut ok = 0;
        for t in tasks {
            ok += usize::from(t.await.unwrap());
        }
        assert_eq!(ok, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_refresh_token_refreshed_by_32_tasks_succeeds_once() {
    let f = Arc::new(fx().await);
    for _round in 0..5 {
        let t = f.tokens().await;
        let r = t.refresh_token.unwrap().expose_secret().to_owned();
        let barrier = Arc::new(tokio::sync::Barrier::new(32));
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let (f, r, barrier) = (f.clone(), r.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                f.refresh(&r, None).await.is_ok()
            }));
        }
        let mut ok = 0;
        for t in tasks {
            ok += usize::from(t.await.unwrap());
        }
        assert_eq!(ok, 1);
    }
}

// ----- revocation, introspection, metadata -----------------------------------

#[tokio::test]
async fn revocation_rfc7009() {
    let f = fx().await;
    let id = f.spa.client_id.to_string();
    let revoke = |token: String| {
        let id = id.clone();
        let f = &f;
        async move {
            f.server
                .revoke(
                    &f.acme,
                    &TokenRequest::new(None, &query(&[("token", &token), ("client_id", &id)])),
                )
                .await
        }
    };
    assert!(
        revoke("pat_unknown".into()).await.is_ok(),
        "unknown tokens are 200"
    );
    assert!(revoke("garbage".into()).await.is_ok());

    // Revoking an access token revokes that token only.
    let t = f.tokens().await;
    revoke(t.access_token.expose_secret().to_owned())
        .await
        .unwrap();
    assert_eq!(
        f.rejection(t.access_token.expose_secret()).await,
        Some(Rejection::Revoked)
    );
    let r = t.refresh_token.unwrap().expose_secret().to_owned();
    let t2 = f.refresh(&r, None).await.unwrap();

    // Revoking a refresh token revokes its family.
    let r2 = t2.refresh_token.unwrap().expose_secret().to_owned();
    revoke(r2.clone()).await.unwrap();
    assert!(
        f.validate(t2.access_token.expose_secret(), "acme", "")
            .await
            .is_err()
    );
    assert_eq!(
        code_of(f.refresh(&r2, None).await),
        OAuthErrorCode::InvalidGrant
    );

    // Another client's token: 200, but left alone.
    let b = backend_tokens(&f).await.unwrap();
    revoke(b.access_token.expose_secret().to_owned())
        .await
        .unwrap();
    assert!(
        f.validate(b.access_token.expose_secret(), "acme", "")
            .await
            .is_ok()
    );

    let missing = f
        .server
        .revoke(
            &f.acme,
            &TokenRequest::new(None, &query(&[("client_id", &id)])),
        )
        .await;
    assert_eq!(missing.unwrap_err().code, OAuthErrorCode::InvalidRequest);
    let bad_client = f
        .server
        .revoke(
            &f.acme,
            &TokenRequest::new(None, &query(&[("token", "x"), ("client_id", "cli_nope")])),
        )
        .await;
    assert_eq!(bad_client.unwrap_err().code, OAuthErrorCode::InvalidClient);
    assert!(
        f.kinds()
            .await
            .iter()
            .any(|k| matches!(k, AuditEventKind::TokensRevoked { .. }))
    );
}

#[tokio::test]
async fn introspection_rfc7662() {
    let f = fx().await;
    let auth = basic(f.backend.client_id.as_str(), &f.backend_secret);
    let introspect = |token: String| {
        let auth = auth.clone();
        let f = &f;
        async move {
            f.server
                .introspect(
                    &f.acme,
                    &TokenRequest::new(Some(&auth), &query(&[("token", &token)])),
                )
                .await
        }
    };
    let inactive = serde_json::json!({"active": false});

    // A resource server authorized for the tenant sees any of its tokens.
    let t = f.tokens().await;
    let a = f
        .server
        .introspect_token(&f.acme, t.access_token.expose_secret())
        .await
        .unwrap();
    assert!(a.active);
    assert_eq!(a.sub.as_deref(), Some("alice"));
    assert_eq!(a.client_id.as_ref(), Some(&f.spa.client_id));
    assert_eq!(a.token_type, Some("Bearer"));
    assert_eq!(a.iss.as_deref(), Some("https://acme.papyrus.io"));
    assert_eq!(a.exp.unwrap() - a.iat.unwrap(), 3600);
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(json["scope"], "documents:read workflows:read");
    let r = f
        .server
        .introspect_token(&f.acme, t.refresh_token.as_ref().unwrap().expose_secret())
        .await
        .unwrap();
    assert!(r.active);
    assert_eq!(
        r.token_type, None,
        "refresh tokens have no RFC 6749 token type"
    );

    // A confidential client (a resource server) sees any token of its tenant.
    let other = introspect(t.access_token.expose_secret().to_owned())
        .await
        .unwrap();
    assert!(other.active);
    assert_eq!(other.client_id.as_ref(), Some(&f.spa.client_id));
    let own = backend_tokens(&f).await.unwrap();
    let mine = introspect(own.access_token.expose_secret().to_owned())
        .await
        .unwrap();
    assert!(mine.active);
    assert_eq!(mine.client_id.as_ref(), Some(&f.backend.client_id));
    assert_eq!(mine.sub.as_deref(), Some("bob"));
    // Refresh tokens: its own, not another client's.
    let own_refresh = own.refresh_token.as_ref().unwrap().expose_secret();
    assert!(introspect(own_refresh.to_owned()).await.unwrap().active);
    let theirs = t.refresh_token.as_ref().unwrap().expose_secret().to_owned();
    assert_eq!(
        serde_json::to_value(introspect(theirs).await.unwrap()).unwrap(),
        inactive,
        "another client's refresh token"
    );

    // Unknown, expired and revoked tokens: {"active": false} and nothing more.
    let unknown = introspect("pat_unknown".into()).await.unwrap();
    assert_eq!(serde_json::to_value(&unknown).unwrap(), inactive);
    f.clock.advance(Duration::hours(1));
    let expired = introspect(own.access_token.expose_secret().to_owned())
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(&expired).unwrap(), inactive);
    let own = backend_tokens(&f).await.unwrap();
    f.server
        .revoke(
            &f.acme,
            &TokenRequest::new(
                Some(&auth),
                &query(&[("token", own.access_token.expose_secret())]),
            ),
        )
        .await
        .unwrap();
    let revoked = introspect(own.access_token.expose_secret().to_owned())
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(&revoked).unwrap(), inactive);

    // Callers must be confidential clients of the tenant.
    let public = f
        .server
        .introspect(
            &f.acme,
            &TokenRequest::new(
                None,
                &query(&[("token", "x"), ("client_id", f.spa.client_id.as_str())]),
            ),
        )
        .await;
    assert_eq!(public.unwrap_err().code, OAuthErrorCode::InvalidClient);
    let anonymous = f
        .server
        .introspect(&f.acme, &TokenRequest::new(None, &query(&[("token", "x")])))
        .await;
    assert_eq!(anonymous.unwrap_err().code, OAuthErrorCode::InvalidClient);
    // Another tenant's view of this tenant's token: inactive.
    let t = f.tokens().await;
    let other = f
        .server
        .introspect_token(&"globex".parse().unwrap(), t.access_token.expose_secret())
        .await
        .unwrap();
    assert!(!other.active);
}

#[tokio::test]
async fn replays_after_purge_still_revoke() {
    let f = fx().await;
    let code = f.code().await;
    let t = f.exchange(&code).await.unwrap();
    f.clock.advance(Duration::seconds(61));
    f.server.purge_expired().await.unwrap();
    assert_eq!(
        code_of(f.exchange(&code).await),
        OAuthErrorCode::InvalidGrant
    );
    assert_eq!(
        f.rejection(t.access_token.expose_secret()).await,
        Some(Rejection::Revoked)
    );
}

#[tokio::test]
async fn another_clients_replay_revokes_nothing() {
    let f = fx().await;
    let code = f.code().await;
    let t = f.exchange(&code).await.unwrap();
    let backend = basic(f.backend.client_id.as_str(), &f.backend_secret);
    let r = f
        .token(
            Some(&backend),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(code_of(r), OAuthErrorCode::InvalidGrant);
    assert!(
        f.validate(t.access_token.expose_secret(), "acme", "")
            .await
            .is_ok()
    );
    assert!(
        !f.kinds()
            .await
            .iter()
            .any(|k| matches!(k, AuditEventKind::CodeReplayDetected { .. }))
    );
}

#[tokio::test]
async fn a_reused_refresh_token_cannot_dodge_detection_with_a_scope() {
    let f = fx().await;
    let t = f.tokens().await;
    let r1 = t.refresh_token.unwrap().expose_secret().to_owned();
    let t2 = f.refresh(&r1, None).await.unwrap();
    assert_eq!(
        code_of(f.refresh(&r1, Some("documents:write")).await),
        OAuthErrorCode::InvalidGrant
    );
    assert!(
        f.validate(t2.access_token.expose_secret(), "acme", "")
            .await
            .is_err(),
        "family revoked"
    );
}

#[test]
fn token_request_debug_redacts_secrets() {
    let r = TokenRequest::new(
        Some("Basic c2VjcmV0"),
        "client_secret=hunter2&code=pac_x&code_verifier=v",
    );
    let dbg = format!("{r:?}");
    for secret in ["c2VjcmV0", "hunter2", "pac_x"] {
        assert!(!dbg.contains(secret), "{dbg}");
    }
    assert!(dbg.contains("client_secret"), "names are kept: {dbg}");
}

#[tokio::test]
async fn basic_credentials_are_form_encoded_before_base64() {
    // RFC 6749 §2.3.1: the id and secret are form-urlencoded, then joined by
    // ':' and base64-encoded. A client id with '~' and '.' round-trips.
    let f = fx().await;
    let id = ClientId::parse("svc.back~end-1").unwrap();
    let registered = f
        .server
        .register_client(
            &f.acme,
            NewClient::new(
                "odd",
                ClientKind::Confidential,
                "https://odd.example/cb",
                "documents:read".parse().unwrap(),
            )
            .with_client_id(id.clone()),
            &Actor::System,
        )
        .await
        .unwrap();
    let secret = registered.secret.unwrap().expose_secret().to_owned();
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let header = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            enc(id.as_str()),
            enc(&secret)
        ))
    );
    let r = f
        .server
        .revoke(&f.acme, &TokenRequest::new(Some(&header), "token=pat_x"))
        .await;
    assert!(r.is_ok(), "{r:?}");
    // A percent-encoded colon in the secret decodes to a colon and fails cleanly.
    let wrong = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:a%3Ab%2Bc", id))
    );
    let e = f
        .server
        .revoke(&f.acme, &TokenRequest::new(Some(&wrong), "token=pat_x"))
        .await
        .unwrap_err();
    assert_eq!(e.code, OAuthErrorCode::InvalidClient);
    assert_eq!(
        http::oauth_error_response(&e).header("WWW-Authenticate"),
        Some("Basic realm=\"api\"")
    );
}

#[tokio::test]
async fn server_metadata_rfc8414() {
    let f = fx().await;
    let m = f.server.metadata(&f.acme);
    let json = serde_json::to_value(&m).unwrap();
    assert_eq!(json["issuer"], "https://acme.papyrus.io");
    assert_eq!(
        json["authorization_endpoint"],
        "https://acme.papyrus.io/oauth/authorize"
    );
    assert_eq!(
        json["token_endpoint"],
        "https://acme.papyrus.io/oauth/token"
    );
    assert_eq!(
        json["revocation_endpoint"],
        "https://acme.papyrus.io/oauth/revoke"
    );
    assert_eq!(
        json["introspection_endpoint"],
        "https://acme.papyrus.io/oauth/introspect"
    );
    assert_eq!(
        json["response_types_supported"],
        serde_json::json!(["code"])
    );
    assert_eq!(
        json["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        json["grant_types_supported"],
        serde_json::json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    assert_eq!(json["authorization_response_iss_parameter_supported"], true);
    assert!(
        json["scopes_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "documents:read")
    );
    for (k, v) in json.as_object().unwrap() {
        if let Some(a) = v.as_array() {
            assert!(!a.is_empty(), "{k} is an empty array");
        }
    }
    let resp = http::metadata_response(&m);
    assert_eq!(resp.status, 200);
    assert_eq!(
        f.server.metadata(&"globex".parse().unwrap()).issuer,
        "https://globex.papyrus.io"
    );
}

// ----- resources accept both credentials ------------------------------------

#[tokio::test]
async fn access_tokens_and_api_keys_through_one_entry_point() {
    let f = fx().await;
    let keys = ApiKeys::new(Arc::new(MemoryApiKeyStore::new()), f.audit.clone())
        .with_clock(Arc::new(f.clock.clone()));
    let key = keys
        .create(
            &f.acme,
            NewApiKey::new("svc", "documents:read".parse().unwrap()),
            &Actor::System,
        )
        .await
        .unwrap();
    let auth = Authenticator::new(keys).with_oauth(f.server.clone());
    let t = f.tokens().await;
    let need: ScopeSet = "documents:read".parse().unwrap();
    for (token, method) in [
        (key.key.expose_secret(), "api_key"),
        (t.access_token.expose_secret(), "access_token"),
    ] {
        let header = format!("Bearer {token}");
        let p = auth
            .authenticate(&AuthRequest::new(Some(&header), Some("acme"), None), &need)
            .await
            .unwrap();
        assert_eq!(serde_json::to_value(p.method()).unwrap()["type"], method);
        let wrong = auth
            .authenticate(
                &AuthRequest::new(Some(&header), Some("globex"), None),
                &need,
            )
            .await;
        assert_eq!(
            wrong.unwrap_err().rejection(),
            Some(&Rejection::WrongTenant)
        );
        let scope = auth
            .authenticate(
                &AuthRequest::new(Some(&header), Some("acme"), None),
                &"analytics:read".parse().unwrap(),
            )
            .await
            .unwrap_err();
        assert_eq!(http::auth_error_response(&scope).status, 403);
    }
    f.clock.advance(Duration::hours(1));
    let header = format!("Bearer {}", t.access_token.expose_secret());
    let expired = auth
        .authenticate(&AuthRequest::new(Some(&header), Some("acme"), None), &need)
        .await
        .unwrap_err();
    assert_eq!(expired.rejection(), Some(&Rejection::Expired));
    assert_eq!(http::auth_error_response(&expired).status, 401);
    let malformed = f.validate("pat_short", "acme", "").await.unwrap_err();
    assert_eq!(malformed.rejection(), Some(&Rejection::Malformed));
}

#[tokio::test]
async fn per_client_token_lifetimes() {
    let f = fx().await;
    let client = f
        .server
        .register_client(
            &f.acme,
            NewClient::new(
                "Short",
                ClientKind::Public,
                CALLBACK,
                "documents:read".parse().unwrap(),
            )
            .with_token_ttls(Some(Duration::minutes(5)), Some(Duration::days(1))),
            &Actor::System,
        )
        .await
        .unwrap()
        .client;
    let q = query(&[
        ("response_type", "code"),
        ("client_id", client.client_id.as_str()),
        ("scope", "documents:read"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let req = f.authorize(&q).await.unwrap();
    let loc = f.server.approve(&req, "carol", &req.scopes).await.unwrap();
    let code = location_params(&loc)["code"].clone();
    let t = f
        .token(
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("client_id", client.client_id.as_str()),
                ("code_verifier", VERIFIER),
            ],
        )
        .await
        .unwrap();
    assert_eq!(t.expires_in, 300);
}

#[tokio::test]
async fn client_registration_is_validated() {
    let f = fx().await;
    let bad = [
        NewClient::new(
            "",
            ClientKind::Public,
            CALLBACK,
            "documents:read".parse().unwrap(),
        ),
        NewClient::new(
            "x",
            ClientKind::Public,
            "http://evil.example/cb",
            "documents:read".parse().unwrap(),
        ),
        NewClient::new(
            "x",
            ClientKind::Public,
            "https://a.example/cb#frag",
            "documents:read".parse().unwrap(),
        ),
        NewClient::new(
            "x",
            ClientKind::Public,
            "https://*.example/cb",
            "documents:read".parse().unwrap(),
        ),
        NewClient::new(
            "x",
            ClientKind::Public,
            CALLBACK,
            "admin:all".parse().unwrap(),
        ),
        NewClient::new(
            "x",
            ClientKind::Public,
            CALLBACK,
            "documents:read".parse().unwrap(),
        )
        .with_default_scopes("documents:write".parse().unwrap()),
    ];
    for new in bad {
        let r = f
            .server
            .register_client(&f.acme, new.clone(), &Actor::System)
            .await;
        assert!(
            matches!(r, Err(papyrus_auth::oauth::ClientError::Invalid(_))),
            "{new:?}"
        );
    }
    let dup = NewClient::new(
        "x",
        ClientKind::Public,
        CALLBACK,
        "documents:read".parse().unwrap(),
    )
    .with_client_id(f.spa.client_id.clone());
    assert!(matches!(
        f.server
            .register_client(&f.acme, dup.clone(), &Actor::System)
            .await,
        Err(papyrus_auth::oauth::ClientError::Conflict)
    ));
    // Client ids are unique per tenant: another tenant may use the same id.
    let globex = "globex".parse().unwrap();
    assert!(f.server.list_clients(&globex).await.unwrap().is_empty());
    f.server
        .register_client(&globex, dup, &Actor::System)
        .await
        .unwrap();
    assert_eq!(f.server.list_clients(&globex).await.unwrap().len(), 1);
    assert_eq!(f.server.list_clients(&f.acme).await.unwrap().len(), 2);
}

#[tokio::test]
async fn no_secret_in_stores_or_audit_events() {
    let f = fx().await;
    let mut secrets = vec![f.backend_secret.clone()];
    let req = f.authorize(&f.query_with(&[])).await.unwrap();
    let loc = f.server.approve(&req, "alice", &req.scopes).await.unwrap();
    let code = location_params(&loc)["code"].clone();
    secrets.push(code.clone());
    let t = f.exchange(&code).await.unwrap();
    let _ = f.exchange(&code).await; // replay
    let t = f.tokens().await.refresh_token.map(|r| (t, r)).unwrap();
    let r1 = t.1.expose_secret().to_owned();
    let t2 = f.refresh(&r1, None).await.unwrap();
    secrets.extend([
        t.0.access_token.expose_secret().to_owned(),
        r1.clone(),
        t2.access_token.expose_secret().to_owned(),
        t2.refresh_token
            .as_ref()
            .unwrap()
            .expose_secret()
            .to_owned(),
    ]);
    let _ = f.refresh(&r1, None).await; // reuse
    let _ = backend_tokens_with(
        &f,
        Some(&basic(f.backend.client_id.as_str(), "pcs_wrong")),
        &[],
    )
    .await;
    let dump = format!("{:?} {:?}", f.grants, f.audit.all())
        + &serde_json::to_string(&f.audit.all()).unwrap();
    for s in &secrets {
        assert!(
            !dump.contains(s.as_str()),
            "a secret leaked into a store or the audit log"
        );
    }
    assert!(format!("{t2:?}").contains("[redacted]"));
    assert!(!format!("{t2:?}").contains(t2.access_token.expose_secret()));
    assert!(!dump.contains(VERIFIER));
}

#[tokio::test]
async fn purge_removes_expired_grants() {
    let f = fx().await;
    let _ = f.code().await;
    let _ = f.tokens().await;
    f.clock.advance(Duration::days(91));
    let removed = f.server.purge_expired().await.unwrap();
    assert!(removed >= 3, "{removed}");
    assert_eq!(f.grants.access_token_count(), 0);
}

#[tokio::test]
async fn oauth_error_descriptions_use_allowed_characters() {
    let f = fx().await;
    let p = redirect(
        f.authorize(&f.query_with(&[("scope", Some("documents:read é\"x"))]))
            .await,
    );
    let d = &p["error_description"];
    assert!(
        d.bytes().all(|c| c == 0x20
            || c == 0x21
            || (0x23..=0x5B).contains(&c)
            || (0x5D..=0x7E).contains(&c)),
        "{d}"
    );
}
