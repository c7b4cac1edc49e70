//! The demo shared by the example servers (axum and actix-web): stores,
//! first-start bootstrap of tenant `acme`, and the `/api/v1/documents`
//! resource, all framework-neutral.

#![allow(dead_code, unreachable_pub)] // Shared by the examples and the tests: each uses a part.

use std::{error::Error, sync::Arc};

use dashmap::DashMap;
use papyrus_auth::{
    Actor, ApiKeyStore, ApiKeys, AuditLog, Authenticator, MemoryApiKeyStore, MemoryAuditLog,
    MemoryClientStore, MemoryGrantStore, NewApiKey, PostgresStore, Principal, SqliteStore, Tee,
    TenantId, TracingAuditSink,
    http::{HttpAuth, HttpAuthConfig, HttpResponse, StaticUsers, TenantSource, TrustedProxies},
    oauth::{
        AuthorizationServer, AuthorizationServerConfig, ClientError, ClientId, ClientKind,
        ClientStore, GrantStore, NewClient,
    },
};

/// The four stores the demo runs on.
type Stores = (
    Arc<dyn ApiKeyStore>,
    Arc<dyn ClientStore>,
    Arc<dyn GrantStore>,
    Arc<dyn AuditLog>,
);

/// Opens the stores named by `url` (memory when `None`).
async fn open_stores(url: Option<&str>) -> Result<Stores, Box<dyn Error + Send + Sync>> {
    Ok(match url {
        None => (
            Arc::new(MemoryApiKeyStore::new()),
            Arc::new(MemoryClientStore::new()),
            Arc::new(MemoryGrantStore::new()),
            Arc::new(MemoryAuditLog::new()),
        ),
        Some(url) if url.starts_with("sqlite:") => {
            let s = Arc::new(SqliteStore::connect(url).await?);
            (s.clone(), s.clone(), s.clone(), s)
        }
        Some(url) if url.starts_with("postgres:") || url.starts_with("postgresql:") => {
            let s = Arc::new(PostgresStore::connect(url).await?);
            (s.clone(), s.clone(), s.clone(), s)
        }
        Some(other) => {
            return Err(format!(
                "PAPYRUS_DATABASE_URL must be sqlite://… or postgres://…, not {other:?}"
            )
            .into());
        }
    })
}
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The demo tenant.
pub const TENANT: &str = "acme";
/// The demo public client (the single-page app).
pub const SPA_CLIENT_ID: &str = "demo-spa";
/// The demo user of the login page.
pub const DEMO_USER: (&str, &str) = ("alice", "wonderland");
/// The name of the admin key made at first start.
pub const BOOTSTRAP_KEY_NAME: &str = "bootstrap admin";
/// Scopes the admin key holds.
pub const ADMIN_SCOPES: &str = "keys:admin tokens:introspect documents:read documents:write";

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// The server's own base URL, such as `http://127.0.0.1:8080`.
    pub base_url: String,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// `sqlite://…` or `postgres://…`; `None` keeps everything in memory.
    pub database_url: Option<String>,
}

/// A document of the demo resource.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Document {
    pub id: u64,
    pub title: String,
    pub content: String,
    pub created_by: String,
}

#[derive(Debug, Deserialize)]
struct NewDocument {
    title: String,
    content: String,
}

/// Everything the demo server needs.
#[derive(Debug, Clone)]
pub struct Demo {
    pub auth: HttpAuth,
    pub documents: Arc<DashMap<TenantId, Vec<Document>>>,
    /// The admin key created at first start (shown once; `None` on a restart).
    pub admin_key: Option<String>,
    pub config: DemoConfig,
}

impl Demo {
    /// Builds the stores and services, and bootstraps tenant `acme`.
    pub async fn start(config: DemoConfig) -> Result<Self, Box<dyn Error + Send + Sync>> {
        let tenant: TenantId = TENANT.parse()?;
        let (key_store, client_store, grant_store, audit) =
            open_stores(config.database_url.as_deref()).await?;
        let sink = Arc::new(Tee(audit.clone(), TracingAuditSink));
        let keys = ApiKeys::new(key_store, sink.clone());
        let oauth = AuthorizationServer::new(client_store, grant_store, sink)
            .with_config(AuthorizationServerConfig::default().with_issuer(config.base_url.clone()));
        let users = StaticUsers::new().with_user(&tenant, DEMO_USER.0, DEMO_USER.1, "user_alice");
        let http_config = HttpAuthConfig::default()
            .with_api_tenant(TenantSource::Header)
            .with_oauth_tenant(TenantSource::FirstOf(vec![
                TenantSource::HostLabel(".localhost".into()),
                TenantSource::Header,
                TenantSource::Fixed(tenant.clone()),
            ]))
            .with_trusted_proxies(config.trusted_proxies.clone())
            .with_secure_cookies(config.base_url.starts_with("https://"));
        let auth = HttpAuth::new(
            Authenticator::new(keys.clone()),
            oauth.clone(),
            audit,
            Arc::new(users),
            http_config,
        );

        // First start only: an admin key, printed once, and the SPA's client.
        // A restart on the same database finds them and creates nothing.
        let bootstrapped = keys
            .list(&tenant)
            .await?
            .iter()
            .any(|k| k.name == BOOTSTRAP_KEY_NAME);
        let admin_key = if bootstrapped {
            None
        } else {
            let admin = keys
                .create(
                    &tenant,
                    NewApiKey::new(BOOTSTRAP_KEY_NAME, ADMIN_SCOPES.parse()?),
                    &Actor::System,
                )
                .await?;
            Some(admin.key.expose_secret().to_owned())
        };
        let spa = ClientId::parse(SPA_CLIENT_ID)?;
        if let Err(ClientError::NotFound) = oauth.get_client(&tenant, &spa).await {
            oauth
                .register_client(
                    &tenant,
                    NewClient::new(
                        "Papyrus demo app",
                        ClientKind::Public,
                        format!("{}/app/callback", config.base_url),
                        "documents:read documents:write".parse()?,
                    )
                    .with_client_id(spa)
                    .with_default_scopes("documents:read".parse()?),
                    &Actor::System,
                )
                .await?;
        }
        Ok(Self {
            auth,
            documents: Arc::new(DashMap::new()),
            admin_key,
            config,
        })
    }

    /// `GET /api/v1/documents` (needs `documents:read`).
    pub fn list_documents(&self, principal: &Principal) -> HttpResponse {
        let docs = self
            .documents
            .get(principal.tenant())
            .map(|d| d.clone())
            .unwrap_or_default();
        HttpResponse::json(
            200,
            &json!({ "tenant": principal.tenant(), "documents": docs }),
        )
    }

    /// `POST /api/v1/documents` with `{"title", "content"}` (needs `documents:write`).
    pub fn create_document(&self, principal: &Principal, body: &[u8]) -> HttpResponse {
        let new: NewDocument = match serde_json::from_slice(body) {
            Ok(d) => d,
            Err(_) => return bad_request("send a JSON object {\"title\": ..., \"content\": ...}"),
        };
        if new.title.trim().is_empty()
            || new.title.chars().count() > 200
            || new.content.chars().count() > 10_000
        {
            return bad_request("title must be 1 to 200 characters and content at most 10,000");
        }
        let mut docs = self
            .documents
            .entry(principal.tenant().clone())
            .or_default();
        let doc = Document {
            id: docs.len() as u64 + 1,
            title: new.title,
            content: new.content,
            created_by: principal.subject().to_string(),
        };
        docs.push(doc.clone());
        HttpResponse::json(201, &json!({ "document": doc }))
    }

    /// `GET /app/config.json`: what the single-page app needs.
    pub fn spa_config(&self) -> HttpResponse {
        HttpResponse::json(
            200,
            &json!({
                "client_id": SPA_CLIENT_ID,
                "tenant": TENANT,
                "authorize_endpoint": "/oauth/authorize",
                "token_endpoint": "/oauth/token",
                "redirect_uri": format!("{}/app/callback", self.config.base_url),
                "scope": "documents:read documents:write",
                "api": "/api/v1/documents",
                "issuer": self.config.base_url,
            }),
        )
    }
}

fn bad_request(description: &str) -> HttpResponse {
    HttpResponse::json(
        400,
        &json!({ "error": "invalid_request", "error_description": description }),
    )
}

/// The static pages, with the headers they are served with.
pub fn static_asset(path: &str) -> Option<HttpResponse> {
    let (body, content_type) = match path {
        "/" => (INDEX, "text/html; charset=utf-8"),
        "/admin" => (
            include_str!("../server/static/admin.html"),
            "text/html; charset=utf-8",
        ),
        "/admin/admin.js" => (
            include_str!("../server/static/admin.js"),
            "text/javascript; charset=utf-8",
        ),
        "/app" | "/app/callback" => (
            include_str!("../server/static/spa.html"),
            "text/html; charset=utf-8",
        ),
        "/app/spa.js" => (
            include_str!("../server/static/spa.js"),
            "text/javascript; charset=utf-8",
        ),
        "/static/style.css" => (
            include_str!("../server/static/style.css"),
            "text/css; charset=utf-8",
        ),
        _ => return None,
    };
    let mut r = HttpResponse::html(200, body.to_owned());
    for (name, value) in &mut r.headers {
        match *name {
            "Content-Type" => *value = content_type.to_owned(),
            "Content-Security-Policy" => {
                *value = "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; form-action 'self'".to_owned();
            }
            _ => {}
        }
    }
    Some(r)
}

const INDEX: &str = r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>papyrus-auth demo</title>
<link rel="stylesheet" href="/static/style.css"></head><body><main>
<h1>papyrus-auth demo</h1>
<ul><li><a href="/admin">Admin → API Keys</a> (paste the admin key printed at start)</li>
<li><a href="/app">Single-page app</a> (OAuth 2.0 + PKCE; log in as alice / wonderland)</li>
<li><a href="/.well-known/oauth-authorization-server">Server metadata</a></li></ul>
</main></body></html>"#;

/// What the example servers read from the environment.
#[derive(Debug, Clone)]
pub struct ServerEnv {
    /// `PAPYRUS_ADDR`, default `127.0.0.1:8080`.
    pub addr: std::net::SocketAddr,
    /// `PAPYRUS_TRUSTED_PROXIES`: comma-separated CIDRs, default none.
    pub proxies: TrustedProxies,
    /// `PAPYRUS_DATABASE_URL`, default `sqlite://papyrus-auth.db` (the
    /// embedded default: a SQLite file in the working directory).
    pub database_url: String,
}

impl ServerEnv {
    /// Reads the environment and starts `tracing` logs (`RUST_LOG`, default info).
    pub fn from_env() -> Result<Self, Box<dyn Error + Send + Sync>> {
        use tracing_subscriber::EnvFilter;
        tracing_subscriber::fmt()
            .with_env_filter(
                EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
            )
            .init();
        let addr = std::env::var("PAPYRUS_ADDR")
            .unwrap_or_else(|_| "127.0.0.1:8080".into())
            .parse()?;
        let proxies = match std::env::var("PAPYRUS_TRUSTED_PROXIES") {
            Ok(list) => {
                TrustedProxies::parse(list.split(',').map(str::trim).filter(|s| !s.is_empty()))?
            }
            Err(_) => TrustedProxies::none(),
        };
        let database_url = std::env::var("PAPYRUS_DATABASE_URL")
            .unwrap_or_else(|_| "sqlite://papyrus-auth.db".into());
        Ok(Self {
            addr,
            proxies,
            database_url,
        })
    }

    /// Starts the demo for a server listening at `bound`.
    pub async fn demo(
        &self,
        bound: std::net::SocketAddr,
    ) -> Result<Demo, Box<dyn Error + Send + Sync>> {
        Demo::start(DemoConfig {
            base_url: format!("http://{bound}"),
            trusted_proxies: self.proxies.clone(),
            database_url: Some(self.database_url.clone()),
        })
        .await
    }
}

impl Demo {
    /// Prints the start-up banner: address, store, admin key (first start
    /// only), demo user and client, and what to try.
    pub fn print_banner(&self) {
        let base_url = &self.config.base_url;
        println!("papyrus-auth example server on {base_url}");
        if let Some(url) = &self.config.database_url {
            println!("  store: {}", redact_url(url));
        }
        match &self.admin_key {
            Some(key) => {
                println!(
                    "  admin API key for tenant {TENANT} (shown once; scopes: {ADMIN_SCOPES}):"
                );
                println!("    {key}");
            }
            None => println!(
                "  the admin API key was printed at first start (delete the database to start over)"
            ),
        }
        println!(
            "  demo user for the login page: {} / {}",
            DEMO_USER.0, DEMO_USER.1
        );
        println!("  demo OAuth client: {SPA_CLIENT_ID} (public, redirect {base_url}/app/callback)");
        println!("  open {base_url}/admin (keys) and {base_url}/app (OAuth + PKCE)");
        println!(
            "  try: curl {base_url}/api/v1/documents -H \"Authorization: Bearer <key>\" -H \"X-Tenant-Id: {TENANT}\""
        );
    }

    /// Purges expired codes and tokens every minute, in the background.
    pub fn spawn_purge(&self) {
        let oauth = self.auth.oauth().clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                every.tick().await;
                match oauth.purge_expired().await {
                    Ok(n) if n > 0 => {
                        tracing::info!(removed = n, "purged expired codes and tokens")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "purge failed"),
                }
            }
        });
    }
}

/// The database URL without its password, for the start-up banner.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:[redacted]{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}
