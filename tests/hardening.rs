//! Findings of a security review of the example server, each with its
//! test, on every framework this build has: unreadable forwarding headers,
//! duplicate `Host` lines, hosts nobody named, client ids per tenant, and
//! connections that never finish their headers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod common;

use std::time::Duration;

use common::{Response, Server, StartOptions, frameworks, start, start_with};
use papyrus_auth::http::TrustedProxies;
use reqwest::{Method, header::HeaderValue};
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Sends `request` as it is over a new connection; the response's status
/// code (0 if the server closed the connection without one).
async fn raw_status(s: &Server, request: &str) -> u16 {
    let addr = s.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
    let head = String::from_utf8_lossy(&buf);
    head.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// A forwarding header line holding a byte that is not visible ASCII makes
/// the client address unknown, which a non-empty allowlist refuses. Before,
/// the adapters dropped the line, and the address fell back to the other
/// header or to the proxy's own, which a key allowlisted for the proxy's
/// network then passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_forwarding_header_passes_no_allowlist() {
    for fw in frameworks() {
        let s = start(fw, TrustedProxies::parse(["127.0.0.1/32"]).unwrap()).await;
        let (proxy_net, _) = s
            .create_key(json!({"name": "internal", "scopes": "documents:read", "ip_allowlist": ["127.0.0.0/8"]}))
            .await;
        let (office, _) = s
            .create_key(json!({"name": "office", "scopes": "documents:read", "ip_allowlist": ["198.51.100.0/24"]}))
            .await;
        let call = |key: &str, headers: Vec<(&'static str, &'static [u8])>| {
            let mut req = s
                .http
                .get(s.url("/api/v1/documents"))
                .bearer_auth(key)
                .header("X-Tenant-Id", "acme");
            for (name, value) in headers {
                req = req.header(name, HeaderValue::from_bytes(value).unwrap());
            }
            async move { Response::read(req.send().await.unwrap()).await }
        };
        // Readable headers are believed, right to left.
        assert_eq!(
            call(&office, vec![("X-Forwarded-For", b"198.51.100.7")])
                .await
                .status,
            200
        );
        assert_eq!(
            call(&proxy_net, vec![]).await.status,
            200,
            "the proxy itself"
        );
        for headers in [
            vec![("X-Forwarded-For", b"\xff".as_slice())],
            vec![("Forwarded", b"for=\xff".as_slice())],
            vec![
                ("Forwarded", b"for=\xff".as_slice()),
                ("X-Forwarded-For", b"127.0.0.5".as_slice()),
            ],
        ] {
            let r = call(&proxy_net, headers.clone()).await;
            assert_eq!(r.status, 403, "{fw:?} {headers:?}: {}", r.body);
            assert_eq!(r.json()["error"], "ip_not_allowed");
        }
        let r = call(&office, vec![("X-Forwarded-For", b"\xff, 198.51.100.7")]).await;
        assert_eq!(r.status, 403, "{fw:?}: {}", r.body);
    }
}

/// RFC 9112 §3.2: two `Host` lines are a 400, on the API as on the
/// library's endpoints, as the README says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_host_lines_are_refused_everywhere() {
    for fw in frameworks() {
        let s = start(fw, TrustedProxies::none()).await;
        let key = &s.admin_key;
        for path in ["/api/v1/documents", "/admin/api-keys"] {
            let once = format!(
                "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\nX-Tenant-Id: acme\r\nConnection: close\r\n\r\n"
            );
            assert_eq!(raw_status(&s, &once).await, 200, "{fw:?} {path}");
            let twice = format!(
                "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\nX-Tenant-Id: acme\r\nConnection: close\r\n\r\n"
            );
            assert_eq!(raw_status(&s, &twice).await, 400, "{fw:?} {path}");
        }
    }
}

/// Only hosts the configuration names fall back to the default tenant:
/// each of these got acme's consent page before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_nobody_named_gets_no_tenant() {
    for fw in frameworks() {
        let s = start(fw, TrustedProxies::none()).await;
        let query = s.authorize_query(&[]);
        let page = |host: &'static str| {
            let req = s
                .http
                .get(s.url(&format!("/oauth/authorize?{query}")))
                .header("Host", host);
            async move { Response::read(req.send().await.unwrap()).await }
        };
        let acme = page("127.0.0.1").await;
        assert_eq!(acme.status, 200, "{fw:?}: {}", acme.body);
        assert!(acme.body.contains("Sign in to acme"));
        for host in [
            "globex.localhost.",
            "x.globex.localhost",
            "globex.localhost:abc",
            "evil.example",
        ] {
            let r = page(host).await;
            assert_ne!(r.status, 200, "{fw:?} {host}");
            assert!(
                !r.body.contains("Sign in to acme"),
                "{fw:?} {host}: {}",
                r.body
            );
        }
        // A host under the suffix names its own tenant (which has no such
        // client): never acme's page.
        let globex = page("globex.localhost").await;
        assert_eq!(globex.status, 400, "{fw:?}: {}", globex.body);
        assert!(globex.body.contains("client"), "{}", globex.body);
    }
}

/// Client ids are unique per tenant: registering one the tenant has is a
/// 409 with a JSON error, never a 503 (a store conflict is not an outage),
/// and another tenant's ids are neither visible nor in the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ids_are_unique_per_tenant_over_http() {
    for fw in frameworks() {
        let s = start(fw, TrustedProxies::none()).await;
        let body = json!({
            "name": "Second SPA",
            "kind": "public",
            "redirect_uris": ["https://app.example.com/cb"],
            "allowed_scopes": "documents:read",
            "client_id": "demo-spa",
        });
        let r = Response::read(
            s.admin(Method::POST, "/admin/clients")
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, 409, "{fw:?}: {}", r.body);
        assert_eq!(r.json()["error"], "conflict");
        let mut fresh = body.clone();
        fresh["client_id"] = json!("second-spa");
        let r = Response::read(
            s.admin(Method::POST, "/admin/clients")
                .json(&fresh)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, 201, "{fw:?}: {}", r.body);
    }
}

/// A server of `fw` whose headers must arrive within a second, holding at
/// most `max_connections` connections; its address.
async fn impatient(fw: common::Framework, max_connections: usize) -> (Server, String) {
    let limits = common::axum_app::ConnectionLimits {
        header_read: Duration::from_secs(1),
        max_connections,
        ..Default::default()
    };
    let s = start_with(
        fw,
        StartOptions {
            limits,
            ..StartOptions::default()
        },
    )
    .await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    (s, addr)
}

/// Connections that never finish their headers are closed after the
/// header-read timeout, and at most `max_connections` are held at once: a
/// request beyond them waits until one is freed, then is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off_and_connections_capped() {
    for fw in frameworks() {
        let (s, addr) = impatient(fw, 64).await;
        // 40 connections that send part of their headers, then nothing.
        let mut slow = Vec::new();
        for _ in 0..40 {
            let mut c = TcpStream::connect(&addr).await.unwrap();
            c.write_all(b"GET /api/v1/documents HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                .await
                .unwrap();
            slow.push(c);
        }
        for (i, mut c) in slow.into_iter().enumerate() {
            let mut buf = Vec::new();
            let closed =
                tokio::time::timeout(Duration::from_secs(20), c.read_to_end(&mut buf)).await;
            assert!(closed.is_ok(), "{fw:?}: slow connection {i} was not closed");
        }
        assert_eq!(
            s.documents(&s.admin_key, "acme").await.status,
            200,
            "{fw:?}"
        );
    }
    for fw in frameworks() {
        let (_server, addr) = impatient(fw, 2).await;
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut c = TcpStream::connect(&addr).await.unwrap();
            c.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
            held.push(c);
        }
        // Give the server time to take both (a slow machine only delays
        // the answer below; it cannot make it arrive early).
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut third = TcpStream::connect(&addr).await.unwrap();
        third
            .write_all(
                b"GET /app/config.json HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            )
            .await
            .unwrap();
        let mut buf = [0u8; 1];
        let early = tokio::time::timeout(Duration::from_millis(300), third.read(&mut buf)).await;
        assert!(
            early.is_err(),
            "{fw:?}: a third connection was served at once"
        );
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), third.read_to_end(&mut rest))
            .await
            .expect("served once a held connection timed out")
            .unwrap();
        assert!(
            String::from_utf8_lossy(&rest).starts_with("HTTP/1.1 200"),
            "{fw:?}: {}",
            String::from_utf8_lossy(&rest)
        );
        drop(held);
    }
}
