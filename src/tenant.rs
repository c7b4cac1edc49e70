//! Tenants: the unit of isolation.
//!
//! Every key, client, code and token belongs to exactly one tenant, and every
//! decision in this crate checks the tenant itself rather than trusting a
//! store to have filtered by it.

use std::{fmt, str::FromStr, sync::Arc};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest tenant identifier accepted: a DNS label, so that a tenant can
/// also be named by the first label of the `Host` header
/// (`yourtenant.papyrus.io`).
pub const MAX_TENANT_LEN: usize = 63;

/// A validated tenant identifier, such as `acme`.
///
/// The syntax is that of a lowercase DNS label: 1 to 63 characters from
/// `a-z`, `0-9` and `-`, neither starting nor ending with `-`. Parsing is
/// strict (an uppercase letter is an error) so that one tenant has exactly one
/// spelling; use [`TenantId::from_host_label`] for the case-insensitive `Host`
/// header.
///
/// Cloning is cheap (a reference count).
///
/// # Examples
///
/// ```
/// use papyrus_auth::TenantId;
///
/// let tenant: TenantId = "acme".parse()?;
/// assert_eq!(tenant.as_str(), "acme");
/// assert!("Acme".parse::<TenantId>().is_err());
/// assert!("-acme".parse::<TenantId>().is_err());
/// # Ok::<(), papyrus_auth::InvalidTenantId>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(Arc<str>);

/// Why a string is not a valid [`TenantId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidTenantId {
    /// The identifier is empty.
    #[error("tenant id is empty")]
    Empty,
    /// The identifier is longer than [`MAX_TENANT_LEN`] characters.
    #[error("tenant id is longer than 63 characters")]
    TooLong,
    /// A character outside `a-z`, `0-9` and `-`.
    #[error("tenant id may contain only lowercase letters, digits and '-'")]
    InvalidCharacter,
    /// The identifier starts or ends with `-`.
    #[error("tenant id may not start or end with '-'")]
    EdgeHyphen,
}

impl TenantId {
    /// Parses a tenant identifier (see the type's docs for the syntax).
    ///
    /// # Errors
    ///
    /// [`InvalidTenantId`] says which rule the input breaks.
    pub fn parse(s: &str) -> Result<Self, InvalidTenantId> {
        validate(s)?;
        Ok(Self(Arc::from(s)))
    }

    /// Parses a tenant from a `Host` header's first label, ignoring ASCII case
    /// (host names are case-insensitive).
    ///
    /// # Errors
    ///
    /// [`InvalidTenantId`] when the lowercased label is not a valid tenant.
    pub fn from_host_label(label: &str) -> Result<Self, InvalidTenantId> {
        Self::parse(&label.to_ascii_lowercase())
    }

    /// The identifier as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks the syntax of a tenant identifier without allocating.
pub(crate) fn validate(s: &str) -> Result<(), InvalidTenantId> {
    if s.is_empty() {
        return Err(InvalidTenantId::Empty);
    }
    if s.len() > MAX_TENANT_LEN {
        return Err(InvalidTenantId::TooLong);
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(InvalidTenantId::InvalidCharacter);
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err(InvalidTenantId::EdgeHyphen);
    }
    Ok(())
}

impl FromStr for TenantId {
    type Err = InvalidTenantId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TenantId").field(&&*self.0).finish()
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for TenantId {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for TenantId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_labels() {
        for ok in ["a", "acme", "acme-corp", "t1", "0", &"a".repeat(63)] {
            assert_eq!(TenantId::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_each_rule() {
        assert_eq!(TenantId::parse(""), Err(InvalidTenantId::Empty));
        assert_eq!(
            TenantId::parse(&"a".repeat(64)),
            Err(InvalidTenantId::TooLong)
        );
        for bad in ["Acme", "ac me", "acme.io", "acme_corp", "ä", "acme\n"] {
            assert_eq!(
                TenantId::parse(bad),
                Err(InvalidTenantId::InvalidCharacter),
                "{bad:?}"
            );
        }
        assert_eq!(TenantId::parse("-acme"), Err(InvalidTenantId::EdgeHyphen));
        assert_eq!(TenantId::parse("acme-"), Err(InvalidTenantId::EdgeHyphen));
    }

    #[test]
    fn host_label_is_case_insensitive() {
        assert_eq!(TenantId::from_host_label("ACME").unwrap().as_str(), "acme");
    }

    #[test]
    fn serde_round_trip_validates() {
        let t: TenantId = serde_json::from_str("\"acme\"").unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"acme\"");
        assert!(serde_json::from_str::<TenantId>("\"ACME\"").is_err());
    }
}
