//! The failure throttle as callers on shared addresses meet it, over HTTP,
//! on every framework this build has: failures mixed with valid calls from
//! one address, a lingering replica with a revoked key, a refresh race, and
//! the sign-in form's limits. The loopback range plays several client
//! addresses (127.0.0.1, 127.0.0.2, …).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod common;

use common::{Response, Server, client_from, form, frameworks, start};
use papyrus_auth::http::TrustedProxies;
use reqwest::Method;
use serde_json::json;

async fn servers() -> Vec<Server> {
    let mut v = Vec::new();
    for fw in frameworks() {
        v.push(start(fw, TrustedProxies::none()).await);
    }
    v
}

/// `GET /api/v1/documents` with `token` through `http`.
async fn documents(s: &Server, http: &reqwest::Client, token: &str) -> Response {
    let r = http
        .get(s.url("/api/v1/documents"))
        .bearer_auth(token)
        .header("X-Tenant-Id", "acme")
        .send()
        .await
        .unwrap();
    Response::read(r).await
}

/// `POST /oauth/token` with `body` through `http`.
async fn token(s: &Server, http: &reqwest::Client, body: &str) -> Response {
    let r = http
        .post(s.url("/oauth/token"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    Response::read(r).await
}

fn refresh_body(refresh_token: &str) -> String {
    form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", "demo-spa"),
    ])
}

fn assert_throttled(r: &Response) {
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.json()["error"], "too_many_requests");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
}

/// The `throttled` rows of acme's audit log.
async fn throttled_rows(s: &Server) -> usize {
    let r = Response::read(
        s.admin(Method::GET, "/admin/audit?limit=1000")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body.matches("\"type\":\"throttled\"").count()
}

/// 40 guesses from one address: the first 30 get 401, the rest 429. A valid
/// key, a valid access token, a refresh and an admin call from that very
/// address all succeed throughout; another address's guess gets 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_are_throttled_and_valid_credentials_never_are() {
    for s in servers().await {
        let here = client_from("127.0.0.1");
        let tokens = s.tokens().await;
        let access = tokens["access_token"].as_str().unwrap().to_owned();
        let mut refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        for i in 0..40 {
            // Well-formed but unknown keys: each is a digest and a lookup.
            let guess = format!("pk_live_{:0>38}", i);
            let r = documents(&s, &here, &guess).await;
            if i < 30 {
                assert_eq!(r.status, 401, "guess {i}: {}", r.body);
            } else {
                assert_throttled(&r);
            }
            if i % 10 == 9 {
                assert_eq!(documents(&s, &here, &s.admin_key).await.status, 200);
                assert_eq!(documents(&s, &here, &access).await.status, 200);
                let t = token(&s, &here, &refresh_body(&refresh)).await;
                assert_eq!(t.status, 200, "{}", t.body);
                refresh = t.json()["refresh_token"].as_str().unwrap().to_owned();
                let keys = Response::read(
                    here.get(s.url("/admin/api-keys"))
                        .bearer_auth(&s.admin_key)
                        .header("X-Tenant-Id", "acme")
                        .send()
                        .await
                        .unwrap(),
                )
                .await;
                assert_eq!(keys.status, 200, "{}", keys.body);
            }
        }
        // The sign-in form has limits of its own: untouched.
        let signed_in = s
            .sign_in(
                &here,
                &s.authorize_query(&[]),
                "approve",
                ("alice", "wonderland"),
                &["documents:read"],
                None,
            )
            .await;
        assert_eq!(signed_in.status, 303, "{}", signed_in.body);
        // Another address's guess is its own first failure.
        let elsewhere = client_from("127.0.0.2");
        assert_eq!(
            documents(&s, &elsewhere, "pk_live_one_more_guess_aaaaaaaaaaaaaaaa")
                .await
                .status,
            401
        );
        // Audited once per throttled subject and window, not per refusal.
        assert_eq!(throttled_rows(&s).await, 1);
        for _ in 0..5 {
            assert_throttled(
                &documents(
                    &s,
                    &here,
                    "pk_live_0000000000000000000000000000000000000007",
                )
                .await,
            );
        }
        assert_eq!(throttled_rows(&s).await, 1, "no row per refusal");
    }
}

/// The product's rotation flow with one replica left on the old key: it
/// hammers the API with the revoked key from an address that the new key
/// and the admin key share. Only the revoked key is throttled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_replica_does_not_take_its_address_down() {
    for s in servers().await {
        let here = client_from("127.0.0.1");
        let (old, old_id) = s
            .create_key(json!({"name": "sync", "scopes": "documents:read"}))
            .await;
        let rotated = Response::read(
            s.admin(Method::POST, &format!("/admin/api-keys/{old_id}/rotate"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(rotated.status, 201, "{}", rotated.body);
        let new = rotated.json()["key"].as_str().unwrap().to_owned();
        let revoked = Response::read(
            s.admin(Method::POST, &format!("/admin/api-keys/{old_id}/revoke"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(revoked.status, 200, "{}", revoked.body);

        for i in 0..36 {
            let r = documents(&s, &here, &old).await;
            if i < 30 {
                assert_eq!(r.status, 401, "call {i}: {}", r.body);
            } else {
                assert_throttled(&r);
            }
            if i % 6 == 5 {
                assert_eq!(documents(&s, &here, &new).await.status, 200, "call {i}");
                assert_eq!(documents(&s, &here, &s.admin_key).await.status, 200);
            }
        }
        // A revoked key is no guess: it cost its address nothing, so a
        // mistyped key from the same address is an ordinary 401...
        assert_eq!(
            documents(&s, &here, "pk_live_mistyped_aaaaaaaaaaaaaaaaaaaaaaaaa")
                .await
                .status,
            401
        );
        // ...while the hammered key itself is throttled from anywhere.
        assert_throttled(&documents(&s, &client_from("127.0.0.2"), &old).await);
    }
}

/// 32 concurrent refreshes of one refresh token: exactly one wins; the
/// losers get `invalid_grant` (or 429 once their token is over its limit),
/// and their address and the client's other families lose nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_losers_of_a_refresh_race_cost_nothing_but_their_token() {
    for s in servers().await {
        let here = client_from("127.0.0.1");
        let raced = s.tokens().await;
        let other = s.tokens().await;
        let body = refresh_body(raced["refresh_token"].as_str().unwrap());
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let (http, url, body) = (here.clone(), s.url("/oauth/token"), body.clone());
            tasks.push(tokio::spawn(async move {
                let r = http
                    .post(url)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                Response::read(r).await
            }));
        }
        let mut statuses = Vec::new();
        for t in tasks {
            let r = t.await.unwrap();
            if r.status == 400 {
                assert_eq!(r.json()["error"], "invalid_grant", "{}", r.body);
            }
            statuses.push(r.status);
        }
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "{statuses:?}"
        );
        assert!(
            statuses.iter().all(|s| [200, 400, 429].contains(s)),
            "{statuses:?}"
        );
        // The client's other family refreshes; the address signs in, and a
        // guess from it is an ordinary 401.
        let t = token(
            &s,
            &here,
            &refresh_body(other["refresh_token"].as_str().unwrap()),
        )
        .await;
        assert_eq!(t.status, 200, "{}", t.body);
        let page = Response::read(
            here.get(s.url(&format!("/oauth/authorize?{}", s.authorize_query(&[]))))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(page.status, 200);
        assert_eq!(
            documents(&s, &here, "pk_live_after_the_race_aaaaaaaaaaaaaaaaaa")
                .await
                .status,
            401
        );
    }
}

/// The sign-in form: limits per address and username (10), per address
/// (50) and per username across addresses (20) are asked before the
/// password is checked; a browser with the user's device cookie is held to
/// its own limit only; API and token calls from a throttled address work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_limits_spare_other_calls_and_known_browsers() {
    for s in servers().await {
        let query = s.authorize_query(&[]);
        let sign_in = |http: reqwest::Client,
                       user: &'static str,
                       password: &'static str,
                       device: Option<String>| {
            let (s, query) = (&s, query.clone());
            async move {
                s.sign_in(
                    &http,
                    &query,
                    "approve",
                    (user, password),
                    &["documents:read"],
                    device.as_deref(),
                )
                .await
            }
        };
        // Alice signs in once from her laptop: it gets a device cookie.
        let laptop = client_from("127.0.0.9");
        let ok = sign_in(laptop.clone(), "alice", "wonderland", None).await;
        assert_eq!(ok.status, 303, "{}", ok.body);
        let device = ok
            .headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("papyrus_device="))
            .expect("a device cookie after a sign-in")
            .split(';')
            .next()
            .unwrap()
            .to_owned();

        // Ten wrong passwords from one address; the eleventh attempt is
        // refused before its (right) password is checked.
        let attacker = client_from("127.0.0.2");
        for _ in 0..10 {
            let r = sign_in(attacker.clone(), "alice", "guess", None).await;
            assert_eq!(r.status, 401, "{}", r.body);
            assert!(r.body.contains("Wrong username or password"));
        }
        let r = sign_in(attacker.clone(), "alice", "wonderland", None).await;
        assert_eq!(r.status, 429, "{}", r.body);
        assert!(r.header("retry-after").is_some());
        // The throttled address's API and token calls are untouched.
        assert_eq!(documents(&s, &attacker, &s.admin_key).await.status, 200);
        let tokens = s.tokens().await;
        let t = token(
            &s,
            &attacker,
            &refresh_body(tokens["refresh_token"].as_str().unwrap()),
        )
        .await;
        assert_eq!(t.status, 200, "{}", t.body);
        // Alice from another address is not refused.
        let ok = sign_in(client_from("127.0.0.3"), "alice", "wonderland", None).await;
        assert_eq!(ok.status, 303, "{}", ok.body);

        // A distributed guesser: ten more failures from another address
        // bring alice's account to 20; a new browser is refused for the
        // window, her laptop (with its device cookie) is not.
        for _ in 0..10 {
            let r = sign_in(client_from("127.0.0.4"), "alice", "guess", None).await;
            assert_eq!(r.status, 401, "{}", r.body);
        }
        let r = sign_in(client_from("127.0.0.5"), "alice", "wonderland", None).await;
        assert_eq!(r.status, 429, "{}", r.body);
        let ok = sign_in(laptop.clone(), "alice", "wonderland", Some(device.clone())).await;
        assert_eq!(ok.status, 303, "{}", ok.body);
        // A device cookie is alice's only: it does not lift bob's limits.
        let r = sign_in(
            client_from("127.0.0.5"),
            "alice",
            "wonderland",
            Some(device.clone()),
        )
        .await;
        assert_eq!(r.status, 303, "{}", r.body);

        // Password spraying from one address: 50 failures over 50 users,
        // then that address is refused whoever it names, unless the browser
        // carries that user's device cookie.
        let sprayer = client_from("127.0.0.6");
        const USERS: [&str; 50] = [
            "u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9", "u10", "u11", "u12", "u13",
            "u14", "u15", "u16", "u17", "u18", "u19", "u20", "u21", "u22", "u23", "u24", "u25",
            "u26", "u27", "u28", "u29", "u30", "u31", "u32", "u33", "u34", "u35", "u36", "u37",
            "u38", "u39", "u40", "u41", "u42", "u43", "u44", "u45", "u46", "u47", "u48", "u49",
        ];
        for user in USERS {
            let r = sign_in(sprayer.clone(), user, "Summer2026!", None).await;
            assert_eq!(r.status, 401, "{user}: {}", r.body);
        }
        let r = sign_in(sprayer.clone(), "carol", "Summer2026!", None).await;
        assert_eq!(r.status, 429, "{}", r.body);
        let ok = sign_in(sprayer.clone(), "alice", "wonderland", Some(device)).await;
        assert_eq!(ok.status, 303, "{}", ok.body);
        assert!(
            throttled_rows(&s).await >= 3,
            "each throttled subject is audited"
        );
    }
}

/// A failing client authentication at the token endpoint counts per address
/// and client id: a third address naming the throttled client is answered
/// on its merits, so nobody can lock a client's users out everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ids_are_throttled_per_address() {
    for s in servers().await {
        let from = |ip: &str| {
            let (c, url) = (client_from(ip), s.url("/oauth/token"));
            async move {
                Response::read(
                    c.post(url)
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .basic_auth("demo-spa", Some("guess"))
                        .body("grant_type=refresh_token&refresh_token=prt_x")
                        .send()
                        .await
                        .unwrap(),
                )
                .await
            }
        };
        for _ in 0..30 {
            let r = from("127.0.0.2").await;
            assert_eq!(r.status, 401, "{}", r.body);
            assert_eq!(r.json()["error"], "invalid_client");
        }
        assert_throttled(&from("127.0.0.2").await);
        let r = from("127.0.0.3").await;
        assert_eq!(r.status, 401, "{}", r.body);
        assert_eq!(r.json()["error"], "invalid_client");
    }
}
