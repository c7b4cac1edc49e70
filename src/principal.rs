//! Who a verified request acts as, and why a request was refused.

use std::{fmt, sync::Arc};

use serde::{Deserialize, Serialize};

use crate::{ScopeSet, StoreError, TenantId, api_key::KeyId, oauth::ClientId};

/// Who a verified request acts as.
///
/// Returned by every successful authentication, whatever the credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Principal {
    /// The tenant the request acts in. Always the tenant the request named.
    pub tenant: TenantId,
    /// Who acts: the key id for an API key, the user for an OAuth access token.
    /// (Shared, so that authenticating a key allocates nothing for it.)
    pub subject: Arc<str>,
    /// The scopes the credential carries (not only those the request needed).
    pub scopes: ScopeSet,
    /// How the request authenticated.
    pub method: AuthMethod,
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

impl Principal {
    /// Whether the principal holds every scope of `required`.
    pub fn has_scopes(&self, required: &ScopeSet) -> bool {
        self.scopes.contains_all(required)
    }
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
            Self::InvalidTenant => "invalid_tenant",
            Self::Malformed => "malformed",
            Self::Unknown => "unknown",
            Self::WrongTenant => "wrong_tenant",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::IpNotAllowed => "ip_not_allowed",
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
