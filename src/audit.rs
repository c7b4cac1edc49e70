//! The audit log: every key's creation, rotation, revocation and use, every
//! refused credential that names a known key, and the OAuth server's codes,
//! tokens, rotations, replays and revocations.
//!
//! Services emit [`AuditEvent`]s to an [`AuditSink`]. An [`AuditLog`] is a
//! sink that can also be read back, per tenant and per key. Events never
//! contain a secret: only ids, scopes, reasons, times and IPs.
//!
//! Sinks shipped here: [`MemoryAuditLog`] (bounded, readable),
//! [`TracingAuditSink`] (to `tracing`, target `papyrus_auth::audit`) and
//! [`Tee`] (both at once).

use std::{collections::VecDeque, fmt, net::IpAddr, sync::Arc};

use async_trait::async_trait;
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    Rejection, ScopeSet, StoreError, TenantId,
    ids::{ClientId, FamilyId, KeyId},
};

/// Who performed an audited action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Actor {
    /// The library or the embedding application itself (bootstrap, jobs).
    System,
    /// A request authenticated with an API key (for example an admin key).
    ApiKey {
        /// The acting key's id.
        key_id: KeyId,
    },
    /// A human user, as named by the embedding application.
    User {
        /// The user's identifier.
        subject: String,
    },
    /// An OAuth client (at the token, revocation or introspection endpoint).
    Client {
        /// The client's id.
        client_id: ClientId,
    },
    /// An operator acting outside any request, such as a command-line tool
    /// minting a new admin key.
    Operator {
        /// What the operator used, in words (`"admin-key command"`).
        via: String,
    },
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditEventKind {
    /// An API key was created.
    KeyCreated {
        /// The key's name.
        name: String,
        /// The key's scopes.
        scopes: ScopeSet,
    },
    /// An API key was rotated: a successor with the same scopes was created.
    /// The event's `key_id` is the old key.
    KeyRotated {
        /// The new key's id.
        successor: KeyId,
        /// When the old key stops working on its own, if a grace deadline was set.
        old_key_expires_at: Option<OffsetDateTime>,
    },
    /// An API key was revoked.
    KeyRevoked,
    /// An API key was used successfully. Emitted at most once per key per
    /// last-used window (see [`crate::ApiKeyConfig::last_used_window`]).
    KeyUsed,
    /// A known API key was refused (revoked, expired, wrong tenant, IP not
    /// allowed or insufficient scope).
    KeyRejected {
        /// Why.
        reason: Rejection,
    },
    /// An OAuth client was registered.
    ClientRegistered,
    /// An OAuth client was deleted, and its tokens revoked.
    ClientDeleted {
        /// How many tokens were newly revoked.
        revoked: u64,
    },
    /// A client failed to authenticate at the token, revocation or
    /// introspection endpoint.
    ClientAuthFailed {
        /// What was wrong, in words.
        reason: String,
    },
    /// An authorization code was issued after the user's consent.
    CodeIssued {
        /// The approved scopes.
        scopes: ScopeSet,
    },
    /// The user declined an authorization request.
    AuthorizationDenied,
    /// Tokens were issued for an authorization code.
    TokensIssued {
        /// The new token family.
        family: FamilyId,
        /// The access token's scopes.
        scopes: ScopeSet,
    },
    /// A refresh token was used and replaced by a new one.
    RefreshRotated {
        /// The family.
        family: FamilyId,
        /// The new access token's scopes.
        scopes: ScopeSet,
    },
    /// An already-used authorization code was presented again; every token
    /// issued from it was revoked.
    CodeReplayDetected {
        /// The family that was revoked.
        family: FamilyId,
        /// How many tokens were revoked.
        revoked: u64,
    },
    /// An already-rotated refresh token was presented again; the whole
    /// family was revoked.
    RefreshReuseDetected {
        /// The family that was revoked.
        family: FamilyId,
        /// How many tokens were revoked.
        revoked: u64,
    },
    /// Requests were refused with 429 after too many failed
    /// authentications (see [`crate::throttle`]).
    Throttled {
        /// Seconds until requests are accepted again.
        retry_after: u64,
    },
    /// Tokens were revoked on request (RFC 7009).
    TokensRevoked {
        /// The family concerned.
        family: FamilyId,
        /// How many tokens were revoked.
        revoked: u64,
    },
}

impl AuditEventKind {
    /// A stable snake_case name for the kind.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::KeyCreated { .. } => "key_created",
            Self::KeyRotated { .. } => "key_rotated",
            Self::KeyRevoked => "key_revoked",
            Self::KeyUsed => "key_used",
            Self::KeyRejected { .. } => "key_rejected",
            Self::ClientRegistered => "client_registered",
            Self::ClientDeleted { .. } => "client_deleted",
            Self::ClientAuthFailed { .. } => "client_auth_failed",
            Self::CodeIssued { .. } => "code_issued",
            Self::AuthorizationDenied => "authorization_denied",
            Self::TokensIssued { .. } => "tokens_issued",
            Self::RefreshRotated { .. } => "refresh_rotated",
            Self::CodeReplayDetected { .. } => "code_replay_detected",
            Self::RefreshReuseDetected { .. } => "refresh_reuse_detected",
            Self::TokensRevoked { .. } => "tokens_revoked",
            Self::Throttled { .. } => "throttled",
        }
    }

    /// Whether the event reports a refusal or an attack (logged at `WARN`).
    pub fn is_warning(&self) -> bool {
        matches!(
            self,
            Self::KeyRejected { .. }
                | Self::ClientAuthFailed { .. }
                | Self::CodeReplayDetected { .. }
                | Self::RefreshReuseDetected { .. }
                | Self::Throttled { .. }
        )
    }
}

/// One entry of the audit log. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditEvent {
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The tenant the event belongs to (for a key used against another
    /// tenant: the key's own tenant).
    pub tenant: TenantId,
    /// Who did it.
    pub actor: Actor,
    /// The key concerned, if any.
    pub key_id: Option<KeyId>,
    /// The OAuth client concerned, if any.
    pub client_id: Option<ClientId>,
    /// The user concerned, if any.
    pub subject: Option<String>,
    /// The client IP of the request, when known.
    pub ip: Option<IpAddr>,
    /// What happened.
    #[serde(flatten)]
    pub kind: AuditEventKind,
}

impl AuditEvent {
    /// A new event with no key, client, subject or IP (add them with the
    /// `with_*` methods).
    pub fn new(at: OffsetDateTime, tenant: TenantId, actor: Actor, kind: AuditEventKind) -> Self {
        Self {
            at,
            tenant,
            actor,
            key_id: None,
            client_id: None,
            subject: None,
            ip: None,
            kind,
        }
    }

    /// Names the key concerned.
    pub fn with_key(mut self, key_id: KeyId) -> Self {
        self.key_id = Some(key_id);
        self
    }

    /// Names the client concerned.
    pub fn with_client(mut self, client_id: ClientId) -> Self {
        self.client_id = Some(client_id);
        self
    }

    /// Names the user concerned.
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Records the client IP.
    pub fn with_ip(mut self, ip: Option<IpAddr>) -> Self {
        self.ip = ip;
        self
    }
}

/// Where audit events go.
///
/// # Errors
///
/// A sink that cannot record an event returns a [`StoreError`]. Services emit
/// events after the audited change is committed, so the change stands: the
/// failure is logged at `ERROR` (target `papyrus_auth::audit`, with the
/// event's kind and tenant) and the call succeeds. A database sink that
/// writes in the same transaction as the change avoids the gap.
#[async_trait]
pub trait AuditSink: fmt::Debug + Send + Sync + 'static {
    /// Records one event.
    async fn record(&self, event: AuditEvent) -> Result<(), StoreError>;
}

/// Records an event about an action that has already been committed. A sink
/// failure cannot undo the action (and must not lose a plaintext that was
/// just created), so it is logged at `ERROR` on target
/// `papyrus_auth::audit` with the event, and the action succeeds.
pub(crate) async fn record_committed(sink: &dyn AuditSink, event: AuditEvent) {
    let kind = event.kind.as_str();
    let tenant = event.tenant.clone();
    if let Err(error) = sink.record(event).await {
        tracing::error!(
            target: "papyrus_auth::audit",
            %tenant, event = kind, %error,
            "audit sink failed; the audited action was committed"
        );
    }
}

/// What to read back from an [`AuditLog`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AuditQuery {
    /// The tenant whose events to read.
    pub tenant: TenantId,
    /// Only events about this key.
    pub key_id: Option<KeyId>,
    /// At most this many events, newest first. Defaults to 100.
    pub limit: usize,
}

impl AuditQuery {
    /// The newest 100 events of `tenant`.
    pub fn tenant(tenant: TenantId) -> Self {
        Self {
            tenant,
            key_id: None,
            limit: 100,
        }
    }

    /// Only events about `key_id`.
    pub fn key(mut self, key_id: KeyId) -> Self {
        self.key_id = Some(key_id);
        self
    }

    /// At most `limit` events.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }
}

/// An audit sink that can be read back.
#[async_trait]
pub trait AuditLog: AuditSink {
    /// Events matching `query`, newest first.
    async fn query(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError>;
}

/// An in-memory audit log, bounded per tenant.
///
/// Holds the newest `capacity_per_tenant` events of each tenant (default
/// 100,000); older ones are dropped, so a flood of refused requests cannot
/// exhaust memory. For a log that keeps everything, use a database store.
#[derive(Debug, Clone)]
pub struct MemoryAuditLog {
    inner: Arc<DashMap<TenantId, VecDeque<AuditEvent>>>,
    capacity: usize,
}

impl MemoryAuditLog {
    /// An empty log keeping 100,000 events per tenant.
    pub fn new() -> Self {
        Self::with_capacity_per_tenant(100_000)
    }

    /// An empty log keeping `capacity` events per tenant (at least 1).
    pub fn with_capacity_per_tenant(capacity: usize) -> Self {
        Self {
            inner: Arc::new(DashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// Every event held, of every tenant, oldest first within a tenant.
    pub fn all(&self) -> Vec<AuditEvent> {
        self.inner
            .iter()
            .flat_map(|e| e.value().iter().cloned().collect::<Vec<_>>())
            .collect()
    }
}

impl Default for MemoryAuditLog {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl AuditSink for MemoryAuditLog {
    async fn record(&self, event: AuditEvent) -> Result<(), StoreError> {
        let mut log = self.inner.entry(event.tenant.clone()).or_default();
        if log.len() == self.capacity {
            log.pop_front();
        }
        log.push_back(event);
        Ok(())
    }
}

#[async_trait]
impl AuditLog for MemoryAuditLog {
    async fn query(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        let Some(log) = self.inner.get(&query.tenant) else {
            return Ok(Vec::new());
        };
        Ok(log
            .iter()
            .rev()
            .filter(|e| query.key_id.is_none() || e.key_id == query.key_id)
            .take(query.limit)
            .cloned()
            .collect())
    }
}

/// Writes audit events to `tracing`, target `papyrus_auth::audit`: refusals
/// and attacks ([`AuditEventKind::is_warning`]) at `WARN`, everything else at
/// `INFO`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingAuditSink;

#[async_trait]
impl AuditSink for TracingAuditSink {
    async fn record(&self, event: AuditEvent) -> Result<(), StoreError> {
        let key_id = event.key_id.as_ref().map(KeyId::as_str);
        let client_id = event.client_id.as_ref().map(ClientId::as_str);
        let subject = event.subject.as_deref();
        let ip = event.ip.map(tracing::field::display);
        let kind = &event.kind;
        if kind.is_warning() {
            tracing::warn!(
                target: "papyrus_auth::audit",
                tenant = %event.tenant, key_id, client_id, subject, ip, actor = ?event.actor,
                event = kind.as_str(), detail = ?kind,
                "audit event"
            );
        } else {
            tracing::info!(
                target: "papyrus_auth::audit",
                tenant = %event.tenant, key_id, client_id, subject, ip, actor = ?event.actor,
                event = kind.as_str(), detail = ?kind,
                "audit event"
            );
        }
        Ok(())
    }
}

/// Sends every event to two sinks, `A` first; fails if either fails.
#[derive(Debug, Clone)]
pub struct Tee<A, B>(pub A, pub B);

#[async_trait]
impl<A: AuditSink, B: AuditSink> AuditSink for Tee<A, B> {
    async fn record(&self, event: AuditEvent) -> Result<(), StoreError> {
        self.0.record(event.clone()).await?;
        self.1.record(event).await
    }
}

#[async_trait]
impl<A: AuditLog, B: AuditSink> AuditLog for Tee<A, B> {
    async fn query(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        self.0.query(query).await
    }
}

#[async_trait]
impl<T: AuditSink + ?Sized> AuditSink for Arc<T> {
    async fn record(&self, event: AuditEvent) -> Result<(), StoreError> {
        (**self).record(event).await
    }
}

#[async_trait]
impl<T: AuditLog + ?Sized> AuditLog for Arc<T> {
    async fn query(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        (**self).query(query).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(tenant: &str, key: &str, n: i64) -> AuditEvent {
        AuditEvent::new(
            OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(n),
            TenantId::parse(tenant).unwrap(),
            Actor::System,
            AuditEventKind::KeyUsed,
        )
        .with_key(KeyId::from_trusted(key))
    }

    #[tokio::test]
    async fn memory_log_reads_back_per_tenant_and_key_newest_first() {
        let log = MemoryAuditLog::new();
        log.record(event("a", "key_1", 1)).await.unwrap();
        log.record(event("a", "key_2", 2)).await.unwrap();
        log.record(event("b", "key_3", 3)).await.unwrap();
        let a = log
            .query(&AuditQuery::tenant("a".parse().unwrap()))
            .await
            .unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].key_id.as_ref().unwrap().as_str(), "key_2");
        let k = log
            .query(&AuditQuery::tenant("a".parse().unwrap()).key(KeyId::from_trusted("key_1")))
            .await
            .unwrap();
        assert_eq!(k.len(), 1);
        let none = log
            .query(&AuditQuery::tenant("c".parse().unwrap()))
            .await
            .unwrap();
        assert!(none.is_empty());
    }

    #[tokio::test]
    async fn memory_log_is_bounded_per_tenant() {
        let log = MemoryAuditLog::with_capacity_per_tenant(3);
        for n in 0..5 {
            log.record(event("a", "key_1", n)).await.unwrap();
        }
        let a = log
            .query(&AuditQuery::tenant("a".parse().unwrap()).limit(10))
            .await
            .unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(a[2].at.unix_timestamp(), 2, "the oldest two were dropped");
    }

    #[test]
    fn events_round_trip_through_json() {
        let e = AuditEvent::new(
            OffsetDateTime::UNIX_EPOCH,
            TenantId::parse("a").unwrap(),
            Actor::User {
                subject: "alice".into(),
            },
            AuditEventKind::KeyRejected {
                reason: Rejection::InsufficientScope {
                    required: "x:y".parse().unwrap(),
                },
            },
        )
        .with_key(KeyId::from_trusted("key_1"))
        .with_ip(Some("10.0.0.1".parse().unwrap()));
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<AuditEvent>(&json).unwrap(), e);
    }

    #[test]
    fn events_serialize_flat_with_a_type() {
        let json = serde_json::to_value(event("a", "key_1", 0)).unwrap();
        assert_eq!(json["type"], "key_used");
        assert_eq!(json["tenant"], "a");
        assert_eq!(json["key_id"], "key_1");
        assert_eq!(json["at"], "1970-01-01T00:00:00Z");
    }
}
