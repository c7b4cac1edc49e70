//! The papyrus-auth example server (axum): the product document's API keys
//! and OAuth 2.0 + PKCE flow, with an admin page and a single-page app.
//!
//! `cargo run --example server`, then open http://127.0.0.1:8080/.
//! `PAPYRUS_ADDR` changes the address; `PAPYRUS_DATABASE_URL` the store
//! (`sqlite://papyrus-auth.db` by default, or `postgres://…`);
//! `PAPYRUS_TRUSTED_PROXIES` (a comma-separated list of CIDRs) names proxies
//! whose `X-Forwarded-For` is believed.

mod app;

use std::{error::Error, net::SocketAddr};

use app::demo::ServerEnv;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let env = ServerEnv::from_env()?;
    let listener = tokio::net::TcpListener::bind(env.addr).await?;
    let demo = env.demo(listener.local_addr()?).await?;
    demo.print_banner();
    demo.spawn_purge();
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
