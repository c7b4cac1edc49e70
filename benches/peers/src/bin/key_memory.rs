//! Live heap bytes per entry of the in-memory stores.
//!
//! `cargo run --release --bin key_memory [N…]` (default: 100000 1000000).
//!
//! For each N, in a fresh store: N API keys created through `ApiKeys::create`
//! (3 scopes, a 2-entry IP allowlist, like `benches/api_key.rs`) into a
//! `MemoryApiKeyStore`; N OAuth token families (authorization code, access
//! and refresh token) through the public code + PKCE flow into a
//! `MemoryGrantStore`, then one refresh of each of N families; and, for
//! scale, N access + refresh token pairs in oxide-auth 0.6's `TokenMap`, and
//! one refresh of each. Prints the growth of live heap bytes (as
//! requested from the allocator, without malloc's own per-block overhead)
//! divided by N.

#![allow(clippy::expect_used)] // A measurement whose set-up fails should stop at once.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::{
        Arc,
        atomic::{AtomicIsize, AtomicUsize, Ordering::Relaxed},
    },
    time::Instant,
};

use oxide_auth::primitives::{
    generator::RandomGenerator,
    grant::{Extensions, Grant},
    issuer::{Issuer, TokenMap},
};
use papyrus_auth::{
    Actor, ApiKeys, IpAllowlist, MemoryApiKeyStore, NewApiKey, ScopeSet, TenantId, TracingAuditSink,
};
use papyrus_auth_peers::{PapyrusOAuth, block_on};

/// Counts live heap bytes and allocations around the system allocator.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's own arguments,
// so `System`'s guarantees hold unchanged; the counters are plain atomics.
// (The library forbids unsafe code; this separate measuring crate needs this
// one `unsafe impl` to observe allocations.)
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is (see above).
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Relaxed);
            ALLOCS.fetch_add(1, Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is (see above).
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Relaxed);
            ALLOCS.fetch_add(1, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is (see above).
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
        ALLOCS.fetch_sub(1, Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is (see above).
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> (isize, usize) {
    (LIVE.load(Relaxed), ALLOCS.load(Relaxed))
}

/// Runs `fill(n)`, which must return what keeps the entries alive, and
/// prints live bytes and allocations per entry.
fn measure<T>(what: &str, n: usize, fill: impl FnOnce(usize) -> T) {
    let (bytes0, allocs0) = live();
    let t0 = Instant::now();
    let kept = fill(n);
    let elapsed = t0.elapsed();
    let (bytes1, allocs1) = live();
    let per = (bytes1 - bytes0) as f64 / n as f64;
    println!(
        "{what:<42} n={n:>9}  {per:>8.1} B/entry  {:>5.2} allocs/entry  total {:>7.1} MiB  ({elapsed:.1?})",
        (allocs1 - allocs0) as f64 / n as f64,
        (bytes1 - bytes0) as f64 / (1024.0 * 1024.0),
    );
    drop(kept);
}

fn main() {
    let sizes: Vec<usize> = {
        let args: Vec<usize> = std::env::args()
            .skip(1)
            .map(|a| a.replace('_', "").parse().expect("N must be a number"))
            .collect();
        if args.is_empty() {
            vec![100_000, 1_000_000]
        } else {
            args
        }
    };
    let tenant: TenantId = "acme".parse().expect("tenant");
    let scopes: ScopeSet = "documents:read documents:write analytics:read"
        .parse()
        .expect("scopes");
    let allowlist = IpAllowlist::parse(["10.0.0.0/8", "2001:db8::/32"]).expect("allowlist");

    for &n in &sizes {
        measure("papyrus MemoryApiKeyStore (API keys)", n, |n| {
            let store = Arc::new(MemoryApiKeyStore::new());
            let keys = ApiKeys::new(store.clone(), Arc::new(TracingAuditSink));
            for i in 0..n {
                // The returned secret is dropped at once: only the store's
                // share is counted.
                block_on(
                    keys.create(
                        &tenant,
                        NewApiKey::new(format!("k{i}"), scopes.clone())
                            .with_ip_allowlist(allowlist.clone()),
                        &Actor::System,
                    ),
                )
                .expect("create");
            }
            assert_eq!(store.len(), n);
            keys
        });
        measure("papyrus MemoryGrantStore (token families)", n, |n| {
            // The client store and its one client are counted too (noise).
            let oauth = PapyrusOAuth::new(Arc::new(TracingAuditSink));
            for _ in 0..n {
                drop(oauth.issue_and_exchange());
            }
            oauth
        });
        // Growth per refresh: n families first (not counted), then one
        // refresh of each. Papyrus keeps the previous access token (valid
        // until it expires) and forgets the rotated refresh token (a replay
        // is still recognised by the family handle); oxide-auth deletes
        // both.
        let oauth = PapyrusOAuth::new(Arc::new(TracingAuditSink));
        let mut chain: Vec<String> = (0..n)
            .map(|_| {
                let t = oauth.issue_and_exchange().refresh_token.expect("refresh");
                t.expose_secret().to_owned()
            })
            .collect();
        measure("papyrus MemoryGrantStore (refreshes)", n, |_| {
            for t in &mut chain {
                *t = oauth.refresh(t);
            }
        });
        drop(oauth);
        let mut issuer = TokenMap::new(RandomGenerator::new(16));
        let mut chain: Vec<String> = (0..n)
            .map(|_| {
                let t = issuer.issue(oxide_grant()).expect("issue");
                t.refresh.expect("refresh")
            })
            .collect();
        measure("oxide-auth 0.6 TokenMap (refreshes)", n, |_| {
            for t in &mut chain {
                let r = issuer.refresh(t, oxide_grant()).expect("refresh");
                *t = r.refresh.expect("refresh");
            }
        });
        drop(issuer);
        measure("oxide-auth 0.6 TokenMap (token pairs)", n, |n| {
            let mut issuer = TokenMap::new(RandomGenerator::new(16));
            for _ in 0..n {
                drop(issuer.issue(oxide_grant()).expect("issue"));
            }
            issuer
        });
    }
}

/// The grant every oxide-auth token of this measurement carries.
fn oxide_grant() -> Grant {
    Grant {
        owner_id: "alice".to_owned(),
        client_id: "bench-client".to_owned(),
        scope: "documents:read workflows:read".parse().expect("scope"),
        redirect_uri: "https://app.example.com/cb".parse().expect("url"),
        until: chrono::Utc::now() + chrono::Duration::days(1),
        extensions: Extensions::new(),
    }
}
