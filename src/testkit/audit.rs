//! Conformance of [`AuditLog`] implementations.

use crate::testkit::report::{Report, Suite, check, check_eq};
use std::{net::IpAddr, sync::Arc};

use super::fixtures::{at, client_id, family, key_id, ok, scopes, tenant};
use crate::{Actor, AuditEvent, AuditEventKind, AuditLog, AuditQuery, Rejection, TenantId};

/// Checks an [`AuditLog`]: every event kind and actor reads back as
/// recorded; queries are per tenant, optionally per key, newest first (ties
/// in reverse recording order) and limited.
///
/// # Panics
///
/// After the whole run, when the store broke any rule: the message lists
/// every violation, each with the check and the kit's line that found it.
pub async fn audit_log<S: AuditLog + ?Sized>(log: Arc<S>) {
    Report::assert_passed(&[report(log).await]);
}

/// The checks of [`audit_log`], reported.
pub(super) async fn report<S: AuditLog + ?Sized>(store: Arc<S>) -> Report {
    let mut suite = Suite::new("audit_log");
    suite.run("events_and_queries", checks(&*store)).await;
    suite.finish()
}

async fn checks<S: AuditLog + ?Sized>(store: &S) {
    let log = store;
    let (a, b) = (tenant("a"), tenant("b"));
    let (k1, k2) = (key_id(), key_id());
    let client = client_id();
    let fam = family();
    let v4: IpAddr = [203, 0, 113, 9].into();
    let v6: IpAddr = [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x42].into();
    let event = |t: i64, tenant: &TenantId, actor: Actor, kind: AuditEventKind| {
        AuditEvent::new(at(t), tenant.clone(), actor, kind)
    };

    // Tenant a's events, in the order recorded (times never decrease).
    let of_a = vec![
        event(
            0,
            &a,
            Actor::User {
                subject: "admin@example.com".to_owned(),
            },
            AuditEventKind::KeyCreated {
                name: "billing «sync»".to_owned(),
                scopes: scopes("documents:read"),
            },
        )
        .with_key(k1.clone())
        .with_ip(Some(v4)),
        event(
            1,
            &a,
            Actor::ApiKey { key_id: k2.clone() },
            AuditEventKind::KeyRotated {
                successor: k2.clone(),
                old_key_expires_at: Some(at(86_400)),
            },
        )
        .with_key(k1.clone()),
        event(2, &a, Actor::System, AuditEventKind::KeyUsed)
            .with_key(k2.clone())
            .with_ip(Some(v6)),
        // Same time as the previous event: recorded later, so newer.
        event(
            2,
            &a,
            Actor::System,
            AuditEventKind::KeyRejected {
                reason: Rejection::InsufficientScope {
                    required: scopes("documents:write"),
                },
            },
        )
        .with_key(k1.clone()),
        event(
            3,
            &a,
            Actor::System,
            AuditEventKind::KeyRejected {
                reason: Rejection::IpNotAllowed,
            },
        )
        .with_key(k2.clone()),
        event(
            4,
            &a,
            Actor::Operator {
                via: "admin-key command".to_owned(),
            },
            AuditEventKind::KeyRevoked,
        )
        .with_key(k2.clone()),
        event(5, &a, Actor::System, AuditEventKind::ClientRegistered).with_client(client.clone()),
        event(
            6,
            &a,
            Actor::Client {
                client_id: client.clone(),
            },
            AuditEventKind::ClientAuthFailed {
                reason: "bad secret".to_owned(),
            },
        )
        .with_client(client.clone()),
        event(
            7,
            &a,
            Actor::User {
                subject: "alice".to_owned(),
            },
            AuditEventKind::CodeIssued {
                scopes: scopes("documents:read openid"),
            },
        )
        .with_client(client.clone())
        .with_subject("alice"),
        event(8, &a, Actor::System, AuditEventKind::AuthorizationDenied).with_subject("bob"),
        event(
            9,
            &a,
            client_actor(&client),
            AuditEventKind::TokensIssued {
                family: fam.clone(),
                scopes: scopes("documents:read"),
            },
        ),
        event(
            10,
            &a,
            client_actor(&client),
            AuditEventKind::RefreshRotated {
                family: fam.clone(),
                scopes: scopes(""),
            },
        ),
        event(
            11,
            &a,
            client_actor(&client),
            AuditEventKind::CodeReplayDetected {
                family: fam.clone(),
                revoked: 3,
            },
        ),
        event(
            12,
            &a,
            client_actor(&client),
            AuditEventKind::RefreshReuseDetected {
                family: fam.clone(),
                revoked: 0,
            },
        ),
        event(
            13,
            &a,
            client_actor(&client),
            AuditEventKind::TokensRevoked {
                family: fam.clone(),
                revoked: u64::from(u32::MAX) + 1,
            },
        )
        .with_client(client.clone())
        .with_subject("alice")
        .with_ip(Some(v4)),
    ];
    let of_b = vec![
        event(0, &b, Actor::System, AuditEventKind::KeyUsed).with_key(k1.clone()),
        event(1, &b, Actor::System, AuditEventKind::KeyRevoked).with_key(k1.clone()),
    ];
    // Interleave the tenants' recording.
    let mut b_events = of_b.iter();
    for (i, e) in of_a.iter().enumerate() {
        ok("AuditSink::record", log.record(e.clone()).await);
        if i % 7 == 0
            && let Some(e) = b_events.next()
        {
            ok("AuditSink::record", log.record(e.clone()).await);
        }
    }

    let newest_first = |events: &[AuditEvent]| events.iter().rev().cloned().collect::<Vec<_>>();
    let query = |q: AuditQuery| async move { ok("AuditLog::query", log.query(&q).await) };

    check_eq!(
        query(AuditQuery::tenant(a.clone())).await,
        newest_first(&of_a),
        "store conformance: AuditLog::query must return the tenant's events as recorded, newest \
         first (ties: last recorded first)"
    );
    check_eq!(
        query(AuditQuery::tenant(b.clone())).await,
        newest_first(&of_b),
        "store conformance: AuditLog::query must return only the tenant's events"
    );
    let of_k1: Vec<AuditEvent> = of_a
        .iter()
        .filter(|e| e.key_id.as_ref() == Some(&k1))
        .cloned()
        .collect();
    check_eq!(
        query(AuditQuery::tenant(a.clone()).key(k1.clone())).await,
        newest_first(&of_k1),
        "store conformance: AuditLog::query with a key must return only that key's events of \
         the tenant"
    );
    check_eq!(
        query(AuditQuery::tenant(a.clone()).limit(3)).await,
        newest_first(&of_a)[..3].to_vec(),
        "store conformance: AuditLog::query must return at most `limit` events, the newest"
    );
    check_eq!(
        query(AuditQuery::tenant(a.clone()).key(k1.clone()).limit(1)).await,
        newest_first(&of_k1)[..1].to_vec()
    );
    check!(
        query(AuditQuery::tenant(a.clone()).limit(0))
            .await
            .is_empty()
    );
    check!(
        query(AuditQuery::tenant(b.clone()).key(k2.clone()))
            .await
            .is_empty(),
        "store conformance: AuditLog::query with a key must not return other tenants' events"
    );
    check!(query(AuditQuery::tenant(tenant("empty"))).await.is_empty());
}

fn client_actor(client: &crate::oauth::ClientId) -> Actor {
    Actor::Client {
        client_id: client.clone(),
    }
}
