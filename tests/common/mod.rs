//! Starting the example servers for black-box tests.

#![allow(dead_code, unreachable_pub)]
// Both example apps include the same demo module, each for its own framework.
#![allow(clippy::duplicate_mod)]

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

/// The example server of every framework this build has, each on its own
/// ephemeral port.
pub async fn servers() -> Vec<Server> {
    let mut v = Vec::new();
    for fw in frameworks() {
        v.push(start(fw, TrustedProxies::none()).await);
    }
    v
}

/// Starts the example server of `framework` on an ephemeral port.
pub async fn start(framework: Framework, proxies: TrustedProxies) -> Server {
    start_with(
        framework,
        StartOptions {
            proxies,
            ..StartOptions::default()
        },
    )
    .await
}

/// How [`start_with`] starts a server.
#[derive(Default)]
pub struct StartOptions {
    pub proxies: TrustedProxies,
    /// The server's connection limits.
    pub limits: axum_app::ConnectionLimits,
    /// A host name whose metadata documents the server fetches from
    /// loopback over http (`DemoConfig::dangerous_metadata_loopback_host`).
    pub metadata_loopback_host: Option<String>,
}

/// Starts the example server of `framework` on an ephemeral port, with
/// in-memory stores.
pub async fn start_with(framework: Framework, options: StartOptions) -> Server {
    let StartOptions {
        proxies,
        limits,
        metadata_loopback_host,
    } = options;
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
                redis_url: None,
                metrics: None,
                credential_cache: None,
                dangerous_metadata_loopback_host: metadata_loopback_host.clone(),
            })
            .await
            .unwrap();
            let admin_key = demo.admin_key.clone().unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let app = axum_app::router(demo);
            let task = tokio::spawn(async move {
                axum_app::serve(listener, app, limits, std::future::pending())
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
                redis_url: None,
                metrics: None,
                credential_cache: None,
                dangerous_metadata_loopback_host: metadata_loopback_host.clone(),
            })
            .await
            .unwrap();
            let admin_key = demo.admin_key.clone().unwrap();
            listener.set_nonblocking(false).unwrap();
            // The demo module is compiled once per app: the same fields.
            let limits = actix_app::demo::ConnectionLimits {
                header_read: limits.header_read,
                request: limits.request,
                max_connections: limits.max_connections,
            };
            let handle = actix_app::start(demo, listener, limits).unwrap();
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

/// The login-and-consent `page` filled in as a browser would: the `Cookie`
/// header to post it with (its CSRF cookie, and `device` if given) and the
/// form body.
pub fn filled_consent(
    page: &Response,
    decision: &str,
    (user, password): (&str, &str),
    scopes: &[&str],
    device: Option<&str>,
) -> (String, String) {
    assert_eq!(page.status, 200, "{}", page.body);
    let mut cookie = page
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    if let Some(device) = device {
        cookie = format!("{cookie}; {device}");
    }
    let request = hidden(&page.body, "request");
    let csrf = hidden(&page.body, "csrf_token");
    let mut pairs = vec![
        ("request", request.as_str()),
        ("csrf_token", csrf.as_str()),
        ("username", user),
        ("password", password),
        ("decision", decision),
    ];
    for s in scopes {
        pairs.push(("scope", s));
    }
    (cookie, form(&pairs))
}

/// An HTTP client whose connections come from `ip` (a loopback address of
/// 127.0.0.0/8, so that a test can play several client addresses), never
/// following redirects.
pub fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
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
        self.sign_in(
            &self.http,
            query,
            decision,
            ("alice", password),
            scopes,
            None,
        )
        .await
    }

    /// [`consent`](Self::consent) through `http` (bound to a local address
    /// of its own, say) as `user` with `password`, sending `device` (a
    /// `papyrus_device=…` cookie) if given.
    pub async fn sign_in(
        &self,
        http: &reqwest::Client,
        query: &str,
        decision: &str,
        (user, password): (&str, &str),
        scopes: &[&str],
        device: Option<&str>,
    ) -> Response {
        let url = self.url(&format!("/oauth/authorize?{query}"));
        let page = Response::read(http.get(&url).send().await.unwrap()).await;
        let (cookie, body) = filled_consent(&page, decision, (user, password), scopes, device);
        let r = http
            .post(&url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Cookie", cookie)
            .body(body)
            .send()
            .await
            .unwrap();
        Response::read(r).await
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

/// A Redis server of the test's own, on a free loopback port, killed on drop.
pub struct RedisServer {
    child: std::process::Child,
    pub url: String,
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `redis-server` on a free loopback port (nothing saved to disk);
/// `None` when it is not installed or does not come up.
pub fn redis_server() -> Option<RedisServer> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let server = RedisServer {
        child,
        url: format!("redis://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(server);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    None
}
