//! Scopes: what a credential may do.
//!
//! A [`Scope`] is one RFC 6749 §3.3 scope token, such as `documents:read`; a
//! [`ScopeSet`] is a set of them, written on the wire as a space-delimited
//! string (`"documents:read workflows:write"`). Scope checks are plain subset
//! checks: there are no wildcards and no implied scopes, so what a key may do
//! is exactly what its record lists.
//!
//! See [RFC 6749 §3.3](https://www.rfc-editor.org/rfc/rfc6749#section-3.3).

use std::{fmt, str::FromStr, sync::Arc};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest scope token accepted, in bytes.
pub const MAX_SCOPE_LEN: usize = 128;
/// The most scopes one [`ScopeSet`] may hold.
pub const MAX_SCOPES: usize = 64;

/// One scope token, such as `documents:read`.
///
/// Syntax (RFC 6749 §3.3): one or more printable ASCII characters other than
/// space, `"` and `\` (`%x21 / %x23-5B / %x5D-7E`), at most
/// [`MAX_SCOPE_LEN`] bytes. Scopes compare case-sensitively, as the RFC says.
///
/// # Examples
///
/// ```
/// use papyrus_auth::Scope;
///
/// let scope: Scope = "documents:read".parse()?;
/// assert_eq!(scope.as_str(), "documents:read");
/// assert!("two words".parse::<Scope>().is_err());
/// # Ok::<(), papyrus_auth::InvalidScope>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope(Arc<str>);

/// Why a string is not a valid [`Scope`] or [`ScopeSet`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidScope {
    /// An empty scope token (for example two spaces in a row).
    #[error("empty scope token")]
    Empty,
    /// A token longer than [`MAX_SCOPE_LEN`] bytes.
    #[error("scope token longer than 128 bytes")]
    TooLong,
    /// A character outside the RFC 6749 §3.3 scope-token syntax.
    #[error("scope token contains a character not allowed by RFC 6749 section 3.3")]
    InvalidCharacter,
    /// More than [`MAX_SCOPES`] scopes in one set.
    #[error("more than 64 scopes")]
    TooMany,
}

impl Scope {
    /// Parses one scope token.
    ///
    /// # Errors
    ///
    /// [`InvalidScope`] when the token is empty, too long, or contains a
    /// character the RFC does not allow.
    pub fn parse(s: &str) -> Result<Self, InvalidScope> {
        if s.is_empty() {
            return Err(InvalidScope::Empty);
        }
        if s.len() > MAX_SCOPE_LEN {
            return Err(InvalidScope::TooLong);
        }
        if !s
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
        {
            return Err(InvalidScope::InvalidCharacter);
        }
        Ok(Self(Arc::from(s)))
    }

    /// The scope as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Scope {
    type Err = InvalidScope;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A set of scopes, kept sorted and without duplicates.
///
/// Parsed from and written as the RFC 6749 §3.3 space-delimited list; serde
/// uses the same string form. Cloning is cheap (a reference count).
///
/// # Examples
///
/// ```
/// use papyrus_auth::ScopeSet;
///
/// let granted: ScopeSet = "documents:read documents:write".parse()?;
/// let needed: ScopeSet = "documents:read".parse()?;
/// assert!(granted.contains_all(&needed));
/// assert!(!needed.contains_all(&granted));
/// assert_eq!(granted.to_string(), "documents:read documents:write");
/// # Ok::<(), papyrus_auth::InvalidScope>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct ScopeSet(Arc<[Scope]>);

impl ScopeSet {
    /// The empty set.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Parses a space-delimited scope list. The empty string is the empty
    /// set; duplicates are merged.
    ///
    /// # Errors
    ///
    /// [`InvalidScope`] for an invalid token, an empty token (leading,
    /// trailing or doubled spaces) or more than [`MAX_SCOPES`] scopes.
    pub fn parse(s: &str) -> Result<Self, InvalidScope> {
        if s.is_empty() {
            return Ok(Self::empty());
        }
        let mut scopes = Vec::new();
        for token in s.split(' ') {
            if scopes.len() == MAX_SCOPES {
                return Err(InvalidScope::TooMany);
            }
            scopes.push(Scope::parse(token)?);
        }
        Self::from_scopes(scopes)
    }

    /// Builds a set from scopes; duplicates are merged.
    ///
    /// # Errors
    ///
    /// [`InvalidScope::TooMany`] for more than [`MAX_SCOPES`] distinct scopes.
    pub fn from_scopes(scopes: impl IntoIterator<Item = Scope>) -> Result<Self, InvalidScope> {
        let mut scopes: Vec<Scope> = scopes.into_iter().collect();
        scopes.sort_unstable();
        scopes.dedup();
        if scopes.len() > MAX_SCOPES {
            return Err(InvalidScope::TooMany);
        }
        Ok(Self(scopes.into()))
    }

    /// Whether the set holds `scope`.
    pub fn contains(&self, scope: &Scope) -> bool {
        self.0.binary_search(scope).is_ok()
    }

    /// Whether every scope of `other` is in this set (`other ⊆ self`).
    pub fn contains_all(&self, other: &ScopeSet) -> bool {
        // One merge walk over the two sorted lists: each wanted scope is
        // looked for after the previous one's place, and the equality test
        // compares lengths before bytes.
        let mut mine = self.0.iter();
        other.0.len() <= self.0.len() && other.0.iter().all(|wanted| mine.any(|s| s == wanted))
    }

    /// An equal set that shares `known`'s allocations: `known` itself when
    /// the two are equal, else each scope that `known` holds. Records issued
    /// from one client's grants then point at a few shared scope sets that
    /// stay in cache, instead of each at its own copies.
    pub(crate) fn interned_in(&self, known: &ScopeSet) -> ScopeSet {
        if Arc::ptr_eq(&self.0, &known.0) || self == known {
            return known.clone();
        }
        Self(
            self.0
                .iter()
                .map(|s| match known.0.binary_search(s) {
                    Ok(i) => known.0[i].clone(),
                    Err(_) => s.clone(),
                })
                .collect(),
        )
    }

    /// Whether this set is a subset of `other` (`self ⊆ other`).
    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        other.contains_all(self)
    }

    /// The scopes of `other` that this set lacks (`other \ self`), for an
    /// `insufficient_scope` error.
    pub fn missing_from(&self, other: &ScopeSet) -> ScopeSet {
        Self(
            other
                .0
                .iter()
                .filter(|s| !self.contains(s))
                .cloned()
                .collect(),
        )
    }

    /// The scopes in both sets.
    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        Self(
            self.0
                .iter()
                .filter(|s| other.contains(s))
                .cloned()
                .collect(),
        )
    }

    /// Number of scopes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes in sorted order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Scope> {
        self.0.iter()
    }
}

impl FromStr for ScopeSet {
    type Err = InvalidScope;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(s.as_str())?;
        }
        Ok(())
    }
}

impl fmt::Debug for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.iter()).finish()
    }
}

impl<'a> IntoIterator for &'a ScopeSet {
    type Item = &'a Scope;
    type IntoIter = std::slice::Iter<'a, Scope>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Serialize for ScopeSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The space-delimited string; in a human-readable format (JSON) also an
/// array of single scopes, as API clients often send them.
impl<'de> Deserialize<'de> for ScopeSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = ScopeSet;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a space-delimited scope string or an array of scopes")
            }

            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<ScopeSet, E> {
                ScopeSet::parse(s).map_err(E::custom)
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ScopeSet, A::Error> {
                use serde::de::Error as _;
                let mut scopes = Vec::new();
                while let Some(s) = seq.next_element::<std::borrow::Cow<'de, str>>()? {
                    if scopes.len() == MAX_SCOPES {
                        return Err(A::Error::custom(InvalidScope::TooMany));
                    }
                    scopes.push(Scope::parse(&s).map_err(A::Error::custom)?);
                }
                ScopeSet::from_scopes(scopes).map_err(A::Error::custom)
            }
        }
        // Binary formats cannot tell a string from an array unasked.
        if d.is_human_readable() {
            d.deserialize_any(Visitor)
        } else {
            d.deserialize_str(Visitor)
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_keeps_the_value_and_shares_allocations() {
        let known: ScopeSet = "a:read b:read c:write".parse().unwrap();
        let same: ScopeSet = "c:write a:read b:read".parse().unwrap();
        let interned = same.interned_in(&known);
        assert_eq!(interned, same);
        assert!(Arc::ptr_eq(&interned.0, &known.0));

        let subset: ScopeSet = "b:read x:y".parse().unwrap();
        let interned = subset.interned_in(&known);
        assert_eq!(interned, subset);
        assert!(
            Arc::ptr_eq(&interned.0[0].0, &known.0[1].0),
            "b:read shared"
        );
        assert_eq!(interned.0[1].as_str(), "x:y");
    }

    fn set(s: &str) -> ScopeSet {
        s.parse().unwrap()
    }

    #[test]
    fn scope_token_syntax_follows_rfc6749() {
        for ok in ["documents:read", "a", "!", "#[]~", "x/y.z-1_2"] {
            assert!(Scope::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(Scope::parse(""), Err(InvalidScope::Empty));
        for bad in ["a b", "a\"b", "a\\b", "tab\t", "é", "\u{7f}"] {
            assert_eq!(
                Scope::parse(bad),
                Err(InvalidScope::InvalidCharacter),
                "{bad:?}"
            );
        }
        assert_eq!(Scope::parse(&"a".repeat(129)), Err(InvalidScope::TooLong));
        assert!(Scope::parse(&"a".repeat(128)).is_ok());
    }

    #[test]
    fn set_parsing_sorts_dedups_and_rejects_empty_tokens() {
        let s = set("workflows:write documents:read documents:read");
        assert_eq!(s.len(), 2);
        assert_eq!(s.to_string(), "documents:read workflows:write");
        assert!(set("").is_empty());
        for bad in [" a", "a ", "a  b"] {
            assert_eq!(ScopeSet::parse(bad), Err(InvalidScope::Empty), "{bad:?}");
        }
    }

    #[test]
    fn set_size_is_bounded() {
        let many: Vec<String> = (0..65).map(|i| format!("s{i}")).collect();
        assert_eq!(ScopeSet::parse(&many.join(" ")), Err(InvalidScope::TooMany));
        assert_eq!(ScopeSet::parse(&many[..64].join(" ")).unwrap().len(), 64);
    }

    #[test]
    fn subset_checks() {
        let granted = set("documents:read documents:write analytics:read");
        assert!(granted.contains_all(&set("documents:read")));
        assert!(granted.contains_all(&set("")));
        assert!(!granted.contains_all(&set("workflows:write")));
        assert!(set("documents:read").is_subset(&granted));
        assert_eq!(
            granted.missing_from(&set("documents:read workflows:write")),
            set("workflows:write")
        );
        assert_eq!(
            granted.intersection(&set("documents:read workflows:write")),
            set("documents:read")
        );
        // Case-sensitive, no prefix or wildcard matching.
        assert!(!granted.contains_all(&set("Documents:read")));
        assert!(!set("documents").contains_all(&set("documents:read")));
    }

    proptest::proptest! {
        /// The merge walk agrees with "each wanted scope is held", for sets
        /// drawn from a small alphabet so that overlaps are common.
        #[test]
        fn contains_all_is_the_subset_relation(
            held in proptest::collection::btree_set("[abc][:x]{0,2}", 0..6),
            wanted in proptest::collection::btree_set("[abc][:x]{0,2}", 0..6),
        ) {
            let parse = |s: &std::collections::BTreeSet<String>| {
                ScopeSet::parse(&s.iter().map(String::as_str).collect::<Vec<_>>().join(" ")).unwrap()
            };
            let (held_set, wanted_set) = (parse(&held), parse(&wanted));
            proptest::prop_assert_eq!(held_set.contains_all(&wanted_set), wanted.is_subset(&held));
        }
    }

    #[test]
    fn serde_is_the_space_delimited_string() {
        let s = set("b a");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"a b\"");
        assert_eq!(serde_json::from_str::<ScopeSet>("\"a b\"").unwrap(), s);
        assert!(serde_json::from_str::<ScopeSet>("\"a  b\"").is_err());
    }

    #[test]
    fn json_also_takes_an_array_of_single_scopes() {
        fn parse(json: &str) -> serde_json::Result<ScopeSet> {
            serde_json::from_str(json)
        }
        assert_eq!(parse(r#"["b", "a", "b"]"#).unwrap(), set("a b"));
        assert_eq!(parse("[]").unwrap(), ScopeSet::empty());
        let error = |json: &str| parse(json).unwrap_err().to_string();
        assert!(
            error(r#"["a b"]"#).contains("RFC 6749"),
            "one scope per element"
        );
        assert!(error(r#"[""]"#).contains("empty"));
        assert!(error("[1]").contains("expected"));
        assert!(error("7").contains("a space-delimited scope string or an array"));
        let many: Vec<String> = (0..65).map(|i| format!("s{i}")).collect();
        assert!(error(&serde_json::to_string(&many).unwrap()).contains("more than 64"));
    }
}
