//! The authorization-request query parser (`AuthorizationRequest::parse`)
//! and its validation against registered clients (`AuthorizationServer::authorize`).
//!
//! Input: the raw query string of `GET /oauth/authorize`.

#![no_main]

mod common;

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use papyrus_auth::{
    Actor, AuthorizationServer, MemoryAuditLog, MemoryClientStore, MemoryGrantStore, ScopeSet,
    TenantId,
    http::{authorize_error_response, html_escape},
    oauth::{
        AuthorizationRequest, AuthorizeError, ClientId, ClientKind, CodeChallengeMethod, NewClient,
        redirect_uri_matches,
    },
};

struct Fixture {
    server: AuthorizationServer,
    acme: TenantId,
    globex: TenantId,
    allowed: ScopeSet,
}

const SPA_URIS: [&str; 2] = ["https://app.example.com/cb", "http://127.0.0.1/native"];
const WEB_URI: &str = "https://web.example.com/cb";

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let server = AuthorizationServer::new(
            "https://{tenant}.papyrus.io".parse().unwrap(),
            Arc::new(MemoryClientStore::new()),
            Arc::new(MemoryGrantStore::new()),
            Arc::new(MemoryAuditLog::with_capacity_per_tenant(1000)),
        );
        let acme: TenantId = "acme".parse().unwrap();
        let allowed: ScopeSet = "documents:read documents:write".parse().unwrap();
        let spa = NewClient::new("spa", ClientKind::Public, SPA_URIS[0], allowed.clone())
            .with_redirect_uri(SPA_URIS[1])
            .with_client_id("spa".parse().unwrap())
            .with_default_scopes("documents:read".parse().unwrap());
        let web = NewClient::new("web", ClientKind::Confidential, WEB_URI, allowed.clone())
            .with_client_id("web".parse().unwrap());
        common::block_on(async {
            server
                .register_client(&acme, spa, &Actor::System)
                .await
                .unwrap();
            server
                .register_client(&acme, web, &Actor::System)
                .await
                .unwrap();
        });
        Fixture {
            server,
            acme,
            globex: "globex".parse().unwrap(),
            allowed,
        }
    })
}

/// Whether `uri` is a redirect target of a registered client: no error and no
/// success ever goes anywhere else (open redirector, RFC 6819 §4.2.4).
fn registered(uri: &str) -> bool {
    let spa: Vec<String> = SPA_URIS.iter().map(|s| (*s).to_owned()).collect();
    redirect_uri_matches(&spa, uri) || uri == WEB_URI
}

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let f = fixture();

    if let Ok(request) = AuthorizationRequest::parse(query) {
        assert_eq!(
            ClientId::parse(request.client_id().as_str()).as_ref(),
            Ok(request.client_id())
        );
    }

    let outcome = common::block_on(f.server.authorize(&f.acme, query));
    if common::trace() {
        eprintln!("authorize: {outcome:?}");
    }
    match outcome {
        Ok(v) => {
            let id = v.client.client_id.as_str();
            assert!(id == "spa" || id == "web", "{id}");
            match id {
                "web" => assert_eq!(v.redirect_uri, WEB_URI),
                _ => {
                    let spa: Vec<String> = SPA_URIS.iter().map(|s| (*s).to_owned()).collect();
                    assert!(
                        redirect_uri_matches(&spa, &v.redirect_uri),
                        "{}",
                        v.redirect_uri
                    );
                }
            }
            assert!(!v.scopes.is_empty() && f.allowed.contains_all(&v.scopes));
            assert_eq!(v.challenge.method(), CodeChallengeMethod::S256);
            assert!((43..=128).contains(&v.challenge.as_str().len()));
            assert_eq!(v.issuer, "https://acme.papyrus.io");
            // `state` is echoed exactly as sent.
            let states: Vec<String> = form_urlencoded::parse(query.as_bytes())
                .filter(|(k, v)| k == "state" && !v.is_empty())
                .map(|(_, v)| v.into_owned())
                .collect();
            assert_eq!(v.state.as_deref(), states.first().map(String::as_str));
            let denied = v.error_redirect(papyrus_auth::oauth::OAuthError::invalid_request("x"));
            assert!(denied.location().starts_with(&v.redirect_uri));
        }
        Err(AuthorizeError::Redirect(r)) => {
            assert!(
                registered(&r.redirect_uri),
                "redirect to {:?}",
                r.redirect_uri
            );
            assert!(r.location().starts_with(&r.redirect_uri));
            assert_eq!(r.issuer, "https://acme.papyrus.io");
            let response = authorize_error_response(&AuthorizeError::Redirect(r));
            assert_eq!(response.status, 302);
        }
        Err(AuthorizeError::NoRedirect(e)) => {
            let response = authorize_error_response(&AuthorizeError::NoRedirect(e.clone()));
            assert!(matches!(response.status, 400 | 503), "{}", response.status);
            assert!(response.body.contains(&html_escape(&e.description)));
            assert!(response.header("Location").is_none());
        }
        Err(e) => panic!("unexpected {e:?}"),
    }

    // Tenant confusion: acme's clients do not exist for globex.
    match common::block_on(f.server.authorize(&f.globex, query)) {
        Err(AuthorizeError::NoRedirect(_)) => {}
        other => panic!("another tenant's client was accepted: {other:?}"),
    }
});
