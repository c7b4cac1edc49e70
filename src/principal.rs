//! Who a verified request acts as, and why a request was refused.

use std::{fmt, sync::Arc};

use serde::{Deserialize, Serialize};

use crate::{
    ScopeSet, StoreError, TenantId,
    ids::{ClientId, KeyId},
};

/// Who a verified request acts as.
///
/// Returned by every successful authentication, whatever the credential.
/// Read it with [`tenant`](Self::tenant), [`subject`](Self::subject),
/// [`scopes`](Self::scopes) and [`method`](Self::method).
///
/// A principal shares the stored record it was verified against (one
/// reference count, on that record alone): authenticating copies nothing,
/// and requests on different cores never touch one shared counter.
/// Cloning is as cheap.
///
/// ```
/// use papyrus_auth::{AuthMethod, Principal};
///
/// // Built by hand, for tests or a credential of your own:
/// let p = Principal::new(
///     "acme".parse()?,
///     "robot-7",
///     "documents:read".parse()?,
///     AuthMethod::ApiKey { key_id: "key_abc123".parse()? },
/// );
/// assert_eq!(p.tenant().as_str(), "acme");
/// assert_eq!(p.subject(), "robot-7");
/// assert!(p.has_scopes(&"documents:read".parse()?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Principal(Arc<dyn Verified>);

/// What a principal was verified against: the stored record of an API key
/// or an access token (the rules implement it for theirs), or the parts of
/// [`Principal::new`]. A principal shares the record, so authenticating
/// copies nothing.
pub(crate) trait Verified: Send + Sync + 'static {
    fn tenant(&self) -> &TenantId;
    fn subject(&self) -> &str;
    fn scopes(&self) -> &ScopeSet;
    fn method(&self) -> AuthMethod;
    /// For an access token, the resources it is bound to (RFC 8707; empty:
    /// none); `None` for a credential that has no audience (an API key).
    fn audience(&self) -> Option<&[Arc<str>]> {
        None
    }
}

/// A principal built with [`Principal::new`].
struct Parts {
    tenant: TenantId,
    subject: String,
    scopes: ScopeSet,
    method: AuthMethod,
}

impl Verified for Parts {
    fn tenant(&self) -> &TenantId {
        &self.tenant
    }
    fn subject(&self) -> &str {
        &self.subject
    }
    fn scopes(&self) -> &ScopeSet {
        &self.scopes
    }
    fn method(&self) -> AuthMethod {
        self.method.clone()
    }
    fn audience(&self) -> Option<&[Arc<str>]> {
        matches!(self.method, AuthMethod::AccessToken { .. }).then_some(&[])
    }
}

impl Principal {
    /// A principal from its parts: for tests, and for credentials this crate
    /// does not verify itself.
    pub fn new(
        tenant: TenantId,
        subject: impl Into<String>,
        scopes: ScopeSet,
        method: AuthMethod,
    ) -> Self {
        Self(Arc::new(Parts {
            tenant,
            subject: subject.into(),
            scopes,
            method,
        }))
    }

    /// The principal of a credential that passed its rule's verification.
    pub(crate) fn verified(record: Arc<dyn Verified>) -> Self {
        Self(record)
    }

    /// The tenant the request acts in. Always the tenant the request named.
    pub fn tenant(&self) -> &TenantId {
        self.0.tenant()
    }

    /// Who acts: the key id for an API key, the user for an OAuth access token.
    pub fn subject(&self) -> &str {
        self.0.subject()
    }

    /// The scopes the credential carries (not only those the request needed).
    pub fn scopes(&self) -> &ScopeSet {
        self.0.scopes()
    }

    /// How the request authenticated.
    pub fn method(&self) -> AuthMethod {
        self.0.method()
    }

    /// The resources the credential is bound to (RFC 8707: an access token
    /// issued for them); empty when it is not bound (an API key, or a token
    /// issued without a resource).
    pub fn audience(&self) -> impl Iterator<Item = &str> {
        self.0.audience().unwrap_or(&[]).iter().map(|r| &**r)
    }

    /// For an access token, the resources it is bound to (empty: none);
    /// `None` for an API key. Cheap: no clone.
    pub(crate) fn token_audience(&self) -> Option<&[Arc<str>]> {
        self.0.audience()
    }

    /// Whether the credential may be used at `resource`: an API key always;
    /// an access token bound to it, or (when `accept_unbound`) bound to none.
    pub fn usable_at(&self, resource: &str, accept_unbound: bool) -> bool {
        match self.0.audience() {
            None => true,
            Some([]) => accept_unbound,
            Some(audience) => audience.iter().any(|r| &**r == resource),
        }
    }

    /// Whether the principal holds every scope of `required`.
    pub fn has_scopes(&self, required: &ScopeSet) -> bool {
        self.scopes().contains_all(required)
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("tenant", self.tenant())
            .field("subject", &self.subject())
            .field("scopes", self.scopes())
            .field("method", &self.method())
            .finish()
    }
}

impl PartialEq for Principal {
    fn eq(&self, other: &Self) -> bool {
        self.tenant() == other.tenant()
            && self.subject() == other.subject()
            && self.scopes() == other.scopes()
            && self.method() == other.method()
    }
}

impl Eq for Principal {}

impl Serialize for Principal {
    /// `{"tenant": …, "subject": …, "scopes": …, "method": {"type": …, …}}`.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut st = s.serialize_struct("Principal", 4)?;
        st.serialize_field("tenant", self.tenant())?;
        st.serialize_field("subject", self.subject())?;
        st.serialize_field("scopes", self.scopes())?;
        st.serialize_field("method", &self.method())?;
        st.end()
    }
}

/// How a [`Principal`] authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuthMethod {
    /// A service-to-service API key.
    ApiKey {
        /// The key's id.
        key_id: KeyId,
    },
    /// An OAuth 2.0 access token.
    AccessToken {
        /// The client the token was issued to.
        client_id: ClientId,
    },
}

/// Why a credential was refused. One enum for the audit log, metrics and the
/// HTTP response, so all three agree.
///
/// See [`crate::http::rejection_response`] for the status code and body of each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Rejection {
    /// No `Authorization: Bearer` credential was sent.
    MissingCredentials,
    /// No tenant was named (`X-Tenant-Id` missing).
    MissingTenant,
    /// `Authorization`, `X-Tenant-Id` or `Host` was sent more than once:
    /// which one counts would depend on who reads it (RFC 6750 §3.1
    /// `invalid_request`), so the request is refused.
    RepeatedHeader,
    /// The tenant named is not a valid tenant id.
    InvalidTenant,
    /// The credential is not well-formed (bad syntax or checksum): refused
    /// without a store lookup.
    Malformed,
    /// No such credential.
    Unknown,
    /// The credential belongs to another tenant. Answered exactly as
    /// [`Rejection::Unknown`] on the wire.
    WrongTenant,
    /// The credential was revoked.
    Revoked,
    /// The credential is past its expiry.
    Expired,
    /// The client IP is outside the key's allowlist.
    IpNotAllowed,
    /// An access token bound to other resources than the one it was
    /// presented to (RFC 8707), or not bound where the resource server
    /// requires it. Answered exactly as [`Rejection::Unknown`] on the wire.
    WrongAudience,
    /// The credential lacks scopes the request needs.
    InsufficientScope {
        /// The scopes the request needs (all of them, as RFC 6750 §3 asks the
        /// `scope` attribute to say).
        required: ScopeSet,
    },
}

impl Rejection {
    /// A stable snake_case name, for logs and metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::MissingCredentials => "missing_credentials",
            Self::MissingTenant => "missing_tenant",
            Self::RepeatedHeader => "repeated_header",
            Self::InvalidTenant => "invalid_tenant",
            Self::Malformed => "malformed",
            Self::Unknown => "unknown",
            Self::WrongTenant => "wrong_tenant",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::IpNotAllowed => "ip_not_allowed",
            Self::WrongAudience => "wrong_audience",
            Self::InsufficientScope { .. } => "insufficient_scope",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for Rejection {}

/// Why authentication did not produce a [`Principal`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The credential was refused.
    #[error("authentication rejected: {0}")]
    Rejected(Rejection),
    /// The store failed; the request should be retried later (HTTP 503).
    #[error("store failure during authentication")]
    Store(#[from] StoreError),
}

// Every authentication returns this `Result`: at three words it is copied
// whole, where a wider one was copied in overlapping pieces that stalled the
// processor's store forwarding (measured: ≈ 20 ns of a 250 ns API-key check).
const _: () = assert!(size_of::<Result<Principal, AuthError>>() <= 3 * size_of::<usize>());

impl From<Rejection> for AuthError {
    fn from(r: Rejection) -> Self {
        Self::Rejected(r)
    }
}

impl AuthError {
    /// The rejection, when the credential was refused.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            Self::Rejected(r) => Some(r),
            Self::Store(_) => None,
        }
    }
}
