//! Where a request's tenant comes from.

use std::borrow::Cow;

use super::HeaderSource;
use crate::{Rejection, TenantId};

/// How to find a request's tenant.
///
/// # Examples
///
/// ```
/// use papyrus_auth::http::{HttpRequest, TenantSource};
///
/// let oauth = TenantSource::FirstOf(vec![
///     TenantSource::HostLabel(".papyrus.io".into()),
///     TenantSource::Header,
///     TenantSource::Fixed("acme".parse()?),
/// ]);
/// let req = HttpRequest::get("/oauth/authorize").with_header("Host", "globex.papyrus.io");
/// assert_eq!(oauth.resolve(&req)?.as_str(), "globex");
/// let req = HttpRequest::get("/oauth/authorize").with_header("Host", "127.0.0.1:8080");
/// assert_eq!(oauth.resolve(&req)?.as_str(), "acme");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TenantSource {
    /// The `X-Tenant-Id` header, as in the product document's curl line.
    Header,
    /// The first label of the `Host` header when the host ends with this
    /// suffix (`.papyrus.io` → `acme.papyrus.io` is tenant `acme`). The port
    /// is ignored and the label is matched case-insensitively.
    HostLabel(String),
    /// Always this tenant (single-tenant deployments).
    Fixed(TenantId),
    /// The first source that names a tenant. A source that names an invalid
    /// tenant stops the search with that error.
    FirstOf(Vec<TenantSource>),
}

impl TenantSource {
    /// The tenant of a request.
    ///
    /// # Errors
    ///
    /// [`Rejection::MissingTenant`] when no source names one,
    /// [`Rejection::InvalidTenant`] when the named tenant is malformed.
    pub fn resolve(&self, headers: &impl HeaderSource) -> Result<TenantId, Rejection> {
        let name = self.resolve_name(headers)?;
        TenantId::parse(&name).map_err(|_| Rejection::InvalidTenant)
    }

    /// [`resolve`](Self::resolve) without an allocation for the `Header`
    /// and `Fixed` sources: the validated tenant name.
    pub(crate) fn resolve_name<'a>(
        &'a self,
        headers: &'a impl HeaderSource,
    ) -> Result<Cow<'a, str>, Rejection> {
        self.find(headers).unwrap_or(Err(Rejection::MissingTenant))
    }

    fn find<'a>(
        &'a self,
        headers: &'a impl HeaderSource,
    ) -> Option<Result<Cow<'a, str>, Rejection>> {
        let valid = |name: Cow<'a, str>| {
            crate::tenant::validate(&name)
                .map(|()| name)
                .map_err(|_| Rejection::InvalidTenant)
        };
        match self {
            // An absent header lets `FirstOf` try the next source.
            Self::Header => {
                let named = headers
                    .single_header(super::TENANT_HEADER)
                    .and_then(super::tenant_name_from_header);
                match named {
                    Err(Rejection::MissingTenant) => None,
                    named => Some(named.map(Cow::Borrowed)),
                }
            }
            Self::HostLabel(suffix) => {
                let host = match headers.single_header("host") {
                    Ok(host) => host?,
                    Err(repeated) => return Some(Err(repeated)),
                };
                let host = host.rsplit_once(':').map_or(host, |(h, port)| {
                    if port.bytes().all(|b| b.is_ascii_digit()) {
                        h
                    } else {
                        host
                    }
                });
                let host = host.to_ascii_lowercase();
                let label = host.strip_suffix(&suffix.to_ascii_lowercase())?;
                if label.is_empty() || label.contains('.') {
                    return None;
                }
                Some(valid(Cow::Owned(label.to_owned())))
            }
            Self::Fixed(t) => Some(Ok(Cow::Borrowed(t.as_str()))),
            Self::FirstOf(sources) => sources.iter().find_map(|s| s.find(headers)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpRequest;

    #[test]
    fn header_source() {
        let s = TenantSource::Header;
        assert_eq!(
            s.resolve(&HttpRequest::get("/")),
            Err(Rejection::MissingTenant)
        );
        let r = HttpRequest::get("/").with_header("x-tenant-id", "Acme");
        assert_eq!(s.resolve(&r), Err(Rejection::InvalidTenant));
        let r = HttpRequest::get("/").with_header("X-Tenant-Id", "acme");
        assert_eq!(s.resolve(&r).unwrap().as_str(), "acme");
    }

    #[test]
    fn host_label_source() {
        let s = TenantSource::HostLabel(".papyrus.io".into());
        let host = |h: &str| HttpRequest::get("/").with_header("Host", h);
        assert_eq!(
            s.resolve(&host("ACME.papyrus.io:443")).unwrap().as_str(),
            "acme"
        );
        assert_eq!(
            s.resolve(&host("papyrus.io")),
            Err(Rejection::MissingTenant)
        );
        assert_eq!(
            s.resolve(&host("a.b.papyrus.io")),
            Err(Rejection::MissingTenant)
        );
        assert_eq!(s.resolve(&host("evil.com")), Err(Rejection::MissingTenant));
        assert_eq!(
            s.resolve(&host("acme.papyrus.io.evil.com")),
            Err(Rejection::MissingTenant)
        );
        assert_eq!(
            s.resolve(&host("a_b.papyrus.io")),
            Err(Rejection::InvalidTenant)
        );
    }

    #[test]
    fn first_of_falls_through_but_stops_on_invalid() {
        let s = TenantSource::FirstOf(vec![
            TenantSource::HostLabel(".localhost".into()),
            TenantSource::Header,
            TenantSource::Fixed("acme".parse().unwrap()),
        ]);
        assert_eq!(s.resolve(&HttpRequest::get("/")).unwrap().as_str(), "acme");
        let r = HttpRequest::get("/").with_header("X-Tenant-Id", "globex");
        assert_eq!(s.resolve(&r).unwrap().as_str(), "globex");
        let r = HttpRequest::get("/")
            .with_header("Host", "initech.localhost:8080")
            .with_header("X-Tenant-Id", "globex");
        assert_eq!(s.resolve(&r).unwrap().as_str(), "initech");
        let r = HttpRequest::get("/").with_header("X-Tenant-Id", "NOPE");
        assert_eq!(s.resolve(&r), Err(Rejection::InvalidTenant));
    }
}
