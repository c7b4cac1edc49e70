//! The API key service: its state, and what create, rotate and
//! authenticate share (records, audit events, the clock).

use std::{net::IpAddr, sync::Arc};

use dashmap::DashMap;
use time::OffsetDateTime;

use super::{ApiKeyConfig, ApiKeyError, ApiKeyRecord, ApiKeyStore, KeyId, NewApiKey};
use crate::{
    ApiKeySecret, AuditEvent, AuditEventKind, AuditSink, Clock, SystemClock, TenantId, audit::Actor,
};

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
    pub(super) store: Arc<dyn ApiKeyStore>,
    pub(super) audit: Arc<dyn AuditSink>,
    clock: Arc<dyn Clock>,
    pub(super) config: Arc<ApiKeyConfig>,
    /// When each (key, reason) refusal was last audited.
    pub(super) rejections: Arc<DashMap<(KeyId, &'static str), OffsetDateTime>>,
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

    /// The time now, by the service's clock.
    pub(crate) fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Where the service's audit events go (the HTTP layer's throttle
    /// records its own there too).
    pub(crate) fn audit_sink(&self) -> &Arc<dyn AuditSink> {
        &self.audit
    }

    /// The record of `id` in `tenant` (the tenant checked here too, not left
    /// to the store).
    pub(super) async fn get_record(
        &self,
        tenant: &TenantId,
        id: &KeyId,
    ) -> Result<ApiKeyRecord, ApiKeyError> {
        match self.store.get(tenant, id).await? {
            Some(r) if r.tenant == *tenant => Ok(r),
            _ => Err(ApiKeyError::NotFound),
        }
    }

    /// A new key and its record, for `new` in `tenant`.
    pub(super) fn new_record(
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

    /// Records an administration event about `record` (committed already).
    pub(super) async fn emit(
        &self,
        record: &ApiKeyRecord,
        actor: &Actor,
        at: OffsetDateTime,
        kind: AuditEventKind,
    ) {
        let event = AuditEvent::new(at, record.tenant.clone(), actor.clone(), kind)
            .with_key(record.id.clone())
            .with_ip(None::<IpAddr>);
        crate::audit::record_committed(&*self.audit, event).await;
    }
}
