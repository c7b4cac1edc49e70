//! The demo shared by the example servers (axum and actix-web): stores,
//! first-start bootstrap of tenant `acme`, and the `/api/v1/documents`
//! resource, all framework-neutral.

#![allow(dead_code, unreachable_pub)] // Shared by the examples and the tests: each uses a part.

use std::{error::Error, sync::Arc, time::Duration};

use dashmap::DashMap;
use papyrus_auth::{
    Actor, ApiKeyStore, ApiKeys, AuditLog, CacheConfig, MemoryApiKeyStore, MemoryAuditLog,
    MemoryClientStore, MemoryGrantStore, MemorySigningKeyStore, NewApiKey, PostgresStore,
    Principal, RedisCounters, SqliteStore, StoreOptions, Tee, TenantId, TracingAuditSink,
    http::{
        HttpAuth, HttpAuthConfig, HttpResponse, ProtectedResource, StaticUsers, TenantSource,
        TrustedProxies,
    },
    oauth::{
        AuthorizationServer, AuthorizationServerConfig, ClientError, ClientId, ClientKind,
        ClientStore, GrantStore, NewClient, RegistrationPolicy,
    },
    signing::SigningKeyStore,
};

/// The stores the demo runs on.
struct Stores {
    keys: Arc<dyn ApiKeyStore>,
    clients: Arc<dyn ClientStore>,
    grants: Arc<dyn GrantStore>,
    audit: Arc<dyn AuditLog>,
    signing: Arc<dyn SigningKeyStore>,
}

impl Stores {
    fn of<S>(store: S) -> Self
    where
        S: ApiKeyStore + ClientStore + GrantStore + AuditLog + SigningKeyStore,
    {
        let s = Arc::new(store);
        Self {
            keys: s.clone(),
            clients: s.clone(),
            grants: s.clone(),
            audit: s.clone(),
            signing: s,
        }
    }
}

/// Opens the stores named by `url` (memory when `None`).
async fn open_stores(
    url: Option<&str>,
    cache: Option<CacheConfig>,
) -> Result<Stores, Box<dyn Error + Send + Sync>> {
    let mut options = StoreOptions::new();
    if let Some(cache) = cache {
        options = options.with_credential_cache(cache);
    }
    Ok(match url {
        None => Stores {
            keys: Arc::new(MemoryApiKeyStore::new()),
            clients: Arc::new(MemoryClientStore::new()),
            grants: Arc::new(MemoryGrantStore::new()),
            audit: Arc::new(MemoryAuditLog::new()),
            signing: Arc::new(MemorySigningKeyStore::new()),
        },
        Some(url) if url.starts_with("sqlite:") => {
            Stores::of(SqliteStore::connect_with(url, options).await?)
        }
        Some(url) if url.starts_with("postgres:") || url.starts_with("postgresql:") => {
            Stores::of(PostgresStore::connect_with(url, options).await?)
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
/// The name of an admin key minted by `-- admin-key`.
pub const RECOVERED_KEY_NAME: &str = "admin (minted by the admin-key command)";
/// The scopes of the Papyrus platform (the product document's).
pub const PAPYRUS_SCOPES: &str =
    "documents:read documents:write workflows:read workflows:write analytics:read";
/// The admin key's scopes.
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
    /// `redis://…`: the throttle's failure counters, shared by every
    /// instance; `None` counts in process.
    pub redis_url: Option<String>,
    /// The Prometheus recorder's handle, for `/metrics` (installed once per
    /// process, by `main`; feature `prometheus`).
    pub metrics: Option<MetricsHandle>,
    /// The SQL stores' credential cache; `None` (the default) is off.
    pub credential_cache: Option<CacheConfig>,
    /// For end-to-end tests only (`PAPYRUS_DANGEROUS_METADATA_LOOPBACK_HOST`):
    /// a host name resolved to 127.0.0.1, whose `https://name:port/…` Client
    /// ID Metadata Documents are fetched over plain http, with a 2 s limit.
    /// It lets a client id reach this host's own services: never set it
    /// elsewhere. Feature `client-id-metadata`.
    pub dangerous_metadata_loopback_host: Option<String>,
}

/// The handle `/metrics` renders (feature `prometheus`).
#[cfg(feature = "prometheus")]
pub type MetricsHandle = papyrus_auth::metrics::PrometheusHandle;
/// Nothing to render without feature `prometheus`.
#[cfg(not(feature = "prometheus"))]
pub type MetricsHandle = ();

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

/// The tenant source of the OAuth endpoints, which browsers reach: a
/// `*.localhost` label, else the header, else tenant `acme` for the hosts
/// this server answers on (and no other: an unknown host names no tenant).
pub fn oauth_tenant_source(base_url: &str, tenant: &TenantId) -> TenantSource {
    let own = base_url
        .split_once("://")
        .map_or(base_url, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default();
    let own = match own.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => own,
    };
    let mut sources = vec![
        TenantSource::HostLabel(".localhost".into()),
        TenantSource::Header,
    ];
    for host in [own, "127.0.0.1", "localhost", "[::1]"] {
        sources.push(TenantSource::Host {
            host: host.to_owned(),
            tenant: tenant.clone(),
        });
    }
    TenantSource::FirstOf(sources)
}

/// The fetcher of Client ID Metadata Documents; with a
/// [`DemoConfig::dangerous_metadata_loopback_host`] (end-to-end tests
/// only), one that reaches that name on loopback over plain http.
#[cfg(feature = "client-id-metadata")]
fn metadata_fetcher(loopback_host: Option<&str>) -> papyrus_auth::oauth::HttpsMetadataFetcher {
    let mut fetcher = papyrus_auth::oauth::HttpsMetadataFetcher::new();
    if let Some(host) = loopback_host {
        tracing::warn!(%host, "DANGEROUS: client metadata documents fetched from loopback over http");
        fetcher = fetcher
            .with_host(host, vec![std::net::IpAddr::from([127, 0, 0, 1])])
            .with_timeout(std::time::Duration::from_secs(2));
        fetcher.dangerous().allow_loopback = true;
        fetcher.dangerous().plain_http_to_loopback = true;
    }
    fetcher
}

impl Demo {
    /// Builds the stores and services, and bootstraps tenant `acme`.
    pub async fn start(config: DemoConfig) -> Result<Self, Box<dyn Error + Send + Sync>> {
        let tenant: TenantId = TENANT.parse()?;
        let stores = open_stores(config.database_url.as_deref(), config.credential_cache).await?;
        let sink = Arc::new(Tee(stores.audit.clone(), TracingAuditSink));
        let keys = ApiKeys::new(stores.keys, sink.clone());
        // Papyrus's own vocabulary: requests for other scopes are refused.
        // Two resource servers (RFC 8707): the REST API and the MCP server
        // (`cargo run --example mcp_server`); a token may be bound to either.
        let oauth_config = AuthorizationServerConfig::new(config.base_url.parse()?)
            .with_known_scopes(PAPYRUS_SCOPES.parse()?)
            .with_resource(&format!("{}/api", config.base_url))?
            .with_resource(&format!("{}/mcp", config.base_url))?
            // Agents register themselves (RFC 7591): public clients with
            // https or loopback redirect URIs, so many per address per hour.
            .with_registration(RegistrationPolicy::Open)
            // Agents may also name themselves by the https URL of a Client
            // ID Metadata Document (feature `client-id-metadata`).
            .with_client_id_metadata(cfg!(feature = "client-id-metadata"));
        let oauth = AuthorizationServer::new(
            config.base_url.parse()?,
            stores.clients,
            stores.grants,
            sink,
        )
        .with_config(oauth_config);
        #[cfg(feature = "client-id-metadata")]
        let oauth =
            oauth.with_metadata_documents(papyrus_auth::oauth::MetadataDocuments::new(Arc::new(
                metadata_fetcher(config.dangerous_metadata_loopback_host.as_deref()),
            )));
        let users = StaticUsers::new().with_user(&tenant, DEMO_USER.0, DEMO_USER.1, "user_alice");
        let http_config = HttpAuthConfig::default()
            .with_api_tenant(TenantSource::Header)
            .with_oauth_tenant(oauth_tenant_source(&config.base_url, &tenant))
            .with_trusted_proxies(config.trusted_proxies.clone())
            .with_secure_cookies(config.base_url.starts_with("https://"))
            .with_realm("papyrus")
            // The REST API refuses tokens bound to another resource (the MCP
            // server's); it still accepts unbound ones, which the demo's own
            // single-page app asks for.
            .with_protected_resource(
                ProtectedResource::new(&format!("{}/api", config.base_url))?
                    .with_scopes_supported(PAPYRUS_SCOPES.parse()?)
                    .accept_unbound_tokens(true),
            );
        let mut auth = HttpAuth::builder(keys.clone())
            .oauth(oauth.clone())
            .users(Arc::new(users))
            .admin(stores.audit)
            .config(http_config)
            .build()?
            // A consent form drawn by one instance verifies on every other.
            .with_signing_keys(stores.signing);
        if let Some(url) = &config.redis_url {
            // Every instance counts failures in one place.
            auth = auth.with_failure_counters(Arc::new(RedisCounters::new(url)?));
        }

        // First start only: the SPA's client, and an admin key printed once.
        // Registering the client is the claim: of instances starting together
        // on an empty database, the one whose insert wins makes the admin key;
        // the others (and every restart) find the client and make nothing.
        let spa = NewClient::new(
            "Papyrus demo app",
            ClientKind::Public,
            format!("{}/app/callback", config.base_url),
            "documents:read documents:write".parse()?,
        )
        .with_client_id(ClientId::parse(SPA_CLIENT_ID)?)
        .with_default_scopes("documents:read".parse()?);
        let admin_key = match oauth.register_client(&tenant, spa, &Actor::System).await {
            Ok(_) => {
                let admin = keys
                    .create(
                        &tenant,
                        NewApiKey::new(BOOTSTRAP_KEY_NAME, ADMIN_SCOPES.parse()?),
                        &Actor::System,
                    )
                    .await?;
                Some(admin.key.expose_secret().to_owned())
            }
            Err(ClientError::Conflict) => None,
            Err(e) => return Err(e.into()),
        };
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

/// Limits on the connections of the example servers (both frameworks).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// A request's headers must arrive within this (a connection idle
    /// between requests is closed after it too). Default 10 s.
    pub header_read: Duration,
    /// A request must be answered within this, or gets `503`. Default 30 s.
    pub request: Duration,
    /// The most connections served at once; more wait to be accepted.
    /// Default 1,024.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            request: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// What the example servers were asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Serve (no arguments).
    Serve,
    /// `admin-key --tenant <tenant>`: mint a new admin key in the database
    /// (audited), print it and exit: the way back for whoever lost theirs.
    AdminKey { tenant: String },
}

impl Command {
    /// The command named by the arguments after the program's name.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        match args {
            [] => Ok(Self::Serve),
            [cmd, flag, tenant] if cmd == "admin-key" && flag == "--tenant" => Ok(Self::AdminKey {
                tenant: tenant.clone(),
            }),
            _ => Err(
                "usage: server                          serve\n       server admin-key --tenant <tenant>   mint a new admin API key and exit"
                    .to_owned(),
            ),
        }
    }
}

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
    /// `PAPYRUS_REDIS_URL`, such as `redis://127.0.0.1:6379`: the
    /// throttle's counters, shared by a fleet. Default none (in process).
    pub redis_url: Option<String>,
    /// `PAPYRUS_CREDENTIAL_CACHE_LEASE_MS`, such as `2000`: the SQL store's
    /// credential cache with this lease. Default off.
    pub credential_cache: Option<CacheConfig>,
    /// What to do (the command-line arguments).
    pub command: Command,
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
        let redis_url = std::env::var("PAPYRUS_REDIS_URL")
            .ok()
            .filter(|u| !u.is_empty());
        let credential_cache = match std::env::var("PAPYRUS_CREDENTIAL_CACHE_LEASE_MS") {
            Ok(ms) if !ms.is_empty() => Some(
                CacheConfig::default().with_lease(std::time::Duration::from_millis(ms.parse()?)),
            ),
            _ => None,
        };
        let args: Vec<String> = std::env::args().skip(1).collect();
        let command = Command::parse(&args).unwrap_or_else(|usage| {
            eprintln!("{usage}");
            std::process::exit(2);
        });
        Ok(Self {
            addr,
            proxies,
            database_url,
            redis_url,
            credential_cache,
            command,
        })
    }

    /// Starts the demo for a server listening at `bound`, with `/metrics`
    /// served from a Prometheus recorder installed now.
    pub async fn demo(
        &self,
        bound: std::net::SocketAddr,
    ) -> Result<Demo, Box<dyn Error + Send + Sync>> {
        // Installed before the HTTP layer is built, which registers its
        // counters with it.
        #[cfg(feature = "prometheus")]
        let metrics = Some(papyrus_auth::metrics::install_prometheus()?);
        #[cfg(not(feature = "prometheus"))]
        let metrics = None;
        Demo::start(DemoConfig {
            base_url: format!("http://{bound}"),
            trusted_proxies: self.proxies.clone(),
            database_url: Some(self.database_url.clone()),
            redis_url: self.redis_url.clone(),
            metrics,
            credential_cache: self.credential_cache,
            dangerous_metadata_loopback_host: std::env::var(
                "PAPYRUS_DANGEROUS_METADATA_LOOPBACK_HOST",
            )
            .ok()
            .filter(|h| !h.is_empty()),
        })
        .await
    }

    /// `admin-key --tenant <tenant>`: mints a new admin key in the
    /// database (audited as the operator's), prints it, and returns.
    pub async fn mint_admin_key(&self, tenant: &str) -> Result<(), Box<dyn Error + Send + Sync>> {
        let tenant: TenantId = tenant
            .parse()
            .map_err(|e| format!("--tenant {tenant:?}: {e}"))?;
        let stores = open_stores(Some(&self.database_url), None).await?;
        let sink = Arc::new(Tee(stores.audit, TracingAuditSink));
        let keys = ApiKeys::new(stores.keys, sink);
        let actor = Actor::Operator {
            via: "admin-key command".to_owned(),
        };
        let created = keys
            .create(
                &tenant,
                NewApiKey::new(RECOVERED_KEY_NAME, ADMIN_SCOPES.parse()?),
                &actor,
            )
            .await?;
        println!(
            "new admin API key for tenant {tenant} (shown once; scopes: {ADMIN_SCOPES}; id {}):",
            created.info.id
        );
        println!("    {}", created.key.expose_secret());
        println!("  revoke the old one through the admin API if it may have leaked");
        Ok(())
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
        if let Some(cache) = &self.config.credential_cache {
            println!(
                "  credential cache: on, lease {} ms",
                cache.lease.as_millis()
            );
        }
        match &self.admin_key {
            Some(key) => {
                println!(
                    "  admin API key for tenant {TENANT} (shown once; scopes: {ADMIN_SCOPES}):"
                );
                println!("    {key}");
            }
            None => println!(
                "  the admin API key was printed at first start (lost it? `-- admin-key --tenant {TENANT}` mints another)"
            ),
        }
        if let Some(url) = &self.config.redis_url {
            println!("  failure counters: {}", redact_url(url));
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

    /// `GET /metrics`: the Prometheus text format (feature `prometheus`;
    /// a 404 without it).
    pub fn metrics(&self) -> HttpResponse {
        #[cfg(feature = "prometheus")]
        if let Some(handle) = &self.config.metrics {
            return papyrus_auth::http::metrics_response(handle);
        }
        HttpResponse::json(
            404,
            &json!({
                "error": "not_found",
                "error_description": "metrics are served with --features prometheus"
            }),
        )
    }

    /// Purges expired codes and tokens every minute, and keeps the metrics
    /// recorder's histograms drained, in the background.
    pub fn spawn_purge(&self) {
        #[cfg(feature = "prometheus")]
        if let Some(handle) = self.config.metrics.clone() {
            tokio::spawn(async move {
                let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
                loop {
                    every.tick().await;
                    handle.run_upkeep();
                }
            });
        }
        let Some(oauth) = self.auth.oauth().cloned() else {
            return;
        };
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
