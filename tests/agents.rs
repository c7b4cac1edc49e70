//! Agents as clients, over HTTP on both adapters: resource indicators (RFC
//! 8707) at the authorization and token endpoints, audience-bound tokens
//! refused by the wrong resource server, protected-resource metadata (RFC
//! 9728) and its challenges, the client credentials grant (RFC 6749 §4.4)
//! and the grant types a client registered for.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod common;

use std::sync::Arc;

use common::{Response, Server, VERIFIER, form, location_params, servers};
use papyrus_auth::{
    ApiKeys, NewApiKey, ScopeSet, TenantId,
    audit::{Actor, MemoryAuditLog},
    http::{HttpAuth, HttpAuthConfig, HttpRequest, ProtectedResource, StaticUsers},
    oauth::{AuthorizationServer, AuthorizationServerConfig, NewClient},
    store::{MemoryApiKeyStore, MemoryClientStore, MemoryGrantStore},
};
use reqwest::Method;
use serde_json::{Value, json};

fn assert_error(r: &Response, status: u16, error: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.json()["error"], error, "{}", r.body);
}

/// A consented authorization with `extra` parameters: the redirect's
/// parameters (code or error).
async fn authorize(
    s: &Server,
    extra: &[(&str, &str)],
) -> std::collections::HashMap<String, String> {
    let query = s.authorize_query(extra);
    let r = s
        .consent(
            &query,
            "approve",
            "wonderland",
            &["documents:read", "documents:write"],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    location_params(r.header("location").unwrap())
}

/// Exchanges `code`, naming `resources`.
async fn exchange(s: &Server, code: &str, resources: &[&str]) -> Response {
    let redirect = format!("{}/app/callback", s.base);
    let mut pairs = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect.as_str()),
        ("client_id", "demo-spa"),
        ("code_verifier", VERIFIER),
    ];
    for r in resources {
        pairs.push(("resource", r));
    }
    s.post_form("/oauth/token", &form(&pairs), &[]).await
}

/// Refreshes `refresh`, naming `resources`.
async fn refresh(s: &Server, refresh: &str, resources: &[&str]) -> Response {
    let mut pairs = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("client_id", "demo-spa"),
    ];
    for r in resources {
        pairs.push(("resource", r));
    }
    s.post_form("/oauth/token", &form(&pairs), &[]).await
}

/// Introspects `token` with the admin key (it holds `tokens:introspect`).
async fn introspect(s: &Server, token: &str) -> Value {
    let r = Response::read(
        s.http
            .post(s.url("/oauth/introspect"))
            .bearer_auth(&s.admin_key)
            .header("X-Tenant-Id", "acme")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form(&[("token", token)]))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_indicators_bind_tokens_and_refresh_narrows_never_widens() {
    for s in servers().await {
        let api = format!("{}/api", s.base);
        let mcp = format!("{}/mcp", s.base);

        // An unknown resource at the authorization endpoint: invalid_target,
        // sent back to the client with its state and the issuer.
        let query = s.authorize_query(&[("resource", "https://evil.example/api")]);
        let r = s.get(&format!("/oauth/authorize?{query}")).await;
        assert_eq!(r.status, 302, "{:?}: {}", s.framework, r.body);
        let p = location_params(r.header("location").unwrap());
        assert_eq!(p["error"], "invalid_target");
        assert_eq!(p["state"], "s t&ate");
        assert_eq!(p["iss"], s.base);
        // A malformed one (relative, fragment) too.
        for bad in ["/api", "https://x.example/#f"] {
            let r = s
                .get(&format!(
                    "/oauth/authorize?{}",
                    s.authorize_query(&[("resource", bad)])
                ))
                .await;
            assert_eq!(
                location_params(r.header("location").unwrap())["error"],
                "invalid_target"
            );
        }

        // Both resources authorized (`resource` repeated, RFC 8707 §2); the
        // exchange names one: the token is bound to it alone.
        let query = format!(
            "{}&{}",
            s.authorize_query(&[("resource", &api)]),
            form(&[("resource", &mcp)])
        );
        let r = s
            .consent(
                &query,
                "approve",
                "wonderland",
                &["documents:read", "documents:write"],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let code = location_params(r.header("location").unwrap())["code"].clone();
        let t = exchange(&s, &code, &[&mcp]).await;
        assert_eq!(t.status, 200, "{}", t.body);
        let t = t.json();
        let mcp_token = t["access_token"].as_str().unwrap();
        let family_refresh = t["refresh_token"].as_str().unwrap().to_owned();
        let i = introspect(&s, mcp_token).await;
        assert_eq!(i["aud"], json!([mcp]), "{i}");
        let i = introspect(&s, &family_refresh).await;
        let mut both = vec![api.clone(), mcp.clone()];
        both.sort();
        assert_eq!(
            i["aud"],
            json!(both),
            "the family keeps every authorized resource: {i}"
        );

        // The REST API refuses the MCP server's token: 401 invalid_token,
        // exactly as for an unknown token, naming its metadata.
        let refused = s.documents(mcp_token, "acme").await;
        assert_error(&refused, 401, "invalid_token");
        let challenge = refused.header("www-authenticate").unwrap();
        assert!(
            challenge.starts_with("Bearer realm=\"papyrus\", error=\"invalid_token\""),
            "{challenge}"
        );
        assert!(
            challenge.ends_with(&format!(
                ", resource_metadata=\"{}/.well-known/oauth-protected-resource/api\"",
                s.base
            )),
            "{challenge}"
        );

        // A refresh narrows to the API: usable there now.
        let r = refresh(&s, &family_refresh, &[&api]).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = r.json();
        let api_token = r["access_token"].as_str().unwrap();
        assert_eq!(s.documents(api_token, "acme").await.status, 200);
        assert_eq!(introspect(&s, api_token).await["aud"], json!([api]));
        // Without `resource`, a refresh gets every resource of the family.
        let next = r["refresh_token"].as_str().unwrap();
        let r = refresh(&s, next, &[]).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let both = r.json()["access_token"].as_str().unwrap().to_owned();
        assert_eq!(
            introspect(&s, &both).await["aud"].as_array().unwrap().len(),
            2
        );
        assert_eq!(
            s.documents(&both, "acme").await.status,
            200,
            "bound to the API among others"
        );
        // A resource the authorization never named: refused, family intact.
        let next = r.json()["refresh_token"].as_str().unwrap().to_owned();
        let widen = refresh(&s, &next, &["https://evil.example/api"]).await;
        assert_error(&widen, 400, "invalid_target");

        // The exchange may not name a resource the authorization did not.
        let p = authorize(&s, &[("resource", &api)]).await;
        let widen = exchange(&s, &p["code"], &[&mcp]).await;
        assert_error(&widen, 400, "invalid_target");

        // An authorization that named none: an unbound token, which this
        // API accepts (the demo's choice), and whose refresh cannot ask for
        // a resource (that would widen it).
        let t = s.tokens().await;
        let unbound = t["access_token"].as_str().unwrap();
        assert!(introspect(&s, unbound).await.get("aud").is_none());
        assert_eq!(s.documents(unbound, "acme").await.status, 200);
        let widen = refresh(&s, t["refresh_token"].as_str().unwrap(), &[&api]).await;
        assert_error(&widen, 400, "invalid_target");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_resource_metadata_and_every_challenge_names_it() {
    for s in servers().await {
        let api = format!("{}/api", s.base);
        let metadata_url = format!("{}/.well-known/oauth-protected-resource/api", s.base);
        for path in [
            "/.well-known/oauth-protected-resource/api",
            "/.well-known/oauth-protected-resource",
        ] {
            let m = s.get(path).await;
            assert_eq!(m.status, 200, "{path}: {}", m.body);
            let m = m.json();
            assert_eq!(m["resource"], api);
            assert_eq!(m["authorization_servers"], json!([s.base]));
            assert_eq!(m["bearer_methods_supported"], json!(["header"]));
            assert!(
                m["scopes_supported"]
                    .as_array()
                    .unwrap()
                    .contains(&json!("documents:read")),
                "{m}"
            );
        }
        assert_eq!(
            s.get("/.well-known/oauth-protected-resource/other")
                .await
                .status,
            404
        );
        let post = s
            .post_form("/.well-known/oauth-protected-resource/api", "", &[])
            .await;
        assert_eq!(post.status, 405);

        // No credential: 401 naming the metadata.
        let r = Response::read(
            s.http
                .get(s.url("/api/v1/documents"))
                .header("X-Tenant-Id", "acme")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, 401);
        assert_eq!(
            r.header("www-authenticate").unwrap(),
            format!("Bearer realm=\"papyrus\", resource_metadata=\"{metadata_url}\"")
        );
        // An unknown token: the same.
        let r = s.documents("pat_nope", "acme").await;
        assert!(
            r.header("www-authenticate")
                .unwrap()
                .ends_with(&format!("resource_metadata=\"{metadata_url}\"")),
        );
        // Too few scopes (a handler's extractor): 403 naming the scope and
        // the metadata.
        let (key, _) = s
            .create_key(json!({"name": "reader", "scopes": ["analytics:read"]}))
            .await;
        let r = Response::read(
            s.http
                .post(s.url("/api/v1/documents"))
                .bearer_auth(&key)
                .header("X-Tenant-Id", "acme")
                .body("{}")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_error(&r, 403, "insufficient_scope");
        assert_eq!(
            r.header("www-authenticate").unwrap(),
            format!(
                "Bearer realm=\"papyrus\", error=\"insufficient_scope\", scope=\"documents:write\", resource_metadata=\"{metadata_url}\""
            )
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_for_registered_machines_only() {
    for s in servers().await {
        let api = format!("{}/api", s.base);
        // Metadata lists the grant.
        let m = s
            .get("/.well-known/oauth-authorization-server")
            .await
            .json();
        assert!(
            m["grant_types_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("client_credentials"))
        );

        // Registration rules: public clients may not; a machine needs no
        // redirect URI.
        let bad = admin_register(
            &s,
            json!({
                "name": "public machine", "kind": "public", "redirect_uris": [],
                "allowed_scopes": "documents:read", "grant_types": ["client_credentials"],
            }),
        )
        .await;
        assert_eq!(bad.status, 400, "{}", bad.body);
        let unknown = admin_register(
            &s,
            json!({
                "name": "m", "kind": "confidential", "redirect_uris": [],
                "allowed_scopes": "documents:read", "grant_types": ["password"],
            }),
        )
        .await;
        assert_eq!(unknown.status, 400, "{}", unknown.body);
        let r = admin_register(
            &s,
            json!({
                "name": "Nightly indexer", "kind": "confidential", "redirect_uris": [],
                "allowed_scopes": "documents:read analytics:read",
                "default_scopes": "documents:read",
                "grant_types": ["client_credentials"],
            }),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let j = r.json();
        let id = j["client"]["client_id"].as_str().unwrap().to_owned();
        let secret = j["client_secret"].as_str().unwrap().to_owned();
        assert_eq!(j["client"]["grant_types"], json!(["client_credentials"]));

        let token = |body: Vec<(&'static str, String)>, auth: bool| {
            let pairs: Vec<(&str, &str)> = body.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let mut req = s
                .http
                .post(s.url("/oauth/token"))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form(&pairs));
            if auth {
                req = req.basic_auth(&id, Some(&secret));
            }
            async move { Response::read(req.send().await.unwrap()).await }
        };
        let grant = ("grant_type", "client_credentials".to_owned());
        // Default scopes, no refresh token, bound to the named resource.
        let t = token(vec![grant.clone(), ("resource", api.clone())], true).await;
        assert_eq!(t.status, 200, "{}", t.body);
        let t = t.json();
        assert_eq!(t["token_type"], "Bearer");
        assert_eq!(t["scope"], "documents:read");
        assert!(t.get("refresh_token").is_none(), "RFC 6749 §4.4.3: {t}");
        let access = t["access_token"].as_str().unwrap();
        let i = introspect(&s, access).await;
        assert_eq!(i["sub"], id.as_str());
        assert_eq!(i["client_id"], id.as_str());
        assert_eq!(i["aud"], json!([api]));
        let docs = s.documents(access, "acme").await;
        assert_eq!(docs.status, 200, "{}", docs.body);
        // Scopes within the client's; known resources; a secret.
        let wide = token(
            vec![grant.clone(), ("scope", "documents:write".into())],
            true,
        )
        .await;
        assert_error(&wide, 400, "invalid_scope");
        let target = token(
            vec![grant.clone(), ("resource", "https://evil.example/".into())],
            true,
        )
        .await;
        assert_error(&target, 400, "invalid_target");
        let anonymous = token(vec![grant.clone(), ("client_id", id.clone())], false).await;
        assert_error(&anonymous, 401, "invalid_client");
        // The machine may not use the code grant, nor the SPA this one.
        let code = token(
            vec![
                ("grant_type", "authorization_code".into()),
                ("code", "ac_x".into()),
                ("code_verifier", VERIFIER.into()),
            ],
            true,
        )
        .await;
        assert_error(&code, 400, "unauthorized_client");
        let spa = s
            .post_form(
                "/oauth/token",
                &form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", "demo-spa"),
                ]),
                &[],
            )
            .await;
        assert_error(&spa, 400, "unauthorized_client");
        let q = s.authorize_query(&[("client_id", &id), ("redirect_uri", "")]);
        let r = s.get(&format!("/oauth/authorize?{q}")).await;
        assert_eq!(
            r.status, 400,
            "no redirect URI to send the error to: {}",
            r.body
        );
        // Audited, with the client.
        let audit = Response::read(
            s.admin(Method::GET, "/admin/audit?limit=50")
                .send()
                .await
                .unwrap(),
        )
        .await
        .json();
        assert!(
            audit["events"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["type"] == "tokens_issued" && e["client_id"] == id.as_str()),
            "{audit}"
        );
    }
}

/// The resource-server side in process: with the safe default, a token
/// issued without `resource` is refused; a bound one accepted; API keys
/// (tenant-scoped service credentials) as before.
#[tokio::test]
async fn a_strict_resource_server_refuses_unbound_tokens() {
    let tenant: TenantId = "acme".parse().unwrap();
    let audit = Arc::new(MemoryAuditLog::new());
    let keys = ApiKeys::new(Arc::new(MemoryApiKeyStore::new()), audit.clone());
    let issuer = "https://{tenant}.papyrus.example";
    let oauth = AuthorizationServer::new(
        issuer.parse().unwrap(),
        Arc::new(MemoryClientStore::new()),
        Arc::new(MemoryGrantStore::new()),
        audit.clone(),
    )
    .with_config(
        AuthorizationServerConfig::new(issuer.parse().unwrap())
            .with_resource("https://{tenant}.papyrus.example/mcp")
            .unwrap(),
    );
    let machine = oauth
        .register_client(
            &tenant,
            NewClient::machine("indexer", "documents:read".parse().unwrap()),
            &Actor::System,
        )
        .await
        .unwrap();
    let secret = machine.secret.unwrap();
    let mcp = ProtectedResource::new("https://{tenant}.papyrus.example/mcp").unwrap();
    let auth = HttpAuth::builder(keys.clone())
        .oauth(oauth)
        .users(Arc::new(StaticUsers::new()))
        .config(HttpAuthConfig::default().with_protected_resource(mcp))
        .build()
        .unwrap();
    let token = |resource: Option<&str>| {
        let mut body = vec![("grant_type", "client_credentials")];
        if let Some(r) = resource {
            body.push(("resource", r));
        }
        let req = HttpRequest::new("POST", "/oauth/token")
            .with_header("Host", "acme.papyrus.example")
            .with_header("Content-Type", "application/x-www-form-urlencoded")
            .with_header(
                "Authorization",
                &format!(
                    "Basic {}",
                    base64::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        format!("{}:{}", machine.client.client_id, secret.expose_secret())
                    )
                ),
            )
            .with_body(form(&body).into_bytes());
        let auth = auth.clone();
        async move {
            let r = auth.handle(&req).await;
            assert_eq!(r.status, 200, "{}", r.body);
            let j: Value = serde_json::from_str(&r.body).unwrap();
            j["access_token"].as_str().unwrap().to_owned()
        }
    };
    let call = |token: String| {
        let auth = auth.clone();
        async move {
            let req = HttpRequest::new("GET", "/mcp")
                .with_header("Authorization", &format!("Bearer {token}"))
                .with_header("X-Tenant-Id", "acme");
            auth.authenticate(&req, None, &ScopeSet::empty()).await
        }
    };
    let unbound = call(token(None).await).await.unwrap_err();
    assert_eq!(unbound.status, 401);
    assert!(
        unbound
            .header("WWW-Authenticate")
            .unwrap()
            .contains("resource_metadata=\"https://acme.papyrus.example/.well-known/oauth-protected-resource/mcp\""),
        "{unbound:?}"
    );
    let bound = token(Some("https://acme.papyrus.example/mcp")).await;
    assert!(call(bound).await.is_ok());
    let key = keys
        .create(
            &tenant,
            NewApiKey::new("svc", "documents:read".parse().unwrap()),
            &Actor::System,
        )
        .await
        .unwrap();
    assert!(call(key.key.expose_secret().to_owned()).await.is_ok());
}

/// `POST /admin/clients` with `body`, as the administrator.
async fn admin_register(s: &Server, body: Value) -> Response {
    Response::read(
        s.admin(Method::POST, "/admin/clients")
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// `POST /oauth/register` with `body` from `http` (a client bound to a
/// loopback address of its own: registrations are counted per address).
async fn register(s: &Server, http: &reqwest::Client, body: Value) -> Response {
    Response::read(
        http.post(s.url("/oauth/register"))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_registration_read_use_and_delete() {
    for s in servers().await {
        let http = common::client_from("127.0.0.21");
        let m = s
            .get("/.well-known/oauth-authorization-server")
            .await
            .json();
        assert_eq!(
            m["registration_endpoint"],
            format!("{}/oauth/register", s.base)
        );

        let callback = "http://127.0.0.1:40123/callback";
        let r = register(
            &s,
            &http,
            json!({
                "client_name": "An agent",
                "redirect_uris": [callback],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
                "scope": "documents:read",
                "logo_uri": "https://ignored.example/logo.png",
            }),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let reg = r.json();
        let id = reg["client_id"].as_str().unwrap().to_owned();
        let token = reg["registration_access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(reg.get("client_secret").is_none(), "a public client: {reg}");
        assert_eq!(reg["redirect_uris"], json!([callback]));
        assert_eq!(reg["token_endpoint_auth_method"], "none");
        assert_eq!(
            reg["grant_types"],
            json!(["authorization_code", "refresh_token"])
        );
        assert_eq!(reg["scope"], "documents:read");
        let uri = reg["registration_client_uri"].as_str().unwrap().to_owned();
        assert_eq!(uri, format!("{}/oauth/register/{id}", s.base));

        // RFC 7592 read: with the token only.
        let read = |token: Option<String>| {
            let mut req = s.http.get(&uri);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            async move { Response::read(req.send().await.unwrap()).await }
        };
        let got = read(Some(token.clone())).await;
        assert_eq!(got.status, 200, "{}", got.body);
        assert_eq!(got.json()["client_id"], id.as_str());
        assert!(got.json().get("registration_access_token").is_none());
        for wrong in [
            None,
            Some("prat_wrong".to_owned()),
            Some(s.admin_key.clone()),
        ] {
            let r = read(wrong).await;
            assert_error(&r, 401, "invalid_token");
            assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
        }

        // Listed for the administrator, and audited as the client's own act.
        let list =
            Response::read(s.admin(Method::GET, "/admin/clients").send().await.unwrap()).await;
        let listed = list.json();
        let mine = listed["clients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["client_id"] == id.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("{listed}"));
        assert_eq!(mine["dynamically_registered"], true);

        // The client works: code flow with PKCE, at its loopback redirect
        // URI on any port (RFC 8252 §7.3).
        let redirect = "http://127.0.0.1:51000/callback";
        // But an invalid request is not sent to the redirect URI it chose
        // itself (RFC 9700 §4.18): an error page.
        let q = s.authorize_query(&[
            ("client_id", &id),
            ("redirect_uri", redirect),
            ("scope", "analytics:read"),
        ]);
        let r = s.get(&format!("/oauth/authorize?{q}")).await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.header("location").is_none());
        let q = s.authorize_query(&[
            ("client_id", &id),
            ("redirect_uri", redirect),
            ("scope", "documents:read"),
        ]);
        let r = s
            .consent(&q, "approve", "wonderland", &["documents:read"])
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let code = location_params(r.header("location").unwrap())["code"].clone();
        let t = s
            .post_form(
                "/oauth/token",
                &form(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", redirect),
                    ("client_id", &id),
                    ("code_verifier", VERIFIER),
                ]),
                &[],
            )
            .await;
        assert_eq!(t.status, 200, "{}", t.body);
        let t = t.json();
        let access = t["access_token"].as_str().unwrap().to_owned();
        assert_eq!(s.documents(&access, "acme").await.status, 200);

        // RFC 7592 delete: the registration, its tokens, at once.
        let del = Response::read(
            s.http
                .delete(&uri)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(del.status, 204, "{}", del.body);
        assert_error(&read(Some(token.clone())).await, 401, "invalid_token");
        assert_eq!(
            s.documents(&access, "acme").await.status,
            401,
            "its access token is revoked"
        );
        let refreshed = s
            .post_form(
                "/oauth/token",
                &form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", t["refresh_token"].as_str().unwrap()),
                    ("client_id", &id),
                ]),
                &[],
            )
            .await;
        assert_error(&refreshed, 401, "invalid_client");
        let audit = Response::read(
            s.admin(Method::GET, "/admin/audit?limit=100")
                .send()
                .await
                .unwrap(),
        )
        .await
        .json();
        let events = audit["events"].as_array().unwrap();
        for kind in ["client_registered", "client_deleted"] {
            assert!(
                events
                    .iter()
                    .any(|e| e["type"] == kind && e["client_id"] == id.as_str()),
                "{kind}: {audit}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_registration_rules_and_its_limit() {
    for s in servers().await {
        let http = common::client_from("127.0.0.22");
        let cases = [
            (
                json!({"redirect_uris": ["http://evil.example/cb"]}),
                "invalid_redirect_uri",
            ),
            (
                json!({"redirect_uris": ["com.example.app:/cb"]}),
                "invalid_redirect_uri",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb#frag"]}),
                "invalid_redirect_uri",
            ),
            (json!({"client_name": "no uris"}), "invalid_redirect_uri"),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "client_secret_basic"}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["client_credentials"]}),
                "invalid_client_metadata",
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "scope": "admin:everything"}),
                "invalid_client_metadata",
            ),
            (json!(["not", "an", "object"]), "invalid_client_metadata"),
        ];
        for (body, error) in cases {
            let r = register(&s, &http, body.clone()).await;
            assert_error(&r, 400, error);
            let _ = body;
        }
        let form_body = Response::read(
            http.post(s.url("/oauth/register"))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body("redirect_uris=https://a.example/cb")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_error(&form_body, 400, "invalid_request");
        // Ten attempts per address per hour (the default): the eleventh,
        // valid or not, is 429 with Retry-After; another address is not
        // affected.
        let ok = json!({"redirect_uris": ["https://agent.example/cb"], "client_name": "x"});
        let tenth = register(&s, &http, ok.clone()).await;
        assert_eq!(
            tenth.status, 201,
            "eight refused and one form post before: {}",
            tenth.body
        );
        let r = register(&s, &http, ok.clone()).await;
        assert_eq!(r.status, 429, "{}", r.body);
        assert!(r.header("retry-after").is_some());
        let other = register(&s, &common::client_from("127.0.0.23"), ok).await;
        assert_eq!(other.status, 201, "{}", other.body);
        assert_eq!(s.get("/oauth/register").await.status, 405);
    }
}

/// Registration gated by an initial access token: an API key of the tenant
/// holding `clients:register` (in process, on the memory stores).
#[tokio::test]
async fn gated_registration_needs_an_initial_access_token() {
    use papyrus_auth::oauth::RegistrationPolicy;
    let tenant: TenantId = "acme".parse().unwrap();
    let audit = Arc::new(MemoryAuditLog::new());
    let keys = ApiKeys::new(Arc::new(MemoryApiKeyStore::new()), audit.clone());
    let issuer = "https://{tenant}.papyrus.example";
    let oauth = AuthorizationServer::new(
        issuer.parse().unwrap(),
        Arc::new(MemoryClientStore::new()),
        Arc::new(MemoryGrantStore::new()),
        audit.clone(),
    )
    .with_config(
        AuthorizationServerConfig::new(issuer.parse().unwrap())
            .with_tenant_registration(tenant.clone(), RegistrationPolicy::InitialAccessToken),
    );
    let auth = HttpAuth::builder(keys.clone())
        .oauth(oauth)
        .users(Arc::new(StaticUsers::new()))
        .build()
        .unwrap();
    let post = |host: &str, key: Option<&str>| {
        let mut req = HttpRequest::new("POST", "/oauth/register")
            .with_header("Host", host)
            .with_header("X-Tenant-Id", "acme")
            .with_header("Content-Type", "application/json")
            .with_body(
                json!({
                    "redirect_uris": ["com.example.app:/cb"],
                    "token_endpoint_auth_method": "client_secret_basic",
                    "scope": "documents:read",
                })
                .to_string()
                .into_bytes(),
            );
        if let Some(k) = key {
            req = req.with_header("Authorization", &format!("Bearer {k}"));
        }
        let auth = auth.clone();
        async move { auth.handle(&req).await }
    };
    assert_eq!(post("acme.papyrus.example", None).await.status, 401);
    let weak = keys
        .create(
            &tenant,
            NewApiKey::new("weak", "documents:read".parse().unwrap()),
            &Actor::System,
        )
        .await
        .unwrap();
    assert_eq!(
        post("acme.papyrus.example", Some(weak.key.expose_secret()))
            .await
            .status,
        403
    );
    let iat = keys
        .create(
            &tenant,
            NewApiKey::new("registrar", "clients:register".parse().unwrap()),
            &Actor::System,
        )
        .await
        .unwrap();
    let ok = post("acme.papyrus.example", Some(iat.key.expose_secret())).await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    let j: Value = serde_json::from_str(&ok.body).unwrap();
    assert!(
        j["client_secret"].as_str().unwrap().starts_with("pcs_"),
        "{j}"
    );
    assert_eq!(j["token_endpoint_auth_method"], "client_secret_basic");
    // Another tenant keeps the default: off, so no such endpoint.
    assert_eq!(
        post("globex.papyrus.example", Some(iat.key.expose_secret()))
            .await
            .status,
        404
    );
}

/// Client ID Metadata Documents on both adapters: advertised, and a
/// `client_id` URL whose host is private, loopback, link-local or a
/// metadata service is refused before anything is sent to it (IP literals:
/// no DNS query either).
#[cfg(feature = "client-id-metadata")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_document_urls_to_forbidden_addresses_are_refused() {
    for s in servers().await {
        let m = s
            .get("/.well-known/oauth-authorization-server")
            .await
            .json();
        assert_eq!(m["client_id_metadata_document_supported"], true);
        for url in [
            "https://10.0.0.1/client.json",
            "https://127.0.0.1/client.json",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/client.json",
            "https://[fe80::1]/client.json",
            "https://192.168.1.1:8443/client.json",
        ] {
            let q =
                s.authorize_query(&[("client_id", url), ("redirect_uri", "https://x.example/cb")]);
            let r = s.get(&format!("/oauth/authorize?{q}")).await;
            assert_eq!(r.status, 400, "{url}: {}", r.body);
            assert!(r.body.contains("forbidden address"), "{url}: {}", r.body);
            let t = s
                .post_form(
                    "/oauth/token",
                    &form(&[
                        ("grant_type", "authorization_code"),
                        ("code", "ac_x"),
                        ("client_id", url),
                        ("code_verifier", VERIFIER),
                    ]),
                    &[],
                )
                .await;
            assert_error(&t, 401, "invalid_client");
        }
    }
}

/// A client named by its metadata document runs the code flow (in process;
/// the document is served on loopback, which only the fetcher's dangerous
/// option allows); a tenant whose policy is off does not know it; a
/// document that names another client_id is refused.
#[cfg(feature = "client-id-metadata")]
#[tokio::test]
async fn a_metadata_document_client_runs_the_code_flow() {
    use papyrus_auth::oauth::{CodeChallenge, HttpsMetadataFetcher, MetadataDocuments};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = format!("https://agent.test:{port}/client.json");
    let wrong = format!("https://agent.test:{port}/wrong.json");
    let docs = [
        json!({
            "client_id": url, "client_name": "Doc Agent",
            "redirect_uris": ["http://127.0.0.1:33333/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
        }),
        json!({"client_id": "https://elsewhere.example/client.json", "redirect_uris": ["http://127.0.0.1:1/cb"]}),
    ];
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let docs = docs.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = conn.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]);
                let body = if request.starts_with("GET /client.json") {
                    &docs[0]
                } else {
                    &docs[1]
                }
                .to_string();
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(response.as_bytes()).await;
            });
        }
    });

    let mut fetcher =
        HttpsMetadataFetcher::new().with_host("agent.test", vec!["127.0.0.1".parse().unwrap()]);
    fetcher.dangerous().allow_loopback = true;
    fetcher.dangerous().plain_http_to_loopback = true;
    let audit = Arc::new(MemoryAuditLog::new());
    let issuer = "https://{tenant}.papyrus.example";
    let acme: TenantId = "acme".parse().unwrap();
    let oauth = AuthorizationServer::new(
        issuer.parse().unwrap(),
        Arc::new(MemoryClientStore::new()),
        Arc::new(MemoryGrantStore::new()),
        audit.clone(),
    )
    .with_config(
        AuthorizationServerConfig::new(issuer.parse().unwrap())
            .with_known_scopes("documents:read".parse().unwrap())
            .with_tenant_client_id_metadata(acme.clone(), true),
    )
    .with_metadata_documents(MetadataDocuments::new(Arc::new(fetcher)));
    assert_eq!(
        oauth.metadata(&acme).client_id_metadata_document_supported,
        Some(true)
    );
    assert_eq!(
        oauth
            .metadata(&"globex".parse().unwrap())
            .client_id_metadata_document_supported,
        None
    );

    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let query = |client: &str| {
        form(&[
            ("response_type", "code"),
            ("client_id", client),
            ("redirect_uri", "http://127.0.0.1:40000/callback"),
            ("scope", "documents:read"),
            ("code_challenge", CodeChallenge::s256_of(verifier).as_str()),
            ("code_challenge_method", "S256"),
        ])
    };
    let request = oauth.authorize(&acme, &query(&url)).await.unwrap();
    assert_eq!(request.client.name, "Doc Agent");
    assert_eq!(request.client.client_id.as_str(), url);
    let location = oauth
        .approve(&request, "user_alice", &request.scopes)
        .await
        .unwrap();
    let code = location_params(&location)["code"].clone();
    let body = form(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", "http://127.0.0.1:40000/callback"),
        ("client_id", &url),
        ("code_verifier", verifier),
    ]);
    let tokens = oauth
        .token(&acme, &papyrus_auth::oauth::TokenRequest::new(None, &body))
        .await
        .unwrap();
    assert!(tokens.refresh_token.is_some());

    // Policy off in another tenant: no such client. A document naming
    // another client_id: refused.
    assert!(
        oauth
            .authorize(&"globex".parse().unwrap(), &query(&url))
            .await
            .is_err()
    );
    let refused = oauth.authorize(&acme, &query(&wrong)).await.unwrap_err();
    assert!(
        format!("{refused:?}").contains("client_id is not its URL"),
        "{refused:?}"
    );
}

/// A metadata document server on loopback: `/ok.json` a valid document,
/// `/redirect.json` a redirect to a metadata service, `/large.json` 64 KiB,
/// `/slow.json` answered after 4 s; its port.
#[cfg(feature = "client-id-metadata")]
async fn document_server() -> u16 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = conn.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                let path = request.split(' ').nth(1).unwrap_or("/").to_owned();
                let (status, headers, body) = match path.as_str() {
                    "/ok.json" => (
                        "200 OK",
                        "Content-Type: application/json\r\n".to_owned(),
                        json!({
                            "client_id": format!("https://cimd.test:{port}/ok.json"),
                            "client_name": "Documented agent",
                            "redirect_uris": ["http://127.0.0.1:45000/callback"],
                        })
                        .to_string(),
                    ),
                    "/redirect.json" => (
                        "302 Found",
                        "Location: http://169.254.169.254/latest/meta-data\r\n".to_owned(),
                        String::new(),
                    ),
                    "/large.json" => ("200 OK", String::new(), " ".repeat(64 * 1024)),
                    "/slow.json" => {
                        tokio::time::sleep(std::time::Duration::from_secs(4)).await;
                        ("200 OK", String::new(), "{}".to_owned())
                    }
                    _ => ("404 Not Found", String::new(), String::new()),
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(response.as_bytes()).await;
            });
        }
    });
    port
}

/// On both adapters: a metadata document that redirects, is too large or
/// too slow is refused with an error page naming why (the server reaches
/// the test's loopback document server only through the dangerous option);
/// a valid one shows its name on the consent page.
#[cfg(feature = "client-id-metadata")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_documents_that_redirect_are_large_or_slow_are_refused() {
    let port = document_server().await;
    for fw in common::frameworks() {
        let s = common::start_with(
            fw,
            common::StartOptions {
                metadata_loopback_host: Some("cimd.test".to_owned()),
                ..common::StartOptions::default()
            },
        )
        .await;
        let page = |path: &str| {
            let url = format!("https://cimd.test:{port}{path}");
            let q = s.authorize_query(&[
                ("client_id", url.as_str()),
                ("redirect_uri", "http://127.0.0.1:45000/callback"),
                ("scope", "documents:read"),
            ]);
            format!("/oauth/authorize?{q}")
        };
        for (path, why) in [
            ("/redirect.json", "redirects are not followed"),
            ("/large.json", "larger than"),
            ("/slow.json", "did not answer in time"),
            ("/missing.json", "answered 404"),
        ] {
            let r = s.get(&page(path)).await;
            assert_eq!(r.status, 400, "{fw:?} {path}: {}", r.body);
            assert!(r.body.contains(why), "{fw:?} {path}: {}", r.body);
        }
        let ok = s.get(&page("/ok.json")).await;
        assert_eq!(ok.status, 200, "{fw:?}: {}", ok.body);
        assert!(ok.body.contains("Documented agent"), "{}", ok.body);
    }
}
