//! The identifiers of records: [`KeyId`], [`ClientId`], [`FamilyId`].
//!
//! One macro makes every id newtype: a shared string (`Arc<str>`, so a
//! clone is a reference count), compared, hashed and ordered as its
//! string, printed as it is (`Debug` quotes it), and serialized as a plain
//! string. None is a secret. Ids that arrive from outside (URLs, bodies)
//! are validated by `parse`, `FromStr` and `Deserialize` alike.

use std::{fmt, str::FromStr, sync::Arc};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares an id newtype over `Arc<str>`, drawn as `prefix` and `len`
/// random alphanumerics by `generate`. With `parse = rule`, `parse`,
/// `FromStr` and `Deserialize` accept exactly the strings `rule` does,
/// refusing others with `error`.
macro_rules! id {
    (
        $(#[$meta:meta])*
        $name:ident, generated = ($prefix:literal, $len:literal)
        $(, parse = $rule:expr, error = $error:ident)?
    ) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// A new random id.
            pub(crate) fn generate() -> Self {
                Self(crate::secret::random_id($prefix, $len).into())
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        $(
            impl $name {
                /// Parses an id, for example from a URL path or a body.
                ///
                /// # Errors
                ///
                #[doc = concat!("[`", stringify!($error), "`] for a string that is not such an id.")]
                pub fn parse(s: &str) -> Result<Self, $error> {
                    let rule: fn(&str) -> bool = $rule;
                    if rule(s) {
                        Ok(Self(s.into()))
                    } else {
                        Err($error)
                    }
                }
            }

            impl FromStr for $name {
                type Err = $error;
                fn from_str(s: &str) -> Result<Self, Self::Err> {
                    Self::parse(s)
                }
            }

            impl<'de> Deserialize<'de> for $name {
                fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                    let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                    Self::parse(&s).map_err(serde::de::Error::custom)
                }
            }
        )?
    };
}

id! {
    /// An API key's public identifier, such as `key_4fQ9x2LmT7cB1nZk`.
    ///
    /// Not a secret: it names the key in lists, URLs and the audit log.
    KeyId, generated = ("key_", 16),
    parse = |s| {
        s.strip_prefix("key_").is_some_and(|body| {
            !body.is_empty() && body.len() <= 64 && body.bytes().all(|b| b.is_ascii_alphanumeric())
        })
    },
    error = InvalidKeyId
}

/// The string is not a key id (`key_` followed by 1 to 64 of `[0-9A-Za-z]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid key id")]
pub struct InvalidKeyId;

id! {
    /// A client identifier, such as `cli_8Hq2…` or a chosen `your_client_id`.
    ///
    /// 1 to 128 characters of `[A-Za-z0-9._~-]`; or the `https` URL of a
    /// Client ID Metadata Document (up to 512 characters of URL syntax, no
    /// fragment: see [`ClientId::is_metadata_url`]). Not a secret. Unique
    /// within its tenant: another tenant may have a client of the same id.
    ClientId, generated = ("cli_", 20),
    parse = |s| {
        let plain = !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'));
        plain || is_metadata_url(s)
    },
    error = InvalidClientId
}

/// The longest client id that is a metadata document's URL.
pub const MAX_METADATA_URL_LEN: usize = 512;

/// Whether `s` has the syntax of a Client ID Metadata Document URL: `https://`,
/// a host, a path beyond `/`, URL characters only (RFC 3986, no fragment,
/// no quote or bracket but an IPv6 literal's), no user information, no
/// `.` or `..` segment.
fn is_metadata_url(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("https://") else {
        return false;
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    s.len() <= MAX_METADATA_URL_LEN
        && !authority.is_empty()
        && !authority.contains('@')
        && path.len() > 1
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~:/?[]@!$&+,;=%".contains(&b))
        && !path
            .split(['?'])
            .next()
            .unwrap_or_default()
            .split('/')
            .any(|seg| seg == "." || seg == "..")
}

impl ClientId {
    /// Whether this id is the `https` URL of a Client ID Metadata Document
    /// (draft-ietf-oauth-client-id-metadata-document): a client that
    /// describes itself at that URL instead of being registered.
    pub fn is_metadata_url(&self) -> bool {
        self.0.starts_with("https://")
    }
}

/// The string is not a valid [`ClientId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "client id must be 1 to 128 characters of A-Z a-z 0-9 . _ ~ -, or the https URL of a client \
     metadata document"
)]
pub struct InvalidClientId;

id! {
    /// The id of a token family: all tokens descending from one
    /// authorization code. Made by the library only, so not validated.
    FamilyId, generated = ("fam_", 20)
}

impl FamilyId {
    /// Rebuilds a family id read back from storage.
    pub fn from_stored(s: &str) -> Self {
        Self(s.into())
    }
}

impl<'de> Deserialize<'de> for FamilyId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(Self::from_stored(&s))
    }
}

#[cfg(test)]
impl KeyId {
    pub(crate) fn from_trusted(s: &str) -> Self {
        Self(s.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_exactly_their_syntax() {
        assert!(KeyId::parse("key_abc123").is_ok());
        for bad in ["key_", "abc", "key_a-b", &format!("key_{}", "a".repeat(65))] {
            assert_eq!(KeyId::parse(bad), Err(InvalidKeyId), "{bad}");
        }
        assert!(ClientId::parse("demo-spa.v2~x_y").is_ok());
        let url = ClientId::parse("https://agent.example/oauth/client.json").unwrap();
        assert!(url.is_metadata_url());
        assert!(!ClientId::parse("demo-spa").unwrap().is_metadata_url());
        for bad in [
            "",
            "a b",
            "é",
            &"a".repeat(129),
            "http://agent.example/client.json",
            "https://agent.example",
            "https://agent.example/",
            "https://user@agent.example/c.json",
            "https://agent.example/c.json#frag",
            "https://agent.example/a/../c.json",
            "https://agent.example/\"x\"",
            &format!("https://agent.example/{}", "a".repeat(600)),
        ] {
            assert_eq!(ClientId::parse(bad), Err(InvalidClientId), "{bad}");
        }
        assert!(serde_json::from_str::<KeyId>("\"nope\"").is_err());
        assert_eq!(
            serde_json::from_str::<ClientId>("\"demo-spa\"").unwrap(),
            ClientId::parse("demo-spa").unwrap()
        );
    }

    #[test]
    fn generated_ids_parse_and_print_as_they_are() {
        let k = KeyId::generate();
        assert_eq!(KeyId::parse(k.as_str()), Ok(k.clone()));
        assert_eq!(format!("{k}"), k.as_str());
        assert_eq!(format!("{k:?}"), format!("{:?}", k.as_str()));
        assert!(ClientId::generate().as_str().starts_with("cli_"));
        let f = FamilyId::generate();
        assert!(f.as_str().starts_with("fam_"));
        assert_eq!(serde_json::to_string(&f).unwrap(), format!("\"{f}\""));
        assert_eq!(FamilyId::from_stored(f.as_str()), f);
    }
}
