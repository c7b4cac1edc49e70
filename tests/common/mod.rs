//! Starting the example servers for black-box tests.

#![allow(dead_code, unreachable_pub)]
// Both example apps include the same demo module, each for its own framework.
#![allow(clippy::duplicate_mod)]

use std::net::SocketAddr;

use std::collections::HashMap;

use papyrus_auth::{http::TrustedProxies, oauth::CodeChallenge};

/// The PKCE verifier of the black-box tests (RFC 7636 Appendix B).
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

#[path = "../../examples/server/app.rs"]
pub mod axum_app;

#[cfg(feature = "actix")]
#[path = "../../examples/actix_server/app.rs"]
pub mod actix_app;

/// The web frameworks the black-box suite runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framework {
    Axum,
    #[cfg(feature = "actix")]
    Actix,
}

/// Skips a test that needs an outside service: prints the reason straight to
/// stderr (past the test harness's capture) and returns `true`; panics
/// instead when `PAPYRUS_TEST_REQUIRE_ALL=1`.
pub fn skip(what: &str, reason: &str) -> bool {
    if std::env::var("PAPYRUS_TEST_REQUIRE_ALL").as_deref() == Ok("1") {
        panic!("{what} required (PAPYRUS_TEST_REQUIRE_ALL=1) but {reason}");
    }
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "SKIPPED {what}: {reason}");
    true
}

/// Every framework this build can serve with.
pub fn frameworks() -> Vec<Framework> {
    #[allow(unused_mut)]
    let mut v = vec![Framework::Axum];
    #[cfg(feature = "actix")]
    v.push(Framework::Actix);
    v
}

/// A running example server.
pub struct Server {
    pub framework: Framework,
    pub base: String,
    pub admin_key: String,
    pub http: reqwest::Client,
    stop: Option<Box<dyn FnOnce() + Send>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop();
        }
    }
}

/// Starts the example server of `framework` on an ephemeral port.
pub async fn start(framework: Framework, proxies: TrustedProxies) -> Server {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    match framework {
        Framework::Axum => {
            let demo = axum_app::demo::Demo::start(axum_app::demo::DemoConfig {
                base_url: base.clone(),
                trusted_proxies: proxies,
                database_url: None,
            })
            .await
            .unwrap();
            let admin_key = demo.admin_key.clone().unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let app = axum_app::router(demo);
            let task = tokio::spawn(async move {
                axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .await
                .unwrap();
            });
            Server {
                framework,
                base,
                admin_key,
                http,
                stop: Some(Box::new(move || task.abort())),
            }
        }
        #[cfg(feature = "actix")]
        Framework::Actix => {
            let demo = actix_app::demo::Demo::start(actix_app::demo::DemoConfig {
                base_url: base.clone(),
                trusted_proxies: proxies,
                database_url: None,
            })
            .await
            .unwrap();
            let admin_key = demo.admin_key.clone().unwrap();
            listener.set_nonblocking(false).unwrap();
            let handle = actix_app::start(demo, listener).unwrap();
            Server {
                framework,
                base,
                admin_key,
                http,
                stop: Some(Box::new(move || {
                    drop(handle.stop(false));
                })),
            }
        }
    }
}

impl Server {
    /// A server running elsewhere (another process), reached at `base`.
    pub fn external(framework: Framework, base: String, admin_key: String) -> Self {
        Self {
            framework,
            base,
            admin_key,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            stop: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request with the admin key and `X-Tenant-Id: acme`.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(&self.admin_key)
            .header("X-Tenant-Id", "acme")
    }

    /// `GET /api/v1/documents` with a bearer credential and a tenant.
    pub async fn documents(&self, token: &str, tenant: &str) -> Response {
        let r = self
            .http
            .get(self.url("/api/v1/documents"))
            .bearer_auth(token)
            .header("X-Tenant-Id", tenant)
            .send()
            .await
            .unwrap();
        Response::read(r).await
    }

    /// Creates an API key through the admin API; returns (plaintext, id).
    pub async fn create_key(&self, body: serde_json::Value) -> (String, String) {
        let r = Response::read(
            self.admin(reqwest::Method::POST, "/admin/api-keys")
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let j = r.json();
        (
            j["key"].as_str().unwrap().to_owned(),
            j["api_key"]["id"].as_str().unwrap().to_owned(),
        )
    }
}

/// A response read whole.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Response {
    pub async fn read(r: reqwest::Response) -> Self {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.text().await.unwrap();
        Self {
            status,
            headers,
            body,
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no hidden field {name}"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    unescape(&html[start..end])
}

pub fn location_params(location: &str) -> HashMap<String, String> {
    let q = location.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

impl Server {
    pub fn authorize_query(&self, extra: &[(&str, &str)]) -> String {
        let challenge = CodeChallenge::s256_of(VERIFIER);
        let redirect = format!("{}/app/callback", self.base);
        let mut pairs = vec![
            ("response_type", "code"),
            ("client_id", "demo-spa"),
            ("redirect_uri", redirect.as_str()),
            ("scope", "documents:read documents:write"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", "s t&ate"),
        ];
        for (k, v) in extra {
            pairs.retain(|(n, _)| n != k);
            pairs.push((k, v));
        }
        form(&pairs)
    }

    pub async fn get(&self, path: &str) -> Response {
        Response::read(self.http.get(self.url(path)).send().await.unwrap()).await
    }

    pub async fn post_form(&self, path: &str, body: &str, extra: &[(&str, &str)]) -> Response {
        let mut req = self
            .http
            .post(self.url(path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        Response::read(req.send().await.unwrap()).await
    }

    /// GET the consent page, then POST it as the browser would.
    pub async fn consent(
        &self,
        query: &str,
        decision: &str,
        password: &str,
        scopes: &[&str],
    ) -> Response {
        let page = self.get(&format!("/oauth/authorize?{query}")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let cookie = page
            .header("set-cookie")
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let request = hidden(&page.body, "request");
        let csrf = hidden(&page.body, "csrf_token");
        let mut pairs = vec![
            ("request", request.as_str()),
            ("csrf_token", csrf.as_str()),
            ("username", "alice"),
            ("password", password),
            ("decision", decision),
        ];
        for s in scopes {
            pairs.push(("scope", s));
        }
        self.post_form(
            &format!("/oauth/authorize?{query}"),
            &form(&pairs),
            &[("Cookie", &cookie)],
        )
        .await
    }

    pub async fn tokens(&self) -> serde_json::Value {
        let r = self
            .consent(
                &self.authorize_query(&[]),
                "approve",
                "wonderland",
                &["documents:read", "documents:write"],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let p = location_params(r.header("location").unwrap());
        let redirect = format!("{}/app/callback", self.base);
        let body = form(&[
            ("grant_type", "authorization_code"),
            ("code", &p["code"]),
            ("redirect_uri", &redirect),
            ("client_id", "demo-spa"),
            ("code_verifier", VERIFIER),
        ]);
        let t = self.post_form("/oauth/token", &body, &[]).await;
        assert_eq!(t.status, 200, "{}", t.body);
        t.json()
    }
}
