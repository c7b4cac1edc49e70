//! # papyrus-auth
//!
//! Embeddable authentication for the Papyrus developer platform: **API keys**
//! for service-to-service calls and **OAuth 2.0 with PKCE** for user-context
//! apps, multi-tenant throughout, over storage you choose.
//!
//! Cargo features: `axum` and `actix` (framework adapters over the [`http`]
//! layer), `sqlite` and `postgres` (SQL stores, with their migrations),
//! `redis` (the [`throttle`]'s failure counters shared by a fleet),
//! `metrics` and `prometheus` (see [`metrics`]), `testkit` (conformance
//! tests for your own store implementations). The in-memory stores and the
//! framework-neutral core need none.
//!
//! The crate follows one idea: *decide purely, act through traits*. Every
//! security decision is a pure function of records, inputs and `now` with
//! its unit tests beside it: [`verify`](api_key::verify) for a key,
//! [`plan_rotation`](api_key::plan_rotation) for its rotation, and one plan
//! per OAuth step ([`plan_exchange`](oauth::plan_exchange),
//! [`plan_refresh`](oauth::plan_refresh), [`plan_revoke`](oauth::plan_revoke),
//! [`introspect_access`](oauth::introspect_access), …). Services
//! ([`ApiKeys`], [`AuthorizationServer`], [`Authenticator`]) do the I/O the
//! plans name through store traits ([`ApiKeyStore`],
//! [`GrantStore`](oauth::GrantStore), …) and emit [`AuditEvent`]s; the
//! [`http`] module maps outcomes to status codes and JSON bodies, and the
//! adapters (features `axum` and `actix`) convert types.
//!
//! The modules stand on floors, each importing only from those below it:
//! the foundation (ids, [`TenantId`], [`ScopeSet`], secrets and
//! [`Digest`]s, [`Clock`], [`StoreError`], credential syntax, [`audit`],
//! [`Principal`], [`Answer`]); the rules ([`api_key`], [`oauth`]); the
//! [`store`]s; [`http`]; the adapters. `ARCHITECTURE.md` in the repository
//! has the code map and the invariants at each boundary.
//!
//! ## Quick start
//!
//! ```
//! use std::sync::Arc;
//! use papyrus_auth::{
//!     Actor, ApiKeys, AuditLog, AuditQuery, AuthRequest, MemoryApiKeyStore, MemoryAuditLog,
//!     NewApiKey, RotateOptions, RotationTraffic, TenantId, http,
//! };
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let audit = Arc::new(MemoryAuditLog::new());
//! let keys = ApiKeys::new(Arc::new(MemoryApiKeyStore::new()), audit.clone());
//! let acme: TenantId = "acme".parse()?;
//!
//! // Admin → API Keys → create. The plaintext is returned this once.
//! let created = keys
//!     .create(&acme, NewApiKey::new("billing-sync", "documents:read".parse()?), &Actor::System)
//!     .await?;
//! let key = created.key.expose_secret().to_owned();
//! assert!(key.starts_with("pk_live_"));
//!
//! // A request: `Authorization: Bearer pk_live_…` and `X-Tenant-Id: acme`.
//! let header = format!("Bearer {key}");
//! let request = AuthRequest::new(Some(&header), Some("acme"), Some("10.0.0.7".parse()?));
//! let principal = keys.authenticate(&request, &"documents:read".parse()?).await?;
//! assert_eq!(principal.tenant(), &acme);
//!
//! // Needing a scope the key lacks is a 403 with an RFC 6750 challenge.
//! let err = keys.authenticate(&request, &"documents:write".parse()?).await.unwrap_err();
//! assert_eq!(http::auth_error_response(&err).status, 403);
//!
//! // Rotate: a new key with the same scopes; the old one works until revoked.
//! let rotated = keys.rotate(&acme, &created.info.id, RotateOptions::default(), &Actor::System).await?;
//! assert!(matches!(
//!     keys.rotation_traffic(&acme, &created.info.id).await?,
//!     RotationTraffic::Quiet { .. }
//! ));
//!
//! // Revoke: the very next call with the old key is a 401.
//! keys.revoke(&acme, &created.info.id, &Actor::System).await?;
//! let err = keys.authenticate(&request, &"documents:read".parse()?).await.unwrap_err();
//! assert_eq!(http::auth_error_response(&err).status, 401);
//!
//! // The audit log, per tenant or per key.
//! let events = audit.query(&AuditQuery::tenant(acme.clone())).await?;
//! assert!(events.iter().any(|e| e.kind.as_str() == "key_revoked"));
//! # let _ = rotated;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Security defaults
//!
//! * Keys are stored only as SHA-256 digests (HMAC-SHA-256 with a pepper when
//!   configured) and compared in constant time; the plaintext is shown once.
//! * A key ends in a CRC32 checksum: a mistyped key is refused without a
//!   digest or a store lookup.
//! * A revoked key fails on the very next call; nothing caches a key.
//! * Unknown, revoked, expired and other-tenant keys get the same `401`.
//! * Secrets print as `[redacted]` in `Debug` and are zeroized on drop.

#![cfg_attr(docsrs, feature(doc_cfg))]

/// The README's examples, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub mod actix;
mod answer;
pub mod api_key;
pub mod audit;
mod authenticator;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
mod clock;
mod credential;
mod error;
pub mod http;
mod ids;
pub mod metrics;
mod names;
pub mod oauth;
mod principal;
mod scope;
mod secret;
pub mod signing;
pub mod store;
mod tenant;
#[cfg(feature = "testkit")]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
pub mod testkit;
pub mod throttle;

pub use answer::{Answer, AnswerFuture, BoxFuture, Lookup};
pub use api_key::{
    ApiKeyConfig, ApiKeyError, ApiKeyInfo, ApiKeyRecord, ApiKeyStatus, ApiKeyStore, ApiKeys,
    AuthRequest, CreatedApiKey, Environment, IpAllowlist, KeyFormat, KeyId, NewApiKey,
    RevokeOutcome, RotateOptions, RotateOutcome, RotationTraffic,
};
/// The attribute the store traits are written with: implement them with
/// `#[papyrus_auth::async_trait]`, no dependency of your own needed.
pub use async_trait::async_trait;
pub use audit::{
    Actor, AuditEvent, AuditEventKind, AuditLog, AuditQuery, AuditSink, MemoryAuditLog, Tee,
    TracingAuditSink,
};
pub use authenticator::Authenticator;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{StoreError, StoreErrorKind};
pub use oauth::AuthorizationServer;
pub use principal::{AuthError, AuthMethod, Principal, Rejection};
pub use scope::{InvalidScope, MAX_SCOPE_LEN, MAX_SCOPES, Scope, ScopeSet};
pub use secret::{
    AccessToken, ApiKeySecret, AuthorizationCode, ClientSecret, Digest, DigestHasher,
    DigestHasherBuilder, DigestVersion, Pepper, PkceVerifier, RefreshToken, SecretHasher,
};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use store::PostgresStore;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use store::RedisCounters;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use store::SqliteStore;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
pub use store::{CacheConfig, StoreOptions};
pub use store::{MemoryApiKeyStore, MemoryClientStore, MemoryGrantStore, MemorySigningKeyStore};
pub use tenant::{InvalidTenantId, MAX_TENANT_LEN, TenantId};
/// The `time` crate the records' timestamps come from
/// ([`OffsetDateTime`]), re-exported so that a store needs no dependency
/// of its own, nor a matching version.
pub use time::{self, OffsetDateTime};
