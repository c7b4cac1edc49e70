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
///     TenantSource::Host { host: "127.0.0.1".into(), tenant: "acme".parse()? },
/// ]);
/// let req = HttpRequest::get("/oauth/authorize").with_header("Host", "globex.papyrus.io");
/// assert_eq!(oauth.resolve(&req)?.as_str(), "globex");
/// let req = HttpRequest::get("/oauth/authorize").with_header("Host", "127.0.0.1:8080");
/// assert_eq!(oauth.resolve(&req)?.as_str(), "acme");
/// // A host nobody named is not acme's: it names no tenant.
/// let req = HttpRequest::get("/oauth/authorize").with_header("Host", "evil.example");
/// assert!(oauth.resolve(&req).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TenantSource {
    /// The `X-Tenant-Id` header, as in the product document's curl line.
    Header,
    /// The first label of the `Host` header when the host ends with this
    /// suffix (`.papyrus.io` → `acme.papyrus.io` is tenant `acme`). The port
    /// is ignored, one trailing dot too (`acme.papyrus.io.` is the same
    /// host), and the label is matched case-insensitively. A host under the
    /// suffix that is not exactly one valid label before it
    /// (`x.acme.papyrus.io`, `a_b.papyrus.io`), or a `Host` that is not a
    /// valid host (`acme.papyrus.io:abc`), is refused: it never falls
    /// through to another source.
    HostLabel(String),
    /// This tenant for requests whose `Host` is exactly `host` (port and
    /// case ignored): the fallback for the hosts a deployment names, such
    /// as `127.0.0.1` for a development server. A host nobody named falls
    /// through to the next source, never to a default tenant.
    Host {
        /// The host, without a port (`127.0.0.1`, `[::1]`, `localhost`).
        host: String,
        /// Its tenant.
        tenant: TenantId,
    },
    /// Always this tenant, whatever the request (single-tenant
    /// deployments).
    Fixed(TenantId),
    /// The first label of the `Host`, under the authorization server's
    /// issuer host: with the issuer `https://{tenant}.auth.example.com`,
    /// `acme.auth.example.com` is tenant `acme` (as
    /// [`HostLabel`](Self::HostLabel)`(".auth.example.com")`). The default
    /// of the OAuth endpoints, which browsers reach; made concrete when the
    /// [`HttpAuth`](super::HttpAuth) is built, which refuses an issuer that
    /// names no `{tenant}` in its host. Names no tenant anywhere else.
    Issuer,
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
                    .and_then(crate::credential::tenant_name_from_header);
                match named {
                    Err(Rejection::MissingTenant) => None,
                    named => Some(named.map(Cow::Borrowed)),
                }
            }
            Self::HostLabel(suffix) => {
                let host = match request_host(headers)? {
                    Ok(host) => host,
                    Err(refused) => return Some(Err(refused)),
                };
                let suffix = suffix.to_ascii_lowercase();
                let label = host.strip_suffix(suffix.trim_end_matches('.'))?;
                if label.is_empty() {
                    // The suffix's own host (`papyrus.io`): no tenant label.
                    return None;
                }
                if label.contains('.') {
                    return Some(Err(Rejection::InvalidTenant));
                }
                Some(valid(Cow::Owned(label.to_owned())))
            }
            Self::Host { host, tenant } => {
                let sent = match request_host(headers)? {
                    Ok(sent) => sent,
                    Err(refused) => return Some(Err(refused)),
                };
                let named = host.to_ascii_lowercase();
                (sent == named.trim_end_matches('.')).then(|| Ok(Cow::Borrowed(tenant.as_str())))
            }
            Self::Fixed(t) => Some(Ok(Cow::Borrowed(t.as_str()))),
            Self::Issuer => None,
            Self::FirstOf(sources) => sources.iter().find_map(|s| s.find(headers)),
        }
    }
}

/// The request's host, lower-cased, without its port and one trailing dot:
/// `None` without a `Host`, [`Rejection::RepeatedHeader`] for two, and
/// [`Rejection::InvalidTenant`] for one that is not a host (a port that is
/// not digits, an empty name, characters a host cannot have).
fn request_host(headers: &impl HeaderSource) -> Option<Result<String, Rejection>> {
    let host = match headers.single_header("host") {
        Ok(host) => host?,
        Err(repeated) => return Some(Err(repeated)),
    };
    Some(parse_host(host).ok_or(Rejection::InvalidTenant))
}

/// `host[:port]` or `[v6][:port]`, as [`request_host`] reads it.
fn parse_host(value: &str) -> Option<String> {
    let value = value.trim();
    let (name, port) = if let Some(rest) = value.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        v6.parse::<std::net::Ipv6Addr>().ok()?;
        (&value[..v6.len() + 2], after.strip_prefix(':'))
    } else {
        match value.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (value, None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    let ok = !name.is_empty()
        && name.len() <= 253
        && (name.starts_with('[')
            || name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')));
    ok.then(|| name.to_ascii_lowercase())
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
            Err(Rejection::InvalidTenant),
            "under the suffix but not one label: refused, not passed on"
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

    /// A host under the suffix names its tenant or is refused; it never
    /// falls through to a default tenant (each of these got `acme`'s
    /// consent page before).
    #[test]
    fn unrecognised_hosts_never_fall_back() {
        let acme: TenantId = "acme".parse().unwrap();
        let s = TenantSource::FirstOf(vec![
            TenantSource::HostLabel(".localhost".into()),
            TenantSource::Header,
            TenantSource::Host {
                host: "127.0.0.1".into(),
                tenant: acme.clone(),
            },
            TenantSource::Host {
                host: "localhost".into(),
                tenant: acme.clone(),
            },
            TenantSource::Host {
                host: "[::1]".into(),
                tenant: acme,
            },
        ]);
        let host = |h: &str| HttpRequest::get("/").with_header("Host", h);
        let resolve = |h: &str| s.resolve(&host(h)).map(|t| t.as_str().to_owned());
        assert_eq!(resolve("globex.localhost").as_deref(), Ok("globex"));
        assert_eq!(
            resolve("globex.localhost.").as_deref(),
            Ok("globex"),
            "the trailing dot names the same host"
        );
        assert_eq!(resolve("GLOBEX.localhost:8080").as_deref(), Ok("globex"));
        assert_eq!(resolve("x.globex.localhost"), Err(Rejection::InvalidTenant));
        assert_eq!(
            resolve("globex.localhost:abc"),
            Err(Rejection::InvalidTenant)
        );
        assert_eq!(resolve("127.0.0.1:8080").as_deref(), Ok("acme"));
        assert_eq!(resolve("localhost:8080").as_deref(), Ok("acme"));
        assert_eq!(resolve("[::1]:8080").as_deref(), Ok("acme"));
        assert_eq!(resolve("evil.example"), Err(Rejection::MissingTenant));
        assert_eq!(resolve("127.0.0.2"), Err(Rejection::MissingTenant));
        assert_eq!(
            s.resolve(&HttpRequest::get("/")),
            Err(Rejection::MissingTenant)
        );
        let two = HttpRequest::get("/")
            .with_header("Host", "127.0.0.1")
            .with_header("Host", "127.0.0.1");
        assert_eq!(s.resolve(&two), Err(Rejection::RepeatedHeader));
        // The header still names a tenant on a named host.
        let r = host("127.0.0.1:8080").with_header("X-Tenant-Id", "globex");
        assert_eq!(s.resolve(&r).unwrap().as_str(), "globex");
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
