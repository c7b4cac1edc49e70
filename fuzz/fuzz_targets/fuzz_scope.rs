//! `ScopeSet::parse` and `Scope::parse` (RFC 6749 §3.3), and the set algebra
//! on what they accept.
//!
//! Input: `scope-list-a \n scope-list-b`.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use papyrus_auth::{MAX_SCOPE_LEN, MAX_SCOPES, Scope, ScopeSet};

fuzz_target!(|data: &[u8]| {
    let Some(parts) = common::lines(data, 2) else {
        return;
    };
    let a = check_parse(parts[0]);
    let b = parts.get(1).and_then(|s| check_parse(s));
    if let (Some(a), Some(b)) = (a, b) {
        check_algebra(&a, &b);
    }
});

fn valid_char(b: u8) -> bool {
    b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)
}

fn check_parse(s: &str) -> Option<ScopeSet> {
    // One token: accepted exactly when the RFC's syntax and the length limit say so.
    let token_ok = !s.is_empty() && s.len() <= MAX_SCOPE_LEN && s.bytes().all(valid_char);
    match Scope::parse(s) {
        Ok(scope) => {
            assert!(token_ok, "{s:?} accepted");
            assert_eq!(scope.as_str(), s);
        }
        Err(_) => assert!(!token_ok, "{s:?} refused"),
    }

    let set = match ScopeSet::parse(s) {
        Ok(set) => set,
        Err(_) => {
            // Refused: some token is bad, or there are too many.
            let tokens: Vec<&str> = s.split(' ').collect();
            assert!(
                !s.is_empty()
                    && (tokens.len() > MAX_SCOPES
                        || tokens.iter().any(|t| Scope::parse(t).is_err())),
                "{s:?} refused though every token is valid"
            );
            return None;
        }
    };
    // Accepted: every token is valid, and the set is exactly the distinct tokens.
    assert!(set.len() <= MAX_SCOPES);
    let mut tokens: Vec<&str> = if s.is_empty() {
        vec![]
    } else {
        s.split(' ').collect()
    };
    tokens.sort_unstable();
    tokens.dedup();
    let listed: Vec<&str> = set.iter().map(Scope::as_str).collect();
    assert_eq!(listed, tokens);
    // The wire form round-trips.
    let shown = set.to_string();
    assert_eq!(ScopeSet::parse(&shown).as_ref(), Ok(&set), "{shown:?}");
    assert!(shown.len() <= s.len());
    assert!(set.contains_all(&set));
    assert!(set.contains_all(&ScopeSet::empty()));
    Some(set)
}

fn check_algebra(a: &ScopeSet, b: &ScopeSet) {
    let both = a.intersection(b);
    assert!(a.contains_all(&both) && b.contains_all(&both));
    assert_eq!(both, b.intersection(a));
    let missing = a.missing_from(b);
    for s in b {
        assert!(a.contains(s) != missing.contains(s), "{s:?}");
    }
    assert_eq!(missing.len() + both.len(), b.len());
    assert_eq!(a.contains_all(b), missing.is_empty());
    assert_eq!(a.contains_all(b), b.is_subset(a));
    if a.contains_all(b) && b.contains_all(a) {
        assert_eq!(a, b);
    }
    // The union, when it fits, holds both.
    if let Ok(union) = ScopeSet::from_scopes(a.iter().chain(b.iter()).cloned()) {
        assert!(union.contains_all(a) && union.contains_all(b));
        assert_eq!(union.len(), a.len() + b.len() - both.len());
    } else {
        assert!(a.len() + b.len() - both.len() > MAX_SCOPES);
    }
}
