//! The papyrus-auth example server (axum): the product document's API keys
//! and OAuth 2.0 + PKCE flow, with an admin page and a single-page app.
//!
//! `cargo run --example server`, then open http://127.0.0.1:8080/.
//! `PAPYRUS_ADDR` changes the address; `PAPYRUS_TRUSTED_PROXIES` (a
//! comma-separated list of CIDRs) names proxies whose `X-Forwarded-For` is
//! believed.

mod app;

use std::{error::Error, net::SocketAddr};

use app::demo::{ADMIN_SCOPES, DEMO_USER, Demo, DemoConfig, SPA_CLIENT_ID, TENANT};
use papyrus_auth::http::TrustedProxies;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let addr: SocketAddr = std::env::var("PAPYRUS_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:8080".into())
        .parse()?;
    let proxies = match std::env::var("PAPYRUS_TRUSTED_PROXIES") {
        Ok(list) => {
            TrustedProxies::parse(list.split(',').map(str::trim).filter(|s| !s.is_empty()))?
        }
        Err(_) => TrustedProxies::none(),
    };
    // The embedded default: a SQLite file in the working directory.
    let database_url =
        std::env::var("PAPYRUS_DATABASE_URL").unwrap_or_else(|_| "sqlite://papyrus-auth.db".into());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let base_url = format!("http://{addr}");
    let demo = Demo::start(DemoConfig {
        base_url: base_url.clone(),
        trusted_proxies: proxies,
        database_url: Some(database_url.clone()),
    })
    .await?;

    println!("papyrus-auth example server on {base_url}");
    println!("  store: {}", redact_url(&database_url));
    match &demo.admin_key {
        Some(key) => {
            println!("  admin API key for tenant {TENANT} (shown once; scopes: {ADMIN_SCOPES}):");
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

    // Expired codes and tokens are purged every minute.
    let oauth = demo.auth.oauth().clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every.tick().await;
            match oauth.purge_expired().await {
                Ok(n) if n > 0 => tracing::info!(removed = n, "purged expired codes and tokens"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "purge failed"),
            }
        }
    });

    let app = app::router(demo);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
        println!("shutting down");
    })
    .await?;
    Ok(())
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
