//! PKCE (RFC 7636): code challenges and their verification.
//!
//! Only the `S256` method is accepted unless `plain` is switched on through
//! the loud [`DangerousOptions::allow_plain_pkce`](super::DangerousOptions).

use std::fmt;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

/// Shortest verifier or challenge (RFC 7636 §4.1, §4.2).
pub const PKCE_MIN_LEN: usize = 43;
/// Longest verifier or challenge.
pub const PKCE_MAX_LEN: usize = 128;

/// How a challenge was derived from the verifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CodeChallengeMethod {
    /// `BASE64URL(SHA256(ASCII(code_verifier)))`.
    S256,
    /// The challenge is the verifier. Refused unless explicitly enabled.
    #[serde(rename = "plain")]
    Plain,
}

impl CodeChallengeMethod {
    /// `"S256"` or `"plain"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S256 => "S256",
            Self::Plain => "plain",
        }
    }
}

/// Whether `s` is 43 to 128 characters of `[A-Za-z0-9-._~]` (RFC 7636 §4.1).
pub fn is_valid_verifier_syntax(s: &str) -> bool {
    (PKCE_MIN_LEN..=PKCE_MAX_LEN).contains(&s.len())
        && crate::secret::all_in(&UNRESERVED, s.as_bytes())
}

/// The characters of a verifier or challenge (RFC 3986 "unreserved"). Bytes
/// of multi-byte characters are all outside it.
const UNRESERVED: [bool; 256] = crate::secret::alphanumeric_and(b"-._~");

/// A code challenge as sent to the authorization endpoint, with its method.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeChallenge {
    challenge: String,
    method: CodeChallengeMethod,
}

impl CodeChallenge {
    /// A challenge, if its syntax is valid (43 to 128 unreserved characters).
    pub fn new(challenge: &str, method: CodeChallengeMethod) -> Option<Self> {
        is_valid_verifier_syntax(challenge).then(|| Self {
            challenge: challenge.to_owned(),
            method,
        })
    }

    /// The S256 challenge of `verifier`: `BASE64URL(SHA256(verifier))`.
    pub fn s256_of(verifier: &str) -> Self {
        Self {
            challenge: s256(verifier),
            method: CodeChallengeMethod::S256,
        }
    }

    /// The challenge string.
    pub fn as_str(&self) -> &str {
        &self.challenge
    }

    /// The method.
    pub fn method(&self) -> CodeChallengeMethod {
        self.method
    }

    /// Whether `verifier` matches this challenge (RFC 7636 §4.6): the verifier
    /// must have valid syntax, and the derived value is compared in constant time.
    ///
    /// # Examples
    ///
    /// The RFC 7636 Appendix B vector:
    ///
    /// ```
    /// use papyrus_auth::oauth::{CodeChallenge, CodeChallengeMethod};
    ///
    /// let c = CodeChallenge::new("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", CodeChallengeMethod::S256)
    ///     .unwrap();
    /// assert!(c.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
    /// assert!(!c.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK"));
    /// ```
    pub fn verify(&self, verifier: &str) -> bool {
        if !is_valid_verifier_syntax(verifier) {
            return false;
        }
        let challenge = self.challenge.as_bytes();
        match self.method {
            CodeChallengeMethod::S256 => {
                // Encoded on the stack: no allocation per token request.
                let mut derived = [0u8; S256_LEN];
                let digest = Sha256::digest(verifier.as_bytes());
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode_slice(digest, &mut derived)
                    .is_ok_and(|n| derived[..n].ct_eq(challenge).into())
            }
            // Slices of different lengths are unequal (`subtle` checks).
            CodeChallengeMethod::Plain => verifier.as_bytes().ct_eq(challenge).into(),
        }
    }
}

impl fmt::Debug for CodeChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A plain challenge is the verifier itself: never print it.
        f.debug_struct("CodeChallenge")
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// Length of an S256 challenge: 32 bytes in unpadded base64url.
const S256_LEN: usize = 43;

fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b() {
        assert_eq!(CodeChallenge::s256_of(VERIFIER).as_str(), CHALLENGE);
        let c = CodeChallenge::new(CHALLENGE, CodeChallengeMethod::S256).unwrap();
        assert!(c.verify(VERIFIER));
    }

    #[test]
    fn wrong_or_malformed_verifiers_fail() {
        let c = CodeChallenge::new(CHALLENGE, CodeChallengeMethod::S256).unwrap();
        assert!(!c.verify(&VERIFIER[..42]), "too short");
        assert!(!c.verify(&format!("{VERIFIER}!")), "bad character");
        assert!(!c.verify(&"a".repeat(129)));
        assert!(
            !c.verify(CHALLENGE),
            "the challenge itself is not the verifier"
        );
    }

    /// The whole stored challenge is compared, not the first 43 characters.
    #[test]
    fn s256_compares_the_whole_challenge() {
        let longer = CodeChallenge::new(&format!("{CHALLENGE}A"), CodeChallengeMethod::S256);
        assert!(!longer.unwrap().verify(VERIFIER));
        let last_off = format!("{}N", &CHALLENGE[..42]);
        let c = CodeChallenge::new(&last_off, CodeChallengeMethod::S256).unwrap();
        assert!(!c.verify(VERIFIER));
    }

    /// The table accepts exactly the unreserved characters, wherever they
    /// stand, and no byte of a multi-byte character.
    #[test]
    fn verifier_syntax_is_the_unreserved_set() {
        let unreserved = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
        let others = ['\u{e9}', '\u{20ac}', '\u{1f600}', '\u{ff0d}'];
        for c in (0u8..0x80).map(char::from).chain(others) {
            for at in [0, 21, 42] {
                let mut v: Vec<char> = "a".repeat(43).chars().collect();
                v[at] = c;
                let v: String = v.into_iter().collect();
                let fits = v.len() <= PKCE_MAX_LEN;
                assert_eq!(
                    is_valid_verifier_syntax(&v),
                    fits && unreserved(c),
                    "{c:?} at {at}"
                );
            }
        }
    }

    #[test]
    fn challenge_syntax() {
        assert!(CodeChallenge::new(&"a".repeat(42), CodeChallengeMethod::S256).is_none());
        assert!(CodeChallenge::new(&"a".repeat(43), CodeChallengeMethod::S256).is_some());
        assert!(CodeChallenge::new(&"a".repeat(128), CodeChallengeMethod::S256).is_some());
        assert!(CodeChallenge::new(&"a".repeat(129), CodeChallengeMethod::S256).is_none());
        assert!(
            CodeChallenge::new(&format!("{}+", "a".repeat(43)), CodeChallengeMethod::S256)
                .is_none()
        );
    }

    #[test]
    fn plain_compares_directly_and_debug_hides_it() {
        let c = CodeChallenge::new(VERIFIER, CodeChallengeMethod::Plain).unwrap();
        assert!(c.verify(VERIFIER));
        assert!(!format!("{c:?}").contains(VERIFIER));
    }
}
