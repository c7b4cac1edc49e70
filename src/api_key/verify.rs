//! The pure decision: may this key, presented by this tenant from this IP,
//! do this now?

use std::{net::IpAddr, sync::Arc};

use time::{Duration, OffsetDateTime};

use super::ApiKeyRecord;
use crate::{Digest, Principal, Rejection, ScopeSet, TenantId};

/// Decides whether `record` authenticates a request. Pure: no I/O, no clock.
///
/// Checks, in this order (the first failure is returned):
/// 1. the presented digest equals the record's (constant-time) → else [`Rejection::Unknown`];
/// 2. the record's tenant is the requested tenant → else [`Rejection::WrongTenant`]
///    (checked before anything else about the key, so that another tenant
///    learns nothing about it);
/// 3. not revoked → [`Rejection::Revoked`];
/// 4. not expired (`expires_at <= now`) → [`Rejection::Expired`];
/// 5. the client IP passes the allowlist → [`Rejection::IpNotAllowed`];
/// 6. the key holds every `required` scope → [`Rejection::InsufficientScope`].
///
/// # Examples
///
/// See [`crate::ApiKeys::authenticate`], which looks the record up and calls this.
///
/// # Errors
///
/// The [`Rejection`] of the first failed check.
pub fn verify(
    record: &Arc<ApiKeyRecord>,
    presented: &Digest,
    tenant: &TenantId,
    client_ip: Option<IpAddr>,
    required: &ScopeSet,
    now: OffsetDateTime,
) -> Result<Principal, Rejection> {
    verify_for(record, presented, tenant.as_str(), client_ip, required, now)
}

/// [`verify`] for a tenant name that was validated but not allocated (the
/// hot path reads it straight from the request header).
pub(crate) fn verify_for(
    record: &Arc<ApiKeyRecord>,
    presented: &Digest,
    tenant: &str,
    client_ip: Option<IpAddr>,
    required: &ScopeSet,
    now: OffsetDateTime,
) -> Result<Principal, Rejection> {
    if record.digest != *presented {
        return Err(Rejection::Unknown);
    }
    if record.tenant != *tenant {
        return Err(Rejection::WrongTenant);
    }
    if record.revoked_at.is_some() {
        return Err(Rejection::Revoked);
    }
    if record.expires_at.is_some_and(|at| at <= now) {
        return Err(Rejection::Expired);
    }
    if !record.ip_allowlist.allows(client_ip) {
        return Err(Rejection::IpNotAllowed);
    }
    if !record.scopes.contains_all(required) {
        return Err(Rejection::InsufficientScope {
            required: required.clone(),
        });
    }
    Ok(Principal::verified(Arc::clone(record) as _))
}

/// Whether a successful use at `now` should be written to the store, and if
/// so the `stale_before` bound for [`super::ApiKeyStore::touch_last_used`].
///
/// A write is due when the stored last use is `window` old or older, and
/// always for the first use after the key was rotated out, so that "has the
/// old key been used since its successor was created?" is answered exactly.
pub fn last_used_write_due(
    record: &ApiKeyRecord,
    now: OffsetDateTime,
    window: Duration,
) -> Option<OffsetDateTime> {
    // The common case first, with one subtraction: a use recorded within
    // the window (and after any rotation) needs no write.
    // (`now - last < window` is `last > now - window`, without the costlier
    // saturating date arithmetic.)
    if let Some(last) = record.last_used_at
        && now - last < window
        && record.rotated_at.is_none_or(|rotated| last > rotated)
    {
        return None;
    }
    let mut stale_before = now.saturating_sub(window);
    if let Some(rotated) = record.rotated_at {
        stale_before = stale_before.max(rotated);
    }
    match record.last_used_at {
        Some(last) if last > stale_before => None,
        _ => Some(stale_before),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        AuthMethod, SecretHasher,
        api_key::KeyId,
        api_key::{Environment, IpAllowlist},
    };
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

    fn record() -> ApiKeyRecord {
        ApiKeyRecord {
            id: KeyId::generate(),
            tenant: "acme".parse().unwrap(),
            name: "ci".into(),
            environment: Environment::Live,
            scopes: "documents:read documents:write".parse().unwrap(),
            ip_allowlist: IpAllowlist::parse(["10.0.0.0/8"]).unwrap(),
            digest: SecretHasher::sha256().digest(b"k"),
            hint: "pk_live_abcd…".into(),
            created_at: NOW - Duration::days(1),
            rotation_due_at: NOW + Duration::days(89),
            rotated_at: None,
            rotated_from: None,
            rotated_to: None,
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
            last_used_ip: None,
        }
    }

    fn check(
        r: &ApiKeyRecord,
        tenant: &str,
        ip: &str,
        scopes: &str,
    ) -> Result<Principal, Rejection> {
        verify(
            &Arc::new(r.clone()),
            &SecretHasher::sha256().digest(b"k"),
            &tenant.parse().unwrap(),
            Some(ip.parse().unwrap()),
            &scopes.parse().unwrap(),
            NOW,
        )
    }

    #[test]
    fn valid_key_yields_principal() {
        let r = record();
        let p = check(&r, "acme", "10.1.1.1", "documents:read").unwrap();
        assert_eq!(p.tenant().as_str(), "acme");
        assert_eq!(p.subject(), r.id.as_str());
        assert_eq!(p.scopes(), &r.scopes);
        assert_eq!(
            p.method(),
            AuthMethod::ApiKey {
                key_id: r.id.clone()
            }
        );
    }

    #[test]
    fn each_rejection() {
        let r = record();
        let other = verify(
            &Arc::new(r.clone()),
            &SecretHasher::sha256().digest(b"other"),
            &"acme".parse().unwrap(),
            None,
            &ScopeSet::empty(),
            NOW,
        );
        assert_eq!(other, Err(Rejection::Unknown));
        assert_eq!(
            check(&r, "globex", "10.1.1.1", ""),
            Err(Rejection::WrongTenant)
        );
        assert_eq!(
            check(&r, "acme", "11.1.1.1", ""),
            Err(Rejection::IpNotAllowed)
        );
        assert_eq!(
            check(&r, "acme", "10.1.1.1", "documents:read analytics:read"),
            Err(Rejection::InsufficientScope {
                required: "documents:read analytics:read".parse().unwrap()
            })
        );
        let mut revoked = record();
        revoked.revoked_at = Some(NOW);
        assert_eq!(
            check(&revoked, "acme", "10.1.1.1", ""),
            Err(Rejection::Revoked)
        );
        let mut expired = record();
        expired.expires_at = Some(NOW);
        assert_eq!(
            check(&expired, "acme", "10.1.1.1", ""),
            Err(Rejection::Expired)
        );
        expired.expires_at = Some(NOW + Duration::seconds(1));
        assert!(check(&expired, "acme", "10.1.1.1", "").is_ok());
    }

    #[test]
    fn wrong_tenant_hides_every_other_state() {
        let mut r = record();
        r.revoked_at = Some(NOW);
        r.expires_at = Some(NOW);
        assert_eq!(
            check(&r, "globex", "11.1.1.1", "x:y"),
            Err(Rejection::WrongTenant)
        );
    }

    #[test]
    fn last_used_writes_are_debounced_and_forced_after_rotation() {
        let w = Duration::seconds(60);
        let mut r = record();
        assert_eq!(last_used_write_due(&r, NOW, w), Some(NOW - w), "never used");
        r.last_used_at = Some(NOW - Duration::seconds(30));
        assert_eq!(
            last_used_write_due(&r, NOW, w),
            None,
            "used within the window"
        );
        r.last_used_at = Some(NOW - Duration::seconds(61));
        assert!(last_used_write_due(&r, NOW, w).is_some(), "window passed");
        // Rotated 10 s ago, last written 20 s ago: the first use since rotation is written.
        r.last_used_at = Some(NOW - Duration::seconds(20));
        r.rotated_at = Some(NOW - Duration::seconds(10));
        assert_eq!(
            last_used_write_due(&r, NOW, w),
            Some(NOW - Duration::seconds(10))
        );
        r.last_used_at = Some(NOW - Duration::seconds(5));
        assert_eq!(last_used_write_due(&r, NOW, w), None);
    }
}
