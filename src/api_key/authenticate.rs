//! Authenticating a request with an API key: one pipeline.
//!
//! parse ([`AuthRequest`]) → digest (a malformed key stops here, before
//! any store call) → look up ([`ApiKeyStore::find_by_digest`](super::ApiKeyStore::find_by_digest),
//! answered now or later) → decide purely ([`super::verify`],
//! [`super::last_used_write_due`], [`rejection_audit_due`]) → act (the
//! debounced last-used write and audit event, when one is due).

use std::{fmt, net::IpAddr, sync::Arc};

use dashmap::DashMap;
use time::{Duration, OffsetDateTime};

use super::{ApiKeyRecord, ApiKeys, KeyId, verify_for};
use crate::{
    Answer, AuditEvent, AuditEventKind, AuthError, Digest, Principal, Rejection, ScopeSet,
    StoreError, TenantId, audit::Actor, credential,
};

/// An authentication's answer: now (a store in memory, nearly always) or
/// later (a database, or a write that must come first). `.await` it.
pub type Authentication<'a> = Answer<'a, Result<Principal, AuthError>>;

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

/// Whether a refusal last audited at `last` should be audited again at
/// `now`: at most once per key, reason and `window`, so that a leaked key
/// hammered against the API cannot flood the audit log. Pure.
pub fn rejection_audit_due(
    last: Option<OffsetDateTime>,
    now: OffsetDateTime,
    window: Duration,
) -> bool {
    last.is_none_or(|last| now.saturating_sub(window) >= last)
}

/// A write an authentication implies.
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

/// A claimed slot of the refusal-audit debounce, given back on drop unless
/// the audit was written (an answer dropped before it ran, say), so that
/// the next refusal is audited instead.
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

/// The decision on a found record, and the write it implies.
struct Decision {
    outcome: Result<Principal, Rejection>,
    follow_up: Option<(FollowUp, Option<RejectionClaim>)>,
    client_ip: Option<IpAddr>,
    now: OffsetDateTime,
}

impl ApiKeys {
    /// Authenticates a request that carries an API key and requires `required`.
    ///
    /// A malformed key (bad syntax or checksum) is refused before any digest
    /// or store lookup. A known key that is refused is audited
    /// ([`AuditEventKind::KeyRejected`], in the key's own tenant) at most
    /// once per key, reason and [`last_used_window`](super::ApiKeyConfig::last_used_window);
    /// a successful use is audited and written to the store at most once
    /// per key per window.
    ///
    /// The answer comes now when the store answers at once and nothing must
    /// be written first; `.await` it either way.
    ///
    /// # Errors
    ///
    /// [`AuthError::Rejected`] with the [`Rejection`]; [`AuthError::Store`]
    /// when the store fails (answer 503, not 401).
    pub fn authenticate<'a>(
        &'a self,
        request: &AuthRequest<'a>,
        required: &'a ScopeSet,
    ) -> Authentication<'a> {
        match request.credential_and_tenant() {
            Ok((key, tenant)) => self.authenticate_parsed(key, tenant, request.client_ip, required),
            Err(rejection) => Answer::Now(Err(rejection.into())),
        }
    }

    /// The pipeline from a bearer credential and a validated tenant name.
    pub(crate) fn authenticate_parsed<'a>(
        &'a self,
        key: &str,
        tenant: &'a str,
        client_ip: Option<IpAddr>,
        required: &'a ScopeSet,
    ) -> Authentication<'a> {
        let digest = match self.checked_digest(key) {
            Ok(digest) => digest,
            Err(e) => return Answer::Now(Err(e)),
        };
        match self.store.find_by_digest(digest) {
            Answer::Now(found) => {
                self.act(self.decide(found, &digest, tenant, client_ip, required))
            }
            Answer::Later(lookup) => Answer::later(async move {
                let timer = crate::metrics::StoreTimer::start("find_api_key");
                let found = lookup.await;
                timer.stop();
                self.act(self.decide(found, &digest, tenant, client_ip, required))
                    .await
            }),
        }
    }

    /// The key's digest, if it is well formed: a malformed key (syntax or
    /// checksum) is refused before any digest or lookup.
    fn checked_digest(&self, key: &str) -> Result<Digest, AuthError> {
        if self.config.format.check(key).is_none() {
            return Err(Rejection::Malformed.into());
        }
        Ok(self.config.hasher.digest(key.as_bytes()))
    }

    /// The decision on what the store found: [`verify_for`], then the
    /// write it implies (a due last-used write, or a refusal whose audit is
    /// due by [`rejection_audit_due`], claimed in the debounce).
    fn decide(
        &self,
        found: Result<Option<Arc<ApiKeyRecord>>, StoreError>,
        digest: &Digest,
        tenant: &str,
        client_ip: Option<IpAddr>,
        required: &ScopeSet,
    ) -> Result<Decision, AuthError> {
        let record = found?.ok_or(Rejection::Unknown)?;
        let now = self.now();
        let outcome = verify_for(&record, digest, tenant, client_ip, required, now);
        let window = self.config.last_used_window;
        let follow_up = match &outcome {
            Ok(_) => super::last_used_write_due(&record, now, window).map(|stale_before| {
                let touch = FollowUp::Touch {
                    key: record.id.clone(),
                    tenant: record.tenant.clone(),
                    stale_before,
                };
                (touch, None)
            }),
            Err(Rejection::Unknown) => None,
            Err(reason) => self
                .claim_rejection_audit(&record.id, reason, now)
                .map(|claim| {
                    let rejected = FollowUp::Rejected {
                        key: record.id.clone(),
                        tenant: record.tenant.clone(),
                        reason: reason.clone(),
                    };
                    (rejected, Some(claim))
                }),
        };
        Ok(Decision {
            outcome,
            follow_up,
            client_ip,
            now,
        })
    }

    /// Claims the debounce slot of this key and reason if its audit is due
    /// ([`rejection_audit_due`]): atomically, so that of concurrent
    /// refusals one audits.
    fn claim_rejection_audit(
        &self,
        key: &KeyId,
        reason: &Rejection,
        now: OffsetDateTime,
    ) -> Option<RejectionClaim> {
        let window = self.config.last_used_window;
        let slot = (key.clone(), reason.as_str());
        let mut due = false;
        self.rejections
            .entry(slot.clone())
            .and_modify(|last| {
                if rejection_audit_due(Some(*last), now, window) {
                    *last = now;
                    due = true;
                }
            })
            .or_insert_with(|| {
                due = true;
                now
            });
        due.then(|| RejectionClaim {
            rejections: Arc::clone(&self.rejections),
            key: slot,
            at: now,
            armed: true,
        })
    }

    /// The answer of a decision: now, or once its write has run.
    fn act<'a>(&'a self, decision: Result<Decision, AuthError>) -> Authentication<'a> {
        let Decision {
            outcome,
            follow_up,
            client_ip,
            now,
        } = match decision {
            Ok(decision) => decision,
            Err(e) => return Answer::Now(Err(e)),
        };
        let Some((follow_up, claim)) = follow_up else {
            return Answer::Now(outcome.map_err(AuthError::Rejected));
        };
        Answer::later(async move {
            // The audit is now going to be written: the claim stands.
            if let Some(mut claim) = claim {
                claim.armed = false;
            }
            self.follow_up(follow_up, client_ip, now).await?;
            outcome.map_err(AuthError::Rejected)
        })
    }

    /// Runs a decision's write: a conditional last-used write (audited when
    /// it wrote), or a refusal's audit event.
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
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::{
        AuditLog, AuditQuery, MemoryAuditLog, api_key::NewApiKey, store::MemoryApiKeyStore,
    };

    #[test]
    fn a_refusal_is_audited_once_per_window() {
        let now = datetime!(2026-06-01 12:00 UTC);
        let minute = Duration::minutes(1);
        assert!(rejection_audit_due(None, now, minute));
        assert!(!rejection_audit_due(
            Some(now - Duration::seconds(59)),
            now,
            minute
        ));
        assert!(rejection_audit_due(Some(now - minute), now, minute));
    }

    /// A refusal decided but never awaited (a middleware's answer dropped
    /// before it ran) gives its audit-debounce slot back: the next refusal
    /// of that key is audited instead of being debounced away.
    #[tokio::test]
    async fn an_unawaited_refusal_does_not_swallow_the_audit() {
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
        let header = format!("Bearer {}", created.key.expose_secret());
        let request = AuthRequest::new(Some(&header), Some("acme"), None);
        let none = ScopeSet::empty();
        let rejected = || async {
            audit
                .query(&AuditQuery::tenant(acme.clone()))
                .await
                .unwrap()
                .iter()
                .filter(|e| e.kind.as_str() == "key_rejected")
                .count()
        };

        let answer = keys.authenticate(&request, &none);
        assert!(matches!(answer, Answer::Later(_)), "an audit write is due");
        drop(answer);
        assert_eq!(rejected().await, 0);

        let r = keys.authenticate(&request, &none).await;
        assert!(matches!(r, Err(AuthError::Rejected(Rejection::Revoked))));
        assert_eq!(rejected().await, 1, "audited after the dropped answer");
        // Within the window, further refusals are debounced as before.
        let r = keys.authenticate(&request, &none).await;
        assert!(matches!(r, Err(AuthError::Rejected(Rejection::Revoked))));
        assert_eq!(rejected().await, 1);
    }
}
