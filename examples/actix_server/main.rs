//! The papyrus-auth example server (actix-web): the product document's API
//! keys and OAuth 2.0 + PKCE flow, with an admin page and a single-page app,
//! answering exactly like the axum one (`examples/server`).
//!
//! `cargo run --example actix_server --features actix`, then open
//! http://127.0.0.1:8080/. Same environment variables as `examples/server`:
//! `PAPYRUS_ADDR`, `PAPYRUS_DATABASE_URL`, `PAPYRUS_TRUSTED_PROXIES`,
//! `PAPYRUS_REDIS_URL`, and the `-- admin-key --tenant <tenant>` command.

mod app;

use std::error::Error;

use app::demo::{Command, ServerEnv};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let env = ServerEnv::from_env()?;
    if let Command::AdminKey { tenant } = &env.command {
        return env.mint_admin_key(tenant).await;
    }
    let listener = std::net::TcpListener::bind(env.addr)?;
    let demo = env.demo(listener.local_addr()?).await?;
    demo.print_banner();
    demo.spawn_purge();
    // actix-web runs in its own thread and system; this runtime waits for Ctrl-C.
    let server = app::start(demo, listener, app::demo::ConnectionLimits::default())?;
    let _ = tokio::signal::ctrl_c().await;
    println!("shutting down");
    server.stop(true).await;
    Ok(())
}
