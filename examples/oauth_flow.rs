//! The product document's "OAuth 2.0 with PKCE" flow in one process, printed
//! step by step: the browser app, the authorization server and a resource.
//!
//! `cargo run --example oauth_flow`

use std::{collections::HashMap, error::Error, sync::Arc};

use papyrus_auth::{
    Actor, ApiKeys, AuditLog, AuditQuery, AuthRequest, Authenticator, MemoryApiKeyStore,
    MemoryAuditLog, MemoryClientStore, MemoryGrantStore, ScopeSet, TenantId, http,
    oauth::{AuthorizationServer, ClientKind, CodeChallenge, NewClient, TokenRequest},
};
use rand::{RngExt, distr::Alphanumeric};

fn params(location: &str) -> HashMap<String, String> {
    let query = location.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn show(label: &str, response: &http::HttpResponse) {
    println!("  {label}: HTTP {} {}", response.status, response.body);
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let audit = Arc::new(MemoryAuditLog::new());
    let server = AuthorizationServer::new(
        "https://{tenant}.papyrus.io".parse()?,
        Arc::new(MemoryClientStore::new()),
        Arc::new(MemoryGrantStore::new()),
        audit.clone(),
    );
    let keys = ApiKeys::new(Arc::new(MemoryApiKeyStore::new()), audit.clone());
    let resource = Authenticator::new(keys).with_oauth(server.clone());
    let tenant: TenantId = "yourtenant".parse()?;
    let callback = "https://yourapp.com/callback";

    println!("0. The tenant registers its app as a public client (no secret; PKCE protects it)");
    let client = server
        .register_client(
            &tenant,
            NewClient::new(
                "Customer portal",
                ClientKind::Public,
                callback,
                "documents:read workflows:read".parse()?,
            ),
            &Actor::System,
        )
        .await?
        .client;
    println!("  client_id = {}", client.client_id);

    println!("\n1. The browser app makes a code verifier and its S256 challenge");
    let verifier: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(64)
        .map(char::from)
        .collect();
    let challenge = CodeChallenge::s256_of(&verifier);
    let state: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(16)
        .map(char::from)
        .collect();
    println!(
        "  verifier  = {}… ({} chars, kept in the browser)",
        &verifier[..8],
        verifier.len()
    );
    println!("  challenge = {}", challenge.as_str());

    println!("\n2. Redirect to /oauth/authorize");
    let query = form(&[
        ("response_type", "code"),
        ("client_id", client.client_id.as_str()),
        ("redirect_uri", callback),
        ("scope", "documents:read workflows:read"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("state", &state),
    ]);
    println!(
        "  GET https://yourtenant.papyrus.io/oauth/authorize?{}…",
        &query[..60]
    );
    let request = server.authorize(&tenant, &query).await?;
    println!(
        "  valid: \"{}\" asks for [{}]; the app logs the user in and shows consent",
        request.client.name, request.scopes
    );

    println!("\n3. alice approves; the server redirects back with a code");
    let location = server.approve(&request, "alice", &request.scopes).await?;
    let answer = params(&location);
    println!(
        "  302 Location: {}?code=pac_…&state=…&iss={}",
        callback, answer["iss"]
    );
    assert_eq!(
        answer["state"], state,
        "the app checks state before anything else"
    );

    println!("\n4. The app exchanges the code at /oauth/token with its verifier");
    let body = form(&[
        ("grant_type", "authorization_code"),
        ("code", &answer["code"]),
        ("redirect_uri", callback),
        ("client_id", client.client_id.as_str()),
        ("code_verifier", &verifier),
    ]);
    let tokens = server
        .token(&tenant, &TokenRequest::new(None, &body))
        .await?;
    let response = http::token_response(&tokens);
    println!(
        "  HTTP 200, Cache-Control: {}; token_type={}, expires_in={}, scope=\"{}\"",
        response.header("Cache-Control").unwrap_or("-"),
        tokens.token_type,
        tokens.expires_in,
        tokens.scope
    );
    let replay = server.token(&tenant, &TokenRequest::new(None, &body)).await;
    if let Err(e) = &replay {
        show(
            "the same code again (replay)",
            &http::oauth_error_response(e),
        );
    }

    println!("\n5. Calling the API with the access token");
    let tokens = {
        // The replay above revoked the first tokens: run the flow once more.
        let request = server.authorize(&tenant, &query).await?;
        let location = server.approve(&request, "alice", &request.scopes).await?;
        let body = body.replace(&answer["code"], &params(&location)["code"]);
        server
            .token(&tenant, &TokenRequest::new(None, &body))
            .await?
    };
    let header = format!("Bearer {}", tokens.access_token.expose_secret());
    let call = |need: &'static str| {
        let header = header.clone();
        let resource = resource.clone();
        async move {
            let req = AuthRequest::new(Some(&header), Some("yourtenant"), None);
            resource
                .authenticate(&req, &need.parse::<ScopeSet>().unwrap_or_default())
                .await
        }
    };
    match call("documents:read").await {
        Ok(p) => println!(
            "  GET /api/v1/documents → 200 as {} via {:?}",
            p.subject(),
            p.method()
        ),
        Err(e) => show("GET /api/v1/documents", &http::auth_error_response(&e)),
    }
    if let Err(e) = call("documents:write").await {
        show(
            "POST /api/v1/documents (needs documents:write)",
            &http::auth_error_response(&e),
        );
    }

    println!("\n6. Refresh: the refresh token rotates on every use");
    let old_refresh = tokens
        .refresh_token
        .as_ref()
        .map(|t| t.expose_secret().to_owned())
        .unwrap_or_default();
    let refresh_body = form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &old_refresh),
        ("client_id", client.client_id.as_str()),
    ]);
    let refreshed = server
        .token(&tenant, &TokenRequest::new(None, &refresh_body))
        .await?;
    println!(
        "  new access token, new refresh token (old one now spent), expires_in={}",
        refreshed.expires_in
    );
    if let Err(e) = server
        .token(&tenant, &TokenRequest::new(None, &refresh_body))
        .await
    {
        show(
            "the old refresh token again (stolen?)",
            &http::oauth_error_response(&e),
        );
        let header = format!("Bearer {}", refreshed.access_token.expose_secret());
        let req = AuthRequest::new(Some(&header), Some("yourtenant"), None);
        if let Err(e) = resource.authenticate(&req, &ScopeSet::empty()).await {
            show(
                "the whole family is revoked; even the newest access token",
                &http::auth_error_response(&e),
            );
        }
    }

    println!("\n7. Server metadata (/.well-known/oauth-authorization-server)");
    println!("  {}", serde_json::to_string(&server.metadata(&tenant))?);

    println!("\n8. Audit log (newest first)");
    for e in audit.query(&AuditQuery::tenant(tenant.clone())).await? {
        println!(
            "  {:<24} client={}",
            e.kind.as_str(),
            e.client_id.as_ref().map_or("-", |c| c.as_str())
        );
    }
    Ok(())
}
