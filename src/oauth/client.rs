//! OAuth clients: registration records, redirect-URI rules and the store trait.

use std::{fmt, sync::Arc};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::{Digest, ScopeSet, StoreError, TenantId, ids::ClientId};

/// The longest redirect URI accepted, in bytes.
pub const MAX_REDIRECT_URI_LEN: usize = 2048;
/// The most redirect URIs one client may register.
pub const MAX_REDIRECT_URIS: usize = 16;

/// Whether a client can keep a secret (RFC 6749 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// A browser or native app: no secret; PKCE is what protects its codes.
    Public,
    /// A server-side app with a secret (stored as a digest).
    Confidential,
}

/// A registered OAuth client. Holds the digest of its secret, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    /// The client's id.
    pub id: ClientId,
    /// The tenant it belongs to; it works for no other.
    pub tenant: TenantId,
    /// A display name for the consent page.
    pub name: String,
    /// Public or confidential.
    pub kind: ClientKind,
    /// The digest of the client secret (confidential clients only).
    pub secret_digest: Option<Digest>,
    /// Registered redirect URIs, matched exactly (see [`redirect_uri_matches`]).
    pub redirect_uris: Vec<String>,
    /// The scopes the client may ever be granted.
    pub allowed_scopes: ScopeSet,
    /// The scopes granted when an authorization request names none.
    pub default_scopes: ScopeSet,
    /// Access-token lifetime for this client; the server's default if `None`.
    pub access_token_ttl: Option<Duration>,
    /// Refresh-token (idle) lifetime for this client; the server's default if `None`.
    pub refresh_token_ttl: Option<Duration>,
    /// When the client was registered.
    pub created_at: OffsetDateTime,
    /// The grants it may use (RFC 7591 `grant_types`); others are
    /// `unauthorized_client`.
    pub grant_types: super::GrantTypes,
    /// The digest of its registration access token, when it registered
    /// itself (RFC 7591); `None` for a client an administrator registered.
    pub registration_digest: Option<Digest>,
}

/// A secret-free view of a client, for admin pages and consent screens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
#[allow(missing_docs)] // Fields mirror OAuthClient's.
pub struct ClientInfo {
    pub client_id: ClientId,
    pub tenant: TenantId,
    pub name: String,
    pub kind: ClientKind,
    pub redirect_uris: Vec<String>,
    pub allowed_scopes: ScopeSet,
    pub default_scopes: ScopeSet,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub grant_types: super::GrantTypes,
    /// Whether it registered itself (RFC 7591) rather than by an
    /// administrator.
    pub dynamically_registered: bool,
}

impl OAuthClient {
    /// The client's secret-free view.
    pub fn info(&self) -> ClientInfo {
        ClientInfo {
            client_id: self.id.clone(),
            tenant: self.tenant.clone(),
            name: self.name.clone(),
            kind: self.kind,
            redirect_uris: self.redirect_uris.clone(),
            allowed_scopes: self.allowed_scopes.clone(),
            default_scopes: self.default_scopes.clone(),
            created_at: self.created_at,
            grant_types: self.grant_types,
            dynamically_registered: self.registration_digest.is_some(),
        }
    }
}

/// Why a redirect URI cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidRedirectUri {
    /// Empty, too long, containing spaces, control characters, backslashes
    /// or non-ASCII characters, or an `https` host that is not a DNS name or
    /// an IP literal.
    #[error(
        "redirect URI is empty, too long, not ASCII, contains spaces, control characters or \
         backslashes, or names no valid host"
    )]
    Syntax,
    /// Has a fragment (`#…`), which RFC 6749 §3.1.2 forbids.
    #[error("redirect URI must not contain a fragment")]
    Fragment,
    /// Not `https://`, `http://` on a loopback host, or a private-use scheme
    /// such as `com.example.app:/callback` (RFC 8252 §7.1).
    #[error("redirect URI must be https, http on a loopback host, or a private-use scheme")]
    Scheme,
    /// A wildcard (`*`) in the URI: exact matching only.
    #[error("redirect URI must not contain wildcards")]
    Wildcard,
}

/// Checks a redirect URI for registration.
///
/// Accepted: `https://…`; `http://127.0.0.1…` and `http://[::1]…`
/// (loopback IP literals, for native apps and development); a
/// private-use scheme containing a dot (`com.example.app:/cb`, RFC 8252
/// §7.1). Refused: fragments, wildcards, spaces, other `http` hosts.
///
/// # Errors
///
/// [`InvalidRedirectUri`] saying which rule the URI breaks.
pub fn validate_redirect_uri(uri: &str) -> Result<(), InvalidRedirectUri> {
    // A backslash is a slash to browsers (`https://evil.example\@app.example`
    // goes to evil.example), and a raw non-ASCII host is sent as it is in
    // `Location`: register the URI's ASCII form (punycode, percent-encoding).
    if uri.is_empty()
        || uri.len() > MAX_REDIRECT_URI_LEN
        || uri.bytes().any(|b| b <= 0x20 || b >= 0x7f || b == b'\\')
    {
        return Err(InvalidRedirectUri::Syntax);
    }
    if uri.contains('#') {
        return Err(InvalidRedirectUri::Fragment);
    }
    if uri.contains('*') {
        return Err(InvalidRedirectUri::Wildcard);
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Err(InvalidRedirectUri::Scheme);
    };
    if !is_uri_scheme(scheme) {
        return Err(InvalidRedirectUri::Scheme);
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => {
            let host = authority_host(rest).ok_or(InvalidRedirectUri::Syntax)?;
            // A DNS name or an IP literal: nothing a browser would read
            // differently from the exact string compared here.
            let name = !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
            let literal = host.starts_with('[')
                && host.ends_with(']')
                && host[1..host.len() - 1]
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'));
            if !(name || literal) {
                return Err(InvalidRedirectUri::Syntax);
            }
            Ok(())
        }
        // Loopback IP literals only: `localhost` may resolve elsewhere (RFC 8252 §8.3).
        "http" => match authority_host(rest) {
            Some("127.0.0.1" | "[::1]") => Ok(()),
            _ => Err(InvalidRedirectUri::Scheme),
        },
        s if s.contains('.') => Ok(()),
        _ => Err(InvalidRedirectUri::Scheme),
    }
}

/// Whether `s` is a URI scheme (RFC 3986 §3.1): a letter, then letters,
/// digits, `+`, `-` and `.`.
pub(crate) fn is_uri_scheme(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// The host of `//host[:port]/…`, lowercased comparison left to the caller.
fn authority_host(after_scheme: &str) -> Option<&str> {
    let rest = after_scheme.strip_prefix("//")?;
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.contains('@') {
        return None;
    }
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        return Some(&authority[..=end]);
    }
    Some(authority.split(':').next().unwrap_or(""))
}

/// Splits `http://<loopback-ip>[:port]<rest>` into `(host, port, rest)`.
fn split_loopback(uri: &str) -> Option<(&str, Option<&str>, &str)> {
    let rest = uri.strip_prefix("http://")?;
    let (host, after) = if let Some(r) = rest.strip_prefix("127.0.0.1") {
        ("127.0.0.1", r)
    } else if let Some(r) = rest.strip_prefix("[::1]") {
        ("[::1]", r)
    } else {
        return None;
    };
    if let Some(p) = after.strip_prefix(':') {
        let end = p.find(['/', '?']).unwrap_or(p.len());
        let port = &p[..end];
        let valid = !port.is_empty()
            && port.len() <= 5
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok();
        valid.then_some((host, Some(port), &p[end..]))
    } else if after.is_empty() || after.starts_with('/') || after.starts_with('?') {
        Some((host, None, after))
    } else {
        None
    }
}

/// Whether `requested` matches one of `registered`: exact string equality,
/// or — for loopback IP redirect URIs only (RFC 8252 §7.3) — equality up to
/// the port, so a native app may listen on any port.
///
/// # Examples
///
/// ```
/// use papyrus_auth::oauth::redirect_uri_matches;
///
/// let registered = ["https://app.example.com/cb".to_owned(), "http://127.0.0.1/cb".to_owned()];
/// assert!(redirect_uri_matches(&registered, "https://app.example.com/cb"));
/// assert!(!redirect_uri_matches(&registered, "https://app.example.com/cb/"));
/// assert!(!redirect_uri_matches(&registered, "https://APP.example.com/cb"));
/// assert!(redirect_uri_matches(&registered, "http://127.0.0.1:49152/cb"));
/// assert!(!redirect_uri_matches(&registered, "http://127.0.0.1:49152/other"));
/// ```
pub fn redirect_uri_matches(registered: &[String], requested: &str) -> bool {
    if registered.iter().any(|r| r == requested) {
        return true;
    }
    let Some((host, Some(_), rest)) = split_loopback(requested) else {
        return false;
    };
    registered
        .iter()
        .any(|r| split_loopback(r).is_some_and(|(rhost, _, rrest)| rhost == host && rrest == rest))
}

/// Storage for OAuth clients. Usable as `Arc<dyn ClientStore>`.
///
/// What `testkit::client_store` (feature `testkit`) checks is written on
/// each method. This complete store (`examples/custom_store/clients.rs`,
/// which `tests/custom_store.rs` runs through the kit) is a starting point:
///
/// ```ignore
#[doc = include_str!("../../examples/custom_store/clients.rs")]
/// ```
#[async_trait]
pub trait ClientStore: fmt::Debug + Send + Sync + 'static {
    /// Stores a new client, every field as given (it reads back equal by
    /// [`get`](Self::get) and [`list`](Self::list)).
    ///
    /// # Errors
    ///
    /// [`crate::StoreErrorKind::Conflict`] if the tenant has a client with
    /// this id; a refused insert stores nothing. Ids are unique per tenant:
    /// the same id in another tenant is another client.
    async fn insert(&self, client: &OAuthClient) -> Result<(), StoreError>;

    /// The client with this id in this tenant (`None` for another
    /// tenant's): read on every authorization and token request. Shared
    /// (`Arc`), as every store lookup.
    async fn get(
        &self,
        tenant: &TenantId,
        id: &ClientId,
    ) -> Result<Option<Arc<OAuthClient>>, StoreError>;

    /// Every client of this tenant and no other, in any order.
    async fn list(&self, tenant: &TenantId) -> Result<Vec<OAuthClient>, StoreError>;

    /// Deletes the client with this id in this tenant (another tenant's
    /// client of the same id stays): whether there was one. After it,
    /// [`get`](Self::get) finds none, so no grant of the client works any
    /// more. Needed for RFC 7592 deletion; the default refuses, saying
    /// so.
    ///
    /// # Errors
    ///
    /// The store's failure; by default, that deletion is not supported.
    async fn delete(&self, tenant: &TenantId, id: &ClientId) -> Result<bool, StoreError> {
        let _ = (tenant, id);
        Err(StoreError::other("this client store cannot delete clients"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_rules() {
        for ok in [
            "https://app.example.com/callback",
            "https://app.example.com:8443/cb?x=1",
            "http://127.0.0.1/cb",
            "http://127.0.0.1:8080/spa/callback",
            "http://[::1]:3000/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert_eq!(validate_redirect_uri(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            validate_redirect_uri("https://a.example/cb#x"),
            Err(InvalidRedirectUri::Fragment)
        );
        for odd in [
            "https://evil.example\\@app.example/cb",
            "https://app.example\\cb",
            "https://bücher.example/cb",
            "https://app.example/ca\u{ef}ll",
            "https://app;evil.example/cb",
            "https://app.example%2Eevil/cb",
            "https://[::1/cb",
            "https://:443/cb",
        ] {
            assert_eq!(
                validate_redirect_uri(odd),
                Err(InvalidRedirectUri::Syntax),
                "{odd}"
            );
        }
        for ok in [
            "https://xn--bcher-kva.example/cb",
            "https://[2001:db8::1]:8443/cb",
            "https://192.0.2.1/cb",
        ] {
            assert_eq!(validate_redirect_uri(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            validate_redirect_uri("https://*.example/cb"),
            Err(InvalidRedirectUri::Wildcard)
        );
        assert_eq!(
            validate_redirect_uri("http://app.example.com/cb"),
            Err(InvalidRedirectUri::Scheme)
        );
        assert_eq!(
            validate_redirect_uri("http://localhost:3000/cb"),
            Err(InvalidRedirectUri::Scheme)
        );
        assert_eq!(
            validate_redirect_uri("http://127.0.0.1.evil.com/cb"),
            Err(InvalidRedirectUri::Scheme)
        );
        assert_eq!(
            validate_redirect_uri("http://user@127.0.0.1/cb"),
            Err(InvalidRedirectUri::Scheme)
        );
        assert_eq!(
            validate_redirect_uri("javascript:alert(1)"),
            Err(InvalidRedirectUri::Scheme)
        );
        assert_eq!(
            validate_redirect_uri("/relative"),
            Err(InvalidRedirectUri::Scheme)
        );
        assert_eq!(
            validate_redirect_uri("https://a b"),
            Err(InvalidRedirectUri::Syntax)
        );
        assert_eq!(
            validate_redirect_uri("https:///path"),
            Err(InvalidRedirectUri::Syntax)
        );
        assert_eq!(validate_redirect_uri(""), Err(InvalidRedirectUri::Syntax));
    }

    #[test]
    fn matching_is_exact_except_loopback_ports() {
        let reg = vec![
            "https://app.example.com/cb".to_owned(),
            "http://127.0.0.1/native".to_owned(),
            "http://[::1]:1234/v6".to_owned(),
            "http://localhost:3000/dev".to_owned(),
        ];
        assert!(redirect_uri_matches(&reg, "https://app.example.com/cb"));
        for bad in [
            "https://app.example.com/cb?x=1",
            "https://app.example.com/cb/",
            "https://app.example.com/c",
            "https://app.example.com:443/cb",
            "https://evil.example/cb",
            "http://127.0.0.1:80/nativex",
            "http://127.0.0.1:99999/native",
            "http://127.0.0.1:/native",
            "http://127.0.0.1:8080/v6",
            "http://localhost:3001/dev",
            "http://127.0.0.1.evil.com:80/native",
        ] {
            assert!(!redirect_uri_matches(&reg, bad), "{bad}");
        }
        assert!(redirect_uri_matches(&reg, "http://127.0.0.1:51000/native"));
        assert!(redirect_uri_matches(&reg, "http://[::1]:9/v6"));
        assert!(
            redirect_uri_matches(&reg, "http://localhost:3000/dev"),
            "exact"
        );
    }

    #[test]
    fn client_ids() {
        assert!(ClientId::parse("your_client_id").is_ok());
        assert!(ClientId::generate().as_str().starts_with("cli_"));
        for bad in ["", "a b", "a:b", &"a".repeat(129)] {
            assert!(ClientId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
