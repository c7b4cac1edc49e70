//! Key administration: create, get, list, rotate, revoke, and the
//! rotation-traffic check of the product's rotation flow.
//!
//! The decisions are pure functions beside their drivers:
//! [`plan_rotation`] (may this key rotate now, and when does it stop
//! working) and [`rotation_traffic`] (is the old key still used?). The
//! store decides the races (a concurrent rotation or revocation) atomically.

use serde::Deserialize;
use time::{Duration, OffsetDateTime};

use super::{
    ApiKeyInfo, ApiKeyRecord, ApiKeys, Environment, IpAllowlist, KeyId, RevokeOutcome,
    RotateOutcome,
};
use crate::{ApiKeySecret, AuditEventKind, ScopeSet, StoreError, TenantId, audit::Actor};

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

/// What a rotation of `old` with `options` does at `now`: the old key's new
/// expiry (`None`: it works until revoked), or why it is refused. Pure, and
/// decided before the successor is drawn.
///
/// The old key stops working at the earlier of its own expiry and the end
/// of `options.grace`; an expired key cannot be rotated (create a new one);
/// a grace or new expiry must not lie in the past. Whether the key is
/// revoked or already rotated is decided by the store, atomically with the
/// rotation.
///
/// # Errors
///
/// [`ApiKeyError::Invalid`] for a negative or overflowing grace, an expiry
/// not in the future, or an expired key.
pub fn plan_rotation(
    old: &ApiKeyRecord,
    options: &RotateOptions,
    now: OffsetDateTime,
) -> Result<Option<OffsetDateTime>, ApiKeyError> {
    check_rotate_options(options, now)?;
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
    Ok(match (old.expires_at, grace_end) {
        (Some(e), Some(g)) => Some(e.min(g)),
        (e, g) => e.or(g),
    })
}

/// The part of [`plan_rotation`] that needs no key: a grace that is not
/// negative, a new expiry in the future.
fn check_rotate_options(options: &RotateOptions, now: OffsetDateTime) -> Result<(), ApiKeyError> {
    if options.grace.is_some_and(|g| g.is_negative()) {
        return Err(ApiKeyError::Invalid("grace must not be negative"));
    }
    if options.expires_at.is_some_and(|at| at <= now) {
        return Err(ApiKeyError::Invalid("expires_at must be in the future"));
    }
    Ok(())
}

/// Whether a rotated-out key has been used since its successor was created
/// (the product's "confirm no traffic on the old key" step). Pure.
///
/// Exact, because the first use of a rotated-out key is always written
/// ([`super::last_used_write_due`]), whatever the last-used window.
pub fn rotation_traffic(record: &ApiKeyRecord) -> RotationTraffic {
    let (Some(successor), Some(rotated_at)) = (record.rotated_to.clone(), record.rotated_at) else {
        return RotationTraffic::NotRotated;
    };
    match record.last_used_at {
        Some(last_used_at) if last_used_at >= rotated_at => RotationTraffic::StillUsed {
            successor,
            rotated_at,
            last_used_at,
        },
        _ => RotationTraffic::Quiet {
            successor,
            rotated_at,
        },
    }
}

impl ApiKeys {
    /// Creates a key. The plaintext is in the result and nowhere else.
    ///
    /// # Errors
    ///
    /// [`ApiKeyError::Invalid`] for a bad name or an expiry not in the future;
    /// [`ApiKeyError::Store`] when the store fails.
    pub async fn create(
        &self,
        tenant: &TenantId,
        new: NewApiKey,
        actor: &Actor,
    ) -> Result<CreatedApiKey, ApiKeyError> {
        crate::names::check_display_name(&new.name).map_err(ApiKeyError::Invalid)?;
        let now = self.now();
        if new.expires_at.is_some_and(|at| at <= now) {
            return Err(ApiKeyError::Invalid("expires_at must be in the future"));
        }
        let (key, record) = self.new_record(tenant, &new, None, now);
        self.store.insert(&record).await?;
        self.emit(
            &record,
            actor,
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
        Ok(record.info(self.now()))
    }

    /// Every key of `tenant`, newest first, without secrets, with last use and
    /// whether rotation is due.
    ///
    /// # Errors
    ///
    /// [`ApiKeyError::Store`] when the store fails.
    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<ApiKeyInfo>, ApiKeyError> {
        let now = self.now();
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
    /// tells whether the old key still gets traffic. The rule is
    /// [`plan_rotation`].
    ///
    /// # Errors
    ///
    /// [`ApiKeyError::NotFound`], [`ApiKeyError::Revoked`],
    /// [`ApiKeyError::AlreadyRotated`] (rotate the successor instead), or
    /// [`ApiKeyError::Invalid`] (see [`plan_rotation`]).
    pub async fn rotate(
        &self,
        tenant: &TenantId,
        id: &KeyId,
        options: RotateOptions,
        actor: &Actor,
    ) -> Result<CreatedApiKey, ApiKeyError> {
        let now = self.now();
        // Wrong options are refused whatever the key, before it is read.
        check_rotate_options(&options, now)?;
        let old = self.get_record(tenant, id).await?;
        let old_expires_at = plan_rotation(&old, &options, now)?;
        let new = NewApiKey {
            name: old.name.clone(),
            scopes: old.scopes.clone(),
            ip_allowlist: old.ip_allowlist.clone(),
            expires_at: options.expires_at,
            environment: old.environment,
        };
        let (key, successor) = self.new_record(tenant, &new, Some(old.id.clone()), now);
        match self
            .store
            .rotate(tenant, id, &successor, old_expires_at, now)
            .await?
        {
            RotateOutcome::Rotated(old) => {
                let rotated = AuditEventKind::KeyRotated {
                    successor: successor.id.clone(),
                    old_key_expires_at: old_expires_at,
                };
                self.emit(&old, actor, now, rotated).await;
                let created = AuditEventKind::KeyCreated {
                    name: successor.name.clone(),
                    scopes: successor.scopes.clone(),
                };
                self.emit(&successor, actor, now, created).await;
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
        let now = self.now();
        match self.store.revoke(tenant, id, now).await? {
            RevokeOutcome::Revoked(record) => {
                self.emit(&record, actor, now, AuditEventKind::KeyRevoked)
                    .await;
                Ok(record.info(now))
            }
            RevokeOutcome::AlreadyRevoked(record) => Ok(record.info(now)),
            RevokeOutcome::NotFound => Err(ApiKeyError::NotFound),
        }
    }

    /// Whether a rotated-out key has been used since its successor was
    /// created: [`rotation_traffic`] of the stored key.
    ///
    /// # Errors
    ///
    /// [`ApiKeyError::NotFound`] if the tenant has no such key.
    pub async fn rotation_traffic(
        &self,
        tenant: &TenantId,
        id: &KeyId,
    ) -> Result<RotationTraffic, ApiKeyError> {
        Ok(rotation_traffic(&self.get_record(tenant, id).await?))
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

    fn key() -> ApiKeyRecord {
        let created = NOW - Duration::days(30);
        ApiKeyRecord {
            id: KeyId::parse("key_old").unwrap(),
            tenant: "acme".parse().unwrap(),
            name: "sync".into(),
            environment: Environment::Live,
            scopes: "documents:read".parse().unwrap(),
            ip_allowlist: IpAllowlist::default(),
            digest: crate::SecretHasher::sha256().digest(b"pk_live_x"),
            hint: "pk_live_x…".into(),
            created_at: created,
            rotation_due_at: created + Duration::days(90),
            rotated_at: None,
            rotated_from: None,
            rotated_to: None,
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
            last_used_ip: None,
        }
    }

    fn grace(seconds: i64) -> RotateOptions {
        RotateOptions::default().with_grace(Duration::seconds(seconds))
    }

    #[test]
    fn a_rotated_key_works_until_revoked_or_its_grace_ends() {
        let ends = |old: &ApiKeyRecord, options: &RotateOptions| {
            plan_rotation(old, options, NOW).map_err(|e| e.to_string())
        };
        assert_eq!(ends(&key(), &RotateOptions::default()), Ok(None));
        assert_eq!(
            ends(&key(), &grace(3600)),
            Ok(Some(NOW + Duration::hours(1)))
        );
        // The earlier of its own expiry and the grace.
        let expiring = ApiKeyRecord {
            expires_at: Some(NOW + Duration::minutes(10)),
            ..key()
        };
        assert_eq!(
            ends(&expiring, &grace(3600)),
            Ok(Some(NOW + Duration::minutes(10)))
        );
        assert_eq!(
            ends(&expiring, &RotateOptions::default()),
            Ok(Some(NOW + Duration::minutes(10)))
        );
    }

    #[test]
    fn rotations_refused_before_a_successor_is_drawn() {
        let expired = ApiKeyRecord {
            expires_at: Some(NOW),
            ..key()
        };
        assert!(matches!(
            plan_rotation(&expired, &RotateOptions::default(), NOW),
            Err(ApiKeyError::Invalid(_))
        ));
        assert!(matches!(
            plan_rotation(&key(), &grace(-1), NOW),
            Err(ApiKeyError::Invalid(_))
        ));
        let past = RotateOptions {
            expires_at: Some(NOW),
            ..RotateOptions::default()
        };
        assert!(matches!(
            plan_rotation(&key(), &past, NOW),
            Err(ApiKeyError::Invalid(_))
        ));
        assert!(matches!(
            plan_rotation(&key(), &grace(i64::MAX / 2), NOW),
            Err(ApiKeyError::Invalid("grace is too long"))
        ));
    }

    #[test]
    fn rotation_traffic_is_quiet_until_the_old_key_is_used() {
        assert_eq!(rotation_traffic(&key()), RotationTraffic::NotRotated);
        let successor = KeyId::parse("key_next").unwrap();
        let rotated = ApiKeyRecord {
            rotated_to: Some(successor.clone()),
            rotated_at: Some(NOW),
            last_used_at: Some(NOW - Duration::seconds(1)),
            ..key()
        };
        assert_eq!(
            rotation_traffic(&rotated),
            RotationTraffic::Quiet {
                successor: successor.clone(),
                rotated_at: NOW
            }
        );
        let used = ApiKeyRecord {
            last_used_at: Some(NOW),
            ..rotated
        };
        assert_eq!(
            rotation_traffic(&used),
            RotationTraffic::StillUsed {
                successor,
                rotated_at: NOW,
                last_used_at: NOW
            }
        );
    }
}
