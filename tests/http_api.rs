//! Black-box tests of the HTTP surface: real servers on 127.0.0.1 ephemeral
//! ports, driven by a real HTTP client. Every test runs against every web
//! framework this build has (axum; actix-web with `--features actix`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod common;

use base64::Engine as _;
#[cfg(feature = "actix")]
use common::Framework;
use common::{
    Response, Server, VERIFIER, form, frameworks, hidden, location_params, servers, start,
};
use papyrus_auth::http::TrustedProxies;
use reqwest::Method;
use serde_json::json;

fn assert_json_error(r: &Response, status: u16, error: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(r.json()["error"], error, "{}", r.body);
}

// ----- API keys -----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_lifecycle_over_http() {
    for s in servers().await {
        let (key, id) = s
            .create_key(json!({"name": "billing-sync", "scopes": "documents:read"}))
            .await;
        assert!(key.starts_with("pk_live_"));
        // The product document's curl line.
        let r = s.documents(&key, "acme").await;
        assert_eq!(r.status, 200, "{:?}: {}", s.framework, r.body);
        assert_eq!(r.json()["tenant"], "acme");
        // Writing needs documents:write.
        let w = Response::read(
            s.http
                .post(s.url("/api/v1/documents"))
                .bearer_auth(&key)
                .header("X-Tenant-Id", "acme")
                .json(&json!({"title": "t", "content": "c"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_json_error(&w, 403, "insufficient_scope");
        assert_eq!(
            w.header("www-authenticate").unwrap(),
            format!(
                "Bearer realm=\"papyrus\", error=\"insufficient_scope\", scope=\"documents:write\", \
                 resource_metadata=\"{}/.well-known/oauth-protected-resource/api\"",
                s.base
            )
        );

        // Rotate: both keys work during the rolling deploy.
        let rot = Response::read(
            s.admin(Method::POST, &format!("/admin/api-keys/{id}/rotate"))
                .json(&json!({}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(rot.status, 201, "{}", rot.body);
        let new_key = rot.json()["key"].as_str().unwrap().to_owned();
        assert_eq!(rot.json()["api_key"]["scopes"], "documents:read");
        let traffic = Response::read(
            s.admin(Method::GET, &format!("/admin/api-keys/{id}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(traffic.json()["traffic"]["state"], "quiet");
        assert_eq!(s.documents(&key, "acme").await.status, 200);
        let traffic = Response::read(
            s.admin(Method::GET, &format!("/admin/api-keys/{id}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(traffic.json()["traffic"]["state"], "still_used");
        assert_eq!(traffic.json()["api_key"]["status"], "rotated_out");
        assert_eq!(s.documents(&new_key, "acme").await.status, 200);

        // Revoke: 401 on the very next call, with the RFC 6750 challenge.
        let rev = Response::read(
            s.admin(Method::POST, &format!("/admin/api-keys/{id}/revoke"))
                .json(&json!({}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(rev.status, 200, "{}", rev.body);
        assert_eq!(rev.json()["api_key"]["status"], "revoked");
        let r = s.documents(&key, "acme").await;
        assert_json_error(&r, 401, "invalid_token");
        assert!(
            r.header("www-authenticate")
                .unwrap()
                .contains("error=\"invalid_token\"")
        );
        assert_eq!(s.documents(&new_key, "acme").await.status, 200);

        // The list shows no secret; the audit log shows the lifecycle.
        let list = Response::read(
            s.admin(Method::GET, "/admin/api-keys")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(!list.body.contains(&key[8..]) && !list.body.contains(&new_key[8..]));
        assert_eq!(list.header("cache-control"), Some("no-store"));
        let audit = Response::read(
            s.admin(Method::GET, &format!("/admin/audit?key_id={id}&limit=50"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        let types: Vec<String> = audit.json()["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect();
        for t in [
            "key_created",
            "key_rotated",
            "key_used",
            "key_revoked",
            "key_rejected",
        ] {
            assert!(types.iter().any(|x| x == t), "{t} missing from {types:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_statuses_bodies_and_challenges() {
    for s in servers().await {
        let none = Response::read(
            s.http
                .get(s.url("/api/v1/documents"))
                .header("X-Tenant-Id", "acme")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_json_error(&none, 401, "unauthorized");
        assert_eq!(
            none.header("www-authenticate").unwrap(),
            format!(
                "Bearer realm=\"papyrus\", resource_metadata=\"{}/.well-known/oauth-protected-resource/api\"",
                s.base
            )
        );
        let bare =
            Response::read(s.http.get(s.url("/api/v1/documents")).send().await.unwrap()).await;
        assert_eq!(
            bare.status, 401,
            "no credential and no tenant: the challenge comes first"
        );
        let malformed = s.documents("pk_live_typo", "acme").await;
        assert_json_error(&malformed, 401, "invalid_token");
        let unknown = s
            .documents("pk_live_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "acme")
            .await;
        assert_eq!(
            (unknown.status, unknown.json()),
            (malformed.status, malformed.json())
        );
        let no_tenant = Response::read(
            s.http
                .get(s.url("/api/v1/documents"))
                .bearer_auth(&s.admin_key)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_json_error(&no_tenant, 400, "invalid_request");
        assert!(
            no_tenant.json()["error_description"]
                .as_str()
                .unwrap()
                .contains("X-Tenant-Id")
        );
        let bad_tenant = s.documents(&s.admin_key, "Not A Tenant").await;
        assert_json_error(&bad_tenant, 400, "invalid_request");
        // A credential that is not even a b64token: 401 before any tenant check.
        let garbage = Response::read(
            s.http
                .get(s.url("/api/v1/documents"))
                .header("Authorization", "Bearer not\"a-token")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_json_error(&garbage, 401, "invalid_token");
        // Another tenant's key: the same 401 as an unknown key.
        let other = s.documents(&s.admin_key, "globex").await;
        assert_eq!(
            (other.status, other.json()),
            (malformed.status, malformed.json())
        );
        // Admin endpoints need the admin scope. (Scopes may also be sent as
        // an array.)
        let (reader, _) = s
            .create_key(json!({"name": "reader", "scopes": ["documents:read"]}))
            .await;
        let denied = Response::read(
            s.http
                .get(s.url("/admin/api-keys"))
                .bearer_auth(&reader)
                .header("X-Tenant-Id", "acme")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_json_error(&denied, 403, "insufficient_scope");
        let bad_json = Response::read(
            s.admin(Method::POST, "/admin/api-keys")
                .header("content-type", "application/json")
                .body("{nope")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_json_error(&bad_json, 400, "invalid_request");
        let not_json = Response::read(
            s.admin(Method::POST, "/admin/api-keys")
                .body("name=x")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_json_error(&not_json, 415, "unsupported_media_type");
        let bad_scope = Response::read(
            s.admin(Method::POST, "/admin/api-keys")
                .json(&json!({"name": "x", "scopes": "a  b"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_json_error(&bad_scope, 400, "invalid_request");
        let two_in_one = Response::read(
            s.admin(Method::POST, "/admin/api-keys")
                .json(&json!({"name": "x", "scopes": ["documents:read documents:write"]}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_json_error(&two_in_one, 400, "invalid_request");
        // A misspelt field is refused, never dropped: `ip_allow_list` ignored
        // would make a key usable from anywhere.
        for (path, body) in [
            (
                "/admin/api-keys",
                json!({"name": "typo", "scopes": "documents:read", "ip_allow_list": ["10.0.0.0/8"]}),
            ),
            (
                "/admin/clients",
                json!({"name": "app", "kind": "public", "redirect_uris": ["https://app.example/cb"],
                       "allowed_scopes": "documents:read", "redirect_uri": "https://evil.example/cb"}),
            ),
        ] {
            let typo = Response::read(
                s.admin(Method::POST, path)
                    .json(&body)
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_json_error(&typo, 400, "invalid_request");
            let description = typo.json()["error_description"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(
                description.contains("unknown field"),
                "{path}: {description}"
            );
        }
        let listed = Response::read(
            s.admin(Method::GET, "/admin/api-keys")
                .send()
                .await
                .unwrap(),
        )
        .await
        .json();
        assert!(
            !listed.to_string().contains("\"typo\""),
            "no key was created from the misspelt body: {listed}"
        );
        let (_, typo_rotate) = s
            .create_key(json!({"name": "rotate-me", "scopes": "documents:read"}))
            .await;
        let rotate = Response::read(
            s.admin(
                Method::POST,
                &format!("/admin/api-keys/{typo_rotate}/rotate"),
            )
            .json(&json!({"grace_seconds": 60}))
            .send()
            .await
            .unwrap(),
        )
        .await;
        assert_json_error(&rotate, 400, "invalid_request");
        // A credential or tenant header sent twice is refused whichever copy
        // is valid: a proxy reading the other copy would disagree.
        let admin = format!("Bearer {}", s.admin_key);
        let junk = "Bearer pk_live_junk";
        for headers in [
            [
                ("Authorization", admin.as_str()),
                ("Authorization", junk),
                ("X-Tenant-Id", "acme"),
            ],
            [
                ("Authorization", junk),
                ("Authorization", admin.as_str()),
                ("X-Tenant-Id", "acme"),
            ],
            [
                ("Authorization", admin.as_str()),
                ("X-Tenant-Id", "acme"),
                ("X-Tenant-Id", "globex"),
            ],
        ] {
            let mut request = s.http.get(s.url("/api/v1/documents"));
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let r = Response::read(request.send().await.unwrap()).await;
            assert_json_error(&r, 400, "invalid_request");
        }
        let r = Response::read(
            s.http
                .post(s.url("/oauth/token"))
                .header("X-Tenant-Id", "acme")
                .header("Content-Type", "application/x-www-form-urlencoded")
                .basic_auth("demo-spa", Some("x"))
                .header("Authorization", "Basic ZGVtby1zcGE6")
                .body("grant_type=refresh_token&refresh_token=prt_x")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_json_error(&r, 400, "invalid_request");
        let missing = Response::read(
            s.admin(Method::GET, "/admin/api-keys/key_nothere")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_json_error(&missing, 404, "not_found");
        let garbage_id = Response::read(
            s.admin(Method::GET, "/admin/api-keys/..%2f..")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(garbage_id.status, 404);
        let wrong_method = Response::read(
            s.admin(Method::DELETE, "/admin/api-keys")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_json_error(&wrong_method, 405, "method_not_allowed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_allowlists_and_spoofed_forwarding_headers() {
    for fw in frameworks() {
        let direct = start(fw, TrustedProxies::none()).await;
        let (key, _) = direct.create_key(json!({"name": "office", "scopes": "documents:read", "ip_allowlist": ["203.0.113.0/24"]})).await;
        let call = |s: &Server, key: &str, xff: Option<&str>| {
            let mut req = s
                .http
                .get(s.url("/api/v1/documents"))
                .bearer_auth(key)
                .header("X-Tenant-Id", "acme");
            if let Some(x) = xff {
                req = req.header("X-Forwarded-For", x);
            }
            async move { Response::read(req.send().await.unwrap()).await }
        };
        // We connect from 127.0.0.1: outside the allowlist.
        assert_json_error(&call(&direct, &key, None).await, 403, "ip_not_allowed");
        // A spoofed X-Forwarded-For from an untrusted peer is ignored.
        assert_json_error(
            &call(&direct, &key, Some("203.0.113.5")).await,
            403,
            "ip_not_allowed",
        );
        let (local, _) = direct
            .create_key(
                json!({"name": "local", "scopes": "documents:read", "ip_allowlist": ["127.0.0.1"]}),
            )
            .await;
        assert_eq!(call(&direct, &local, Some("203.0.113.5")).await.status, 200);

        // Behind a trusted proxy (127.0.0.1), the header is believed, right to left.
        let proxied = start(fw, TrustedProxies::parse(["127.0.0.1/32"]).unwrap()).await;
        let (key, _) = proxied.create_key(json!({"name": "office", "scopes": "documents:read", "ip_allowlist": ["203.0.113.0/24"]})).await;
        assert_eq!(call(&proxied, &key, Some("203.0.113.5")).await.status, 200);
        assert_json_error(
            &call(&proxied, &key, Some("203.0.113.5, 198.51.100.9")).await,
            403,
            "ip_not_allowed",
        );
        assert_json_error(&call(&proxied, &key, None).await, 403, "ip_not_allowed");
    }
}

// ----- OAuth -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkce_flow_with_login_consent_refresh_and_reuse_detection() {
    for s in servers().await {
        let page = s
            .get(&format!("/oauth/authorize?{}", s.authorize_query(&[])))
            .await;
        assert_eq!(page.status, 200);
        assert_eq!(page.header("x-frame-options"), Some("DENY"));
        let csp = page.header("content-security-policy").unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        // The form's answer is a redirect to the client, which browsers
        // check against form-action: its origin is allowed.
        assert!(
            csp.ends_with(&format!("; form-action 'self' {}", s.base)),
            "{csp}"
        );
        assert_eq!(page.header("cache-control"), Some("no-store"));
        assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
        let cookie = page.header("set-cookie").unwrap();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        assert!(page.body.contains("Papyrus demo app"));

        let r = s
            .consent(
                &s.authorize_query(&[]),
                "approve",
                "wonderland",
                &["documents:read"],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let loc = r.header("location").unwrap();
        assert!(loc.starts_with(&format!("{}/app/callback?", s.base)));
        let p = location_params(loc);
        assert_eq!(p["state"], "s t&ate");
        assert_eq!(p["iss"], s.base);

        let redirect = format!("{}/app/callback", s.base);
        let body = form(&[
            ("grant_type", "authorization_code"),
            ("code", &p["code"]),
            ("redirect_uri", &redirect),
            ("client_id", "demo-spa"),
            ("code_verifier", VERIFIER),
        ]);
        let t = s.post_form("/oauth/token", &body, &[]).await;
        assert_eq!(t.status, 200, "{}", t.body);
        assert_eq!(t.header("cache-control"), Some("no-store"));
        assert_eq!(t.header("pragma"), Some("no-cache"));
        let tokens = t.json();
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["expires_in"], 3600);
        assert_eq!(
            tokens["scope"], "documents:read",
            "the user approved only documents:read"
        );
        let access = tokens["access_token"].as_str().unwrap();
        assert_eq!(s.documents(access, "acme").await.status, 200);

        // The code is single-use.
        let replay = s.post_form("/oauth/token", &body, &[]).await;
        assert_json_error(&replay, 400, "invalid_grant");
        assert_eq!(
            s.documents(access, "acme").await.status,
            401,
            "a replayed code revokes its tokens"
        );

        // Refresh rotation and reuse detection.
        let tokens = s.tokens().await;
        let r1 = tokens["refresh_token"].as_str().unwrap();
        let refresh = |rt: &str| {
            form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("client_id", "demo-spa"),
            ])
        };
        let t2 = s.post_form("/oauth/token", &refresh(r1), &[]).await;
        assert_eq!(t2.status, 200, "{}", t2.body);
        let t2 = t2.json();
        assert_ne!(t2["refresh_token"], tokens["refresh_token"]);
        let a2 = t2["access_token"].as_str().unwrap();
        assert_eq!(s.documents(a2, "acme").await.status, 200);
        let reuse = s.post_form("/oauth/token", &refresh(r1), &[]).await;
        assert_json_error(&reuse, 400, "invalid_grant");
        assert_eq!(
            s.documents(a2, "acme").await.status,
            401,
            "the family is revoked"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_form_csrf_wrong_password_and_denial() {
    for s in servers().await {
        let query = s.authorize_query(&[]);
        let page = s.get(&format!("/oauth/authorize?{query}")).await;
        let request = hidden(&page.body, "request");
        let csrf = hidden(&page.body, "csrf_token");
        let cookie = page
            .header("set-cookie")
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let post = |token: &str, cookie: Option<&str>| {
            let body = form(&[
                ("request", &request),
                ("csrf_token", token),
                ("username", "alice"),
                ("password", "wonderland"),
                ("decision", "approve"),
                ("scope", "documents:read"),
            ]);
            let cookie = cookie.map(str::to_owned);
            let s = &s;
            async move {
                let headers: Vec<(&str, &str)> = cookie
                    .as_deref()
                    .map(|c| vec![("Cookie", c)])
                    .unwrap_or_default();
                s.post_form("/oauth/authorize", &body, &headers).await
            }
        };
        // Without the cookie (a cross-site POST), or with a forged token: 403, no code.
        for r in [
            post(&csrf, None).await,
            post("123.forged", Some(&cookie)).await,
            post(&csrf, Some("papyrus_csrf=other")).await,
        ] {
            assert_eq!(r.status, 403, "{}", r.body);
            assert!(r.header("location").is_none());
        }
        // Wrong password: the page again, with an error, no redirect.
        let wrong = s
            .consent(&query, "approve", "not-the-password", &["documents:read"])
            .await;
        assert_eq!(wrong.status, 401);
        assert!(wrong.body.contains("Wrong username or password"));
        assert!(wrong.header("location").is_none());
        // Denial: back to the client with access_denied.
        let deny = s.consent(&query, "deny", "", &[]).await;
        assert_eq!(deny.status, 303);
        let p = location_params(deny.header("location").unwrap());
        assert_eq!(p["error"], "access_denied");
        assert_eq!(p["state"], "s t&ate");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_errors_page_or_redirect() {
    for s in servers().await {
        for bad in [
            s.authorize_query(&[("client_id", "nope")]),
            s.authorize_query(&[("redirect_uri", "https://evil.example/cb")]),
            format!("{}&client_id=demo-spa", s.authorize_query(&[])),
        ] {
            let r = s.get(&format!("/oauth/authorize?{bad}")).await;
            assert_eq!(r.status, 400, "{bad}");
            assert!(r.header("content-type").unwrap().starts_with("text/html"));
            assert!(r.header("location").is_none());
        }
        for (change, error) in [
            (("code_challenge_method", "plain"), "invalid_request"),
            (("response_type", "token"), "unsupported_response_type"),
            (("scope", "analytics:read"), "invalid_scope"),
        ] {
            let r = s
                .get(&format!(
                    "/oauth/authorize?{}",
                    s.authorize_query(&[change])
                ))
                .await;
            assert_eq!(r.status, 302, "{change:?}");
            let p = location_params(r.header("location").unwrap());
            assert_eq!(p["error"], error);
            assert_eq!(p["state"], "s t&ate");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_errors() {
    for s in servers().await {
        let wrong_type = Response::read(
            s.http
                .post(s.url("/oauth/token"))
                .json(&json!({"grant_type": "refresh_token"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_json_error(&wrong_type, 400, "invalid_request");
        let r = s
            .post_form(
                "/oauth/token",
                "grant_type=password&username=a&password=b",
                &[],
            )
            .await;
        assert_json_error(&r, 400, "unsupported_grant_type");
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("nobody:secret")
        );
        let r = s
            .post_form(
                "/oauth/token",
                "grant_type=refresh_token&refresh_token=prt_x",
                &[("Authorization", &basic)],
            )
            .await;
        assert_json_error(&r, 401, "invalid_client");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Basic realm=\"papyrus\"")
        );
        let r = s
            .post_form(
                "/oauth/token",
                "grant_type=authorization_code&client_id=demo-spa&code=pac_x",
                &[],
            )
            .await;
        assert_json_error(&r, 400, "invalid_request");
        let r = s
            .post_form(
                "/oauth/token",
                "grant_type=refresh_token&client_id=demo-spa&refresh_token=prt_unknown",
                &[],
            )
            .await;
        assert_json_error(&r, 400, "invalid_grant");
        let wrong_method = s.get("/oauth/token").await;
        assert_json_error(&wrong_method, 405, "method_not_allowed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_introspection_and_metadata() {
    for s in servers().await {
        let tokens = s.tokens().await;
        let access = tokens["access_token"].as_str().unwrap();
        // The admin key holds tokens:introspect: a resource server's introspection.
        let introspect = |token: &str| {
            let req = s
                .http
                .post(s.url("/oauth/introspect"))
                .bearer_auth(&s.admin_key)
                .header("X-Tenant-Id", "acme")
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form(&[("token", token)]));
            async move { Response::read(req.send().await.unwrap()).await }
        };
        let i = introspect(access).await;
        assert_eq!(i.status, 200, "{}", i.body);
        assert_eq!(i.json()["active"], true);
        assert_eq!(i.json()["sub"], "user_alice");
        assert_eq!(i.json()["client_id"], "demo-spa");
        // Without a credential: refused.
        let anon = s
            .post_form("/oauth/introspect", &form(&[("token", access)]), &[])
            .await;
        assert_json_error(&anon, 401, "invalid_client");
        let challenges: Vec<&str> = anon
            .headers
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(
            challenges,
            ["Basic realm=\"papyrus\"", "Bearer realm=\"papyrus\""],
            "client credentials or an API key with the introspection scope"
        );

        let rev = s
            .post_form(
                "/oauth/revoke",
                &form(&[("token", access), ("client_id", "demo-spa")]),
                &[],
            )
            .await;
        assert_eq!(rev.status, 200, "{}", rev.body);
        assert_eq!(introspect(access).await.json(), json!({"active": false}));
        assert_eq!(s.documents(access, "acme").await.status, 401);
        let unknown = s
            .post_form(
                "/oauth/revoke",
                &form(&[("token", "pat_unknown"), ("client_id", "demo-spa")]),
                &[],
            )
            .await;
        assert_eq!(unknown.status, 200);

        let m1 = s.get("/.well-known/oauth-authorization-server").await;
        let m2 = s.get("/.well-known/openid-configuration").await;
        assert_eq!(m1.status, 200);
        assert_eq!(m1.body, m2.body);
        let m = m1.json();
        assert_eq!(m["issuer"], s.base);
        assert_eq!(m["token_endpoint"], format!("{}/oauth/token", s.base));
        assert_eq!(m["code_challenge_methods_supported"], json!(["S256"]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_requests_get_json_errors() {
    for s in servers().await {
        let big = "a".repeat(70 * 1024);
        let r = s
            .post_form(
                "/oauth/token",
                &format!("grant_type=refresh_token&x={big}"),
                &[],
            )
            .await;
        assert_json_error(&r, 413, "payload_too_large");
        let r = Response::read(
            s.admin(Method::POST, "/admin/api-keys")
                .header("content-type", "application/json")
                .body(format!("{{\"name\":\"{big}\"}}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_json_error(&r, 413, "payload_too_large");
        // Too many scopes or allowlist entries in a key: 400 with a JSON error.
        let scopes: Vec<String> = (0..65).map(|i| format!("s{i}:read")).collect();
        let r = Response::read(
            s.admin(Method::POST, "/admin/api-keys")
                .json(&json!({"name": "x", "scopes": scopes.join(" ")}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_json_error(&r, 400, "invalid_request");
        let nets: Vec<String> = (0..65).map(|i| format!("10.0.{i}.0/24")).collect();
        let r = Response::read(
            s.admin(Method::POST, "/admin/api-keys")
                .json(&json!({"name": "x", "scopes": "documents:read", "ip_allowlist": nets}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_json_error(&r, 400, "invalid_request");
        let long_scope = format!("{}:read", "a".repeat(200));
        let r = s
            .get(&format!(
                "/oauth/authorize?{}",
                s.authorize_query(&[("scope", &long_scope)])
            ))
            .await;
        assert_eq!(
            r.status, 302,
            "an over-long scope is invalid_scope, sent back to the client"
        );
        assert_eq!(
            location_params(r.header("location").unwrap())["error"],
            "invalid_scope"
        );
        let long_state = "s".repeat(5000);
        let r = s
            .get(&format!(
                "/oauth/authorize?{}",
                s.authorize_query(&[("state", &long_state)])
            ))
            .await;
        assert_eq!(
            r.status, 400,
            "an over-long parameter is refused without a redirect"
        );
        let many: Vec<String> = (0..40).map(|i| format!("p{i}=1")).collect();
        let r = s
            .post_form(
                "/oauth/token",
                &format!("grant_type=refresh_token&{}", many.join("&")),
                &[],
            )
            .await;
        assert_json_error(&r, 400, "invalid_request");
        let huge_header = "x".repeat(20 * 1024);
        let r = Response::read(
            s.http
                .get(s.url("/api/v1/documents"))
                .bearer_auth(&s.admin_key)
                .header("X-Tenant-Id", "acme")
                .header("X-Padding", &huge_header)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_json_error(&r, 400, "invalid_request");
        let long_auth = format!("Bearer {}", "a".repeat(5000));
        let r = Response::read(
            s.http
                .get(s.url("/api/v1/documents"))
                .header("Authorization", long_auth)
                .header("X-Tenant-Id", "acme")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_json_error(&r, 401, "invalid_token");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_isolation_over_http() {
    for s in servers().await {
        let tokens = s.tokens().await;
        let access = tokens["access_token"].as_str().unwrap();
        assert_eq!(s.documents(access, "acme").await.status, 200);
        assert_json_error(&s.documents(access, "globex").await, 401, "invalid_token");
        let admin_elsewhere = Response::read(
            s.http
                .get(s.url("/admin/api-keys"))
                .bearer_auth(&s.admin_key)
                .header("X-Tenant-Id", "globex")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_json_error(&admin_elsewhere, 401, "invalid_token");
    }
}

/// The adapters share the framework-neutral layer, so deterministic
/// requests get the same status, headers and body from both.
#[cfg(feature = "actix")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_and_actix_answer_byte_for_byte_alike() {
    let a = start(Framework::Axum, TrustedProxies::none()).await;
    let b = start(Framework::Actix, TrustedProxies::none()).await;
    type Probe<'a> = (Method, &'a str, Vec<(&'a str, &'a str)>, &'a str);
    let probes: Vec<Probe<'_>> = vec![
        (
            Method::GET,
            "/api/v1/documents",
            vec![("X-Tenant-Id", "acme")],
            "",
        ),
        (
            Method::GET,
            "/api/v1/documents",
            vec![
                ("Authorization", "Bearer pk_live_x"),
                ("X-Tenant-Id", "acme"),
            ],
            "",
        ),
        (
            Method::GET,
            "/api/v1/documents",
            vec![("Authorization", "Bearer pk_live_x")],
            "",
        ),
        (
            Method::POST,
            "/oauth/token",
            vec![("Content-Type", "application/x-www-form-urlencoded")],
            "grant_type=password",
        ),
        (
            Method::POST,
            "/oauth/token",
            vec![("Content-Type", "application/json")],
            "{}",
        ),
        (Method::GET, "/oauth/token", vec![], ""),
        (Method::GET, "/oauth/authorize?client_id=nope", vec![], ""),
        (Method::GET, "/admin/api-keys", vec![], ""),
        (Method::GET, "/nowhere/at/all", vec![], ""),
    ];
    for (method, path, headers, body) in probes {
        let mut out = Vec::new();
        for s in [&a, &b] {
            let mut req = s
                .http
                .request(method.clone(), s.url(path))
                .body(body.to_owned());
            for (k, v) in &headers {
                req = req.header(*k, *v);
            }
            out.push(Response::read(req.send().await.unwrap()).await);
        }
        // Each server names its own address (the resource metadata URL).
        let strip = |r: &Response, base: &str| {
            let mut h: Vec<(String, String)> = r
                .headers
                .iter()
                .filter(|(n, _)| !matches!(n.as_str(), "date" | "content-length" | "connection"))
                .map(|(n, v)| {
                    (
                        n.to_string(),
                        v.to_str().unwrap_or("").replace(base, "BASE"),
                    )
                })
                .collect();
            h.sort();
            (r.status, h, r.body.clone())
        };
        assert_eq!(
            strip(&out[0], &a.base),
            strip(&out[1], &b.base),
            "{method} {path}"
        );
    }
}

/// A header value is never sliced at a byte index: a non-ASCII
/// `Authorization` (which a custom adapter may pass on) is refused, not a
/// panic.
#[tokio::test]
async fn non_ascii_authorization_on_introspection_is_refused() {
    use std::sync::Arc;

    use papyrus_auth::{
        ApiKeys, MemoryApiKeyStore, MemoryAuditLog, MemoryClientStore, MemoryGrantStore,
        http::{HttpAuth, HttpAuthConfig, HttpRequest, StaticUsers, TenantSource},
        oauth::AuthorizationServer,
    };
    let audit = Arc::new(MemoryAuditLog::new());
    let keys = ApiKeys::new(Arc::new(MemoryApiKeyStore::new()), audit.clone());
    let oauth = AuthorizationServer::new(
        "https://{tenant}.papyrus.io".parse().unwrap(),
        Arc::new(MemoryClientStore::new()),
        Arc::new(MemoryGrantStore::new()),
        audit.clone(),
    );
    let auth = HttpAuth::builder(keys)
        .oauth(oauth)
        .users(Arc::new(StaticUsers::new()))
        .admin(audit)
        .config(HttpAuthConfig::default().with_oauth_tenant(TenantSource::Header))
        .build()
        .unwrap();
    for value in ["Beareré x", "Bearé", "éééééééé token"] {
        let request = HttpRequest::new("POST", "/oauth/introspect")
            .with_header("X-Tenant-Id", "acme")
            .with_header("Content-Type", "application/x-www-form-urlencoded")
            .with_header("Authorization", value)
            .with_body("token=pat_x");
        let response = auth.handle(&request).await;
        assert_eq!(response.status, 401, "{value}: {}", response.body);
    }
}
