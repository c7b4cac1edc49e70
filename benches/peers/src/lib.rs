//! Helpers shared by the peer benchmarks and the HTTP load server.
//!
//! Only papyrus-auth's public API is used here.

#![allow(clippy::expect_used)] // A benchmark whose set-up fails should stop at once.

use std::{
    pin::pin,
    sync::Arc,
    task::{Context, Poll, Waker},
};

use axum::{Router, routing::get};
use papyrus_auth::{
    Actor, ApiKeys, AuditSink, Authenticator, MemoryApiKeyStore, MemoryAuditLog, MemoryClientStore,
    MemoryGrantStore, NewApiKey, TenantId, TracingAuditSink,
    http::{HttpAuth, HttpAuthConfig, StaticUsers, TenantSource},
    oauth::{
        AuthorizationServer, ClientKind, CodeChallenge, NewClient, TokenRequest, TokenResponse,
    },
};
use tower_http::validate_request::ValidateRequestHeaderLayer;

/// Polls `f` to completion with a no-op waker (copied from
/// `benches/common/mod.rs`). The in-memory stores never wait, so this
/// measures the library, not an executor.
pub fn block_on<F: std::future::IntoFuture>(f: F) -> F::Output {
    let mut f = pin!(f.into_future());
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}

/// The PKCE verifier of RFC 7636 appendix B, used by both libraries.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// Its S256 challenge.
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// The registered redirect URI of the public client.
pub const REDIRECT_URI: &str = "https://app.example.com/cb";
/// The scopes the client asks for.
pub const SCOPES: &str = "documents:read workflows:read";

/// A papyrus authorization server on the in-memory stores, with one public
/// client of tenant `acme`, and the authorization-code + PKCE flow.
#[derive(Debug, Clone)]
pub struct PapyrusOAuth {
    /// The server (cheap to clone; the stores are shared).
    pub server: AuthorizationServer,
    /// Tenant `acme`.
    pub tenant: TenantId,
    /// The client's id.
    pub client_id: String,
    query: String,
}

impl PapyrusOAuth {
    /// A new server whose audit events go to `sink`, with its client.
    pub fn new(sink: Arc<dyn AuditSink>) -> Self {
        let server = AuthorizationServer::new(
            "https://{tenant}.auth.example.com".parse().expect("an issuer"),
            Arc::new(MemoryClientStore::new()),
            Arc::new(MemoryGrantStore::new()),
            sink,
        );
        Self::with_server(server, "acme".parse().expect("tenant"))
    }

    /// Registers the bench client of `tenant` on `server`.
    pub fn with_server(server: AuthorizationServer, tenant: TenantId) -> Self {
        assert_eq!(CodeChallenge::s256_of(VERIFIER).as_str(), CHALLENGE);
        let client = block_on(server.register_client(
            &tenant,
            NewClient::new(
                "bench",
                ClientKind::Public,
                REDIRECT_URI,
                SCOPES.parse().expect("scopes"),
            ),
            &Actor::System,
        ))
        .expect("client")
        .client;
        let client_id = client.client_id.as_str().to_owned();
        let query = format!(
            "response_type=code&client_id={client_id}&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb\
             &scope=documents%3Aread+workflows%3Aread&code_challenge={CHALLENGE}\
             &code_challenge_method=S256&state=s"
        );
        Self {
            server,
            tenant,
            client_id,
            query,
        }
    }

    /// Validates an authorization request, approves it (issues a code) and
    /// exchanges the code with the PKCE verifier.
    pub fn issue_and_exchange(&self) -> TokenResponse {
        let req = block_on(self.server.authorize(&self.tenant, &self.query)).expect("authorize");
        let loc = block_on(self.server.approve(&req, "alice", &req.scopes)).expect("approve");
        let code = loc
            .split("code=")
            .nth(1)
            .and_then(|s| s.split('&').next())
            .expect("code");
        let body = format!(
            "grant_type=authorization_code&code={code}&client_id={}\
             &redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&code_verifier={VERIFIER}",
            self.client_id
        );
        block_on(
            self.server
                .token(&self.tenant, &TokenRequest::new(None, &body)),
        )
        .expect("token")
    }

    /// One refresh (rotation): returns the new refresh token.
    pub fn refresh(&self, refresh_token: &str) -> String {
        let body = format!(
            "grant_type=refresh_token&refresh_token={refresh_token}&client_id={}",
            self.client_id
        );
        let t = block_on(
            self.server
                .token(&self.tenant, &TokenRequest::new(None, &body)),
        )
        .expect("refresh");
        t.refresh_token.expect("rotated").expose_secret().to_owned()
    }
}

/// The papyrus HTTP layer as `examples/common/demo.rs` builds it (tenant
/// `acme` from the `X-Tenant-Id` header), with an API key and an access
/// token of that tenant: `(auth, api_key, access_token)`.
pub fn http_fixture() -> (HttpAuth, String, String) {
    let tenant: TenantId = "acme".parse().expect("tenant");
    let sink = Arc::new(TracingAuditSink);
    let keys = ApiKeys::new(Arc::new(MemoryApiKeyStore::new()), sink.clone());
    let oauth = AuthorizationServer::new(
        "https://{tenant}.auth.example.com".parse().expect("an issuer"),
        Arc::new(papyrus_auth::MemoryClientStore::new()),
        Arc::new(papyrus_auth::MemoryGrantStore::new()),
        sink,
    );
    let users = StaticUsers::new().with_user(&tenant, "alice", "wonderland", "user_alice");
    let config = HttpAuthConfig::default()
        .with_api_tenant(TenantSource::Header)
        .with_oauth_tenant(TenantSource::Header)
        .with_secure_cookies(false);
    let auth = HttpAuth::builder(keys.clone())
        .oauth(oauth.clone())
        .users(Arc::new(users))
        .config(config)
        .build()
        .expect("the HTTP layer builds");
    let key = block_on(
        keys.create(
            &tenant,
            NewApiKey::new(
                "http bench",
                "documents:read documents:write analytics:read"
                    .parse()
                    .expect("scopes"),
            ),
            &Actor::System,
        ),
    )
    .expect("api key")
    .key
    .expose_secret()
    .to_owned();
    let token = PapyrusOAuth::with_server(oauth, tenant)
        .issue_and_exchange()
        .access_token
        .expose_secret()
        .to_owned();
    (auth, key, token)
}

/// The actix-web hello-world handler of the HTTP comparison.
pub async fn actix_hello() -> &'static str {
    "Hello, world!"
}

/// The thinnest actix-web bearer check: one static string compare
/// (`Bearer static-token`), as a `middleware::from_fn`.
pub async fn actix_static_bearer(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<actix_web::body::BoxBody>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let ok = req
        .headers()
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == b"Bearer static-token");
    if ok {
        next.call(req).await
    } else {
        Ok(req.into_response(actix_web::HttpResponse::Unauthorized().finish()))
    }
}

/// The static bearer token of the baseline variants.
pub const STATIC_TOKEN: &str = "static-token";

async fn hello() -> &'static str {
    "Hello, world!"
}

/// The four axum variants of the HTTP comparison, in port order: no auth,
/// tower-http's static bearer compare, papyrus's layer (which serves both
/// API keys and access tokens: variants 2 and 3 differ only by credential).
pub fn axum_apps(auth: &HttpAuth) -> [Router; 4] {
    [
        Router::new().route("/", get(hello)),
        #[allow(deprecated)] // "Too basic to be useful": exactly the baseline wanted.
        Router::new()
            .route("/", get(hello))
            .layer(ValidateRequestHeaderLayer::bearer(STATIC_TOKEN)),
        Router::new()
            .route("/", get(hello))
            .layer(papyrus_auth::axum::AuthLayer::new(auth.clone())),
        Router::new()
            .route("/", get(hello))
            .layer(papyrus_auth::axum::AuthLayer::new(auth.clone())),
    ]
}
