//! Secrets: generation, digests and a redacting wrapper.
//!
//! * Every secret this crate hands out (API keys, authorization codes, access
//!   and refresh tokens, client secrets) is drawn from a CSPRNG: `rand`'s
//!   thread-local ChaCha12 generator, seeded from the operating system and
//!   reseeded periodically.
//! * Secrets are stored only as a [`Digest`]: SHA-256 of the secret, or
//!   HMAC-SHA-256 keyed with a server-side [`Pepper`] when one is configured.
//!   The digest records its [`DigestVersion`] so the scheme can change. These
//!   secrets carry 190 or more bits of entropy (a refresh token about 125
//!   beyond its family's handle, where one wrong guess revokes the family),
//!   so no slow password hash is needed: they are found by digest through an
//!   index.
//! * Digests and secrets compare in constant time ([`subtle`]).
//! * Plaintext secrets live in newtypes whose `Debug` prints `[redacted]`,
//!   that have no `Display`, and that are zeroized when dropped.

use std::fmt;

use hmac::{KeyInit, Mac};
use rand::Rng as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

macro_rules! secret_string {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        ///
        /// # Security
        ///
        /// `Debug` prints `[redacted]`, there is no `Display`, equality is
        /// constant-time and the bytes are zeroized on drop. Read the value
        /// only with [`expose_secret`](Self::expose_secret), at the moment it
        /// is sent or hashed.
        pub struct $name(Zeroizing<String>);

        impl $name {
            /// Wraps a plaintext secret.
            pub fn new(secret: impl Into<String>) -> Self {
                Self(Zeroizing::new(secret.into()))
            }

            /// The plaintext.
            ///
            /// # Security
            ///
            /// Do not log or store the returned value; store a digest instead.
            pub fn expose_secret(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
            }
        }

        impl Eq for $name {}
    };
}

secret_string! {
    /// A plaintext API key (`pk_live_…`), as returned once at creation.
    #[derive(Clone)]
    ApiKeySecret
}

secret_string! {
    /// A server-side secret mixed into every digest (HMAC-SHA-256 key).
    ///
    /// With a pepper configured, a stolen copy of the database is not enough to
    /// test guessed keys offline.
    Pepper
}

secret_string! {
    /// An OAuth access token (`pat_…`).
    AccessToken
}

secret_string! {
    /// An OAuth refresh token (`prt_…`).
    RefreshToken
}

secret_string! {
    /// An OAuth authorization code (`pac_…`).
    AuthorizationCode
}

secret_string! {
    /// An OAuth client secret (`pcs_…`), shown once at registration.
    ClientSecret
}

secret_string! {
    /// A PKCE code verifier (RFC 7636). Deliberately not `Clone`: it is used
    /// once, in one token request.
    PkceVerifier
}

/// How a [`Digest`] was computed. Stored beside every digest so that the
/// scheme can change without invalidating existing records silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DigestVersion {
    /// Plain SHA-256 of the secret (version 1).
    Sha256,
    /// HMAC-SHA-256 of the secret keyed with the server's [`Pepper`] (version 2).
    HmacSha256,
}

impl DigestVersion {
    /// The version's number, as stored in databases.
    pub fn as_u8(self) -> u8 {
        match self {
            Self::Sha256 => 1,
            Self::HmacSha256 => 2,
        }
    }

    /// The version with that number.
    pub fn from_u8(n: u8) -> Option<Self> {
        match n {
            1 => Some(Self::Sha256),
            2 => Some(Self::HmacSha256),
            _ => None,
        }
    }
}

/// A secret's stored form: 32 digest bytes and the [`DigestVersion`].
///
/// Equality is constant-time and covers the version; `Hash` covers the bytes,
/// so a `Digest` indexes a map directly.
#[derive(Clone, Copy)]
pub struct Digest {
    version: DigestVersion,
    bytes: [u8; 32],
}

impl Digest {
    /// Rebuilds a digest read back from storage.
    pub fn from_parts(version: DigestVersion, bytes: [u8; 32]) -> Self {
        Self { version, bytes }
    }

    /// How the digest was computed.
    pub fn version(&self) -> DigestVersion {
        self.version
    }

    /// The digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The digest bytes as lowercase hex (for text columns and logs).
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.bytes {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        s
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl PartialEq for Digest {
    /// Constant-time: the 32 bytes are compared as four 64-bit words whose
    /// differences are OR-ed together, and the result goes through `subtle`
    /// once (no early exit, no per-byte branch).
    fn eq(&self, other: &Self) -> bool {
        let mut diff = 0u64;
        for (a, b) in self.bytes.chunks_exact(8).zip(other.bytes.chunks_exact(8)) {
            let a = u64::from_ne_bytes(a.try_into().unwrap_or([0; 8]));
            let b = u64::from_ne_bytes(b.try_into().unwrap_or([0; 8]));
            diff |= a ^ b;
        }
        bool::from(diff.ct_eq(&0)) && self.version == other.version
    }
}

impl Eq for Digest {}

impl std::hash::Hash for Digest {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write(&self.bytes);
    }
}

/// A [`BuildHasher`](std::hash::BuildHasher) for maps keyed by [`Digest`]:
/// a digest is already a uniformly distributed 256-bit value, so its first
/// eight bytes, mixed with a per-map random seed, are the hash. Saves a
/// SipHash of 32 bytes on every lookup.
///
/// Safe against hash flooding: a map keyed by digests is only ever filled
/// with the server's own records; an attacker controls lookups, not inserts,
/// and the seed keeps bucket positions unpredictable.
#[derive(Debug, Clone)]
pub struct DigestHasherBuilder(u64);

impl Default for DigestHasherBuilder {
    fn default() -> Self {
        Self(rand::rng().next_u64() | 1)
    }
}

impl std::hash::BuildHasher for DigestHasherBuilder {
    type Hasher = DigestHasher;
    fn build_hasher(&self) -> DigestHasher {
        DigestHasher {
            seed: self.0,
            value: 0,
        }
    }
}

/// The hasher of [`DigestHasherBuilder`].
#[derive(Debug, Clone)]
pub struct DigestHasher {
    seed: u64,
    value: u64,
}

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        // A multiply spreads the seeded word over all bits (hashbrown reads
        // the top bits for its control bytes, the low bits for buckets).
        (self.value ^ self.seed).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut word = [0u8; 8];
        let n = bytes.len().min(8);
        word[..n].copy_from_slice(&bytes[..n]);
        self.value = self.value.rotate_left(5) ^ u64::from_ne_bytes(word);
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A digest is not a secret, but a short form keeps logs readable.
        write!(f, "Digest({:?}, {}…)", self.version, &self.to_hex()[..12])
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Digest", 2)?;
        st.serialize_field("version", &self.version)?;
        st.serialize_field("hex", &self.to_hex())?;
        st.end()
    }
}

/// Computes [`Digest`]s of secrets: SHA-256, or HMAC-SHA-256 with a pepper.
///
/// # Examples
///
/// ```
/// use papyrus_auth::{DigestVersion, Pepper, SecretHasher};
///
/// let plain = SecretHasher::sha256();
/// assert_eq!(plain.digest(b"abc").version(), DigestVersion::Sha256);
///
/// let peppered = SecretHasher::with_pepper(&Pepper::new("server-side secret"));
/// assert_eq!(peppered.digest(b"abc").version(), DigestVersion::HmacSha256);
/// assert_ne!(plain.digest(b"abc"), peppered.digest(b"abc"));
/// ```
#[derive(Clone)]
pub struct SecretHasher {
    mac: Option<hmac::Hmac<Sha256>>,
}

impl SecretHasher {
    /// Plain SHA-256 digests ([`DigestVersion::Sha256`]).
    pub fn sha256() -> Self {
        Self { mac: None }
    }

    /// HMAC-SHA-256 digests keyed with `pepper` ([`DigestVersion::HmacSha256`]).
    pub fn with_pepper(pepper: &Pepper) -> Self {
        // HMAC accepts keys of any length, so this cannot fail.
        let mac =
            <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(pepper.expose_secret().as_bytes())
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        Self { mac: Some(mac) }
    }

    /// The version of the digests this hasher makes.
    pub fn version(&self) -> DigestVersion {
        if self.mac.is_some() {
            DigestVersion::HmacSha256
        } else {
            DigestVersion::Sha256
        }
    }

    /// The digest of `secret`.
    pub fn digest(&self, secret: &[u8]) -> Digest {
        match &self.mac {
            None => Digest::from_parts(DigestVersion::Sha256, Sha256::digest(secret).into()),
            Some(mac) => {
                let mut mac = mac.clone();
                mac.update(secret);
                Digest::from_parts(
                    DigestVersion::HmacSha256,
                    mac.finalize().into_bytes().into(),
                )
            }
        }
    }
}

impl Default for SecretHasher {
    fn default() -> Self {
        Self::sha256()
    }
}

impl fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretHasher")
            .field("version", &self.version())
            .finish_non_exhaustive()
    }
}

/// Random characters in every OAuth token, code and client secret:
/// 43 × log2(62) ≈ 256 bits.
pub(crate) const TOKEN_BODY_LEN: usize = 43;

/// A new token: `prefix` followed by [`TOKEN_BODY_LEN`] random alphanumerics.
pub(crate) fn random_token(prefix: &str) -> String {
    random_id(prefix, TOKEN_BODY_LEN)
}

/// Leading characters of a refresh token's body that name its family (the
/// same in every refresh token of the family): 22 × log2(62) ≈ 131 bits.
/// The other 21 characters (≈ 125 bits) are the token's own secret.
pub(crate) const FAMILY_HANDLE_LEN: usize = 22;

/// A token of a family: `prefix`, the family's `handle` (or, for a new
/// family, [`FAMILY_HANDLE_LEN`] fresh random characters), then random
/// characters up to [`TOKEN_BODY_LEN`].
pub(crate) fn random_token_in_family(prefix: &str, handle: Option<&str>) -> String {
    let mut s = String::with_capacity(prefix.len() + TOKEN_BODY_LEN);
    s.push_str(prefix);
    match handle {
        Some(h) => s.push_str(h),
        None => push_alphanumeric(&mut s, FAMILY_HANDLE_LEN),
    }
    debug_assert!(handle.is_none_or(|h| h.len() == FAMILY_HANDLE_LEN));
    let rest = (prefix.len() + TOKEN_BODY_LEN).saturating_sub(s.len());
    push_alphanumeric(&mut s, rest);
    s
}

/// The family handle of a token of [`is_token_shape`] (its first
/// [`FAMILY_HANDLE_LEN`] body characters); empty for anything shorter.
pub(crate) fn family_handle<'a>(token: &'a str, prefix: &str) -> &'a str {
    token
        .get(prefix.len()..prefix.len() + FAMILY_HANDLE_LEN)
        .unwrap_or_default()
}

/// `prefix` followed by `len` random alphanumerics, in one allocation:
/// drawn straight into the string, no intermediate copy of the secret.
pub(crate) fn random_id(prefix: &str, len: usize) -> String {
    let mut s = String::with_capacity(prefix.len() + len);
    s.push_str(prefix);
    push_alphanumeric(&mut s, len);
    s
}

/// The base62 digits, in the order of their values (API-key checksums are
/// written in them).
pub(crate) const BASE62: &[u8; 62] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// [`BASE62_VALUE`] of a byte that is not a base62 digit.
pub(crate) const NOT_BASE62: u8 = 0x80;
/// The value of each byte as a base62 digit, or [`NOT_BASE62`].
pub(crate) const BASE62_VALUE: [u8; 256] = {
    let mut table = [NOT_BASE62; 256];
    let mut digit = 0;
    while digit < BASE62.len() {
        table[BASE62[digit] as usize] = digit as u8;
        digit += 1;
    }
    table
};

/// Whether every byte is a base62 digit (`0-9 A-Z a-z`).
///
/// Every byte is looked up, without an early exit: the loop has no branch
/// per byte, and a bad byte anywhere sets the top bit. (A range test per
/// byte mispredicts about every other byte of a random token.)
pub(crate) fn is_base62(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .fold(0, |seen, &b| seen | BASE62_VALUE[usize::from(b)])
        & NOT_BASE62
        == 0
}

/// A set of bytes: `0-9 A-Z a-z` and those of `extra`, as a table for
/// [`all_in`] (the character classes of bearer tokens and PKCE verifiers).
pub(crate) const fn alphanumeric_and(extra: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        table[extra[i] as usize] = true;
        i += 1;
    }
    table
}

/// Whether every byte is in `set`. Every byte is looked up, without an
/// early exit, so the loop has no branch per byte (a range test per byte
/// mispredicts on random characters).
pub(crate) fn all_in(set: &[bool; 256], bytes: &[u8]) -> bool {
    bytes.iter().fold(true, |ok, &b| ok & set[usize::from(b)])
}

/// Whether `token` is `prefix` followed by [`TOKEN_BODY_LEN`] alphanumerics.
pub(crate) fn is_token_shape(token: &str, prefix: &str) -> bool {
    token
        .strip_prefix(prefix)
        .is_some_and(|body| body.len() == TOKEN_BODY_LEN && is_base62(body.as_bytes()))
}

/// `len` characters drawn uniformly from `A-Z a-z 0-9` by the thread-local
/// CSPRNG: `len * 5.95` bits of entropy.
pub(crate) fn random_alphanumeric(len: usize) -> String {
    random_id("", len)
}

/// Appends `len` characters drawn uniformly from `A-Z a-z 0-9`.
///
/// Each random byte's top six bits pick a character; the two values above 61
/// are rejected, so every character is equally likely (as with rand's
/// `Alphanumeric`, which spends a 32-bit word per character where this
/// spends a byte: a 43-character token takes one 64-byte draw of ChaCha
/// output, rarely two, instead of about 180 bytes).
pub(crate) fn push_alphanumeric(s: &mut String, len: usize) {
    const CHARSET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    // The buffer holds secret material until it is wiped on drop.
    let mut buf = Zeroizing::new([0u8; 64]);
    let mut left = len;
    while left > 0 {
        rng.fill_bytes(&mut buf[..]);
        for &b in buf.iter() {
            if let Some(&c) = CHARSET.get(usize::from(b >> 2)) {
                s.push(char::from(c));
                left -= 1;
                if left == 0 {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_known_vector() {
        let d = SecretHasher::sha256().digest(b"abc");
        assert_eq!(
            d.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let d =
            SecretHasher::with_pepper(&Pepper::new("Jefe")).digest(b"what do ya want for nothing?");
        assert_eq!(
            d.to_hex(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn digest_equality_covers_version() {
        let a = Digest::from_parts(DigestVersion::Sha256, [7; 32]);
        let b = Digest::from_parts(DigestVersion::HmacSha256, [7; 32]);
        assert_ne!(a, b);
        let t = random_token("pat_");
        assert!(is_token_shape(&t, "pat_"));
        assert!(!is_token_shape(&t, "prt_"));
        assert!(!is_token_shape(&t[..t.len() - 1], "pat_"));
        // The right length, one byte outside the alphabet, at each end.
        for bad in ["-", "_", " ", "\0", "\u{7f}"] {
            assert!(!is_token_shape(
                &format!("{}{bad}", &t[..t.len() - 1]),
                "pat_"
            ));
            assert!(!is_token_shape(&format!("pat_{bad}{}", &t[5..]), "pat_"));
        }
        // Two bytes of one non-ASCII character in place of two alphanumerics.
        assert!(!is_token_shape(&format!("{}é", &t[..t.len() - 2]), "pat_"));
        assert_eq!(a, Digest::from_parts(DigestVersion::Sha256, [7; 32]));
        assert_ne!(a, Digest::from_parts(DigestVersion::Sha256, [8; 32]));
        assert_eq!(
            DigestVersion::from_u8(a.version().as_u8()),
            Some(DigestVersion::Sha256)
        );
        assert_eq!(DigestVersion::from_u8(9), None);
    }

    #[test]
    fn secrets_are_redacted_and_compare_by_value() {
        let s = ApiKeySecret::new("pk_live_supersecret");
        assert_eq!(format!("{s:?}"), "ApiKeySecret([redacted])");
        assert_eq!(format!("{:?}", Pepper::new("p")), "Pepper([redacted])");
        assert_eq!(
            format!("{:?}", AccessToken::new("pat_x")),
            "AccessToken([redacted])"
        );
        assert_eq!(
            format!("{:?}", RefreshToken::new("prt_x")),
            "RefreshToken([redacted])"
        );
        assert_eq!(
            format!("{:?}", AuthorizationCode::new("pac_x")),
            "AuthorizationCode([redacted])"
        );
        assert_eq!(
            format!("{:?}", ClientSecret::new("pcs_x")),
            "ClientSecret([redacted])"
        );
        assert_eq!(
            format!("{:?}", PkceVerifier::new("v")),
            "PkceVerifier([redacted])"
        );
        assert_eq!(s, ApiKeySecret::new("pk_live_supersecret"));
        assert_ne!(s, ApiKeySecret::new("pk_live_supersecreT"));
        let h = SecretHasher::with_pepper(&Pepper::new("pepper!"));
        assert!(!format!("{h:?}").contains("pepper!"));
    }

    #[test]
    fn byte_sets_hold_alphanumerics_and_their_extras() {
        let set = alphanumeric_and(b"-~");
        for b in 0..=u8::MAX {
            let expected = b.is_ascii_alphanumeric() || b == b'-' || b == b'~';
            assert_eq!(set[usize::from(b)], expected, "byte {b}");
        }
        assert!(all_in(&set, b"a-Z~0"));
        assert!(all_in(&set, b""));
        for bad in [&b"a b"[..], b"ab.", b"\xc3\xa9", b"\0"] {
            assert!(!all_in(&set, bad), "{bad:?}");
        }
    }

    #[test]
    fn the_digit_table_is_base62() {
        for b in 0..=u8::MAX {
            let expected = BASE62.iter().position(|&d| d == b);
            let value = BASE62_VALUE[usize::from(b)];
            match expected {
                Some(digit) => assert_eq!(usize::from(value), digit),
                None => assert_eq!(value, NOT_BASE62, "byte {b}"),
            }
        }
    }

    #[test]
    fn random_strings_are_alphanumeric_and_distinct() {
        let a = random_alphanumeric(32);
        let b = random_alphanumeric(32);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn random_characters_are_uniform() {
        // 62 × 4,000 draws: each count is 4,000 ± 62 (one standard
        // deviation); ±500 fails with probability below 1e-12, and catches a
        // modulo bias (which would put 5,000 on eight characters) or a
        // character that never comes up.
        let mut s = String::new();
        push_alphanumeric(&mut s, 62 * 4000);
        let mut counts = std::collections::HashMap::new();
        for c in s.chars() {
            *counts.entry(c).or_insert(0u32) += 1;
        }
        assert_eq!(counts.len(), 62);
        for (c, n) in counts {
            assert!(c.is_ascii_alphanumeric());
            assert!((3500..=4500).contains(&n), "{c:?} came up {n} times");
        }
        assert_eq!(random_id("fam_", 20).len(), 24);
        assert!(random_token("pat_").starts_with("pat_"));
    }
}
