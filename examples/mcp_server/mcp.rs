//! The MCP server: Papyrus documents as two tools, over Streamable HTTP at
//! `/mcp`, behind papyrus-auth's bearer layer for the resource `{base}/mcp`.
//!
//! * The layer refuses a request without a token, or with a token bound to
//!   another resource (or to none), with `401` naming this resource's
//!   metadata (RFC 9728): that is how an MCP client discovers where to get
//!   a token.
//! * A `tools/call` of `create_document` without `documents:write` is
//!   answered `403 insufficient_scope` naming the scope, before the MCP SDK
//!   sees it (the MCP authorization specification's step-up signal).
//! * The tools act on the demo's document store in process. The client's
//!   token is never forwarded anywhere (no token passthrough).

#![allow(dead_code, unreachable_pub)] // Also compiled into the tests.

use std::{error::Error, sync::Arc};

use axum::{
    Router,
    body::Body,
    extract::{FromRequestParts, Request},
    http::request::Parts,
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::any,
};
use papyrus_auth::{
    Principal, ScopeSet,
    axum::{AuthLayer, RequireScopes, endpoint},
    http::{HttpAuth, ProtectedResource, ScopeRequirement},
};
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig},
    service::RequestContext,
    tool, tool_handler, tool_router,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::never::NeverSessionManager,
    },
};
use serde::Deserialize;

use crate::app::demo::{self, Demo};

/// The largest MCP request body read (rmcp's own default).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// `create_document` needs `documents:write`.
pub struct DocumentsWrite;
impl ScopeRequirement for DocumentsWrite {
    const SCOPES: &'static str = "documents:write";
}

/// The arguments of `create_document`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct NewDocument {
    /// The title (1 to 200 characters).
    pub title: String,
    /// The text (at most 10,000 characters).
    pub content: String,
}

/// The tools, on the demo's document store.
#[derive(Clone)]
pub struct Documents {
    demo: Demo,
    tool_router: ToolRouter<Self>,
}

/// The principal the bearer layer left in the HTTP request (rmcp hands
/// the request's parts to every tool).
fn principal(ctx: &RequestContext<RoleServer>) -> Result<Principal, ErrorData> {
    ctx.extensions
        .get::<Parts>()
        .and_then(|parts| parts.extensions.get::<Principal>().cloned())
        .ok_or_else(|| ErrorData::internal_error("not behind the authentication layer", None))
}

/// A tool's answer from the demo's JSON response.
fn answer(response: papyrus_auth::http::HttpResponse) -> CallToolResult {
    let content = vec![ContentBlock::text(response.body)];
    if response.status < 300 {
        CallToolResult::success(content)
    } else {
        CallToolResult::error(content)
    }
}

#[tool_router]
impl Documents {
    /// The tenant's documents.
    #[tool(description = "List the Papyrus documents of your tenant (needs documents:read).")]
    async fn list_documents(
        &self,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let principal = principal(&ctx)?;
        let read: ScopeSet = "documents:read"
            .parse()
            .map_err(|_| ErrorData::internal_error("scope", None))?;
        if !principal.has_scopes(&read) {
            return Ok(CallToolResult::error(vec![ContentBlock::text(
                "this token lacks documents:read",
            )]));
        }
        Ok(answer(self.demo.list_documents(&principal)))
    }

    /// A new document.
    #[tool(description = "Create a Papyrus document (needs documents:write).")]
    async fn create_document(
        &self,
        Parameters(new): Parameters<NewDocument>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        // The HTTP gate answered 403 already; checked again here, where the
        // write happens.
        let principal = principal(&ctx)?;
        let write: ScopeSet = DocumentsWrite::SCOPES
            .parse()
            .map_err(|_| ErrorData::internal_error("scope", None))?;
        if !principal.has_scopes(&write) {
            return Ok(CallToolResult::error(vec![ContentBlock::text(
                "this token lacks documents:write",
            )]));
        }
        let body = serde_json::json!({ "title": new.title, "content": new.content });
        Ok(answer(
            self.demo
                .create_document(&principal, body.to_string().as_bytes()),
        ))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Documents {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "papyrus-documents",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions("Papyrus documents: list_documents, create_document.")
    }
}

/// Answers `403 insufficient_scope` for a `tools/call` of
/// `create_document` by a principal without `documents:write` (the
/// library's own extractor renders it, with the realm and the resource
/// metadata); passes every other request on with its body.
async fn scope_gate(req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return axum::http::StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    if calls_tool(&bytes, "create_document")
        && let Err(refused) =
            RequireScopes::<DocumentsWrite>::from_request_parts(&mut parts, &()).await
    {
        return refused.into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Whether a JSON-RPC message (or batch) calls tool `name`.
fn calls_tool(body: &[u8], name: &str) -> bool {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    let messages = match value {
        serde_json::Value::Array(batch) => batch,
        one => vec![one],
    };
    messages
        .iter()
        .any(|m| m["method"] == "tools/call" && m["params"]["name"] == name)
}

/// The MCP routes: `/mcp`, and its protected-resource metadata at
/// `/.well-known/oauth-protected-resource/mcp`.
pub fn router(demo: &Demo) -> Result<Router, Box<dyn Error + Send + Sync>> {
    let base = &demo.config.base_url;
    // The resource this server is (RFC 8707): tokens bound to it only.
    let resource = ProtectedResource::new(&format!("{base}/mcp"))?
        .with_scopes_supported("documents:read documents:write".parse()?);
    // An MCP client knows only the URL: the tenant comes from the host.
    let tenant = demo::TENANT.parse()?;
    let auth: HttpAuth = demo
        .auth
        .protecting(resource)
        .with_api_tenant(demo::oauth_tenant_source(base, &tenant))?;
    let host = base
        .split_once("://")
        .map_or(base.as_str(), |(_, rest)| rest)
        .split(['/', ':'])
        .next()
        .unwrap_or("127.0.0.1")
        .to_owned();
    let config = StreamableHttpServerConfig::default()
        // Stateless: every POST stands alone, so requests may land on any
        // instance; JSON answers rather than event streams.
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_allowed_hosts([host, "localhost".to_owned(), "127.0.0.1".to_owned()]);
    let tools = Documents::tool_router();
    let for_service = demo.clone();
    let service = StreamableHttpService::new(
        move || {
            Ok(Documents {
                demo: for_service.clone(),
                tool_router: tools.clone(),
            })
        },
        Arc::new(NeverSessionManager::default()),
        config,
    );
    let mcp = Router::new()
        .route_service("/mcp", service)
        .layer(middleware::from_fn(scope_gate))
        .layer(AuthLayer::new(auth.clone()));
    Ok(mcp.merge(
        Router::new()
            .route("/.well-known/oauth-protected-resource/mcp", any(endpoint))
            .with_state(auth),
    ))
}
