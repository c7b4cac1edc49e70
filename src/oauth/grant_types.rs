//! The grants a client may use (RFC 7591 §2 `grant_types`).

use std::{borrow::Cow, fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A set of grant types: what a client registered for, and so what the
/// token and authorization endpoints let it do (else `unauthorized_client`).
///
/// ```
/// use papyrus_auth::oauth::GrantTypes;
///
/// let g: GrantTypes = "client_credentials".parse()?;
/// assert!(g.contains(GrantTypes::CLIENT_CREDENTIALS));
/// assert!(!g.contains(GrantTypes::AUTHORIZATION_CODE));
/// assert_eq!(GrantTypes::default().to_string(), "authorization_code refresh_token");
/// # Ok::<(), papyrus_auth::oauth::UnknownGrantType>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct GrantTypes(u8);

/// A grant type this server does not implement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported grant type {0:?} (supported: authorization_code, refresh_token, client_credentials)"
)]
pub struct UnknownGrantType(pub String);

const NAMES: [(&str, GrantTypes); 3] = [
    ("authorization_code", GrantTypes::AUTHORIZATION_CODE),
    ("refresh_token", GrantTypes::REFRESH_TOKEN),
    ("client_credentials", GrantTypes::CLIENT_CREDENTIALS),
];

impl GrantTypes {
    /// None.
    pub const NONE: Self = Self(0);
    /// The authorization code grant (RFC 6749 §4.1), with PKCE.
    pub const AUTHORIZATION_CODE: Self = Self(1);
    /// Refresh tokens (RFC 6749 §6): without it, a code grant issues no
    /// refresh token.
    pub const REFRESH_TOKEN: Self = Self(2);
    /// The client credentials grant (RFC 6749 §4.4): confidential clients
    /// only.
    pub const CLIENT_CREDENTIALS: Self = Self(4);

    /// Whether every grant of `other` is in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union.
    #[must_use]
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether there is none.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The RFC 7591 names, in a fixed order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        NAMES
            .into_iter()
            .filter(move |(_, g)| self.contains(*g))
            .map(|(n, _)| n)
    }

    /// From RFC 7591 names.
    ///
    /// # Errors
    ///
    /// [`UnknownGrantType`] for a name this server does not implement.
    pub fn from_names<'a>(
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, UnknownGrantType> {
        let mut set = Self::NONE;
        for name in names {
            let g = NAMES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, g)| *g)
                .ok_or_else(|| UnknownGrantType(name.chars().take(64).collect()))?;
            set = set.with(g);
        }
        Ok(set)
    }
}

/// `authorization_code refresh_token`: RFC 7591 §2's default is
/// `authorization_code` alone; refresh is what every client here had
/// before the field existed.
impl Default for GrantTypes {
    fn default() -> Self {
        Self::AUTHORIZATION_CODE.with(Self::REFRESH_TOKEN)
    }
}

impl fmt::Debug for GrantTypes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// Space-separated names, as stored.
impl fmt::Display for GrantTypes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.names().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(n)?;
        }
        Ok(())
    }
}

/// Space-separated names.
impl FromStr for GrantTypes {
    type Err = UnknownGrantType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_names(s.split(' ').filter(|n| !n.is_empty()))
    }
}

/// A JSON array of names (RFC 7591 §2).
impl Serialize for GrantTypes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.names())
    }
}

/// A JSON array of names.
impl<'de> Deserialize<'de> for GrantTypes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = Vec::<Cow<'de, str>>::deserialize(d)?;
        Self::from_names(names.iter().map(|n| &**n)).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let all = GrantTypes::default().with(GrantTypes::CLIENT_CREDENTIALS);
        assert_eq!(all.to_string().parse::<GrantTypes>(), Ok(all));
        assert_eq!(
            serde_json::to_string(&all).unwrap(),
            r#"["authorization_code","refresh_token","client_credentials"]"#
        );
        let back: GrantTypes = serde_json::from_str(r#"["client_credentials"]"#).unwrap();
        assert_eq!(back, GrantTypes::CLIENT_CREDENTIALS);
        assert!(serde_json::from_str::<GrantTypes>(r#"["implicit"]"#).is_err());
        assert!("password".parse::<GrantTypes>().is_err());
        assert_eq!("".parse::<GrantTypes>(), Ok(GrantTypes::NONE));
    }
}
