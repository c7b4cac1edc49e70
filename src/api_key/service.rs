//! The API key service: create, list, rotate, revoke and authenticate.

use std::{fmt, net::IpAddr, sync::Arc};

use dashmap::DashMap;
use serde::Deserialize;
use time::{Duration, OffsetDateTime};

use super::{
    ApiKeyInfo, ApiKeyRecord, ApiKeyStore, Environment, IpAllowlist, KeyFormat, KeyId,
    RevokeOutcome, RotateOutcome, verify_for,
};
use crate::{
    ApiKeySecret, AuditEvent, AuditEventKind, AuditSink, AuthError, Clock, Principal, Rejection,
    ScopeSet, SecretHasher, StoreError, SystemClock, TenantId, audit::Actor, credential,
};

/// The longest key name accepted, in characters.
pub const MAX_NAME_LEN: usize = 100;

/// Settings of an [`ApiKeys`] service.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ApiKeyConfig {
    /// The key format (prefix). Defaults to `pk` (`pk_live_…`).
    pub format: KeyFormat,
    /// How keys are digested. Defaults to SHA-256; use
    /// [`SecretHasher::with_pepper`] for HMAC-SHA-256 with a server-side pepper.
    /// Keys are found by digest, so changing this makes existing keys unknown.
    pub hasher: SecretHasher,
    /// How long after creation a key is due for rotation. Defaults to 90 days.
    pub rotation_period: Duration,
    /// Last-used writes happen at most once per key per this window, so
    /// `last_used_at` is accurate to it. Defaults to 60 seconds.
    pub last_used_window: Duration,
}

impl Default for ApiKeyConfig {
    fn default() -> Self {
        Self {
            format: KeyFormat::default(),
            hasher: SecretHasher::sha256(),
            rotation_period: Duration::days(90),
            last_used_window: Duration::seconds(60),
        }
    }
}

impl ApiKeyConfig {
    /// Sets [`format`](Self::format).
    pub fn with_format(mut self, format: KeyFormat) -> Self {
        self.format = format;
        self
    }
    /// Sets [`hasher`](Self::hasher).
    pub fn with_hasher(mut self, hasher: SecretHasher) -> Self {
        self.hasher = hasher;
        self
    }
    /// Sets [`rotation_period`](Self::rotation_period).
    pub fn with_rotation_period(mut self, period: Duration) -> Self {
        self.rotation_period = period;
        self
    }
    /// Sets [`last_used_window`](Self::last_used_window).
    pub fn with_last_used_window(mut self, window: Duration) -> Self {
        self.last_used_window = window;
        self
    }
}

/// What to create: the admin page's form.
#[derive(Debug, Clone, Deserialize)]
// A misspelt field is an error, not a key or client with a default
// (an `ip_allow_list` typo would otherwise make a key usable from anywhere).
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NewApiKey {
    /// A name for the owner's reference (1 to 100 characters, no control characters).
    pub name: String,
    /// What the key may do.
    pub scopes: ScopeSet,
    /// Where it may be used from. Defaults to anywhere.
    #[serde(default)]
    pub ip_allowlist: IpAllowlist,
    /// When it stops working on its own. Defaults to never.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// `live` or `test`. Defaults to `live`.
    #[serde(default)]
    pub environment: Environment,
}

impl NewApiKey {
    /// A live key named `name` with `scopes`, usable from anywhere, never expiring.
    pub fn new(name: impl Into<String>, scopes: ScopeSet) -> Self {
        Self {
            name: name.into(),
            scopes,
            ip_allowlist: IpAllowlist::default(),
            expires_at: None,
            environment: Environment::Live,
        }
    }
    /// Restricts the key to these networks.
    pub fn with_ip_allowlist(mut self, list: IpAllowlist) -> Self {
        self.ip_allowlist = list;
        self
    }
    /// Makes the key expire at `at`.
    pub fn with_expires_at(mut self, at: OffsetDateTime) -> Self {
        self.expires_at = Some(at);
        self
    }
    /// Makes a `test` or `live` key.
    pub fn with_environment(mut self, env: Environment) -> Self {
        self.environment = env;
        self
    }
}

/// Options of [`ApiKeys::rotate`].
#[derive(Debug, Clone, Default, Deserialize)]
// A misspelt field is an error, not a key or client with a default
// (an `ip_allow_list` typo would otherwise make a key usable from anywhere).
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RotateOptions {
    /// If set, the old key also stops working on its own this long after the
    /// rotation (it can still be revoked earlier). Defaults to none: the old
    /// key works until it is revoked, as in the product's rotation flow.
    #[serde(default, with = "grace_seconds")]
    pub grace: Option<Duration>,
    /// When the new key expires. Defaults to never (an expiry is not inherited).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

impl RotateOptions {
    /// The old key stops working `grace` after the rotation.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = Some(grace);
        self
    }
}

mod grace_seconds {
    use serde::{Deserialize, Deserializer};
    use time::Duration;
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u32>::deserialize(d)?.map(|s| Duration::seconds(i64::from(s))))
    }
}

/// A key just created: the plaintext, shown this once, and its record's view.
#[derive(Debug)]
#[non_exhaustive]
pub struct CreatedApiKey {
    /// The plaintext key. It is not stored anywhere: hand it to the user now.
    pub key: ApiKeySecret,
    /// The stored key's view.
    pub info: ApiKeyInfo,
}

/// Whether a rotated-out key still gets traffic (the product's "confirm no
/// traffic on the old key" step).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RotationTraffic {
    /// The key has not been rotated.
    NotRotated,
    /// No successful use since the successor was created: safe to revoke.
    Quiet {
        /// The successor.
        successor: KeyId,
        /// When the rotation happened.
        #[serde(with = "time::serde::rfc3339")]
        rotated_at: OffsetDateTime,
    },
    /// Used since the successor was created: some caller still has the old key.
    StillUsed {
        /// The successor.
        successor: KeyId,
        /// When the rotation happened.
        #[serde(with = "time::serde::rfc3339")]
        rotated_at: OffsetDateTime,
        /// The latest recorded use (accurate to the last-used window).
        #[serde(with = "time::serde::rfc3339")]
        last_used_at: OffsetDateTime,
    },
}

/// Why a key administration call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiKeyError {
    /// No such key in this tenant.
    #[error("no such API key")]
    NotFound,
    /// The request is invalid (bad name, expiry in the past, …).
    #[error("invalid request: {0}")]
    Invalid(&'static str),
    /// The key was already rotated; rotate its successor instead.
    #[error("API key was already rotated to {successor}")]
    AlreadyRotated {
        /// The successor to rotate instead.
        successor: KeyId,
    },
    /// The key is revoked.
    #[error("API key is revoked")]
    Revoked,
    /// The store failed.
    #[error("store failure")]
    Store(#[from] StoreError),
}

/// What [`ApiKeys::authenticate`] is given: the request's raw header values
/// and its client IP.
///
/// `Debug` redacts the `Authorization` value.
#[derive(Clone, Copy, Default)]
#[non_exhaustive]
pub struct AuthRequest<'a> {
    /// The `Authorization` header value, if sent.
    pub authorization: Option<&'a str>,
    /// The tenant the request names (the `X-Tenant-Id` header value), if any.
    pub tenant: Option<&'a str>,
    /// The client IP (from the socket, or from trusted proxies' headers).
    pub client_ip: Option<IpAddr>,
}

impl fmt::Debug for AuthRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthRequest")
            .field("authorization", &self.authorization.map(|_| "[redacted]"))
            .field("tenant", &self.tenant)
            .field("client_ip", &self.client_ip)
            .finish()
    }
}

impl<'a> AuthRequest<'a> {
    /// The bearer credential and the validated tenant name, read without
    /// allocating; the credential's characters are left to the key or token
    /// check that follows (it reads every one), and a tenant refusal gives
    /// way to `Malformed` for a credential that is not a `b64token`.
    pub(crate) fn credential_and_tenant(&self) -> Result<(&'a str, &'a str), Rejection> {
        let token = credential::bearer_credential(self.authorization)?;
        let tenant = credential::tenant_name_from_header(self.tenant)
            .map_err(|r| credential::tenant_refusal(token, r))?;
        Ok((token, tenant))
    }

    /// A request with these header values and client IP.
    pub fn new(
        authorization: Option<&'a str>,
        tenant: Option<&'a str>,
        client_ip: Option<IpAddr>,
    ) -> Self {
        Self {
            authorization,
            tenant,
            client_ip,
        }
    }
}

/// Writes an authentication implies.
#[derive(Debug)]
enum FollowUp {
    /// Record a use (debounced) and audit it if written.
    Touch {
        key: KeyId,
        tenant: TenantId,
        stale_before: OffsetDateTime,
    },
    /// Audit a refusal of a known key.
    Rejected {
        key: KeyId,
        tenant: TenantId,
        reason: Rejection,
    },
}

/// An authentication decided without waiting: the answer, or the answer
/// and a write (last-used time, audit event) that must finish before it is
/// given ([`ApiKeys::finish`]).
#[derive(Debug)]
pub(crate) enum Decided {
    /// The answer.
    Done(Result<Principal, AuthError>),
    /// The answer, once the follow-up write has run (boxed: a rare path,
    /// kept out of the size of every authentication's future).
    FollowUp(Box<PendingFollowUp>),
}

/// A decided authentication whose follow-up write has yet to run
/// ([`ApiKeys::finish`]).
#[derive(Debug)]
pub(crate) struct PendingFollowUp {
    outcome: Result<Principal, Rejection>,
    follow_up: FollowUp,
    client_ip: Option<IpAddr>,
    now: OffsetDateTime,
    /// The refusal-audit debounce this decision claimed, given back if the
    /// follow-up never runs (a middleware's future dropped unpolled), so
    /// that the next refusal is audited instead.
    claim: Option<RejectionClaim>,
}

/// A claimed slot of [`ApiKeys`]'s refusal-audit debounce.
#[derive(Debug)]
struct RejectionClaim {
    rejections: Arc<DashMap<(KeyId, &'static str), OffsetDateTime>>,
    key: (KeyId, &'static str),
    at: OffsetDateTime,
    /// Whether dropping the claim gives the slot back.
    armed: bool,
}

impl Drop for RejectionClaim {
    fn drop(&mut self) {
        if self.armed {
            // Only the slot this claim set: a later refusal may have claimed it since.
            self.rejections.remove_if(&self.key, |_, at| *at == self.at);
        }
    }
}

impl PendingFollowUp {
    /// The refusal this authentication ends in, unless the write fails.
    pub(crate) fn rejection(&self) -> Option<&Rejection> {
        self.outcome.as_ref().err()
    }
}

/// The API key service.
///
/// Cheap to clone (all state is behind `Arc`s); share one per process.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use papyrus_auth::{
///     Actor, ApiKeys, AuthRequest, MemoryApiKeyStore, MemoryAuditLog, NewApiKey, ScopeSet,
/// };
///
/// # tokio_test_block_on(async {
/// let keys = ApiKeys::new(Arc::new(MemoryApiKeyStore::new()), Arc::new(MemoryAuditLog::new()));
/// let tenant = "acme".parse()?;
/// let created = keys
///     .create(&tenant, NewApiKey::new("billing", "documents:read".parse()?), &Actor::System)
///     .await?;
///
/// let header = format!("Bearer {}", created.key.expose_secret());
/// let request = AuthRequest::new(Some(&header), Some("acme"), None);
/// let principal = keys.authenticate(&request, &"documents:read".parse()?).await?;
/// assert_eq!(principal.tenant(), &tenant);
///
/// keys.revoke(&tenant, &created.info.id, &Actor::System).await?;
/// assert!(keys.authenticate(&request, &ScopeSet::empty()).await.is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ApiKeys {
    store: Arc<dyn ApiKeyStore>,
    audit: Arc<dyn AuditSink>,
    clock: Arc<dyn Clock>,
    config: Arc<ApiKeyConfig>,
    /// When each (key, reason) refusal was last audited.
    rejections: Arc<DashMap<(KeyId, &'static str), OffsetDateTime>>,
}

impl ApiKeys {
    /// A service over `store`, emitting to `audit`, with the system clock and
    /// the default [`ApiKeyConfig`].
    pub fn new(store: Arc<dyn ApiKeyStore>, audit: Arc<dyn AuditSink>) -> Self {
        Self {
            store,
            audit,
            clock: Arc::new(SystemClock),
            config: Arc::new(ApiKeyConfig::default()),
            rejections: Arc::new(DashMap::new()),
        }
    }

    /// Uses `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Uses `config`.
    pub fn with_config(mut self, config: ApiKeyConfig) -> Self {
        self.config = Arc::new(config);
        self
    }

    /// The configuration in use.
    pub fn config(&self) -> &ApiKeyConfig {
        &self.config
    }

    /// The store in use.
    pub fn store(&self) -> &Arc<dyn ApiKeyStore> {
        &self.store
    }

    /// Creates a key. The plaintext is in the result and nowhere else.
    ///
    /// # Errors
    ///
    /// [`ApiKeyError::Invalid`] for a bad name or an expiry not in the future;
    /// [`ApiKeyError::Store`] when the store or the audit sink fails.
    pub async fn create(
        &self,
        tenant: &TenantId,
        new: NewApiKey,
        actor: &Actor,
    ) -> Result<CreatedApiKey, ApiKeyError> {
        validate_name(&new.name)?;
        let now = self.clock.now();
        if new.expires_at.is_some_and(|at| at <= now) {
            return Err(ApiKeyError::Invalid("expires_at must be in the future"));
        }
        let (key, record) = self.new_record(tenant, &new, None, now);
        self.store.insert(&record).await?;
        self.emit(
            &record,
            actor,
            None,
            now,
            AuditEventKind::KeyCreated {
                name: record.name.clone(),
                scopes: record.scopes.clone(),
            },
        )
        .await;
        Ok(CreatedApiKey {
            key,
            info: record.info(now),
        })
    }

    /// One key of `tenant`, without secrets.
    ///
    /// # Errors
    ///
    /// [`ApiKeyError::NotFound`] if the tenant has no such key.
    pub async fn get(&self, tenant: &TenantId, id: &KeyId) -> Result<ApiKeyInfo, ApiKeyError> {
        let record = self.get_record(tenant, id).await?;
        Ok(record.info(self.clock.now()))
    }

    /// Every key of `tenant`, newest first, without secrets, with last use and
    /// whether rotation is due.
    ///
    /// # Errors
    ///
    /// [`ApiKeyError::Store`] when the store fails.
    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<ApiKeyInfo>, ApiKeyError> {
        let now = self.clock.now();
        let mut records = self.store.list(tenant).await?;
        // The store was asked for one tenant; the decision does not trust it.
        records.retain(|r| r.tenant == *tenant);
        records.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(records.iter().map(|r| r.info(now)).collect())
    }

    /// Rotates a key: creates a successor with the same name, scopes,
    /// allowlist, environment and tenant. The old key keeps working until it
    /// is revoked (or until `options.grace` has passed, if set), so callers
    /// can move over with a rolling deploy; [`ApiKeys::rotation_traffic`] then
    /// tells whether the old key still gets traffic.
    ///
    /// # Errors
    ///
    /// [`ApiKeyError::NotFound`], [`ApiKeyError::Revoked`],
    /// [`ApiKeyError::AlreadyRotated`] (rotate the successor instead), or
    /// [`ApiKeyError::Invalid`] for a grace or expiry not in the future.
    pub async fn rotate(
        &self,
        tenant: &TenantId,
        id: &KeyId,
        options: RotateOptions,
        actor: &Actor,
    ) -> Result<CreatedApiKey, ApiKeyError> {
        let now = self.clock.now();
        if options.grace.is_some_and(|g| g.is_negative()) {
            return Err(ApiKeyError::Invalid("grace must not be negative"));
        }
        if options.expires_at.is_some_and(|at| at <= now) {
            return Err(ApiKeyError::Invalid("expires_at must be in the future"));
        }
        let old = self.get_record(tenant, id).await?;
        let new = NewApiKey {
            name: old.name.clone(),
            scopes: old.scopes.clone(),
            ip_allowlist: old.ip_allowlist.clone(),
            expires_at: options.expires_at,
            environment: old.environment,
        };
        let (key, successor) = self.new_record(tenant, &new, Some(old.id.clone()), now);
        if old.expires_at.is_some_and(|e| e <= now) {
            return Err(ApiKeyError::Invalid(
                "an expired key cannot be rotated; create a new key",
            ));
        }
        let grace_end = match options.grace {
            Some(g) => Some(
                now.checked_add(g)
                    .ok_or(ApiKeyError::Invalid("grace is too long"))?,
            ),
            None => None,
        };
        let old_expires_at = match (old.expires_at, grace_end) {
            (Some(e), Some(g)) => Some(e.min(g)),
            (e, g) => e.or(g),
        };
        match self
            .store
            .rotate(tenant, id, &successor, old_expires_at, now)
            .await?
        {
            RotateOutcome::Rotated(old) => {
                self.emit(
                    &old,
                    actor,
                    None,
                    now,
                    AuditEventKind::KeyRotated {
                        successor: successor.id.clone(),
                        old_key_expires_at: old_expires_at,
                    },
                )
                .await;
                self.emit(
                    &successor,
                    actor,
                    None,
                    now,
                    AuditEventKind::KeyCreated {
                        name: successor.name.clone(),
                        scopes: successor.scopes.clone(),
                    },
                )
                .await;
                Ok(CreatedApiKey {
                    key,
                    info: successor.info(now),
                })
            }
            RotateOutcome::NotFound => Err(ApiKeyError::NotFound),
            RotateOutcome::AlreadyRotated(successor) => {
                Err(ApiKeyError::AlreadyRotated { successor })
            }
            RotateOutcome::Revoked => Err(ApiKeyError::Revoked),
        }
    }

    /// Revokes a key. The very next authentication with it fails: there is no
    /// grace period and no cache. Revoking a revoked key succeeds and changes
    /// nothing.
    ///
    /// # Errors
    ///
    /// [`ApiKeyError::NotFound`] if the tenant has no such key.
    pub async fn revoke(
        &self,
        tenant: &TenantId,
        id: &KeyId,
        actor: &Actor,
    ) -> Result<ApiKeyInfo, ApiKeyError> {
        let now = self.clock.now();
        match self.store.revoke(tenant, id, now).await? {
            RevokeOutcome::Revoked(record) => {
                self.emit(&record, actor, None, now, AuditEventKind::KeyRevoked)
                    .await;
                Ok(record.info(now))
            }
            RevokeOutcome::AlreadyRevoked(record) => Ok(record.info(now)),
            RevokeOutcome::NotFound => Err(ApiKeyError::NotFound),
        }
    }

    /// Whether a rotated-out key has been used since its successor was created.
    ///
    /// Exact: the first use of a rotated-out key after the rotation is always
    /// written, whatever the last-used window.
    ///
    /// # Errors
    ///
    /// [`ApiKeyError::NotFound`] if the tenant has no such key.
    pub async fn rotation_traffic(
        &self,
        tenant: &TenantId,
        id: &KeyId,
    ) -> Result<RotationTraffic, ApiKeyError> {
        let r = self.get_record(tenant, id).await?;
        let (Some(successor), Some(rotated_at)) = (r.rotated_to, r.rotated_at) else {
            return Ok(RotationTraffic::NotRotated);
        };
        Ok(match r.last_used_at {
            Some(last_used_at) if last_used_at >= rotated_at => RotationTraffic::StillUsed {
                successor,
                rotated_at,
                last_used_at,
            },
            _ => RotationTraffic::Quiet {
                successor,
                rotated_at,
            },
        })
    }

    /// Authenticates a request that carries an API key and requires `required`.
    ///
    /// A malformed key (bad syntax or checksum) is refused before any digest
    /// or store lookup. A known key that is refused is audited
    /// ([`AuditEventKind::KeyRejected`], in the key's own tenant); a successful
    /// use is audited and written to the store at most once per key per
    /// [`ApiKeyConfig::last_used_window`].
    ///
    /// # Errors
    ///
    /// [`AuthError::Rejected`] with the [`Rejection`]; [`AuthError::Store`]
    /// when the store fails (answer 503, not 401).
    pub async fn authenticate(
        &self,
        request: &AuthRequest<'_>,
        required: &ScopeSet,
    ) -> Result<Principal, AuthError> {
        let (token, tenant) = request.credential_and_tenant()?;
        self.authenticate_in(token, tenant, request.client_ip, required)
            .await
    }

    /// [`ApiKeys::authenticate`] for a bearer token and tenant already parsed.
    ///
    /// # Errors
    ///
    /// As [`ApiKeys::authenticate`].
    pub async fn authenticate_key(
        &self,
        key: &str,
        tenant: &TenantId,
        client_ip: Option<IpAddr>,
        required: &ScopeSet,
    ) -> Result<Principal, AuthError> {
        self.authenticate_in(key, tenant.as_str(), client_ip, required)
            .await
    }

    /// [`ApiKeys::authenticate_key`] for a validated tenant name.
    pub(crate) async fn authenticate_in(
        &self,
        key: &str,
        tenant: &str,
        client_ip: Option<IpAddr>,
        required: &ScopeSet,
    ) -> Result<Principal, AuthError> {
        let digest = self.checked_digest(key)?;
        let found = match self.store.find_by_digest_now(&digest) {
            Some(found) => found,
            None => {
                let timer = crate::metrics::StoreTimer::start("find_api_key");
                let found = self.store.find_by_digest(&digest).await;
                timer.stop();
                found
            }
        };
        match self.decide_found(found, &digest, tenant, client_ip, required) {
            Decided::Done(result) => result,
            Decided::FollowUp(pending) => self.finish(*pending).await,
        }
    }

    /// The decision without waiting on the store: `None` when the store
    /// cannot answer synchronously (nothing has happened yet; see
    /// [`ApiKeyStore::find_by_digest_now`]).
    pub(crate) fn authenticate_now(
        &self,
        key: &str,
        tenant: &str,
        client_ip: Option<IpAddr>,
        required: &ScopeSet,
    ) -> Option<Decided> {
        let digest = match self.checked_digest(key) {
            Ok(digest) => digest,
            Err(e) => return Some(Decided::Done(Err(e))),
        };
        let found = self.store.find_by_digest_now(&digest)?;
        Some(self.decide_found(found, &digest, tenant, client_ip, required))
    }

    /// Runs the follow-up write, then gives the decided answer. The rare
    /// paths (a last-used write, an audit event) run in a boxed future of
    /// their own, so the hot path's stays small.
    ///
    /// # Errors
    ///
    /// As [`ApiKeys::authenticate`].
    pub(crate) fn finish(
        &self,
        p: PendingFollowUp,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Principal, AuthError>> + Send + '_>> {
        Box::pin(async move {
            let PendingFollowUp {
                outcome,
                follow_up,
                client_ip,
                now,
                claim,
            } = p;
            // The audit is now going to be written: the claim stands.
            if let Some(mut claim) = claim {
                claim.armed = false;
            }
            self.follow_up(follow_up, client_ip, now).await?;
            outcome.map_err(AuthError::Rejected)
        })
    }

    /// The key's digest, if it is well formed: a malformed key (syntax or
    /// checksum) is refused before any digest or lookup.
    fn checked_digest(&self, key: &str) -> Result<crate::Digest, AuthError> {
        if self.config.format.check(key).is_none() {
            return Err(Rejection::Malformed.into());
        }
        Ok(self.config.hasher.digest(key.as_bytes()))
    }

    /// The decision on what the store found.
    fn decide_found(
        &self,
        found: Result<Option<Arc<ApiKeyRecord>>, StoreError>,
        digest: &crate::Digest,
        tenant: &str,
        client_ip: Option<IpAddr>,
        required: &ScopeSet,
    ) -> Decided {
        let record = match found {
            Ok(Some(record)) => record,
            Ok(None) => return Decided::Done(Err(Rejection::Unknown.into())),
            Err(e) => return Decided::Done(Err(e.into())),
        };
        let now = self.clock.now();
        let (outcome, follow_up) = self.decide(&record, digest, tenant, client_ip, required, now);
        match follow_up {
            None => Decided::Done(outcome.map_err(AuthError::Rejected)),
            Some(follow_up) => {
                let claim = match &follow_up {
                    FollowUp::Rejected { key, reason, .. } => Some(RejectionClaim {
                        rejections: Arc::clone(&self.rejections),
                        key: (key.clone(), reason.as_str()),
                        at: now,
                        armed: true,
                    }),
                    FollowUp::Touch { .. } => None,
                };
                Decided::FollowUp(Box::new(PendingFollowUp {
                    outcome,
                    follow_up,
                    client_ip,
                    now,
                    claim,
                }))
            }
        }
    }

    /// The pure decision, plus what must be written because of it.
    fn decide(
        &self,
        record: &Arc<ApiKeyRecord>,
        digest: &crate::Digest,
        tenant: &str,
        client_ip: Option<IpAddr>,
        required: &ScopeSet,
        now: OffsetDateTime,
    ) -> (Result<Principal, Rejection>, Option<FollowUp>) {
        let outcome = verify_for(record, digest, tenant, client_ip, required, now);
        let follow_up = match &outcome {
            Ok(_) => super::last_used_write_due(record, now, self.config.last_used_window).map(
                |stale_before| FollowUp::Touch {
                    key: record.id.clone(),
                    tenant: record.tenant.clone(),
                    stale_before,
                },
            ),
            Err(reason)
                if *reason != Rejection::Unknown
                    && self.rejection_audit_due(&record.id, reason, now) =>
            {
                Some(FollowUp::Rejected {
                    key: record.id.clone(),
                    tenant: record.tenant.clone(),
                    reason: reason.clone(),
                })
            }
            Err(_) => None,
        };
        (outcome, follow_up)
    }

    async fn follow_up(
        &self,
        follow_up: FollowUp,
        client_ip: Option<IpAddr>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let (key, tenant, kind) = match follow_up {
            FollowUp::Touch {
                key,
                tenant,
                stale_before,
            } => {
                if !self
                    .store
                    .touch_last_used(&key, now, client_ip, stale_before)
                    .await?
                {
                    return Ok(());
                }
                (key, tenant, AuditEventKind::KeyUsed)
            }
            FollowUp::Rejected {
                key,
                tenant,
                reason,
            } => (key, tenant, AuditEventKind::KeyRejected { reason }),
        };
        let actor = Actor::ApiKey {
            key_id: key.clone(),
        };
        let event = AuditEvent::new(now, tenant, actor, kind)
            .with_key(key)
            .with_ip(client_ip);
        crate::audit::record_committed(&*self.audit, event).await;
        Ok(())
    }

    /// Whether a refusal of this key for this reason should be audited now:
    /// at most once per key, reason and last-used window, so a leaked key
    /// hammered against the API cannot flood the audit log.
    fn rejection_audit_due(&self, key: &KeyId, reason: &Rejection, now: OffsetDateTime) -> bool {
        let window = self.config.last_used_window;
        let mut due = false;
        self.rejections
            .entry((key.clone(), reason.as_str()))
            .and_modify(|last| {
                if now.saturating_sub(window) >= *last {
                    *last = now;
                    due = true;
                }
            })
            .or_insert_with(|| {
                due = true;
                now
            });
        due
    }

    async fn get_record(&self, tenant: &TenantId, id: &KeyId) -> Result<ApiKeyRecord, ApiKeyError> {
        match self.store.get(tenant, id).await? {
            Some(r) if r.tenant == *tenant => Ok(r),
            _ => Err(ApiKeyError::NotFound),
        }
    }

    fn new_record(
        &self,
        tenant: &TenantId,
        new: &NewApiKey,
        rotated_from: Option<KeyId>,
        now: OffsetDateTime,
    ) -> (ApiKeySecret, ApiKeyRecord) {
        let key = self.config.format.generate(new.environment);
        let record = ApiKeyRecord {
            id: KeyId::generate(),
            tenant: tenant.clone(),
            name: new.name.clone(),
            environment: new.environment,
            scopes: new.scopes.clone(),
            ip_allowlist: new.ip_allowlist.clone(),
            digest: self.config.hasher.digest(key.expose_secret().as_bytes()),
            hint: self.config.format.hint(&key),
            created_at: now,
            rotation_due_at: now.saturating_add(self.config.rotation_period),
            rotated_at: None,
            rotated_from,
            rotated_to: None,
            expires_at: new.expires_at,
            revoked_at: None,
            last_used_at: None,
            last_used_ip: None,
        };
        (key, record)
    }

    async fn emit(
        &self,
        record: &ApiKeyRecord,
        actor: &Actor,
        ip: Option<IpAddr>,
        at: OffsetDateTime,
        kind: AuditEventKind,
    ) {
        let event = AuditEvent::new(at, record.tenant.clone(), actor.clone(), kind)
            .with_key(record.id.clone())
            .with_ip(ip);
        crate::audit::record_committed(&*self.audit, event).await;
    }
}

fn validate_name(name: &str) -> Result<(), ApiKeyError> {
    if name.trim().is_empty() {
        return Err(ApiKeyError::Invalid("name must not be empty"));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(ApiKeyError::Invalid("name must be at most 100 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiKeyError::Invalid(
            "name must not contain control characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuditLog, AuditQuery, MemoryApiKeyStore, MemoryAuditLog};

    /// A refusal decided but never finished (a middleware's future dropped
    /// before it ran) gives its audit-debounce slot back: the next refusal
    /// of that key is audited instead of being debounced away.
    #[tokio::test]
    async fn an_unfinished_refusal_does_not_swallow_the_audit() {
        let audit = Arc::new(MemoryAuditLog::new());
        let keys = ApiKeys::new(Arc::new(MemoryApiKeyStore::new()), audit.clone());
        let acme: TenantId = "acme".parse().unwrap();
        let created = keys
            .create(
                &acme,
                NewApiKey::new("k", ScopeSet::empty()),
                &Actor::System,
            )
            .await
            .unwrap();
        keys.revoke(&acme, &created.info.id, &Actor::System)
            .await
            .unwrap();
        let key = created.key.expose_secret();
        let rejected = || async {
            audit
                .query(&AuditQuery::tenant(acme.clone()))
                .await
                .unwrap()
                .iter()
                .filter(|e| e.kind.as_str() == "key_rejected")
                .count()
        };

        let decided = keys.authenticate_now(key, "acme", None, &ScopeSet::empty());
        assert!(matches!(decided, Some(Decided::FollowUp(_))));
        drop(decided);
        assert_eq!(rejected().await, 0);

        let r = keys
            .authenticate_in(key, "acme", None, &ScopeSet::empty())
            .await;
        assert!(matches!(r, Err(AuthError::Rejected(Rejection::Revoked))));
        assert_eq!(rejected().await, 1, "audited after the dropped attempt");
        // Within the window, further refusals are debounced as before.
        let r = keys
            .authenticate_in(key, "acme", None, &ScopeSet::empty())
            .await;
        assert!(matches!(r, Err(AuthError::Rejected(Rejection::Revoked))));
        assert_eq!(rejected().await, 1);
    }
}
