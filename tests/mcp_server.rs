//! The MCP example's protection, over HTTP (axum, in process): discovery
//! from the `401`, tokens bound to `/mcp` only, `403 insufficient_scope`
//! for the write tool with a read-only token, and the tools themselves
//! through the official Rust SDK's Streamable HTTP server.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod common;
#[path = "../examples/mcp_server/mcp.rs"]
mod mcp;

use app::demo::{Demo, DemoConfig};
use common::{VERIFIER, axum_app as app, form, hidden};
use papyrus_auth::{http::TrustedProxies, oauth::CodeChallenge};
use serde_json::{Value, json};

struct Running {
    base: String,
    http: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start() -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let demo = Demo::start(DemoConfig {
        base_url: base.clone(),
        trusted_proxies: TrustedProxies::none(),
        database_url: None,
        redis_url: None,
        metrics: None,
        credential_cache: None,
        dangerous_metadata_loopback_host: None,
    })
    .await
    .unwrap();
    let router = app::router(demo.clone()).merge(mcp::router(&demo).unwrap());
    let task = tokio::spawn(async move {
        app::serve(listener, router, Default::default(), std::future::pending())
            .await
            .unwrap();
    });
    Running {
        base,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        task,
    }
}

impl Running {
    /// A token of the demo app for `scopes`, bound to `resource` (none: unbound).
    async fn token(&self, scopes: &[&str], resource: Option<&str>) -> String {
        let challenge = CodeChallenge::s256_of(VERIFIER);
        let redirect = format!("{}/app/callback", self.base);
        let scope = scopes.join(" ");
        let mut pairs = vec![
            ("response_type", "code"),
            ("client_id", "demo-spa"),
            ("redirect_uri", redirect.as_str()),
            ("scope", scope.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        if let Some(r) = resource {
            pairs.push(("resource", r));
        }
        let url = format!("{}/oauth/authorize?{}", self.base, form(&pairs));
        let page = self.http.get(&url).send().await.unwrap();
        let cookie = page.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let html = page.text().await.unwrap();
        let (request, csrf) = (hidden(&html, "request"), hidden(&html, "csrf_token"));
        let mut fields = vec![
            ("request", request.as_str()),
            ("csrf_token", csrf.as_str()),
            ("username", "alice"),
            ("password", "wonderland"),
            ("decision", "approve"),
        ];
        for s in scopes {
            fields.push(("scope", s));
        }
        let r = self
            .http
            .post(&url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Cookie", cookie)
            .body(form(&fields))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        let code: String = form_urlencoded::parse(location.split_once('?').unwrap().1.as_bytes())
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
        let t: Value = self
            .http
            .post(format!("{}/oauth/token", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &redirect),
                ("client_id", "demo-spa"),
                ("code_verifier", VERIFIER),
            ]))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        t["access_token"].as_str().unwrap().to_owned()
    }

    /// One JSON-RPC call to `/mcp`: status, `WWW-Authenticate`, body.
    async fn rpc(&self, token: Option<&str>, message: Value) -> (u16, Option<String>, String) {
        let mut req = self
            .http
            .post(format!("{}/mcp", self.base))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", "2025-11-25")
            .body(message.to_string());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let challenge = r
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, challenge, r.text().await.unwrap())
    }
}

fn call(id: u64, tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mcp_server_is_discoverable_audience_bound_and_scope_gated() {
    let s = start().await;
    let mcp = format!("{}/mcp", s.base);
    let metadata = format!("{}/.well-known/oauth-protected-resource/mcp", s.base);

    // Discovery: the 401 names the metadata, which names the server.
    let (status, challenge, _) = s
        .rpc(
            None,
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(
        challenge.unwrap(),
        format!("Bearer realm=\"papyrus\", resource_metadata=\"{metadata}\"")
    );
    let prm: Value = s
        .http
        .get(&metadata)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prm["resource"], mcp);
    assert_eq!(prm["authorization_servers"], json!([s.base]));
    assert_eq!(
        prm["scopes_supported"],
        json!(["documents:read", "documents:write"])
    );

    // Tokens for the REST API, or for no resource, are not for this server.
    for token in [
        s.token(&["documents:read"], Some(&format!("{}/api", s.base)))
            .await,
        s.token(&["documents:read"], None).await,
    ] {
        let (status, challenge, body) = s
            .rpc(
                Some(&token),
                json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
            )
            .await;
        assert_eq!(status, 401, "{body}");
        assert!(challenge.unwrap().contains("error=\"invalid_token\""));
    }

    // A read-only token bound to /mcp: it lists; it may not write (403,
    // naming the scope, before the SDK sees the call).
    let read = s.token(&["documents:read"], Some(&mcp)).await;
    let (status, _, body) = s
        .rpc(
            Some(&read),
            json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let tools: Value = serde_json::from_str(&body).unwrap();
    let mut names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["create_document", "list_documents"]);
    let (status, _, body) = s
        .rpc(Some(&read), call(4, "list_documents", json!({})))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, challenge, body) = s
        .rpc(
            Some(&read),
            call(5, "create_document", json!({"title": "t", "content": "c"})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        challenge.unwrap(),
        format!(
            "Bearer realm=\"papyrus\", error=\"insufficient_scope\", scope=\"documents:write\", resource_metadata=\"{metadata}\""
        )
    );
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"],
        "insufficient_scope"
    );

    // With documents:write: created, by the user, and listed.
    let write = s
        .token(&["documents:read", "documents:write"], Some(&mcp))
        .await;
    let (status, _, body) = s
        .rpc(
            Some(&write),
            call(
                6,
                "create_document",
                json!({"title": "Agents", "content": "via MCP"}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let result: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(result["result"]["isError"], false, "{result}");
    let (_, _, body) = s
        .rpc(Some(&read), call(7, "list_documents", json!({})))
        .await;
    let listed: Value = serde_json::from_str(&body).unwrap();
    let text = listed["result"]["content"][0]["text"].as_str().unwrap();
    let docs: Value = serde_json::from_str(text).unwrap();
    assert_eq!(docs["documents"][0]["title"], "Agents");
    assert_eq!(docs["documents"][0]["created_by"], "user_alice");
}
