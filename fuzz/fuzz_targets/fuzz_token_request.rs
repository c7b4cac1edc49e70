//! The token endpoint: form parsing, client authentication (Basic and
//! body credentials), the `authorization_code` and `refresh_token` grants,
//! and, on the same request, revocation and introspection.
//!
//! Input: `authorization-header \n form-body` (an empty first line means no
//! header). Placeholders stand for this run's secrets, which the fuzzer
//! cannot guess: `{CODE}` (a code of public client `spa`), `{WCODE}` (a code
//! of confidential client `web`), `{REFRESH}` (a refresh token of `spa`),
//! `{SECRET}` (the secret of `web`), `{BASIC}` (`web`'s Basic credentials),
//! `{VERIFIER}` (the PKCE verifier of both codes).
//!
//! Each run builds fresh in-memory stores, so runs do not affect each other.

#![no_main]

mod common;

use std::sync::Arc;

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use papyrus_auth::{
    Actor, AuthError, AuthMethod, AuthorizationServer, MemoryAuditLog, MemoryClientStore,
    MemoryGrantStore, Rejection, ScopeSet, TenantId,
    http::oauth_error_response,
    oauth::{ClientKind, CodeChallenge, NewClient, OAuthErrorCode, TokenRequest},
};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const SPA_URI: &str = "https://app.example.com/cb";
const WEB_URI: &str = "https://web.example.com/cb";

struct World {
    server: AuthorizationServer,
    audit: Arc<MemoryAuditLog>,
    acme: TenantId,
    allowed: ScopeSet,
    secret: String,
    spa_code: String,
    web_code: String,
    refresh: String,
    access: String,
}

async fn code(server: &AuthorizationServer, tenant: &TenantId, client: &str, uri: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client)
        .append_pair("redirect_uri", uri)
        .append_pair("scope", "documents:read documents:write")
        .append_pair("code_challenge", CodeChallenge::s256_of(VERIFIER).as_str())
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", "s")
        .finish();
    let request = server.authorize(tenant, &query).await.unwrap();
    let location = server
        .approve(&request, "alice", &request.scopes)
        .await
        .unwrap();
    let (_, query) = location.split_once('?').unwrap();
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned()
}

async fn world() -> World {
    let audit = Arc::new(MemoryAuditLog::new());
    let server = AuthorizationServer::new(
        "https://{tenant}.papyrus.io".parse().unwrap(),
        Arc::new(MemoryClientStore::new()),
        Arc::new(MemoryGrantStore::new()),
        audit.clone(),
    );
    let acme: TenantId = "acme".parse().unwrap();
    let allowed: ScopeSet = "documents:read documents:write".parse().unwrap();
    let spa = NewClient::new("spa", ClientKind::Public, SPA_URI, allowed.clone())
        .with_client_id("spa".parse().unwrap());
    let web = NewClient::new("web", ClientKind::Confidential, WEB_URI, allowed.clone())
        .with_client_id("web".parse().unwrap());
    server
        .register_client(&acme, spa, &Actor::System)
        .await
        .unwrap();
    let secret = server
        .register_client(&acme, web, &Actor::System)
        .await
        .unwrap()
        .secret
        .unwrap()
        .expose_secret()
        .to_owned();
    let spa_code = code(&server, &acme, "spa", SPA_URI).await;
    let web_code = code(&server, &acme, "web", WEB_URI).await;
    let third = code(&server, &acme, "spa", SPA_URI).await;
    let body = format!(
        "grant_type=authorization_code&client_id=spa&code={third}&code_verifier={VERIFIER}&redirect_uri={}",
        form_urlencoded::byte_serialize(SPA_URI.as_bytes()).collect::<String>()
    );
    let tokens = server
        .token(&acme, &TokenRequest::new(None, &body))
        .await
        .unwrap();
    World {
        server,
        audit,
        acme,
        allowed,
        secret,
        spa_code,
        web_code,
        refresh: tokens.refresh_token.unwrap().expose_secret().to_owned(),
        access: tokens.access_token.expose_secret().to_owned(),
    }
}

fn decoded(body: &str, name: &str) -> Vec<String> {
    form_urlencoded::parse(body.as_bytes())
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some(parts) = common::lines(data, 2) else {
        return;
    };
    let raw_header = parts[0];
    let raw_body = parts.get(1).copied().unwrap_or("");
    common::block_on(run(raw_header, raw_body));
});

async fn run(raw_header: &str, raw_body: &str) {
    let w = world().await;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("web:{}", w.secret))
    );
    let substitute = |s: &str| {
        s.replace("{CODE}", &w.spa_code)
            .replace("{WCODE}", &w.web_code)
            .replace("{REFRESH}", &w.refresh)
            .replace("{SECRET}", &w.secret)
            .replace("{BASIC}", &basic)
            .replace("{VERIFIER}", VERIFIER)
    };
    let header = (!raw_header.is_empty()).then(|| substitute(raw_header));
    let body = substitute(raw_body);
    let request = TokenRequest::new(header.as_deref(), &body);
    let has_secret = raw_body.contains("{SECRET}") || raw_header.contains("{BASIC}");
    let mut issued = vec![
        w.secret.clone(),
        w.spa_code.clone(),
        w.web_code.clone(),
        w.refresh.clone(),
        w.access.clone(),
    ];

    // `Debug` shows parameter names only.
    let names: Vec<String> = form_urlencoded::parse(body.as_bytes())
        .map(|(k, _)| k.into_owned())
        .collect();
    let debug = format!("{request:?}");
    for s in &issued {
        if !names.iter().any(|n| n.contains(s.as_str())) {
            assert!(
                !debug.contains(s.as_str()),
                "Debug of a token request shows a secret"
            );
        }
    }

    let outcome = w.server.token(&w.acme, &request).await;
    if common::trace() {
        eprintln!("token: {:?}", outcome.as_ref().map(|t| &t.scope));
    }
    match outcome {
        Ok(tokens) => {
            assert_eq!(tokens.token_type, "Bearer");
            assert!(!tokens.scope.is_empty() && w.allowed.contains_all(&tokens.scope));
            let access = tokens.access_token.expose_secret().to_owned();
            let refresh = tokens
                .refresh_token
                .as_ref()
                .unwrap()
                .expose_secret()
                .to_owned();
            let principal = w
                .server
                .validate_access_token(&access, &w.acme, &ScopeSet::empty())
                .await
                .unwrap();
            let AuthMethod::AccessToken { client_id } = &principal.method() else {
                panic!("not an access token: {principal:?}");
            };
            if client_id.as_str() == "web" {
                assert!(
                    has_secret,
                    "confidential client got tokens without its secret"
                );
            }
            let grant = decoded(&body, "grant_type");
            match grant.first().map(String::as_str) {
                Some("authorization_code") => {
                    let expected = if client_id.as_str() == "web" {
                        "{WCODE}"
                    } else {
                        "{CODE}"
                    };
                    assert!(
                        raw_body.contains(expected),
                        "a code of {client_id} from nowhere"
                    );
                    assert_eq!(
                        decoded(&body, "code_verifier"),
                        [VERIFIER],
                        "PKCE not checked"
                    );
                }
                Some("refresh_token") => {
                    assert_eq!(client_id.as_str(), "spa");
                    assert!(
                        raw_body.contains("{REFRESH}"),
                        "a refresh token from nowhere"
                    );
                }
                other => panic!("tokens for grant_type {other:?}"),
            }
            // Replaying the same request is refused and revokes what was issued.
            let again = w.server.token(&w.acme, &request).await.unwrap_err();
            assert_eq!(again.code, OAuthErrorCode::InvalidGrant, "{again:?}");
            match w
                .server
                .validate_access_token(&access, &w.acme, &ScopeSet::empty())
                .await
            {
                Err(AuthError::Rejected(Rejection::Revoked)) => {}
                other => panic!("replay left the access token usable: {other:?}"),
            }
            issued.push(access);
            issued.push(refresh);
        }
        Err(e) => {
            let response = oauth_error_response(&e);
            assert!(
                matches!(response.status, 400 | 401 | 429 | 503),
                "{}",
                response.status
            );
            if response.status == 401 {
                assert!(response.header("WWW-Authenticate").is_some());
            }
            assert!(response.body.starts_with('{') && response.body.contains("\"error\""));
            let scopes = decoded(&body, "scope").join(" ");
            for s in &issued {
                if !scopes.contains(s.as_str()) {
                    assert!(
                        !response.body.contains(s.as_str()),
                        "an error echoes a secret: {e:?}"
                    );
                }
            }
        }
    }

    // Introspection: only the confidential client (a resource server of the
    // tenant, which may introspect any of the tenant's tokens).
    let introspection = w.server.introspect(&w.acme, &request).await;
    if common::trace() {
        eprintln!("introspect: {introspection:?}");
    }
    if let Ok(answer) = introspection {
        if answer.active {
            assert!(has_secret, "introspection without the client secret");
        }
    }
    let _ = w.server.revoke(&w.acme, &request).await;

    // No secret in the audit log, unless the request itself named it as a client id.
    let mut named_ids = decoded(&body, "client_id");
    if let Some(h) = &header {
        named_ids.push(h.clone());
        if let Some((_, b64)) = h.split_once(' ') {
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) {
                named_ids.push(String::from_utf8_lossy(&bytes).into_owned());
            }
        }
    }
    for event in w.audit.all() {
        let text = format!("{event:?}");
        for s in &issued {
            if !named_ids.iter().any(|id| id.contains(s.as_str())) {
                assert!(
                    !text.contains(s.as_str()),
                    "audit event holds a secret: {text}"
                );
            }
        }
    }
}
