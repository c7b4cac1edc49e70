//! The `Authorization: Bearer` parser, the API key format check, and the
//! whole API key authentication path built on them.
//!
//! Input: `authorization \n tenant \n client-ip`; `{KEY}` in the
//! authorization line stands for a real key of tenant `acme`.

#![no_main]

mod common;

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use papyrus_auth::{
    Actor, ApiKeys, AuthError, AuthRequest, Environment, IpAllowlist, KeyFormat, MemoryApiKeyStore,
    MemoryAuditLog, NewApiKey, Rejection, ScopeSet,
    http::{MAX_AUTHORIZATION_LEN, bearer_token},
};

struct Fixture {
    keys: ApiKeys,
    key: String,
    scopes: ScopeSet,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let keys = ApiKeys::new(
            Arc::new(MemoryApiKeyStore::new()),
            // Bounded: a long run must not grow without limit.
            Arc::new(MemoryAuditLog::with_capacity_per_tenant(1000)),
        );
        let scopes: ScopeSet = "documents:read documents:write".parse().unwrap();
        let new = NewApiKey::new("fuzz", scopes.clone())
            .with_ip_allowlist(IpAllowlist::parse(["10.0.0.0/8", "2001:db8::/32"]).unwrap());
        let created = common::block_on(keys.create(&"acme".parse().unwrap(), new, &Actor::System))
            .expect("create the fixture key");
        Fixture {
            keys,
            key: created.key.expose_secret().to_owned(),
            scopes,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(parts) = common::lines(data, 3) else {
        return;
    };
    let format = KeyFormat::default();
    let raw = parts[0];

    // The parsers alone, on the raw line and as a Bearer credential.
    check_header(raw, &format);
    check_header(&format!("Bearer {raw}"), &format);
    check_key(raw, &format);

    // The full authentication path.
    let f = fixture();
    let authorization = raw.replace("{KEY}", &f.key);
    let tenant = parts.get(1).copied();
    let ip = parts.get(2).and_then(|s| s.parse().ok());
    let required = if raw.len() % 2 == 0 {
        ScopeSet::empty()
    } else {
        "documents:read".parse().unwrap()
    };
    let request = AuthRequest::new(Some(&authorization), tenant, ip);
    let outcome = common::block_on(f.keys.authenticate(&request, &required));
    if common::trace() {
        eprintln!("authenticate: {outcome:?}");
    }
    match outcome {
        Ok(principal) => {
            // Only the exact key, for its own tenant, from an allowed IP.
            assert_eq!(bearer_token(Some(&authorization)), Ok(f.key.as_str()));
            assert_eq!(tenant.map(str::trim), Some("acme"));
            assert_eq!(principal.tenant().as_str(), "acme");
            assert_eq!(principal.scopes(), &f.scopes);
            let ip = ip.expect("an allowlisted key needs a client IP");
            assert!(
                IpAllowlist::parse(["10.0.0.0/8", "2001:db8::/32"])
                    .unwrap()
                    .allows(Some(ip))
            );
        }
        Err(AuthError::Rejected(r)) => {
            if bearer_token(Some(&authorization)) != Ok(f.key.as_str()) {
                // Not the key: no refusal may say anything about the key's record.
                assert!(
                    !matches!(
                        r,
                        Rejection::WrongTenant
                            | Rejection::Revoked
                            | Rejection::Expired
                            | Rejection::IpNotAllowed
                            | Rejection::InsufficientScope { .. }
                    ),
                    "{r:?} for a credential that is not the key"
                );
            }
            let response = papyrus_auth::http::rejection_response(&r);
            assert!(
                matches!(response.status, 400 | 401 | 403 | 429),
                "{}",
                response.status
            );
            assert!(!response.body.contains(&f.key), "a response echoes the key");
        }
        Err(AuthError::Store(e)) => panic!("memory store failed: {e}"),
        Err(e) => panic!("unexpected error {e:?}"),
    }
});

fn check_header(header: &str, format: &KeyFormat) {
    match bearer_token(Some(header)) {
        Ok(token) => {
            assert!(header.len() <= MAX_AUTHORIZATION_LEN);
            assert!(common::is_b64token(token), "{token:?} is not a b64token");
            assert!(header.contains(token));
            check_key(token, format);
        }
        Err(Rejection::MissingCredentials | Rejection::Malformed) => {}
        Err(other) => panic!("unexpected rejection {other:?}"),
    }
}

fn check_key(key: &str, format: &KeyFormat) {
    let Some(env) = format.check(key) else {
        return;
    };
    // Deterministic, and only of the documented shape.
    assert_eq!(format.check(key), Some(env));
    let prefix = match env {
        Environment::Live => "pk_live_",
        Environment::Test => "pk_test_",
    };
    assert!(key.starts_with(prefix), "{key:?}");
    assert_eq!(key.len(), prefix.len() + 32 + 6, "{key:?}");
    assert!(
        key[prefix.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric())
    );
    // Another prefix's format refuses it.
    assert_eq!(KeyFormat::with_prefix("acme").unwrap().check(key), None);
    // A changed checksum character is refused.
    let mut typo = key.to_owned();
    let last = typo.pop().unwrap();
    typo.push(if last == '0' { '1' } else { '0' });
    assert_eq!(format.check(&typo), None, "{key:?} and {typo:?} both pass");
}
