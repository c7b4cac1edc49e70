//! The API key format.
//!
//! ```text
//! pk_live_Xq3vT9aKcL0mP2sR7uYw1zB4nD6fH8jQ3kR9aZ
//! └┬┘└─┬┘ └──────────── 32 random ────────────┘└─┬──┘
//! prefix environment    [0-9A-Za-z]         6-char checksum
//! ```
//!
//! * `prefix` is `pk` by default ([`KeyFormat::with_prefix`] changes it);
//! * `environment` is `live` or `test`;
//! * the body is 32 characters drawn uniformly from `[0-9A-Za-z]` by a CSPRNG
//!   seeded from the operating system: 32 × log2(62) ≈ 190.5 bits;
//! * the checksum is the CRC32 of everything before it, written as 6 base62
//!   digits. A mistyped or truncated key fails the checksum and is refused
//!   before any digest is computed or any store is asked.
//!
//! A secret scanner finds default-prefix keys with
//! `\bpk_(live|test)_[0-9A-Za-z]{38}\b`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::secret::{ApiKeySecret, BASE62, BASE62_VALUE, NOT_BASE62, is_base62, push_alphanumeric};

/// Random characters in a key.
pub const KEY_BODY_LEN: usize = 32;
/// Checksum characters at the end of a key.
pub const KEY_CHECKSUM_LEN: usize = 6;
const MAX_PREFIX_LEN: usize = 16;
/// Whether a key is for production (`live`) or testing (`test`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    /// A production key (`pk_live_…`).
    #[default]
    Live,
    /// A test key (`pk_test_…`).
    Test,
}

impl Environment {
    /// `"live"` or `"test"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Test => "test",
        }
    }

    /// Parses `"live"` or `"test"`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "live" => Some(Self::Live),
            "test" => Some(Self::Test),
            _ => None,
        }
    }
}

/// The key prefix is not 1 to 16 characters of `a-z0-9` starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key prefix must be 1 to 16 characters of a-z and 0-9, starting with a letter")]
pub struct InvalidPrefix;

/// Generates and checks API keys of one prefix.
///
/// # Examples
///
/// ```
/// use papyrus_auth::{Environment, KeyFormat};
///
/// let format = KeyFormat::default();
/// let key = format.generate(Environment::Live);
/// assert!(key.expose_secret().starts_with("pk_live_"));
/// assert_eq!(format.check(key.expose_secret()), Some(Environment::Live));
///
/// // One changed character fails the checksum: no lookup is needed.
/// let mut typo = key.expose_secret().to_owned();
/// let last = typo.pop().unwrap();
/// typo.push(if last == 'a' { 'b' } else { 'a' });
/// assert_eq!(format.check(&typo), None);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct KeyFormat {
    prefix: String,
}

impl KeyFormat {
    /// A format with a custom prefix, such as `acme` for `acme_live_…`.
    ///
    /// # Errors
    ///
    /// [`InvalidPrefix`] unless the prefix is 1 to 16 characters of `a-z0-9`
    /// starting with a letter.
    pub fn with_prefix(prefix: &str) -> Result<Self, InvalidPrefix> {
        let ok = !prefix.is_empty()
            && prefix.len() <= MAX_PREFIX_LEN
            && prefix.as_bytes()[0].is_ascii_lowercase()
            && prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if ok {
            Ok(Self {
                prefix: prefix.to_owned(),
            })
        } else {
            Err(InvalidPrefix)
        }
    }

    /// The prefix, without the trailing `_`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A new random key.
    pub fn generate(&self, env: Environment) -> ApiKeySecret {
        let mut key = String::with_capacity(self.key_len(env));
        key.push_str(&self.prefix);
        key.push('_');
        key.push_str(env.as_str());
        key.push('_');
        push_alphanumeric(&mut key, KEY_BODY_LEN);
        let checksum = crc32fast::hash(key.as_bytes());
        key.push_str(&encode_checksum(checksum));
        ApiKeySecret::new(key)
    }

    /// Whether `key` is a well-formed key of this format, and of which
    /// environment. Pure and allocation-free: checks the prefix, the length,
    /// the character set and the checksum.
    pub fn check(&self, key: &str) -> Option<Environment> {
        let rest = key.strip_prefix(self.prefix.as_str())?.strip_prefix('_')?;
        let (env, body) = rest.split_at_checked(5)?;
        let env = Environment::parse(env.strip_suffix('_')?)?;
        if body.len() != KEY_BODY_LEN + KEY_CHECKSUM_LEN || !is_base62(body.as_bytes()) {
            return None;
        }
        let (signed, checksum) = key.split_at(key.len() - KEY_CHECKSUM_LEN);
        let expected = decode_checksum(checksum)?;
        (crc32fast::hash(signed.as_bytes()) == expected).then_some(env)
    }

    /// A short, non-secret form of a key for lists and logs: the prefix, the
    /// environment and the first four random characters (`pk_live_Xq3v…`).
    pub fn hint(&self, key: &ApiKeySecret) -> String {
        let k = key.expose_secret();
        let visible = (self.prefix.len() + 6 + 4).min(k.len());
        format!("{}…", k.get(..visible).unwrap_or_default())
    }

    fn key_len(&self, env: Environment) -> usize {
        self.prefix.len() + 1 + env.as_str().len() + 1 + KEY_BODY_LEN + KEY_CHECKSUM_LEN
    }
}

impl Default for KeyFormat {
    /// The `pk` prefix: `pk_live_…` and `pk_test_…`.
    fn default() -> Self {
        Self {
            prefix: "pk".to_owned(),
        }
    }
}

impl fmt::Debug for KeyFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFormat")
            .field("prefix", &self.prefix)
            .finish()
    }
}

fn encode_checksum(mut n: u32) -> String {
    let mut out = [b'0'; KEY_CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

fn decode_checksum(s: &str) -> Option<u32> {
    let mut n: u64 = 0;
    for b in s.bytes() {
        let digit = BASE62_VALUE[usize::from(b)];
        if digit == NOT_BASE62 {
            return None;
        }
        n = n * 62 + u64::from(digit);
    }
    u32::try_from(n).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let f = KeyFormat::default();
        for env in [Environment::Live, Environment::Test] {
            let key = f.generate(env);
            let k = key.expose_secret();
            assert_eq!(k.len(), 8 + 32 + 6);
            assert!(k.starts_with(&format!("pk_{}_", env.as_str())));
            assert!(k[8..].bytes().all(|b| b.is_ascii_alphanumeric()));
            assert_eq!(f.check(k), Some(env));
        }
    }

    #[test]
    fn checksum_round_trips() {
        for n in [0, 1, 61, 62, u32::MAX, 123_456_789] {
            assert_eq!(decode_checksum(&encode_checksum(n)), Some(n));
        }
        assert_eq!(decode_checksum("zzzzzz"), None, "beyond u32");
    }

    #[test]
    fn every_single_character_change_is_refused() {
        let f = KeyFormat::default();
        let key = f.generate(Environment::Live);
        let k = key.expose_secret().as_bytes().to_vec();
        for i in 0..k.len() {
            for &c in BASE62.iter().chain(b"_-.") {
                if c == k[i] {
                    continue;
                }
                let mut m = k.clone();
                m[i] = c;
                let m = String::from_utf8(m).unwrap();
                assert_eq!(f.check(&m), None, "changed byte {i} to {}", char::from(c));
            }
        }
    }

    #[test]
    fn malformed_keys_are_refused() {
        let f = KeyFormat::default();
        let good = f.generate(Environment::Test);
        let g = good.expose_secret();
        for bad in [
            "",
            "pk_live_",
            &g[..g.len() - 1],
            &format!("{g}a"),
            &g.replace("pk_test_", "pk_prod_"),
            &g.replace("pk_", "sk_"),
            &g.replace("pk_test_", "pk_test"),
            "pk_live_ääääääääääääääääääääääääääääääääääääää",
            // Right length in bytes, one two-byte character in the body.
            &format!("{}é{}", &g[..10], &g[12..]),
        ] {
            assert_eq!(f.check(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn custom_prefix() {
        let f = KeyFormat::with_prefix("acme").unwrap();
        let k = f.generate(Environment::Live);
        assert!(k.expose_secret().starts_with("acme_live_"));
        assert_eq!(f.check(k.expose_secret()), Some(Environment::Live));
        assert_eq!(KeyFormat::default().check(k.expose_secret()), None);
        for bad in ["", "Pk", "1pk", "p_k", "abcdefghijklmnopq"] {
            assert_eq!(KeyFormat::with_prefix(bad), Err(InvalidPrefix), "{bad:?}");
        }
    }

    #[test]
    fn hint_shows_only_the_prefix_and_four_characters() {
        let f = KeyFormat::default();
        let k = f.generate(Environment::Live);
        let hint = f.hint(&k);
        assert_eq!(hint, format!("{}…", &k.expose_secret()[..12]));
    }
}
