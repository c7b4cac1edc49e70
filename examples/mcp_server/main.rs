//! Papyrus documents as an MCP server, protected by papyrus-auth.
//!
//! `cargo run --example mcp_server`, then point an MCP client at
//! `http://127.0.0.1:8080/mcp` (Streamable HTTP). The client discovers
//! everything from the first `401`: the protected-resource metadata (RFC
//! 9728), the authorization server's metadata (RFC 8414), registers itself
//! (RFC 7591), and runs the code flow with PKCE and `resource` (RFC 8707);
//! you sign in on the consent page as `alice` / `wonderland`.
//!
//! Tools: `list_documents` (needs `documents:read`) and `create_document`
//! (needs `documents:write`; a read-only token gets `403
//! insufficient_scope`). The whole example server (REST API, admin page,
//! single-page app) runs beside it, on the same embedded store; the same
//! environment variables apply (`PAPYRUS_ADDR`, `PAPYRUS_DATABASE_URL`, …).

#[path = "../server/app.rs"]
mod app;
mod mcp;

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
    println!(
        "MCP server (Streamable HTTP): {}/mcp — tools list_documents, create_document",
        demo.config.base_url
    );
    demo.spawn_purge();
    let app = app::router(demo.clone()).merge(mcp::router(&demo)?);
    app::serve(listener, app, ConnectionLimits::default(), async {
        let _ = tokio::signal::ctrl_c().await;
        println!("shutting down");
    })
    .await?;
    Ok(())
}
