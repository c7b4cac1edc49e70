//! Resource indicators (RFC 8707): which resource servers a token is for.
//!
//! A tenant's resources are the authorization server's resource templates
//! ([`AuthorizationServerConfig::with_resource`](super::AuthorizationServerConfig::with_resource))
//! with `{tenant}` replaced. A request may name some of them (`resource`,
//! repeated); the token is then bound to them (its *audience*), and a
//! resource server refuses a token bound to another. The rules, as pure
//! functions: [`plan_resources`].

use std::{fmt, sync::Arc};

use serde::{Serialize, Serializer};

use super::OAuthError;

/// The longest resource URI accepted, in bytes.
pub const MAX_RESOURCE_LEN: usize = 512;
/// The most resources one request may name.
pub const MAX_RESOURCES: usize = 8;

/// A set of resource URIs (RFC 8707), sorted and without duplicates: the
/// resources a grant allows, or a token's audience. Empty means "no
/// resource named": a token usable wherever the resource server accepts
/// unbound tokens.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Resources(Option<Arc<[Arc<str>]>>);

impl Resources {
    /// No resource.
    pub fn none() -> Self {
        Self::default()
    }

    /// `uris`, sorted and deduplicated; no allocation when there is none
    /// (the common case on every grant).
    fn of(mut uris: Vec<Arc<str>>) -> Self {
        uris.sort();
        uris.dedup();
        Self((!uris.is_empty()).then(|| uris.into()))
    }

    /// The set of `uris` (each checked by [`validate_resource`]).
    ///
    /// # Errors
    ///
    /// `invalid_target` for a URI that is not absolute, has a fragment, is
    /// too long, or more than [`MAX_RESOURCES`] of them.
    pub fn parse<'a>(uris: impl IntoIterator<Item = &'a str>) -> Result<Self, OAuthError> {
        let mut out: Vec<Arc<str>> = Vec::new();
        for uri in uris {
            validate_resource(uri)?;
            if out.iter().any(|r| &**r == uri) {
                continue;
            }
            out.push(Arc::from(uri));
            if out.len() > MAX_RESOURCES {
                return Err(OAuthError::invalid_target("too many resources"));
            }
        }
        Ok(Self::of(out))
    }

    /// URIs known to be valid (registered templates, filled in).
    pub(crate) fn from_trusted(uris: impl IntoIterator<Item = String>) -> Self {
        Self::of(uris.into_iter().map(Arc::from).collect())
    }

    /// The stored form: the URIs separated by spaces (a URI has none).
    pub(crate) fn from_stored(s: &str) -> Self {
        Self::of(
            s.split(' ')
                .filter(|u| !u.is_empty())
                .map(Arc::from)
                .collect(),
        )
    }

    /// Whether no resource is named.
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether `uri` is one of them.
    pub fn contains(&self, uri: &str) -> bool {
        self.as_slice().iter().any(|r| &**r == uri)
    }

    /// Whether every one of `self` is in `other`.
    pub fn is_subset(&self, other: &Resources) -> bool {
        self.as_slice().iter().all(|r| other.contains(r))
    }

    /// The URIs, shared.
    pub(crate) fn as_slice(&self) -> &[Arc<str>] {
        self.0.as_deref().unwrap_or(&[])
    }

    /// The URIs, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.as_slice().iter().map(|r| &**r)
    }
}

impl fmt::Debug for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Space-separated, as stored.
impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(r)?;
        }
        Ok(())
    }
}

/// A JSON array of the URIs (introspection's `aud`, RFC 7662 §2.2).
impl Serialize for Resources {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// Checks one resource indicator (RFC 8707 §2): an absolute URI
/// (`scheme://…`), no fragment, at most [`MAX_RESOURCE_LEN`] bytes of
/// printable ASCII.
///
/// # Errors
///
/// `invalid_target`, saying why.
pub fn validate_resource(uri: &str) -> Result<(), OAuthError> {
    if uri.is_empty() || uri.len() > MAX_RESOURCE_LEN {
        return Err(OAuthError::invalid_target(
            "a resource must be 1 to 512 bytes",
        ));
    }
    if !uri.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(OAuthError::invalid_target(
            "a resource is a URI: printable ASCII, no spaces",
        ));
    }
    if uri.contains('#') {
        return Err(OAuthError::invalid_target(
            "a resource must not include a fragment (RFC 8707 section 2)",
        ));
    }
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err(OAuthError::invalid_target(
            "a resource must be an absolute URI (RFC 8707 section 2)",
        ));
    };
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !scheme_ok || rest.is_empty() || rest.starts_with('/') {
        return Err(OAuthError::invalid_target(
            "a resource must be an absolute URI with a host",
        ));
    }
    Ok(())
}

/// Checks a resource URI template: [`validate_resource`] once `{tenant}`
/// is filled in, and no other brace.
///
/// # Errors
///
/// `invalid_target`, saying why.
pub fn validate_resource_template(template: &str) -> Result<(), OAuthError> {
    use super::issuer::{PLACEHOLDER, fill_tenant};
    validate_resource(&fill_tenant(template, "t"))?;
    if template.replace(PLACEHOLDER, "").contains(['{', '}']) {
        return Err(OAuthError::invalid_target(
            "a resource template may hold no brace but {tenant}",
        ));
    }
    Ok(())
}

/// The resources a token gets (RFC 8707 §2.2): those `requested`, when
/// named, which must all be among those `allowed`; else all `allowed`.
///
/// `allowed` is what the grant allows: the tenant's registered resources at
/// the authorization endpoint and for client credentials, the
/// authorization's at the code exchange, the family's at a refresh (a
/// refresh may narrow, never widen). Pure.
///
/// # Errors
///
/// `invalid_target` for a requested resource that is not allowed.
pub fn plan_resources(requested: &Resources, allowed: &Resources) -> Result<Resources, OAuthError> {
    if requested.is_empty() {
        return Ok(allowed.clone());
    }
    if !requested.is_subset(allowed) {
        return Err(OAuthError::invalid_target(
            "a requested resource is unknown, or was not granted",
        ));
    }
    Ok(requested.clone())
}

/// The resources a new grant gets (an authorization request, a client
/// credentials request): those `requested`, which must all be among the
/// tenant's `registered` ones; none when none is requested (the token is
/// then unbound: usable wherever a resource server accepts unbound tokens).
/// Pure.
///
/// # Errors
///
/// `invalid_target` for a requested resource that is not registered.
pub fn plan_new_resources(
    requested: &Resources,
    registered: &Resources,
) -> Result<Resources, OAuthError> {
    if requested.is_empty() {
        return Ok(Resources::none());
    }
    plan_resources(requested, registered)
}

/// The `resource` parameters of a token or authorization request (each may
/// be repeated, RFC 8707 §2).
///
/// # Errors
///
/// `invalid_target` for a malformed one.
pub(crate) fn requested_resources(params: &super::Params<'_>) -> Result<Resources, OAuthError> {
    Resources::parse(params.all("resource"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::OAuthErrorCode;

    fn set(uris: &[&str]) -> Resources {
        Resources::parse(uris.iter().copied()).unwrap()
    }

    #[test]
    fn resource_indicators_are_absolute_uris_without_fragments() {
        for ok in [
            "https://acme.papyrus.io/mcp",
            "http://127.0.0.1:8080/mcp",
            "urn+x://thing",
        ] {
            assert_eq!(validate_resource(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "/mcp",
            "mcp",
            "https://",
            "https:///path",
            "https://a.example/mcp#frag",
            "https://a.example/ mcp",
            "1http://a.example",
        ] {
            let e = validate_resource(bad).unwrap_err();
            assert_eq!(e.code, OAuthErrorCode::InvalidTarget, "{bad}");
        }
        assert!(validate_resource(&format!("https://a.example/{}", "x".repeat(600))).is_err());
    }

    #[test]
    fn requested_resources_narrow_never_widen() {
        let allowed = set(&["https://a.example/mcp", "https://b.example/api"]);
        assert_eq!(
            plan_resources(&Resources::none(), &allowed),
            Ok(allowed.clone())
        );
        let one = set(&["https://b.example/api"]);
        assert_eq!(plan_resources(&one, &allowed), Ok(one.clone()));
        let other = set(&["https://evil.example/"]);
        assert_eq!(
            plan_resources(&other, &allowed).unwrap_err().code,
            OAuthErrorCode::InvalidTarget
        );
        // Nothing allowed: nothing may be asked for.
        assert!(plan_resources(&one, &Resources::none()).is_err());
        assert_eq!(
            plan_resources(&Resources::none(), &Resources::none()),
            Ok(Resources::none())
        );
    }

    #[test]
    fn stored_and_shown_as_text() {
        let r = set(&[
            "https://b.example/api",
            "https://a.example/mcp",
            "https://a.example/mcp",
        ]);
        assert_eq!(r.len(), 2);
        assert_eq!(r.to_string(), "https://a.example/mcp https://b.example/api");
        assert_eq!(Resources::from_stored(&r.to_string()), r);
        assert_eq!(Resources::from_stored(""), Resources::none());
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"["https://a.example/mcp","https://b.example/api"]"#
        );
        assert!(
            Resources::parse((0..9).map(|_| "https://x.example")).is_ok(),
            "duplicates count once"
        );
        let many: Vec<String> = (0..9).map(|i| format!("https://x{i}.example")).collect();
        assert!(Resources::parse(many.iter().map(String::as_str)).is_err());
    }
}
