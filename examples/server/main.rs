//! The papyrus-auth example server (axum): the product document's API keys
//! and OAuth 2.0 + PKCE flow, with an admin page and a single-page app.
//!
//! `cargo run --example server`, then open http://127.0.0.1:8080/.
//! `PAPYRUS_ADDR` changes the address; `PAPYRUS_DATABASE_URL` the store
//! (`sqlite://papyrus-auth.db` by default, or `postgres://…`);
//! `PAPYRUS_TRUSTED_PROXIES` (a comma-separated list of CIDRs) names proxies
//! whose `X-Forwarded-For` is believed; `PAPYRUS_REDIS_URL`
//! (`redis://127.0.0.1:6379`) shares the throttle's counters among
//! instances; `PAPYRUS_CREDENTIAL_CACHE_LEASE_MS` (`2000`) turns the SQL
//! store's credential cache on with that lease. `/metrics` serves the
//! Prometheus text format.
//!
//! `cargo run --example server -- admin-key --tenant acme` mints a new admin
//! API key in the database (audited) and exits: the way back for whoever
//! lost the one printed at first start.

mod app;

use std::error::Error;

use app::{
    ConnectionLimits,
    demo::{Command, ServerEnv},
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let env = ServerEnv::from_env()?;
    if let Command::AdminKey { tenant } = &env.command {
        return env.mint_admin_key(tenant).await;
    }
    let listener = tokio::net::TcpListener::bind(env.addr).await?;
    let demo = env.demo(listener.local_addr()?).await?;
    demo.print_banner();
    demo.spawn_purge();
    let app = app::router(demo);
    app::serve(listener, app, ConnectionLimits::default(), async {
        let _ = tokio::signal::ctrl_c().await;
        println!("shutting down");
    })
    .await?;
    Ok(())
}
