//! The issuer identifier (RFC 8414 §2, RFC 9207): required, never guessed.

use std::{fmt, str::FromStr, sync::Arc};

use crate::TenantId;

/// The placeholder replaced by the tenant id, in issuers and resource
/// templates alike.
pub(crate) const PLACEHOLDER: &str = "{tenant}";

/// `template` with every `{tenant}` replaced by `tenant`: `str::replace`,
/// in one allocation when the placeholder appears once (it runs on every
/// authorization request).
pub(crate) fn fill_tenant(template: &str, tenant: &str) -> String {
    let mut filled = String::with_capacity(template.len() + tenant.len());
    let mut rest = template;
    while let Some((before, after)) = rest.split_once(PLACEHOLDER) {
        filled.push_str(before);
        filled.push_str(tenant);
        rest = after;
    }
    filled.push_str(rest);
    filled
}

/// The authorization server's issuer identifier: the URL a client sees in
/// `iss` (RFC 9207) and in the metadata (RFC 8414), with `{tenant}` where
/// each tenant's own issuer differs (`https://{tenant}.auth.example.com`),
/// or none when one issuer serves every tenant.
///
/// It is required (there is no default host to be silently wrong about):
/// an `https` URL without query or fragment (RFC 8414 §2). Plain `http` is
/// accepted only for a loopback host (`localhost`, `127.0.0.1`, `[::1]`),
/// for development. A trailing `/` is dropped, so that endpoint paths join
/// cleanly.
///
/// # Examples
///
/// ```
/// use papyrus_auth::{TenantId, oauth::Issuer};
///
/// let issuer: Issuer = "https://{tenant}.auth.example.com".parse()?;
/// let acme: TenantId = "acme".parse()?;
/// assert_eq!(issuer.for_tenant(&acme), "https://acme.auth.example.com");
/// assert_eq!(issuer.tenant_host_suffix(), Some(".auth.example.com"));
///
/// assert!("http://auth.example.com".parse::<Issuer>().is_err()); // not https
/// assert!("http://127.0.0.1:8080".parse::<Issuer>().is_ok()); // development
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Issuer(Arc<str>);

/// Why a string is not an [`Issuer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidIssuer {
    /// Not `https://` (nor `http://` with a loopback host).
    #[error("the issuer must be an https URL (http only for localhost, 127.0.0.1 or [::1])")]
    Scheme,
    /// No host.
    #[error("the issuer has no host")]
    Host,
    /// A query or fragment (RFC 8414 §2 forbids both).
    #[error("the issuer must have no query or fragment (RFC 8414 section 2)")]
    QueryOrFragment,
    /// A space, a control character, or a brace other than `{tenant}`.
    #[error("the issuer contains a character a URL cannot, or a brace other than {{tenant}}")]
    Character,
}

impl Issuer {
    /// Parses an issuer (see the type's docs for the rules).
    ///
    /// # Errors
    ///
    /// [`InvalidIssuer`], saying what is wrong.
    pub fn parse(s: &str) -> Result<Self, InvalidIssuer> {
        // One trailing `/` dropped (not the one of a bare `https://`).
        let s = s
            .strip_suffix('/')
            .filter(|t| !t.ends_with('/'))
            .unwrap_or(s);
        if s.contains(['?', '#']) {
            return Err(InvalidIssuer::QueryOrFragment);
        }
        let without_placeholder = s.replace(PLACEHOLDER, "t");
        if without_placeholder
            .bytes()
            .any(|b| !b.is_ascii_graphic() || b == b'{' || b == b'}' || b == b'\\')
        {
            return Err(InvalidIssuer::Character);
        }
        let (secure, rest) = if let Some(rest) = s.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = s.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(InvalidIssuer::Scheme);
        };
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty() || authority.contains('@') {
            return Err(InvalidIssuer::Host);
        }
        let host = if authority.starts_with('[') {
            authority.split_inclusive(']').next().unwrap_or(authority)
        } else {
            authority.split(':').next().unwrap_or(authority)
        };
        if host.is_empty() {
            return Err(InvalidIssuer::Host);
        }
        if !secure && !matches!(host, "localhost" | "127.0.0.1" | "[::1]") {
            return Err(InvalidIssuer::Scheme);
        }
        Ok(Self(Arc::from(s)))
    }

    /// The issuer as written (with its `{tenant}`, if any).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The issuer of `tenant`: `{tenant}` replaced by its id.
    pub fn for_tenant(&self, tenant: &TenantId) -> String {
        fill_tenant(&self.0, tenant.as_str())
    }

    /// When the tenant is the first label of the issuer's host
    /// (`https://{tenant}.auth.example.com`), the rest of the host
    /// (`.auth.example.com`): a browser reaching the OAuth endpoints names
    /// its tenant by the host it asks for.
    pub fn tenant_host_suffix(&self) -> Option<&str> {
        let rest = self
            .0
            .strip_prefix("https://")
            .or_else(|| self.0.strip_prefix("http://"))?;
        let authority = rest.split('/').next()?;
        let suffix = authority.strip_prefix(PLACEHOLDER)?;
        let suffix = suffix.split(':').next()?;
        (suffix.starts_with('.') && suffix.len() > 1 && !suffix.contains(PLACEHOLDER))
            .then_some(suffix)
    }
}

impl FromStr for Issuer {
    type Err = InvalidIssuer;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer(s: &str) -> Result<String, InvalidIssuer> {
        Issuer::parse(s).map(|i| i.for_tenant(&"acme".parse().unwrap()))
    }

    #[test]
    fn the_tenant_is_put_in_every_placeholder() {
        assert_eq!(
            issuer("https://{tenant}.papyrus.io"),
            Ok("https://acme.papyrus.io".into())
        );
        assert_eq!(
            issuer("https://auth.example/{tenant}/"),
            Ok("https://auth.example/acme".into())
        );
        assert_eq!(
            issuer("https://auth.example"),
            Ok("https://auth.example".into())
        );
        assert_eq!(
            issuer("https://{tenant}.example/{tenant}"),
            Ok("https://acme.example/acme".into())
        );
    }

    #[test]
    fn only_https_urls_without_query_or_fragment() {
        assert_eq!(issuer("http://auth.example"), Err(InvalidIssuer::Scheme));
        assert_eq!(issuer("auth.example"), Err(InvalidIssuer::Scheme));
        assert_eq!(issuer("ftp://auth.example"), Err(InvalidIssuer::Scheme));
        assert_eq!(
            issuer("https://auth.example?x=1"),
            Err(InvalidIssuer::QueryOrFragment)
        );
        assert_eq!(
            issuer("https://auth.example#f"),
            Err(InvalidIssuer::QueryOrFragment)
        );
        assert_eq!(issuer("https://"), Err(InvalidIssuer::Host));
        assert_eq!(issuer("https://u@auth.example"), Err(InvalidIssuer::Host));
        assert_eq!(issuer("https://{tenant"), Err(InvalidIssuer::Character));
        assert_eq!(issuer("https://a b"), Err(InvalidIssuer::Character));
        for dev in [
            "http://localhost:8080",
            "http://127.0.0.1",
            "http://[::1]:3000/",
        ] {
            assert!(issuer(dev).is_ok(), "{dev}");
        }
        assert_eq!(issuer("http://127.0.0.2"), Err(InvalidIssuer::Scheme));
    }

    #[test]
    fn the_host_suffix_names_the_tenant_only_in_the_first_label() {
        let suffix = |s: &str| {
            Issuer::parse(s)
                .unwrap()
                .tenant_host_suffix()
                .map(str::to_owned)
        };
        assert_eq!(
            suffix("https://{tenant}.auth.example.com"),
            Some(".auth.example.com".into())
        );
        assert_eq!(
            suffix("https://{tenant}.example.com:8443/x"),
            Some(".example.com".into())
        );
        assert_eq!(suffix("https://auth.example/{tenant}"), None);
        assert_eq!(suffix("https://auth.example"), None);
        assert_eq!(suffix("https://x{tenant}.example"), None);
    }
}
