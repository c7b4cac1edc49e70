//! The resource-server side of RFC 8707 and RFC 9728: which resource the
//! bearer layer protects, the audience check, and the protected-resource
//! metadata that tells a client (an MCP client, say) where to get a token.
//!
//! Configure it with [`HttpAuthConfig::with_protected_resource`](super::HttpAuthConfig::with_protected_resource).
//! Then:
//! * an access token bound to other resources is refused `401
//!   invalid_token` (as an unknown token: a resource server learns nothing
//!   from the refusal that it could not learn from the token);
//! * an access token bound to no resource is refused too, unless
//!   [`accept_unbound_tokens`](ProtectedResource::accept_unbound_tokens);
//!   API keys, which are tenant-scoped service credentials and never carry
//!   an audience, are accepted as before;
//! * every `401` and `403` from the layer carries
//!   `resource_metadata="…"` in its `WWW-Authenticate` challenge (RFC 9728
//!   §5.1), and the metadata is served at
//!   `/.well-known/oauth-protected-resource` plus the resource's path.

use std::{fmt, sync::Arc};

use serde::Serialize;

use crate::{
    Principal, ScopeSet, TenantId,
    oauth::{OAuthError, validate_resource_template},
};

use crate::oauth::{PLACEHOLDER, fill_tenant};

/// The well-known path of protected-resource metadata (RFC 9728 §3).
pub const PROTECTED_RESOURCE_METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// The resource a bearer layer protects (RFC 8707, RFC 9728): its URI,
/// `{tenant}` where each tenant's differs (`https://{tenant}.papyrus.io/mcp`).
///
/// # Examples
///
/// ```
/// use papyrus_auth::{TenantId, http::ProtectedResource};
///
/// let mcp = ProtectedResource::new("https://{tenant}.papyrus.io/mcp")?
///     .with_scopes_supported("documents:read documents:write".parse()?);
/// let acme: TenantId = "acme".parse()?;
/// assert_eq!(mcp.resource_for(&acme), "https://acme.papyrus.io/mcp");
/// assert_eq!(
///     mcp.metadata_url_for(&acme),
///     "https://acme.papyrus.io/.well-known/oauth-protected-resource/mcp"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ProtectedResource {
    resource: Arc<str>,
    /// The metadata URL when it is the same for every tenant (no
    /// `{tenant}`): made once, shared by every challenge.
    fixed_metadata_url: Option<Arc<str>>,
    /// The template split at `{tenant}`, for the audience check of every
    /// request.
    parts: Arc<[Box<str>]>,
    authorization_servers: Vec<Arc<str>>,
    scopes_supported: ScopeSet,
    accept_unbound_tokens: bool,
}

impl fmt::Debug for ProtectedResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProtectedResource")
            .field("resource", &self.resource)
            .field("authorization_servers", &self.authorization_servers)
            .field("scopes_supported", &self.scopes_supported)
            .field("accept_unbound_tokens", &self.accept_unbound_tokens)
            .finish()
    }
}

impl ProtectedResource {
    /// The resource at `template` (an absolute URI without a fragment,
    /// `{tenant}` allowed), refusing tokens bound to no resource.
    ///
    /// # Errors
    ///
    /// `invalid_target`, saying why the URI is not a resource indicator.
    pub fn new(template: &str) -> Result<Self, OAuthError> {
        validate_resource_template(template)?;
        let fixed_metadata_url =
            (!template.contains(PLACEHOLDER)).then(|| Arc::from(metadata_url(template).as_str()));
        Ok(Self {
            resource: Arc::from(template),
            fixed_metadata_url,
            parts: template.split(PLACEHOLDER).map(Box::from).collect(),
            authorization_servers: Vec::new(),
            scopes_supported: ScopeSet::empty(),
            accept_unbound_tokens: false,
        })
    }

    /// Names an authorization server (its issuer, `{tenant}` allowed) in the
    /// metadata. Defaults to the issuer of the [`HttpAuth`](super::HttpAuth)'s
    /// own authorization server, when it serves OAuth.
    pub fn with_authorization_server(mut self, issuer: &str) -> Self {
        self.authorization_servers.push(Arc::from(issuer));
        self
    }

    /// The scopes the metadata lists (`scopes_supported`): what an MCP
    /// client asks for when a `401` names none.
    pub fn with_scopes_supported(mut self, scopes: ScopeSet) -> Self {
        self.scopes_supported = scopes;
        self
    }

    /// Whether an access token issued without a resource (not bound to
    /// any) is accepted here. Defaults to `false`: such a token was issued
    /// for *any* resource, and accepting it is the audience confusion RFC
    /// 8707 closes (the MCP authorization specification requires the
    /// check). Turn it on while existing clients learn to send `resource`.
    pub fn accept_unbound_tokens(mut self, accept: bool) -> Self {
        self.accept_unbound_tokens = accept;
        self
    }

    /// The resource's URI as configured (with its `{tenant}`, if any).
    pub fn as_str(&self) -> &str {
        &self.resource
    }

    /// The resource URI of `tenant`.
    pub fn resource_for(&self, tenant: &TenantId) -> String {
        fill_tenant(&self.resource, tenant.as_str())
    }

    /// The path `tenant`'s metadata is served at: the well-known prefix,
    /// then the resource's path (RFC 9728 §3.1), without a trailing `/`.
    pub fn metadata_path_for(&self, tenant: &TenantId) -> String {
        let resource = self.resource_for(tenant);
        let path = path_of(&resource).trim_end_matches('/');
        format!("{PROTECTED_RESOURCE_METADATA_PATH}{path}")
    }

    /// The metadata's URL for `tenant` (what `resource_metadata` names).
    pub fn metadata_url_for(&self, tenant: &TenantId) -> String {
        self.metadata_url_for_name(tenant.as_str())
    }

    /// The metadata document of `tenant` (RFC 9728 §2); `issuer` is the
    /// authorization server's, used when none was named.
    pub fn metadata(&self, tenant: &TenantId, issuer: Option<String>) -> ProtectedResourceMetadata {
        let mut authorization_servers: Vec<String> = self
            .authorization_servers
            .iter()
            .map(|s| fill_tenant(s, tenant.as_str()))
            .collect();
        if authorization_servers.is_empty() {
            authorization_servers.extend(issuer);
        }
        ProtectedResourceMetadata {
            resource: self.resource_for(tenant),
            authorization_servers,
            scopes_supported: (!self.scopes_supported.is_empty()).then(|| {
                self.scopes_supported
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            }),
            bearer_methods_supported: vec!["header"],
        }
    }

    /// Whether `principal`, authenticated for `tenant`, may be used here:
    /// an API key always; an access token bound to this resource, or bound
    /// to none when unbound tokens are accepted.
    pub fn admits(&self, principal: &Principal, tenant: &str) -> bool {
        match principal.token_audience() {
            None => true,
            Some([]) => self.accept_unbound_tokens,
            Some(audience) => audience
                .iter()
                .any(|uri| parts_match(self.parts.iter().map(|p| &**p), tenant, uri)),
        }
    }

    /// The `resource_metadata` URL for the tenant named `tenant`.
    pub(super) fn metadata_url_for_name(&self, tenant: &str) -> String {
        metadata_url(&fill_tenant(&self.resource, tenant))
    }

    /// The metadata URL when it is the same for every tenant.
    pub(super) fn fixed_metadata_url(&self) -> Option<Arc<str>> {
        self.fixed_metadata_url.clone()
    }
}

/// The metadata URL of `resource` (RFC 9728 §3.1): its origin, the
/// well-known path, then its own path without a trailing `/`.
fn metadata_url(resource: &str) -> String {
    let path = path_of(resource);
    let origin = &resource[..resource.len() - path.len()];
    let path = path.trim_end_matches('/');
    format!("{origin}{PROTECTED_RESOURCE_METADATA_PATH}{path}")
}

/// The path of an absolute URI (`scheme://authority/path`): from the first
/// `/` after the authority, or empty.
fn path_of(uri: &str) -> &str {
    let after_scheme = uri.find("://").map_or(0, |i| i + 3);
    let rest = &uri[after_scheme..];
    let end = rest.find(['?']).unwrap_or(rest.len());
    let rest = &rest[..end];
    match rest.find('/') {
        Some(i) => &rest[i..],
        None => "",
    }
}

/// Whether `uri` is `template` with `{tenant}` replaced by `tenant`,
/// without allocating.
#[cfg(test)]
fn template_matches(template: &str, tenant: &str, uri: &str) -> bool {
    parts_match(template.split(PLACEHOLDER), tenant, uri)
}

/// [`template_matches`] over the template already split at `{tenant}`.
fn parts_match<'a>(mut parts: impl Iterator<Item = &'a str>, tenant: &str, uri: &str) -> bool {
    let mut rest = uri;
    let Some(first) = parts.next() else {
        return false;
    };
    let Some(after) = rest.strip_prefix(first) else {
        return false;
    };
    rest = after;
    for part in parts {
        let Some(after) = rest.strip_prefix(tenant).and_then(|r| r.strip_prefix(part)) else {
            return false;
        };
        rest = after;
    }
    rest.is_empty()
}

/// Protected-resource metadata (RFC 9728 §2), as served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ProtectedResourceMetadata {
    /// The resource's URI.
    pub resource: String,
    /// The issuers of the authorization servers that issue its tokens.
    pub authorization_servers: Vec<String>,
    /// The scopes it understands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    /// How a token is sent: in the `Authorization` header only.
    pub bearer_methods_supported: Vec<&'static str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_paths_follow_rfc_9728_section_3_1() {
        let t: TenantId = "acme".parse().unwrap();
        let root = ProtectedResource::new("https://api.example.com").unwrap();
        assert_eq!(
            root.metadata_path_for(&t),
            "/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            root.metadata_url_for(&t),
            "https://api.example.com/.well-known/oauth-protected-resource"
        );
        let mcp = ProtectedResource::new("http://127.0.0.1:8080/t/{tenant}/mcp/").unwrap();
        assert_eq!(
            mcp.metadata_url_for(&t),
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource/t/acme/mcp"
        );
        assert_eq!(
            mcp.metadata_path_for(&t),
            "/.well-known/oauth-protected-resource/t/acme/mcp"
        );
        assert!(ProtectedResource::new("/mcp").is_err());
        assert!(ProtectedResource::new("https://a.example/{x}").is_err());
        assert!(ProtectedResource::new("https://a.example/mcp#f").is_err());
    }

    #[test]
    fn templates_match_exactly() {
        let t = "https://{tenant}.papyrus.io/mcp";
        assert!(template_matches(t, "acme", "https://acme.papyrus.io/mcp"));
        assert!(!template_matches(
            t,
            "acme",
            "https://globex.papyrus.io/mcp"
        ));
        assert!(!template_matches(
            t,
            "acme",
            "https://acme.papyrus.io/mcp/x"
        ));
        assert!(!template_matches(t, "acme", "https://acme.papyrus.io/mc"));
        assert!(template_matches(
            "https://x.example/mcp",
            "acme",
            "https://x.example/mcp"
        ));
        assert!(!template_matches(
            "https://x.example/mcp",
            "acme",
            "https://x.example/mcpx"
        ));
    }
}
