//! The application's own sign-in and consent (`ConsentHandler`): the
//! example `own_consent` over HTTP, as a browser walks it, and what the
//! library keeps whatever a handler says (CSRF, validation, narrowing).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod common;

#[path = "../examples/own_consent.rs"]
mod own_consent;

use std::{net::SocketAddr, sync::Arc};

use async_trait::async_trait;
use common::{Response, VERIFIER, form, hidden, location_params};
use papyrus_auth::{
    ApiKeys, MemoryApiKeyStore, MemoryAuditLog, MemoryClientStore, MemoryGrantStore,
    audit::Actor,
    http::{
        ConsentContext, ConsentHandler, HttpAuth, HttpAuthConfig, HttpRequest, Interaction,
        TenantSource,
    },
    oauth::{AuthorizationServer, ClientKind, CodeChallenge, NewClient},
};

/// The example app on an ephemeral port; its base URL.
async fn serve() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = own_consent::app(&base, "https://portal.example.com/cb")
        .await
        .expect("the example app builds");
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    base
}

fn authorize_query() -> String {
    form(&[
        ("response_type", "code"),
        ("client_id", "portal"),
        ("redirect_uri", "https://portal.example.com/cb"),
        ("scope", "documents:read"),
        ("code_challenge", CodeChallenge::s256_of(VERIFIER).as_str()),
        ("code_challenge_method", "S256"),
        ("state", "xyz"),
    ])
}

fn cookie_of(r: &Response, name: &str) -> String {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_signs_its_user_in_and_renders_its_own_consent() {
    let base = serve().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: String, cookie: Option<String>| {
        let mut req = http.get(format!("{base}{path}"));
        if let Some(c) = cookie {
            req = req.header("Cookie", c);
        }
        async move { Response::read(req.send().await.unwrap()).await }
    };
    let post = |path: &str, body: String, cookie: String| {
        let req = http
            .post(format!("{base}{path}"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Cookie", cookie)
            .body(body);
        async move { Response::read(req.send().await.unwrap()).await }
    };
    let authorize = format!("/oauth/authorize?{}", authorize_query());

    // Not signed in: the application's own login page.
    let r = get(authorize.clone(), None).await;
    assert_eq!(r.status, 302, "{}", r.body);
    let to_login = r.header("location").unwrap().to_owned();
    assert!(to_login.starts_with("/login?next="), "{to_login}");
    // Signed in (the app's session cookie), back to the authorization.
    let r = post(
        "/login",
        form(&[("user", "carol"), ("next", &authorize)]),
        String::new(),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some(authorize.as_str()));
    let session = cookie_of(&r, "session");

    // The app's own consent page, carrying the library's hidden fields.
    let page = get(authorize.clone(), Some(session.clone())).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Hi carol"), "{}", page.body);
    assert!(page.body.contains("Portal"));
    let csrf = cookie_of(&page, "papyrus_csrf");
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    let decision = |choice: &str| {
        form(&[
            ("request", &hidden(&page.body, "request")),
            ("csrf_token", &hidden(&page.body, "csrf_token")),
            ("decision", choice),
        ])
    };

    // The library checks the decision's CSRF before the app is asked.
    let forged = post(&authorize, decision("allow"), session.clone()).await;
    assert_eq!(forged.status, 403, "{}", forged.body);

    // Allowed: the code goes to the client, with the state and the issuer.
    let both = format!("{session}; {csrf}");
    let r = post(&authorize, decision("allow"), both.clone()).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let location = r.header("location").unwrap().to_owned();
    assert!(
        location.starts_with("https://portal.example.com/cb?"),
        "{location}"
    );
    let p = location_params(&location);
    assert_eq!(
        (p["state"].as_str(), p["iss"].as_str()),
        ("xyz", base.as_str())
    );
    let tokens = Response::read(
        http.post(format!("{base}/oauth/token"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("grant_type", "authorization_code"),
                ("code", &p["code"]),
                ("redirect_uri", "https://portal.example.com/cb"),
                ("client_id", "portal"),
                ("code_verifier", VERIFIER),
            ]))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    assert_eq!(tokens.json()["scope"], "documents:read");

    // Denied: access_denied back to the client.
    let r = post(&authorize, decision("deny"), both).await;
    assert_eq!(r.status, 303);
    assert_eq!(
        location_params(r.header("location").unwrap())["error"],
        "access_denied"
    );
}

/// A handler that approves more than was asked, and one that approves
/// nothing the client asked for.
#[derive(Debug)]
struct Approves(&'static str);

#[async_trait]
impl ConsentHandler for Approves {
    async fn show(&self, _: &ConsentContext<'_>) -> Interaction {
        Interaction::Approve {
            subject: "dave".into(),
            scopes: self.0.parse().unwrap(),
        }
    }

    async fn decide(&self, ctx: &ConsentContext<'_>) -> Interaction {
        self.show(ctx).await
    }
}

/// Whatever a handler approves, the code holds only scopes the client asked
/// for; an approval of none of them is refused.
#[tokio::test]
async fn the_library_narrows_what_a_handler_approves() {
    let audit = Arc::new(MemoryAuditLog::new());
    let oauth = AuthorizationServer::new(
        "https://{tenant}.papyrus.io".parse().unwrap(),
        Arc::new(MemoryClientStore::new()),
        Arc::new(MemoryGrantStore::new()),
        audit.clone(),
    );
    let acme = "acme".parse().unwrap();
    oauth
        .register_client(
            &acme,
            NewClient::new(
                "Portal",
                ClientKind::Public,
                "https://portal.example.com/cb",
                "documents:read documents:write".parse().unwrap(),
            )
            .with_client_id("portal".parse().unwrap()),
            &Actor::System,
        )
        .await
        .unwrap();
    let auth = |handler: Approves| {
        HttpAuth::builder(ApiKeys::new(
            Arc::new(MemoryApiKeyStore::new()),
            audit.clone(),
        ))
        .oauth(oauth.clone())
        .consent(Arc::new(handler))
        .config(HttpAuthConfig::default().with_oauth_tenant(TenantSource::Fixed(acme.clone())))
        .build()
        .unwrap()
    };
    let request = HttpRequest::get(&format!("/oauth/authorize?{}", authorize_query()));

    let greedy = auth(Approves("documents:read documents:write keys:admin"));
    let r = greedy.handle(&request).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let code = location_params(r.header("location").unwrap())["code"].clone();
    let body = form(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", "https://portal.example.com/cb"),
        ("client_id", "portal"),
        ("code_verifier", VERIFIER),
    ]);
    let token = greedy
        .handle(
            &HttpRequest::new("POST", "/oauth/token")
                .with_header("Content-Type", "application/x-www-form-urlencoded")
                .with_body(body),
        )
        .await;
    assert_eq!(token.status, 200, "{}", token.body);
    let scope: serde_json::Value = serde_json::from_str(&token.body).unwrap();
    assert_eq!(
        scope["scope"], "documents:read",
        "only what the client asked for"
    );

    let off = auth(Approves("keys:admin")).handle(&request).await;
    assert_eq!(off.status, 400, "{}", off.body);
    assert!(off.body.contains("invalid_scope"), "{}", off.body);
}
