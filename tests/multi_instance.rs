//! A fleet: three example-server processes started at the same moment on
//! one fresh PostgreSQL database and one Redis, behind no balancer but the
//! test, which sends each request to whichever instance it likes.
//!
//! * all three serve, and exactly one admin key is printed;
//! * a consent page drawn by one instance, posted to another, issues a code
//!   that a third exchanges;
//! * a key created through one authenticates on another; revoked through
//!   one, it is refused by the others at once;
//! * a revoked key hammered on one instance from an address, while a fresh
//!   key and the admin key from that address work on all three;
//! * 45 failures of one bad key spread over the three: from the 31st on,
//!   each gets 429, whichever instance it lands on (the counters are shared);
//! * 30 concurrent refreshes of one refresh token spread over the three:
//!   exactly one 200;
//! * Redis stopped: valid credentials still work everywhere;
//! * `-- admin-key --tenant acme` mints a working admin key, audited.
//!
//! Runs when `PAPYRUS_TEST_POSTGRES_URL` is set and `redis-server` is
//! installed (`.ci/run` provides both); the Redis server is one of the
//! test's own, on a free loopback port, so stopping it touches nothing else.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod common;

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use common::{
    Framework, Response, Server, VERIFIER, client_from, filled_consent, form, location_params,
};
use reqwest::Method;
use serde_json::json;
use sqlx::Connection;

/// A child process, killed on drop.
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

/// An instance being started: its process and the lines it prints.
struct Starting {
    _process: Process,
    lines: mpsc::Receiver<String>,
}

/// Starts an instance on an ephemeral port, without waiting for it.
fn spawn_instance(database_url: &str, redis_url: &str) -> Starting {
    let mut child = Command::new(server_binary())
        .env("PAPYRUS_ADDR", "127.0.0.1:0")
        .env("PAPYRUS_DATABASE_URL", database_url)
        .env("PAPYRUS_REDIS_URL", redis_url)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    for out in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    Starting {
        _process: Process(child),
        lines: rx,
    }
}

/// Waits for a started instance to serve: its base URL and the admin key it
/// printed, if it printed one. Panics with what it printed if it stopped.
fn wait_ready(starting: &Starting) -> (String, Option<String>) {
    let (mut base, mut key, mut seen) = (None, None, Vec::new());
    while let Ok(line) = starting.lines.recv_timeout(Duration::from_secs(60)) {
        if let Some(url) = line.strip_prefix("papyrus-auth example server on ") {
            base = Some(url.trim().to_owned());
        }
        if let Some(k) = line.trim().strip_prefix("pk_live_") {
            key = Some(format!("pk_live_{k}"));
        }
        let ready = line.contains("open http");
        seen.push(line);
        if ready {
            return (base.expect("the server printed its address"), key);
        }
    }
    panic!("an instance did not start:\n{}", seen.join("\n"));
}

/// A fresh database next to the one `url` names; its URL.
async fn fresh_database(url: &str, name: &str) -> (sqlx::PgConnection, String) {
    let mut admin = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
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
    (admin, format!("{prefix}/{name}{query}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_one_postgres_database_and_one_redis() {
    let Ok(url) = std::env::var("PAPYRUS_TEST_POSTGRES_URL") else {
        common::skip(
            "multi-instance test",
            "PAPYRUS_TEST_POSTGRES_URL is not set",
        );
        return;
    };
    let Some(redis) = common::redis_server() else {
        common::skip(
            "multi-instance test",
            "redis-server is not installed (apt-get install redis-server, or run .ci/run)",
        );
        return;
    };
    let name = format!("papyrus_mi_{}", std::process::id());
    let (mut admin, db_url) = fresh_database(&url, &name).await;

    // Three instances at the same moment on the empty database.
    let starting: Vec<Starting> = (0..3)
        .map(|_| spawn_instance(&db_url, &redis.url))
        .collect();
    let ready: Vec<(String, Option<String>)> = starting.iter().map(wait_ready).collect();
    let keys: Vec<&String> = ready.iter().filter_map(|(_, k)| k.as_ref()).collect();
    assert_eq!(keys.len(), 1, "exactly one instance printed an admin key");
    let admin_key = keys[0].clone();
    let fleet: Vec<Server> = ready
        .iter()
        .map(|(base, _)| Server::external(Framework::Axum, base.clone(), admin_key.clone()))
        .collect();
    let [a, b, c] = [&fleet[0], &fleet[1], &fleet[2]];
    for s in &fleet {
        assert_eq!(
            s.documents(&admin_key, "acme").await.status,
            200,
            "{}",
            s.base
        );
    }

    // A key created through A authenticates on B; revoked through B, it is
    // refused by A and C at their next request.
    let (key, id) = a
        .create_key(json!({"name": "fleet", "scopes": "documents:read"}))
        .await;
    assert_eq!(b.documents(&key, "acme").await.status, 200);
    let r = Response::read(
        b.admin(Method::POST, &format!("/admin/api-keys/{id}/revoke"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(a.documents(&key, "acme").await.status, 401);
    assert_eq!(c.documents(&key, "acme").await.status, 401);

    // The consent page drawn by A, posted to B (CSRF signed with the key
    // ring in the database), issues a code that C exchanges.
    let query = a.authorize_query(&[]);
    let page = a.get(&format!("/oauth/authorize?{query}")).await;
    let (cookie, consent) = filled_consent(
        &page,
        "approve",
        ("alice", "wonderland"),
        &["documents:read"],
        None,
    );
    let approved = b
        .post_form(
            &format!("/oauth/authorize?{query}"),
            &consent,
            &[("Cookie", &cookie)],
        )
        .await;
    assert_eq!(approved.status, 303, "{}", approved.body);
    let code = location_params(approved.header("location").unwrap())["code"].clone();
    let redirect = format!("{}/app/callback", a.base);
    let exchange = form(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", &redirect),
        ("client_id", "demo-spa"),
        ("code_verifier", VERIFIER),
    ]);
    let tokens = c.post_form("/oauth/token", &exchange, &[]).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let access = tokens.json()["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens.json()["refresh_token"].as_str().unwrap().to_owned();
    for s in &fleet {
        assert_eq!(s.documents(&access, "acme").await.status, 200);
    }

    // A stale replica: a revoked key hammered on A from 127.0.0.7, while a
    // fresh key and the admin key from that address work on all three.
    let replica = client_from("127.0.0.7");
    let (stale, stale_id) = a
        .create_key(json!({"name": "stale", "scopes": "documents:read"}))
        .await;
    let (fresh, _) = a
        .create_key(json!({"name": "fresh", "scopes": "documents:read"}))
        .await;
    let r = Response::read(
        c.admin(Method::POST, &format!("/admin/api-keys/{stale_id}/revoke"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    let call = |s: &Server, token: &str| {
        let req = replica
            .get(s.url("/api/v1/documents"))
            .bearer_auth(token)
            .header("X-Tenant-Id", "acme");
        async move { req.send().await.unwrap().status().as_u16() }
    };
    for i in 0..40 {
        let status = call(a, &stale).await;
        assert_eq!(status, if i < 30 { 401 } else { 429 }, "stale call {i}");
        if i % 8 == 7 {
            for s in &fleet {
                assert_eq!(call(s, &fresh).await, 200, "fresh key on {}", s.base);
                assert_eq!(call(s, &admin_key).await, 200, "admin key on {}", s.base);
            }
        }
    }

    // 45 failures of one bad key spread over the three: the counters are
    // shared, so from the 31st on each gets 429 wherever it lands.
    let guess = "pk_live_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ";
    let guesser = client_from("127.0.0.8");
    for i in 0..45 {
        let s = &fleet[i % 3];
        let r = Response::read(
            guesser
                .get(s.url("/api/v1/documents"))
                .bearer_auth(guess)
                .header("X-Tenant-Id", "acme")
                .send()
                .await
                .unwrap(),
        )
        .await;
        if i < 30 {
            assert_eq!(r.status, 401, "failure {} on {}: {}", i + 1, s.base, r.body);
        } else {
            assert_eq!(r.status, 429, "failure {} on {}: {}", i + 1, s.base, r.body);
            assert!(r.header("retry-after").is_some());
        }
    }

    // 30 concurrent refreshes of one refresh token over the three: one wins.
    let body = form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &refresh),
        ("client_id", "demo-spa"),
    ]);
    let mut tasks = Vec::new();
    for i in 0..30 {
        let (http, url, body) = (
            fleet[i % 3].http.clone(),
            fleet[i % 3].url("/oauth/token"),
            body.clone(),
        );
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 400),
        "{statuses:?}"
    );

    // The metrics of an instance (built with `--features prometheus`, as
    // `cargo test --all-features` builds it): outcomes and refusals, and no
    // credential, id or address in any label.
    let metrics = a.get("/metrics").await;
    if cfg!(feature = "prometheus") {
        assert_eq!(metrics.status, 200);
        assert!(
            metrics.body.contains(
                "papyrus_auth_authentications_total{method=\"api_key\",outcome=\"success\""
            ),
            "{}",
            metrics.body
        );
        assert!(metrics.body.contains("papyrus_auth_throttled_total"));
        for leak in [
            &admin_key,
            &fresh,
            &stale,
            &access,
            &refresh,
            &"127.0.0.8".to_owned(),
            &"acme".to_owned(),
        ] {
            assert!(
                !metrics.body.contains(leak.as_str()),
                "{leak} in the metrics"
            );
        }
    } else {
        assert_eq!(metrics.status, 404);
    }

    // Redis stops: valid credentials still work everywhere, and failures
    // are still answered (counted in process). (The race above revoked the
    // raced family, as reuse detection does: a new one.)
    let access = a.tokens().await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    drop(redis);
    for s in &fleet {
        assert_eq!(
            s.documents(&admin_key, "acme").await.status,
            200,
            "{}",
            s.base
        );
        assert_eq!(s.documents(&fresh, "acme").await.status, 200);
        assert_eq!(s.documents(&access, "acme").await.status, 200);
        let r = s
            .documents("pk_live_after_redis_stopped_aaaaaaaaaaaaaa", "acme")
            .await;
        assert_eq!(r.status, 401, "{}", r.body);
    }

    // The way back for a lost admin key: the admin-key command, audited.
    let printed = mint_admin_key(&db_url);
    let minted = printed
        .split_whitespace()
        .find(|w| w.starts_with("pk_live_"))
        .expect("the command printed a key")
        .to_owned();
    let recovered = Server::external(Framework::Axum, b.base.clone(), minted);
    let listed = Response::read(
        recovered
            .admin(Method::GET, "/admin/api-keys")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let audit = Response::read(
        recovered
            .admin(Method::GET, "/admin/audit?limit=1000")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        audit.body.contains("\"type\":\"operator\""),
        "{}",
        audit.body
    );

    drop(starting);
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
}

/// Runs `server admin-key --tenant acme` on `database_url`; what it printed.
fn mint_admin_key(database_url: &str) -> String {
    let out = Command::new(server_binary())
        .args(["admin-key", "--tenant", "acme"])
        .env("PAPYRUS_DATABASE_URL", database_url)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The admin-key command on the embedded default store (SQLite).
#[test]
fn the_admin_key_command_works_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("papyrus-admin-key-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("papyrus.db");
    let url = format!("sqlite://{}", db.display());
    let mint = || mint_admin_key(&url);
    let first = mint();
    let second = mint();
    assert!(first.contains("pk_live_") && second.contains("pk_live_"));
    assert_ne!(first, second, "each run mints a new key");
    let bad = Command::new(server_binary())
        .args(["admin-key", "--tenant", "Not A Tenant"])
        .env("PAPYRUS_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

// ----- the credential cache across processes ----------------------------------

/// Starts an instance with the credential cache on (lease `lease_ms`), no
/// Redis.
fn spawn_caching(database_url: &str, lease_ms: u64) -> (Starting, u32) {
    let mut child = Command::new(server_binary())
        .env("PAPYRUS_ADDR", "127.0.0.1:0")
        .env("PAPYRUS_DATABASE_URL", database_url)
        .env("PAPYRUS_CREDENTIAL_CACHE_LEASE_MS", lease_ms.to_string())
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    for out in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    (
        Starting {
            _process: Process(child),
            lines: rx,
        },
        pid,
    )
}

/// Sends `signal` (`STOP`, `CONT`) to process `pid`.
fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// A loopback TCP proxy to PostgreSQL that the test can cut: every
/// connection through it is dropped, and no new one is accepted.
struct CuttableProxy {
    port: u16,
    cut: tokio::sync::watch::Sender<bool>,
}

impl CuttableProxy {
    async fn to(target: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, watch) = tokio::sync::watch::channel(false);
        let target = target.to_owned();
        tokio::spawn(async move {
            loop {
                let mut stop = watch.clone();
                tokio::select! {
                    _ = stop.changed() => return, // the listener is dropped: refused
                    accepted = listener.accept() => {
                        let Ok((mut client, _)) = accepted else { return };
                        let target = target.clone();
                        let mut stop = watch.clone();
                        tokio::spawn(async move {
                            let Ok(mut server) = tokio::net::TcpStream::connect(&target).await else {
                                return;
                            };
                            tokio::select! {
                                _ = stop.changed() => {}
                                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            }
                        });
                    }
                }
            }
        });
        Self { port, cut }
    }

    fn cut(&self) {
        let _ = self.cut.send(true);
    }
}

/// The caching fleet: three instances with the credential cache on.
///
/// * 100 times, under load: a key used on B and C (answered from their
///   memory) is revoked through A; when the revoke returns, B and C refuse
///   it;
/// * C paused (`SIGSTOP`) while a key it holds is revoked: the revocation
///   returns after C's lease ends, and C, resumed, refuses the key;
/// * C's database connection cut: it stops answering from memory within a
///   lease (a 503, never the cached 200).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caching_instances_refuse_a_revoked_key_before_the_revoke_returns() {
    let Ok(url) = std::env::var("PAPYRUS_TEST_POSTGRES_URL") else {
        common::skip(
            "credential cache fleet test",
            "PAPYRUS_TEST_POSTGRES_URL is not set",
        );
        return;
    };
    const LEASE_MS: u64 = 1000;
    let name = format!("papyrus_cache_{}", std::process::id());
    let (mut admin, db_url) = fresh_database(&url, &name).await;
    // C reaches the database through a proxy the test can cut.
    let target = {
        let authority = url.split("://").nth(1).unwrap().split('/').next().unwrap();
        let host_port = authority.rsplit('@').next().unwrap();
        if host_port.contains(':') {
            host_port.to_owned()
        } else {
            format!("{host_port}:5432")
        }
    };
    let proxy = CuttableProxy::to(&target).await;
    let c_url = db_url.replacen(&target, &format!("127.0.0.1:{}", proxy.port), 1);
    assert_ne!(c_url, db_url, "the proxy is in C's database URL");

    let (first, _) = spawn_caching(&db_url, LEASE_MS);
    let (a_base, admin_key) = wait_ready(&first);
    let admin_key = admin_key.expect("the first instance printed an admin key");
    let (second, _) = spawn_caching(&db_url, LEASE_MS);
    let (third, c_pid) = spawn_caching(&c_url, LEASE_MS);
    let (b_base, _) = wait_ready(&second);
    let (c_base, _) = wait_ready(&third);
    let [a, b, c] = [&a_base, &b_base, &c_base]
        .map(|base| Server::external(Framework::Axum, base.clone(), admin_key.clone()));

    // Background load on B and C with a key that stays valid.
    let (busy, _) = a
        .create_key(json!({"name": "busy", "scopes": "documents:read"}))
        .await;
    let load = {
        let (b, c, busy) = (b.base.clone(), c.base.clone(), busy.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            for i in 0..4_000 {
                let base = if i % 2 == 0 { &b } else { &c };
                let _ = http
                    .get(format!("{base}/api/v1/documents"))
                    .bearer_auth(&busy)
                    .header("X-Tenant-Id", "acme")
                    .send()
                    .await;
            }
        })
    };
    let mut waits = Vec::new();
    for round in 0..100 {
        let (key, id) = a
            .create_key(json!({"name": format!("round {round}"), "scopes": "documents:read"}))
            .await;
        for s in [&b, &c, &b, &c] {
            assert_eq!(s.documents(&key, "acme").await.status, 200, "round {round}");
        }
        let started = std::time::Instant::now();
        let r = Response::read(
            a.admin(Method::POST, &format!("/admin/api-keys/{id}/revoke"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        waits.push(started.elapsed());
        assert_eq!(r.status, 200, "{}", r.body);
        for s in [&b, &c] {
            assert_eq!(
                s.documents(&key, "acme").await.status,
                401,
                "round {round}: {} accepted a revoked key",
                s.base
            );
        }
    }
    load.abort();
    waits.sort();
    println!(
        "revoke over HTTP with three caching instances, under load: median {:?}, worst {:?}",
        waits[waits.len() / 2],
        waits[waits.len() - 1]
    );

    // C paused while a key it holds is revoked.
    let (key, id) = a
        .create_key(json!({"name": "paused", "scopes": "documents:read"}))
        .await;
    for _ in 0..3 {
        assert_eq!(c.documents(&key, "acme").await.status, 200);
    }
    signal(c_pid, "STOP");
    let started = std::time::Instant::now();
    let r = Response::read(
        a.admin(Method::POST, &format!("/admin/api-keys/{id}/revoke"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let waited = started.elapsed();
    assert_eq!(r.status, 200, "{}", r.body);
    println!("revoke with a paused caching instance: {waited:?} (lease {LEASE_MS} ms)");
    signal(c_pid, "CONT");
    for _ in 0..5 {
        assert_eq!(
            c.documents(&key, "acme").await.status,
            401,
            "the resumed instance accepted a key revoked while it was paused"
        );
    }

    // C cut off from the database: no answer from memory past its lease.
    let (key, _) = a
        .create_key(json!({"name": "cut", "scopes": "documents:read"}))
        .await;
    for _ in 0..3 {
        assert_eq!(c.documents(&key, "acme").await.status, 200);
    }
    proxy.cut();
    let cut = std::time::Instant::now();
    // The last answer from memory; the first refusal may take the store's
    // acquire timeout to come (it goes to the database, which is gone).
    let mut last_ok = Duration::ZERO;
    loop {
        let status = c.documents(&key, "acme").await.status;
        if status != 200 {
            assert_eq!(status, 503, "a store that is down is a 503");
            break;
        }
        last_ok = cut.elapsed();
        assert!(
            last_ok < Duration::from_millis(LEASE_MS * 5),
            "the cut-off instance kept answering from memory"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "cut off from the database, its last answer from memory came {last_ok:?} after the cut"
    );
    assert!(
        last_ok <= Duration::from_millis(LEASE_MS),
        "answered from memory {last_ok:?} after the cut, past its {LEASE_MS} ms lease"
    );

    drop((first, second, third));
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
}
