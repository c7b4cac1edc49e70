//! Property tests: scope set algebra, the API key format and its checksum,
//! PKCE verification, bearer-token and tenant-id syntax.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use papyrus_auth::{
    Environment, InvalidTenantId, KeyFormat, MAX_SCOPES, MAX_TENANT_LEN, Rejection, Scope,
    ScopeSet, TenantId,
    http::{MAX_AUTHORIZATION_LEN, bearer_token},
    oauth::{CodeChallenge, CodeChallengeMethod, is_valid_verifier_syntax},
};
use proptest::prelude::*;

// ----- scopes ------------------------------------------------------------

/// A few scopes, so that generated sets overlap.
const POOL: [&str; 10] = [
    "documents:read",
    "documents:write",
    "workflows:read",
    "workflows:write",
    "analytics:read",
    "a",
    "!",
    "x/y.z-1_2",
    "#[]~",
    "Documents:read",
];

fn pooled_tokens() -> impl Strategy<Value = Vec<&'static str>> {
    prop::collection::vec(prop::sample::select(&POOL[..]), 0..12)
}

fn pooled_set() -> impl Strategy<Value = ScopeSet> {
    pooled_tokens().prop_map(|tokens| {
        ScopeSet::from_scopes(tokens.iter().map(|t| t.parse().unwrap())).unwrap()
    })
}

/// Any RFC 6749 §3.3 scope token: `%x21 / %x23-5B / %x5D-7E`.
fn any_token() -> impl Strategy<Value = String> {
    "[\\x21\\x23-\\x5B\\x5D-\\x7E]{1,24}"
}

fn union(a: &ScopeSet, b: &ScopeSet) -> ScopeSet {
    ScopeSet::from_scopes(a.iter().chain(b.iter()).cloned()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn contains_all_is_reflexive_and_transitive(a in pooled_set(), b in pooled_set(), c in pooled_set()) {
        prop_assert!(a.contains_all(&a));
        prop_assert!(a.contains_all(&ScopeSet::empty()));
        // A chain a ⊇ b' ⊇ c' built from the random sets.
        let b2 = a.intersection(&b);
        let c2 = b2.intersection(&c);
        prop_assert!(a.contains_all(&b2) && b2.contains_all(&c2));
        prop_assert!(a.contains_all(&c2));
        // And the implication on the random sets themselves.
        if a.contains_all(&b) && b.contains_all(&c) {
            prop_assert!(a.contains_all(&c));
        }
        // Antisymmetric: mutual containment is equality.
        prop_assert_eq!(a.contains_all(&b) && b.contains_all(&a), a == b);
        prop_assert_eq!(a.contains_all(&b), b.is_subset(&a));
    }

    #[test]
    fn intersection_is_within_both(a in pooled_set(), b in pooled_set()) {
        let both = a.intersection(&b);
        prop_assert!(a.contains_all(&both));
        prop_assert!(b.contains_all(&both));
        prop_assert_eq!(&both, &b.intersection(&a));
        for s in POOL.iter().map(|s| s.parse::<Scope>().unwrap()) {
            prop_assert_eq!(both.contains(&s), a.contains(&s) && b.contains(&s));
        }
    }

    #[test]
    fn missing_from_and_intersection_partition_the_other(a in pooled_set(), b in pooled_set()) {
        let missing = a.missing_from(&b);
        let both = a.intersection(&b);
        prop_assert_eq!(union(&missing, &both), b.clone());
        prop_assert!(missing.intersection(&both).is_empty());
        prop_assert!(missing.intersection(&a).is_empty());
        prop_assert_eq!(missing.is_empty(), a.contains_all(&b));
    }

    #[test]
    fn display_parses_back(tokens in prop::collection::vec(any_token(), 0..MAX_SCOPES)) {
        let set = ScopeSet::parse(&tokens.join(" ")).unwrap();
        let shown = set.to_string();
        prop_assert_eq!(ScopeSet::parse(&shown).unwrap(), set.clone());
        // Serde uses the same string.
        let json = serde_json::to_string(&set).unwrap();
        prop_assert_eq!(serde_json::from_str::<ScopeSet>(&json).unwrap(), set);
    }

    #[test]
    fn duplicates_merge(tokens in pooled_tokens(), repeat in 1usize..4) {
        let once = ScopeSet::parse(&tokens.join(" ")).unwrap();
        let repeated: Vec<&str> = tokens.iter().flat_map(|t| std::iter::repeat_n(*t, repeat)).collect();
        let many = ScopeSet::parse(&repeated.join(" ")).unwrap();
        prop_assert_eq!(&many, &once);
        let mut distinct = tokens.clone();
        distinct.sort_unstable();
        distinct.dedup();
        prop_assert_eq!(once.len(), distinct.len());
    }

    #[test]
    fn order_does_not_matter(
        (tokens, shuffled) in prop::collection::vec(any_token(), 0..20)
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle()))
    ) {
        let a = ScopeSet::parse(&tokens.join(" ")).unwrap();
        let b = ScopeSet::parse(&shuffled.join(" ")).unwrap();
        prop_assert_eq!(a.to_string(), b.to_string());
        prop_assert_eq!(a, b);
    }
}

// ----- API key format and checksum ----------------------------------------

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// CRC-32 (IEEE), written out here from the format's documentation, so the
/// test does not share code with what it checks.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFF_u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// `prefix_env_body` plus the documented checksum: 6 base62 digits of the CRC32.
fn documented_key(env: Environment, body: &str) -> String {
    let signed = format!("pk_{}_{body}", env.as_str());
    let mut n = crc32(signed.as_bytes());
    let mut digits = [b'0'; 6];
    for d in digits.iter_mut().rev() {
        *d = BASE62[(n % 62) as usize];
        n /= 62;
    }
    format!("{signed}{}", std::str::from_utf8(&digits).unwrap())
}

fn env() -> impl Strategy<Value = Environment> {
    prop_oneof![Just(Environment::Live), Just(Environment::Test)]
}

fn body() -> impl Strategy<Value = String> {
    "[0-9A-Za-z]{32}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn generated_keys_check_with_their_environment(env in env()) {
        let format = KeyFormat::default();
        let key = format.generate(env);
        let k = key.expose_secret();
        prop_assert_eq!(format.check(k), Some(env));
        prop_assert_eq!(k.len(), 8 + 32 + 6);
        let prefix = format!("pk_{}_", env.as_str());
        prop_assert!(k.starts_with(&prefix));
        // The key is exactly what the documentation describes.
        prop_assert_eq!(documented_key(env, &k[8..40]), k);
        // Another prefix's format refuses it.
        prop_assert_eq!(KeyFormat::with_prefix("acme").unwrap().check(k), None);
    }

    #[test]
    fn right_shape_is_accepted_only_with_the_right_checksum(
        env in env(),
        body in body(),
        checksum in "[0-9A-Za-z]{6}",
    ) {
        let format = KeyFormat::default();
        let good = documented_key(env, &body);
        prop_assert_eq!(format.check(&good), Some(env));
        let guess = format!("pk_{}_{body}{checksum}", env.as_str());
        prop_assert_eq!(format.check(&guess), (guess == good).then_some(env));
    }

    #[test]
    fn checksum_catches_every_single_character_change(env in env(), body in body()) {
        let format = KeyFormat::default();
        let key = documented_key(env, &body);
        let bytes = key.as_bytes();
        for i in 0..bytes.len() {
            for &c in BASE62.iter().chain(b"_-.") {
                if c == bytes[i] {
                    continue;
                }
                let mut changed = bytes.to_vec();
                changed[i] = c;
                let changed = String::from_utf8(changed).unwrap();
                prop_assert_eq!(format.check(&changed), None, "byte {} changed: {}", i, changed);
            }
        }
    }

    #[test]
    fn checksum_catches_every_adjacent_swap(env in env(), body in body()) {
        let format = KeyFormat::default();
        let key = documented_key(env, &body);
        let bytes = key.as_bytes();
        for i in 0..bytes.len() - 1 {
            if bytes[i] == bytes[i + 1] {
                continue;
            }
            let mut swapped = bytes.to_vec();
            swapped.swap(i, i + 1);
            let swapped = String::from_utf8(swapped).unwrap();
            prop_assert_eq!(format.check(&swapped), None, "bytes {} and {} swapped: {}", i, i + 1, swapped);
        }
    }

    #[test]
    fn truncated_or_extended_keys_are_refused(env in env(), body in body(), cut in 1usize..46, extra in "[0-9A-Za-z]{1,4}") {
        let format = KeyFormat::default();
        let key = documented_key(env, &body);
        prop_assert_eq!(format.check(&key[..key.len() - cut]), None);
        let longer = format!("{key}{extra}");
        prop_assert_eq!(format.check(&longer), None);
    }
}

// ----- PKCE --------------------------------------------------------------

fn verifier() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._~-]{43,128}"
}

/// Strings that are not valid verifiers: too short, too long, or with a
/// character outside the unreserved set.
fn bad_verifier() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9._~-]{0,42}",
        "[A-Za-z0-9._~-]{129,160}",
        (
            "[A-Za-z0-9._~-]{21,63}",
            "[ +/=%!\"#&'()*,:;<>?@\\[\\]^`{|}\\\\\x00-\x1f\u{80}-\u{10ffff}]",
            "[A-Za-z0-9._~-]{21,63}"
        )
            .prop_map(|(a, bad, b)| format!("{a}{bad}{b}")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn s256_verifies_exactly_its_own_verifier(v in verifier(), w in verifier()) {
        prop_assert!(is_valid_verifier_syntax(&v));
        let challenge = CodeChallenge::s256_of(&v);
        prop_assert!(challenge.verify(&v));
        prop_assert_eq!(challenge.verify(&w), v == w);
        // The challenge travels as a string and still verifies.
        let sent = CodeChallenge::new(challenge.as_str(), CodeChallengeMethod::S256).unwrap();
        prop_assert!(sent.verify(&v));
        prop_assert_eq!(sent.verify(&w), v == w);
    }

    #[test]
    fn s256_refuses_a_verifier_one_character_off(v in verifier(), at in any::<prop::sample::Index>(), c in "[A-Za-z0-9._~-]") {
        let i = at.index(v.len());
        let mut w = v.clone().into_bytes();
        w[i] = c.as_bytes()[0];
        let w = String::from_utf8(w).unwrap();
        prop_assert_eq!(CodeChallenge::s256_of(&v).verify(&w), v == w);
    }

    #[test]
    fn verify_refuses_bad_verifier_syntax(bad in bad_verifier()) {
        prop_assert!(!is_valid_verifier_syntax(&bad));
        // Not even the challenge derived from the bad verifier accepts it.
        prop_assert!(!CodeChallenge::s256_of(&bad).verify(&bad));
        if let Some(plain) = CodeChallenge::new(&bad, CodeChallengeMethod::Plain) {
            prop_assert!(!plain.verify(&bad));
        }
        prop_assert!(CodeChallenge::new(&bad, CodeChallengeMethod::S256).is_none());
    }

    #[test]
    fn plain_verifies_exactly_equal_verifiers(v in verifier(), w in verifier()) {
        let plain = CodeChallenge::new(&v, CodeChallengeMethod::Plain).unwrap();
        prop_assert!(plain.verify(&v));
        prop_assert_eq!(plain.verify(&w), v == w);
    }
}

// ----- bearer tokens and tenant ids ----------------------------------------

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

fn header_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "(Bearer|bearer|BEARER|Basic|Bear|) {0,3}[A-Za-z0-9._~+/=\" ,:-]{0,40} {0,3}",
        "[Bb][Ee][Aa][Rr][Ee][Rr] [\\x00-\\x7f]{0,20}",
    ]
}

/// Strings near the DNS-label rule: mostly lowercase letters, digits and
/// hyphens, sometimes something else, sometimes too long.
fn tenant_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9-]{0,70}",
        "[a-z0-9][a-z0-9-]{0,61}[a-z0-9]",
        "[a-zA-Z0-9._ \\-]{0,10}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn bearer_token_accepts_only_b64tokens(header in header_like()) {
        match bearer_token(Some(&header)) {
            Ok(token) => {
                prop_assert!(is_b64token(token), "{:?}", token);
                prop_assert!(header.len() <= MAX_AUTHORIZATION_LEN);
                let (scheme, rest) = header.split_once(' ').unwrap();
                prop_assert!(scheme.eq_ignore_ascii_case("bearer"));
                prop_assert_eq!(rest.trim_matches(' '), token);
            }
            Err(Rejection::MissingCredentials) => {
                let scheme = header.split_once(' ').map_or(header.as_str(), |(s, _)| s);
                prop_assert!(!scheme.eq_ignore_ascii_case("bearer"));
            }
            Err(Rejection::Malformed) => {}
            Err(other) => prop_assert!(false, "unexpected rejection {:?}", other),
        }
    }

    #[test]
    fn every_b64token_is_read_back(token in "[A-Za-z0-9._~+/-]{1,100}={0,2}", spaces in " {1,3}") {
        let header = format!("Bearer{spaces}{token}");
        prop_assert_eq!(bearer_token(Some(&header)), Ok(token.as_str()));
    }

    #[test]
    fn tenant_id_is_exactly_a_lowercase_dns_label(s in tenant_like()) {
        let label = !s.is_empty()
            && s.len() <= MAX_TENANT_LEN
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        match TenantId::parse(&s) {
            Ok(t) => {
                prop_assert!(label, "{:?} accepted", s);
                prop_assert_eq!(t.as_str(), s.as_str());
            }
            Err(e) => {
                prop_assert!(!label, "{:?} refused: {}", s, e);
                let expected = if s.is_empty() {
                    InvalidTenantId::Empty
                } else if s.len() > MAX_TENANT_LEN {
                    InvalidTenantId::TooLong
                } else if s.starts_with('-') || s.ends_with('-') {
                    // Only when every character is allowed.
                    if s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
                        InvalidTenantId::EdgeHyphen
                    } else {
                        InvalidTenantId::InvalidCharacter
                    }
                } else {
                    InvalidTenantId::InvalidCharacter
                };
                prop_assert_eq!(e, expected, "{:?}", s);
            }
        }
        // A Host label is the same rule, case-insensitively.
        prop_assert_eq!(
            TenantId::from_host_label(&s).ok(),
            TenantId::parse(&s.to_ascii_lowercase()).ok()
        );
    }
}
