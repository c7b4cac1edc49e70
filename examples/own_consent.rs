//! An application with its own users, sessions and consent page, on
//! papyrus-auth's authorization server: the `ConsentHandler` seam.
//!
//! The app signs people in its own way (here a toy: `/login` sets a
//! `session` cookie naming the user) and renders its own consent HTML;
//! papyrus-auth keeps what must not be gotten wrong: the authorization
//! request's validation, the CSRF check of the decision, narrowing the
//! scopes, the code, the redirect and the audit log.
//!
//! `cargo run --example own_consent`, then open the URL it prints.

#![allow(dead_code, unreachable_pub)] // Also compiled into the tests.

use std::{net::SocketAddr, sync::Arc};

use async_trait::async_trait;
use axum::{
    Router,
    body::Bytes,
    extract::Query,
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
};
use papyrus_auth::{
    ApiKeys, MemoryApiKeyStore, MemoryAuditLog, MemoryClientStore, MemoryGrantStore, TenantId,
    audit::Actor,
    axum::routes,
    http::{
        ConsentContext, ConsentHandler, HttpAuth, HttpAuthConfig, HttpResponse, Interaction,
        TenantSource, html_escape,
    },
    oauth::{AuthorizationServer, ClientId, ClientKind, NewClient},
};
use serde::Deserialize;

/// The application's own session: the user named by the `session` cookie.
/// (A real application checks a signed session against its store.)
fn session_user(ctx: &ConsentContext<'_>) -> Option<String> {
    ctx.http()
        .cookie("session")
        .filter(|u| !u.is_empty() && u.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(str::to_owned)
}

/// The consent step, the application's way.
#[derive(Debug)]
pub struct SessionConsent;

impl SessionConsent {
    /// Not signed in: the application's login page, back here afterwards.
    fn login(ctx: &ConsentContext<'_>) -> Interaction {
        let back = format!("/oauth/authorize?{}", ctx.request_field());
        let next: String = form_urlencoded::byte_serialize(back.as_bytes()).collect();
        Interaction::Page(HttpResponse::redirect(format!("/login?next={next}")))
    }
}

#[async_trait]
impl ConsentHandler for SessionConsent {
    async fn show(&self, ctx: &ConsentContext<'_>) -> Interaction {
        let Some(user) = session_user(ctx) else {
            return Self::login(ctx);
        };
        let v = ctx.authorization();
        let scopes: String = v
            .scopes
            .iter()
            .map(|s| format!("<li><code>{}</code></li>", html_escape(s.as_str())))
            .collect();
        Interaction::Page(HttpResponse::html(
            200,
            format!(
                "<!doctype html><title>Allow {client}?</title>\
                 <h1>Hi {user}</h1><p><strong>{client}</strong> asks to:</p><ul>{scopes}</ul>\
                 <form method=\"post\">{hidden}\
                 <button id=\"allow\" name=\"decision\" value=\"allow\">Allow</button> \
                 <button id=\"deny\" name=\"decision\" value=\"deny\">Deny</button></form>",
                client = html_escape(&v.client.name),
                user = html_escape(&user),
                hidden = ctx.hidden_fields(),
            ),
        ))
    }

    async fn decide(&self, ctx: &ConsentContext<'_>) -> Interaction {
        let Some(user) = session_user(ctx) else {
            return Self::login(ctx);
        };
        match ctx.field("decision") {
            Some("allow") => Interaction::Approve {
                subject: user,
                scopes: ctx.authorization().scopes.clone(),
            },
            _ => Interaction::Deny {
                subject: Some(user),
            },
        }
    }
}

#[derive(Deserialize)]
struct Next {
    next: Option<String>,
}

/// The application's own login (a toy: any alphanumeric name).
async fn login_page(Query(q): Query<Next>) -> Html<String> {
    let next = html_escape(q.next.as_deref().unwrap_or("/"));
    Html(format!(
        "<!doctype html><title>Sign in</title><form method=\"post\" action=\"/login\">\
         <input type=\"hidden\" name=\"next\" value=\"{next}\">\
         <label>Name <input id=\"user\" name=\"user\"></label> <button id=\"login\">Sign in</button></form>"
    ))
}

async fn login(body: Bytes) -> Response {
    let field = |name: &str| {
        form_urlencoded::parse(&body)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let (user, next) = (field("user"), field("next"));
    // Only back to our own authorization endpoint: no open redirect.
    let next = if next.starts_with("/oauth/authorize?") {
        next
    } else {
        "/".to_owned()
    };
    if user.is_empty() || !user.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Redirect::to("/login").into_response();
    }
    (
        [(
            "Set-Cookie",
            format!("session={user}; Path=/; HttpOnly; SameSite=Lax"),
        )],
        Redirect::to(&next),
    )
        .into_response()
}

/// The app: its login, papyrus-auth's endpoints with the app's consent,
/// and one client (`portal`, redirecting to `redirect_uri`).
pub async fn app(base_url: &str, redirect_uri: &str) -> Result<Router, Box<dyn std::error::Error>> {
    let acme: TenantId = "acme".parse()?;
    let audit = Arc::new(MemoryAuditLog::new());
    let keys = ApiKeys::new(Arc::new(MemoryApiKeyStore::new()), audit.clone());
    let oauth = AuthorizationServer::new(
        base_url.parse()?,
        Arc::new(MemoryClientStore::new()),
        Arc::new(MemoryGrantStore::new()),
        audit.clone(),
    );
    oauth
        .register_client(
            &acme,
            NewClient::new(
                "Portal",
                ClientKind::Public,
                redirect_uri,
                "documents:read".parse()?,
            )
            .with_client_id(ClientId::parse("portal")?),
            &Actor::System,
        )
        .await?;
    let config = HttpAuthConfig::default()
        .with_oauth_tenant(TenantSource::Fixed(acme))
        .with_secure_cookies(base_url.starts_with("https://"));
    // No users of papyrus-auth's own: the app's consent replaces the page.
    let auth = HttpAuth::builder(keys)
        .oauth(oauth)
        .consent(Arc::new(SessionConsent))
        .config(config)
        .build()?;
    Ok(Router::new()
        .route("/login", get(login_page).post(login))
        .merge(routes(auth)))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let callback = format!("{base}/callback");
    let app = app(&base, &callback).await?.route(
        "/callback",
        get(|| async { "the code is in this page's URL" }),
    );
    let challenge =
        papyrus_auth::oauth::CodeChallenge::s256_of("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    println!(
        "open {base}/oauth/authorize?response_type=code&client_id=portal&redirect_uri={callback}&scope=documents:read&code_challenge={}&code_challenge_method=S256",
        challenge.as_str()
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
