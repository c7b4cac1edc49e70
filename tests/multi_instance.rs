//! Two example-server processes on one PostgreSQL database: a key created
//! through one authenticates on the other, a revocation through one is
//! refused by the other at its next request, and 64 concurrent refreshes of
//! one refresh token spread over both give exactly one success.
//!
//! Runs when `PAPYRUS_TEST_POSTGRES_URL` is set (`.ci/run` sets it).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod common;

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use common::{Framework, Response, Server, VERIFIER, form, location_params};
use reqwest::Method;
use serde_json::json;
use sqlx::Connection;

/// A running example-server process, killed on drop.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The example server binary, built if needed.
fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("server");
    if !bin.exists() {
        let cargo = option_env!("CARGO").unwrap_or("cargo");
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--example", "server", "--manifest-path"])
            .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .status()
            .unwrap();
        assert!(status.success(), "building the example server failed");
    }
    bin
}

/// Starts an instance on an ephemeral port; returns it, its base URL and the
/// admin key it printed (only the first instance on a database prints one).
fn start_instance(database_url: &str) -> (Process, String, Option<String>) {
    let mut child = Command::new(server_binary())
        .env("PAPYRUS_ADDR", "127.0.0.1:0")
        .env("PAPYRUS_DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let process = Process(child);
    let (mut base, mut key) = (None, None);
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
        if let Some(url) = line.strip_prefix("papyrus-auth example server on ") {
            base = Some(url.trim().to_owned());
        }
        if let Some(k) = line.trim().strip_prefix("pk_live_") {
            key = Some(format!("pk_live_{k}"));
        }
        if line.contains("open http") {
            break;
        }
    }
    (process, base.expect("the server printed its address"), key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_postgres_database() {
    let Ok(url) = std::env::var("PAPYRUS_TEST_POSTGRES_URL") else {
        common::skip(
            "multi-instance test",
            "PAPYRUS_TEST_POSTGRES_URL is not set",
        );
        return;
    };
    // A fresh database for this run.
    let name = format!("papyrus_mi_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let (prefix, rest) = url.rsplit_once('/').unwrap();
    let query = rest
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    let db_url = format!("{prefix}/{name}{query}");

    let (pa, base_a, key) = start_instance(&db_url);
    let (pb, base_b, again) = start_instance(&db_url);
    assert!(
        again.is_none(),
        "the second instance found the bootstrap and made no new admin key"
    );
    let admin_key = key.expect("the first instance printed the admin key");
    let a = Server::external(Framework::Axum, base_a, admin_key.clone());
    let b = Server::external(Framework::Axum, base_b, admin_key);

    // A key created through A authenticates on B.
    let (key, id) = a
        .create_key(json!({"name": "fleet", "scopes": "documents:read"}))
        .await;
    assert_eq!(b.documents(&key, "acme").await.status, 200);
    assert_eq!(a.documents(&key, "acme").await.status, 200);
    // Revoked through B, it is refused by A on the next request.
    let r = Response::read(
        b.admin(Method::POST, &format!("/admin/api-keys/{id}/revoke"))
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(a.documents(&key, "acme").await.status, 401);

    // OAuth across instances: consent on A, exchange on B.
    let consent = a
        .consent(
            &a.authorize_query(&[]),
            "approve",
            "wonderland",
            &["documents:read"],
        )
        .await;
    assert_eq!(consent.status, 303, "{}", consent.body);
    let code = location_params(consent.header("location").unwrap())["code"].clone();
    let redirect = format!("{}/app/callback", a.base);
    let body = form(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", &redirect),
        ("client_id", "demo-spa"),
        ("code_verifier", VERIFIER),
    ]);
    let tokens = b.post_form("/oauth/token", &body, &[]).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let refresh = tokens.json()["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        a.documents(tokens.json()["access_token"].as_str().unwrap(), "acme")
            .await
            .status,
        200
    );

    // 64 concurrent refreshes of one refresh token over both instances.
    let body = form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &refresh),
        ("client_id", "demo-spa"),
    ]);
    let mut tasks = Vec::new();
    for i in 0..64 {
        let (http, url, body) = (
            if i % 2 == 0 {
                a.http.clone()
            } else {
                b.http.clone()
            },
            if i % 2 == 0 {
                a.url("/oauth/token")
            } else {
                b.url("/oauth/token")
            },
            body.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(ok, 1, "exactly one refresh succeeds: {statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 400),
        "{statuses:?}"
    );

    drop((pa, pb));
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
}
