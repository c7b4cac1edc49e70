//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document,
//! as the MCP authorization specification uses them): a client whose
//! `client_id` is an `https` URL describes itself in the JSON document at
//! that URL instead of being registered.
//!
//! The server fetches the document through a [`ClientMetadataResolver`]
//! (with feature `client-id-metadata`, [`HttpsMetadataFetcher`](super::HttpsMetadataFetcher),
//! which resists SSRF), checks it ([`plan_metadata_client`], pure), and
//! keeps it in a bounded cache ([`MetadataDocuments`]). Only tenants whose
//! policy allows it accept such clients
//! ([`AuthorizationServerConfig::with_client_id_metadata`](super::AuthorizationServerConfig::with_client_id_metadata));
//! they are public clients (`token_endpoint_auth_method` `none`).

use std::{
    borrow::Cow,
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use serde::Deserialize;
use time::OffsetDateTime;

use super::{ClientId, ClientKind, GrantTypes, OAuthClient, OAuthError, validate_redirect_uri};
use crate::{ScopeSet, TenantId};

/// Why a metadata document could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataFetchError {
    /// The URL is not an `https` URL the fetcher will follow.
    #[error("the client metadata URL is not acceptable: {0}")]
    Url(&'static str),
    /// The host resolves to an address the fetcher refuses (private,
    /// loopback, link-local, metadata service, …): nothing was sent.
    #[error("the client metadata host resolves to a forbidden address ({0})")]
    ForbiddenAddress(std::net::IpAddr),
    /// The host did not resolve.
    #[error("the client metadata host did not resolve")]
    Dns,
    /// The server answered a redirect, which is not followed.
    #[error("the client metadata URL redirects (redirects are not followed)")]
    Redirect,
    /// The server answered another status than 200.
    #[error("the client metadata URL answered {0}")]
    Status(u16),
    /// Longer than the limit.
    #[error("the client metadata document is larger than {0} bytes")]
    TooLarge(usize),
    /// Not answered in time.
    #[error("the client metadata URL did not answer in time")]
    Timeout,
    /// Connection or TLS failure.
    #[error("the client metadata URL could not be fetched")]
    Unreachable,
}

/// Fetches a Client ID Metadata Document's bytes. Usable as
/// `Arc<dyn ClientMetadataResolver>`; the library's is
/// [`HttpsMetadataFetcher`](super::HttpsMetadataFetcher) (feature
/// `client-id-metadata`).
#[async_trait]
pub trait ClientMetadataResolver: fmt::Debug + Send + Sync + 'static {
    /// The document at `url` (a [`ClientId::is_metadata_url`] id), its
    /// bytes as served.
    ///
    /// # Errors
    ///
    /// [`MetadataFetchError`], saying why.
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, MetadataFetchError>;
}

/// The fields of a metadata document this server reads (RFC 7591 §2
/// names). Others are ignored.
#[derive(Debug, Clone, Deserialize)]
struct MetadataDocument {
    client_id: String,
    #[serde(default)]
    client_name: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    response_types: Option<Vec<String>>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    client_secret: Option<serde_json::Value>,
}

fn invalid(description: impl Into<Cow<'static, str>>) -> OAuthError {
    OAuthError::new(super::OAuthErrorCode::InvalidClient, description)
}

/// The client `document` (served at `url`) describes, for `tenant`: a
/// public client whose id is the URL. Pure.
///
/// Rules: the document's `client_id` equals the URL exactly; no
/// `client_secret`; `token_endpoint_auth_method` `none` (the default);
/// grant types among `authorization_code` and `refresh_token`; response
/// types `code`; 1 to 16 redirect URIs, each one an administrator could
/// register; scopes within `known` (all of `known` when it names none).
///
/// # Errors
///
/// `invalid_client`, saying which rule the document breaks.
pub fn plan_metadata_client(
    tenant: &TenantId,
    url: &ClientId,
    document: &[u8],
    known: &ScopeSet,
    now: OffsetDateTime,
) -> Result<OAuthClient, OAuthError> {
    let doc: MetadataDocument = serde_json::from_slice(document)
        .map_err(|_| invalid("the client metadata document is not a JSON object with client_id"))?;
    if doc.client_id != url.as_str() {
        return Err(invalid(
            "the client metadata document's client_id is not its URL",
        ));
    }
    if doc.client_secret.is_some() {
        return Err(invalid("a client metadata document must not hold a secret"));
    }
    match doc.token_endpoint_auth_method.as_deref() {
        None | Some("none") => {}
        Some(_) => {
            return Err(invalid(
                "token_endpoint_auth_method must be none (private_key_jwt is not supported)",
            ));
        }
    }
    let grant_types = super::registration::grant_and_response_types(
        doc.grant_types.as_deref(),
        doc.response_types.as_deref(),
    )
    .map_err(invalid)?;
    if grant_types.contains(GrantTypes::CLIENT_CREDENTIALS)
        || !grant_types.contains(GrantTypes::AUTHORIZATION_CODE)
    {
        return Err(invalid(
            "a metadata document client uses authorization_code (and refresh_token) only",
        ));
    }
    if doc.redirect_uris.is_empty() || doc.redirect_uris.len() > super::MAX_REDIRECT_URIS {
        return Err(invalid(
            "a client metadata document names 1 to 16 redirect_uris",
        ));
    }
    for uri in &doc.redirect_uris {
        validate_redirect_uri(uri)
            .map_err(|e| invalid(Cow::Owned(format!("redirect_uris: {uri}: {e}"))))?;
    }
    let scopes = match doc.scope.as_deref() {
        Some(s) => s
            .parse::<ScopeSet>()
            .map_err(|e| invalid(Cow::Owned(format!("scope: {e}"))))?,
        None => known.clone(),
    };
    if !known.is_empty() && !known.contains_all(&scopes) {
        return Err(invalid(Cow::Owned(format!(
            "unknown scope: {}",
            known.missing_from(&scopes)
        ))));
    }
    let name = doc
        .client_name
        .filter(|n| crate::names::check_display_name(n).is_ok())
        .unwrap_or_else(|| url.as_str().to_owned());
    Ok(OAuthClient {
        id: url.clone(),
        tenant: tenant.clone(),
        name,
        kind: ClientKind::Public,
        secret_digest: None,
        redirect_uris: doc.redirect_uris,
        default_scopes: scopes.clone(),
        allowed_scopes: scopes,
        access_token_ttl: None,
        refresh_token_ttl: None,
        created_at: now,
        grant_types,
        registration_digest: None,
    })
}

/// Metadata documents fetched through a resolver, cached: at most
/// `capacity` of them, each for `ttl` (so a changed document, or one
/// withdrawn, is seen within `ttl`; every instance keeps its own cache).
/// A failure is not cached.
#[derive(Debug)]
pub struct MetadataDocuments {
    resolver: Arc<dyn ClientMetadataResolver>,
    capacity: usize,
    ttl: Duration,
    cache: Mutex<HashMap<Arc<str>, Cached>>,
}

/// A cached document: when it was fetched, and its bytes.
type Cached = (Instant, Arc<[u8]>);

impl MetadataDocuments {
    /// Documents from `resolver`: 1,000 at most, for 5 minutes each.
    pub fn new(resolver: Arc<dyn ClientMetadataResolver>) -> Self {
        Self {
            resolver,
            capacity: 1000,
            ttl: Duration::from_secs(300),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps at most `capacity` documents (at least 1), each for `ttl`.
    pub fn with_cache(mut self, capacity: usize, ttl: Duration) -> Self {
        self.capacity = capacity.max(1);
        self.ttl = ttl;
        self
    }

    /// How many documents are cached now.
    pub fn cached(&self) -> usize {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The document at `url`: from the cache while fresh, else fetched.
    ///
    /// # Errors
    ///
    /// The resolver's [`MetadataFetchError`].
    pub async fn document(&self, url: &str) -> Result<Arc<[u8]>, MetadataFetchError> {
        let now = Instant::now();
        if let Some((at, doc)) = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(url)
            && now.duration_since(*at) < self.ttl
        {
            return Ok(Arc::clone(doc));
        }
        let doc: Arc<[u8]> = self.resolver.fetch(url).await?.into();
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.retain(|_, (at, _)| now.duration_since(*at) < self.ttl);
        while cache.len() >= self.capacity {
            // The oldest goes first.
            let Some(oldest) = cache
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| Arc::clone(k))
            else {
                break;
            };
            cache.remove(&oldest);
        }
        cache.insert(Arc::from(url), (now, Arc::clone(&doc)));
        Ok(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::OAuthErrorCode;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const URL: &str = "https://agent.example/oauth/client.json";

    fn plan(doc: serde_json::Value) -> Result<OAuthClient, OAuthError> {
        plan_metadata_client(
            &"acme".parse().unwrap(),
            &ClientId::parse(URL).unwrap(),
            doc.to_string().as_bytes(),
            &"documents:read documents:write".parse().unwrap(),
            OffsetDateTime::UNIX_EPOCH,
        )
    }

    #[test]
    fn a_document_describes_a_public_client_named_by_its_url() {
        let c = plan(serde_json::json!({
            "client_id": URL, "client_name": "Agent", "redirect_uris": ["http://127.0.0.1:3000/cb"],
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            "token_endpoint_auth_method": "none", "logo_uri": "https://agent.example/logo.png",
        }))
        .unwrap();
        assert_eq!(c.kind, ClientKind::Public);
        assert_eq!(c.id.as_str(), URL);
        assert_eq!(c.name, "Agent");
        assert_eq!(
            c.allowed_scopes.to_string(),
            "documents:read documents:write"
        );
        for bad in [
            serde_json::json!({"client_id": "https://other.example/c.json", "redirect_uris": ["https://a.example/cb"]}),
            serde_json::json!({"client_id": URL, "redirect_uris": []}),
            serde_json::json!({"client_id": URL, "redirect_uris": ["https://a.example/cb#x"]}),
            serde_json::json!({"client_id": URL, "redirect_uris": ["https://a.example/cb"], "client_secret": "s"}),
            serde_json::json!({"client_id": URL, "redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
            serde_json::json!({"client_id": URL, "redirect_uris": ["https://a.example/cb"], "grant_types": ["client_credentials"]}),
            serde_json::json!({"client_id": URL, "redirect_uris": ["https://a.example/cb"], "scope": "admin:all"}),
            serde_json::json!(["not an object"]),
        ] {
            assert_eq!(
                plan(bad.clone()).unwrap_err().code,
                OAuthErrorCode::InvalidClient,
                "{bad}"
            );
        }
    }

    #[derive(Debug, Default)]
    struct Counting(AtomicUsize);

    #[async_trait]
    impl ClientMetadataResolver for Counting {
        async fn fetch(&self, url: &str) -> Result<Vec<u8>, MetadataFetchError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            if url.ends_with("fail.json") {
                return Err(MetadataFetchError::Status(404));
            }
            Ok(url.as_bytes().to_vec())
        }
    }

    #[tokio::test]
    async fn the_cache_is_bounded_and_keeps_no_failure() {
        let resolver = Arc::new(Counting::default());
        let docs = MetadataDocuments::new(resolver.clone()).with_cache(2, Duration::from_secs(60));
        for url in [
            "https://a.example/1",
            "https://a.example/1",
            "https://a.example/2",
        ] {
            assert_eq!(&*docs.document(url).await.unwrap(), url.as_bytes());
        }
        assert_eq!(
            resolver.0.load(Ordering::SeqCst),
            2,
            "the second was cached"
        );
        docs.document("https://a.example/3").await.unwrap();
        assert_eq!(docs.cached(), 2, "bounded");
        docs.document("https://a.example/1").await.unwrap();
        assert_eq!(
            resolver.0.load(Ordering::SeqCst),
            4,
            "the oldest was evicted"
        );
        assert!(docs.document("https://a.example/fail.json").await.is_err());
        assert!(docs.document("https://a.example/fail.json").await.is_err());
        assert_eq!(
            resolver.0.load(Ordering::SeqCst),
            6,
            "failures are not cached"
        );
        let stale = MetadataDocuments::new(resolver.clone()).with_cache(2, Duration::ZERO);
        stale.document("https://a.example/1").await.unwrap();
        stale.document("https://a.example/1").await.unwrap();
        assert_eq!(
            resolver.0.load(Ordering::SeqCst),
            8,
            "expired entries are fetched again"
        );
    }
}
