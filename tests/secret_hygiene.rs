//! A full run — API keys and OAuth, successes and failures, over HTTP — with
//! every `tracing` event captured at TRACE level and every audit event read
//! back: no secret appears in any of them.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod common;

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use common::{Framework, Response, VERIFIER, form, location_params, start};
use papyrus_auth::http::TrustedProxies;
use reqwest::Method;
use serde_json::json;

/// A `MakeWriter` that appends everything to one shared buffer.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_logs_or_audit_events() {
    let capture = Capture::default();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(capture.clone())
        .with_ansi(false)
        .init();

    let s = start(Framework::Axum, TrustedProxies::none()).await;
    let mut secrets: Vec<String> = vec![
        s.admin_key.clone(),
        VERIFIER.to_owned(),
        "wonderland".to_owned(),
    ];

    // API keys: create, use, refuse, rotate, revoke, use the revoked key.
    let (key, id) = s
        .create_key(json!({"name": "svc", "scopes": "documents:read"}))
        .await;
    secrets.push(key.clone());
    assert_eq!(s.documents(&key, "acme").await.status, 200);
    assert_eq!(s.documents(&key, "globex").await.status, 401);
    let rotated = Response::read(
        s.admin(Method::POST, &format!("/admin/api-keys/{id}/rotate"))
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    secrets.push(rotated.json()["key"].as_str().unwrap().to_owned());
    s.admin(Method::POST, &format!("/admin/api-keys/{id}/revoke"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(s.documents(&key, "acme").await.status, 401);

    // A confidential client: its secret is shown once.
    let client = Response::read(
        s.admin(Method::POST, "/admin/clients")
            .json(&json!({"name": "backend", "kind": "confidential", "redirect_uris": ["https://b.example/cb"], "allowed_scopes": "documents:read"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(client.status, 201, "{}", client.body);
    let client_id = client.json()["client"]["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let client_secret = client.json()["client_secret"].as_str().unwrap().to_owned();
    secrets.push(client_secret.clone());
    // A failed client authentication with a wrong secret (logged, never the secret).
    let wrong_secret = "pcs_wrong_secret_value_that_must_not_leak";
    secrets.push(wrong_secret.to_owned());
    let r = s
        .http
        .post(s.url("/oauth/token"))
        .basic_auth(&client_id, Some(wrong_secret))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=refresh_token&refresh_token=prt_x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    // OAuth: consent (with the password), exchange, replay, refresh, reuse, revoke.
    let page = s
        .get(&format!("/oauth/authorize?{}", s.authorize_query(&[])))
        .await;
    secrets.push(common::hidden(&page.body, "csrf_token"));
    let wrong = s
        .consent(
            &s.authorize_query(&[]),
            "approve",
            "not-wonderland-either",
            &["documents:read"],
        )
        .await;
    assert_eq!(wrong.status, 401);
    secrets.push("not-wonderland-either".into());
    let approved = s
        .consent(
            &s.authorize_query(&[]),
            "approve",
            "wonderland",
            &["documents:read"],
        )
        .await;
    let code = location_params(approved.header("location").unwrap())["code"].clone();
    secrets.push(code.clone());
    let redirect = format!("{}/app/callback", s.base);
    let body = form(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", &redirect),
        ("client_id", "demo-spa"),
        ("code_verifier", VERIFIER),
    ]);
    let tokens = s.post_form("/oauth/token", &body, &[]).await.json();
    let _replay = s.post_form("/oauth/token", &body, &[]).await;
    let tokens2 = s.tokens().await;
    for t in [&tokens, &tokens2] {
        secrets.push(t["access_token"].as_str().unwrap().to_owned());
        secrets.push(t["refresh_token"].as_str().unwrap().to_owned());
    }
    let refresh = |rt: &str| {
        form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", "demo-spa"),
        ])
    };
    let r1 = tokens2["refresh_token"].as_str().unwrap();
    let t3 = s.post_form("/oauth/token", &refresh(r1), &[]).await.json();
    secrets.push(t3["access_token"].as_str().unwrap().to_owned());
    secrets.push(t3["refresh_token"].as_str().unwrap().to_owned());
    let _reuse = s.post_form("/oauth/token", &refresh(r1), &[]).await;
    let a3 = t3["access_token"].as_str().unwrap();
    let _ = s.documents(a3, "acme").await;
    let _ = s
        .post_form(
            "/oauth/revoke",
            &form(&[("token", a3), ("client_id", "demo-spa")]),
            &[],
        )
        .await;
    let _ = s
        .http
        .post(s.url("/oauth/introspect"))
        .bearer_auth(&s.admin_key)
        .header("X-Tenant-Id", "acme")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(&[("token", a3)]))
        .send()
        .await
        .unwrap();

    let audit = Response::read(
        s.admin(Method::GET, "/admin/audit?limit=1000")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let events = audit.json()["events"].as_array().unwrap().len();
    assert!(events >= 15, "the run was audited ({events} events)");
    drop(s);
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("papyrus_auth::audit"),
        "the audit events reached tracing"
    );
    for secret in &secrets {
        assert!(!secret.is_empty());
        assert!(
            !logs.contains(secret.as_str()),
            "a secret is in the logs: {}…",
            &secret[..secret.len().min(12)]
        );
        assert!(
            !audit.body.contains(secret.as_str()),
            "a secret is in the audit log"
        );
    }
}
