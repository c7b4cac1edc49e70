//! Conformance of [`ApiKeyStore`] implementations.

use crate::testkit::report::{Report, Suite, check, check_eq};
use std::{net::IpAddr, sync::Arc};

use time::Duration;

use super::fixtures::{
    RACERS, at, conflict, digest, full_key, key, key_id, near, ok, other_version, race, tenant,
};
use crate::api_key::{ApiKeyRecord, ApiKeyStore, RevokeOutcome, RotateOutcome};

/// Checks an [`ApiKeyStore`]: round trips, conflicts, tenant isolation,
/// revocation, every rotation outcome, and the conditional last-used write,
/// including races of 32 concurrent callers.
///
/// # Panics
///
/// After the whole run, when the store broke any rule: the message lists
/// every violation, each with the check and the kit's line that found it.
pub async fn api_key_store<S: ApiKeyStore + ?Sized>(store: Arc<S>) {
    Report::assert_passed(&[report(store).await]);
}

/// The checks of [`api_key_store`], reported.
pub(super) async fn report<S: ApiKeyStore + ?Sized>(store: Arc<S>) -> Report {
    let mut suite = Suite::new("api_key_store");
    suite
        .run(
            "round_trips_and_isolation",
            round_trips_and_isolation(&*store),
        )
        .await;
    suite.run("conflicts", conflicts(&*store)).await;
    suite.run("revoke", revoke(&*store)).await;
    suite.run("rotate", rotate(&*store)).await;
    suite.run("touch_last_used", touch_last_used(&*store)).await;
    suite.run("races", races(store)).await;
    suite.finish()
}

fn by_id(mut v: Vec<ApiKeyRecord>) -> Vec<ApiKeyRecord> {
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

async fn get<S: ApiKeyStore + ?Sized>(store: &S, r: &ApiKeyRecord) -> Option<ApiKeyRecord> {
    ok("ApiKeyStore::get", store.get(&r.tenant, &r.id).await)
}

async fn round_trips_and_isolation<S: ApiKeyStore + ?Sized>(store: &S) {
    let (a, b) = (tenant("a"), tenant("b"));
    let a1 = key(&a, "a1");
    let a2 = full_key(&a);
    let b1 = key(&b, "b1");
    for r in [&a1, &a2, &b1] {
        ok("ApiKeyStore::insert", store.insert(r).await);
    }
    for r in [&a1, &a2, &b1] {
        check_eq!(
            get(store, r).await.as_ref(),
            Some(r),
            "store conformance: ApiKeyStore::get must return the record as inserted, every field"
        );
        check_eq!(
            ok(
                "ApiKeyStore::find_by_digest",
                store.find_by_digest(r.digest).await
            )
            .as_deref(),
            Some(r),
            "store conformance: ApiKeyStore::find_by_digest must find the record, in any tenant"
        );
    }
    check_eq!(
        ok("ApiKeyStore::get", store.get(&b, &a1.id).await),
        None,
        "store conformance: ApiKeyStore::get must not return another tenant's key"
    );
    check_eq!(
        ok("ApiKeyStore::get", store.get(&a, &key_id()).await),
        None,
        "store conformance: ApiKeyStore::get of an unknown id must be None"
    );
    check_eq!(
        ok(
            "ApiKeyStore::find_by_digest",
            store.find_by_digest(digest()).await
        )
        .as_deref(),
        None,
        "store conformance: ApiKeyStore::find_by_digest of an unknown digest must be None"
    );
    check_eq!(
        ok(
            "ApiKeyStore::find_by_digest",
            store.find_by_digest(other_version(&a1.digest)).await
        )
        .as_deref(),
        None,
        "store conformance: ApiKeyStore::find_by_digest must match the digest version too"
    );
    check_eq!(
        ok(
            "ApiKeyStore::find_by_digest",
            store.find_by_digest(near(&a1.digest)).await
        )
        .as_deref(),
        None,
        "store conformance: ApiKeyStore::find_by_digest must compare the whole digest \
         (one bit differs)"
    );
    check_eq!(
        by_id(ok("ApiKeyStore::list", store.list(&a).await)),
        by_id(vec![a1.clone(), a2.clone()]),
        "store conformance: ApiKeyStore::list must return exactly the tenant's keys"
    );
    check_eq!(
        ok("ApiKeyStore::list", store.list(&b).await),
        vec![b1.clone()],
        "store conformance: ApiKeyStore::list must return exactly the tenant's keys"
    );
    check!(
        ok("ApiKeyStore::list", store.list(&tenant("empty")).await).is_empty(),
        "store conformance: ApiKeyStore::list of a tenant without keys must be empty"
    );
}

async fn conflicts<S: ApiKeyStore + ?Sized>(store: &S) {
    let (a, b) = (tenant("a"), tenant("b"));
    let k = key(&a, "k");
    ok("ApiKeyStore::insert", store.insert(&k).await);
    conflict(
        "ApiKeyStore::insert of the same record twice",
        store.insert(&k).await,
    );
    let same_id = ApiKeyRecord {
        digest: digest(),
        ..k.clone()
    };
    conflict(
        "ApiKeyStore::insert of an existing id",
        store.insert(&same_id).await,
    );
    let same_id_other_tenant = ApiKeyRecord {
        tenant: b.clone(),
        digest: digest(),
        ..k.clone()
    };
    conflict(
        "ApiKeyStore::insert of an existing id in another tenant",
        store.insert(&same_id_other_tenant).await,
    );
    let same_digest = ApiKeyRecord {
        id: key_id(),
        ..k.clone()
    };
    conflict(
        "ApiKeyStore::insert of an existing digest",
        store.insert(&same_digest).await,
    );
    check_eq!(
        ok("ApiKeyStore::list", store.list(&a).await),
        vec![k.clone()],
        "store conformance: a refused ApiKeyStore::insert must store nothing"
    );
    check!(
        ok("ApiKeyStore::list", store.list(&b).await).is_empty(),
        "store conformance: a refused ApiKeyStore::insert must store nothing"
    );
    check_eq!(get(store, &k).await.as_ref(), Some(&k));
}

async fn revoke<S: ApiKeyStore + ?Sized>(store: &S) {
    let (a, b) = (tenant("a"), tenant("b"));
    let k = key(&a, "to-revoke");
    ok("ApiKeyStore::insert", store.insert(&k).await);
    let revoked = ApiKeyRecord {
        revoked_at: Some(at(10)),
        ..k.clone()
    };
    check_eq!(
        ok("ApiKeyStore::revoke", store.revoke(&b, &k.id, at(9)).await),
        RevokeOutcome::NotFound,
        "store conformance: ApiKeyStore::revoke must not find another tenant's key"
    );
    check_eq!(
        get(store, &k).await.as_ref(),
        Some(&k),
        "store conformance: ApiKeyStore::revoke in another tenant must change nothing"
    );
    check_eq!(
        ok("ApiKeyStore::revoke", store.revoke(&a, &k.id, at(10)).await),
        RevokeOutcome::Revoked(Box::new(revoked.clone())),
        "store conformance: ApiKeyStore::revoke must set revoked_at and return the updated record"
    );
    check_eq!(
        ok("ApiKeyStore::revoke", store.revoke(&a, &k.id, at(20)).await),
        RevokeOutcome::AlreadyRevoked(Box::new(revoked.clone())),
        "store conformance: a second ApiKeyStore::revoke must say AlreadyRevoked and keep the \
         first revoked_at"
    );
    check_eq!(get(store, &k).await.as_ref(), Some(&revoked));
    check_eq!(
        ok(
            "ApiKeyStore::find_by_digest",
            store.find_by_digest(k.digest).await
        )
        .as_deref(),
        Some(&revoked),
        "store conformance: after ApiKeyStore::revoke, lookups by digest must see revoked_at"
    );
    check_eq!(
        ok(
            "ApiKeyStore::revoke",
            store.revoke(&a, &key_id(), at(10)).await
        ),
        RevokeOutcome::NotFound,
        "store conformance: ApiKeyStore::revoke of an unknown id must be NotFound"
    );
}

async fn rotate<S: ApiKeyStore + ?Sized>(store: &S) {
    let (a, b) = (tenant("a"), tenant("b"));
    let old = key(&a, "old");
    ok("ApiKeyStore::insert", store.insert(&old).await);
    let successor = ApiKeyRecord {
        rotated_from: Some(old.id.clone()),
        created_at: at(100),
        ..key(&a, "old")
    };
    let grace = Some(at(100 + 86_400));

    // Wrong tenant, unknown id: nothing stored.
    for (tenant, id) in [(&b, &old.id), (&a, &key_id())] {
        check_eq!(
            ok(
                "ApiKeyStore::rotate",
                store.rotate(tenant, id, &successor, grace, at(100)).await
            ),
            RotateOutcome::NotFound,
            "store conformance: ApiKeyStore::rotate of a key not in the tenant must be NotFound"
        );
    }
    check_eq!(
        ok("ApiKeyStore::get", store.get(&a, &successor.id).await),
        None,
        "store conformance: ApiKeyStore::rotate that is NotFound must store nothing"
    );

    let rotated = ApiKeyRecord {
        rotated_to: Some(successor.id.clone()),
        rotated_at: Some(at(100)),
        expires_at: grace,
        ..old.clone()
    };
    check_eq!(
        ok(
            "ApiKeyStore::rotate",
            store.rotate(&a, &old.id, &successor, grace, at(100)).await
        ),
        RotateOutcome::Rotated(Box::new(rotated.clone())),
        "store conformance: ApiKeyStore::rotate must set rotated_to, rotated_at and expires_at \
         and return the updated old record"
    );
    check_eq!(get(store, &old).await.as_ref(), Some(&rotated));
    check_eq!(
        get(store, &successor).await.as_ref(),
        Some(&successor),
        "store conformance: ApiKeyStore::rotate must store the successor"
    );
    check_eq!(
        ok(
            "ApiKeyStore::find_by_digest",
            store.find_by_digest(successor.digest).await
        )
        .as_deref(),
        Some(&successor)
    );

    // A second rotation of the same key.
    let second = key(&a, "second");
    check_eq!(
        ok(
            "ApiKeyStore::rotate",
            store.rotate(&a, &old.id, &second, None, at(200)).await
        ),
        RotateOutcome::AlreadyRotated(successor.id.clone()),
        "store conformance: rotating a rotated key must say AlreadyRotated(successor)"
    );
    check_eq!(
        get(store, &second).await,
        None,
        "store conformance: ApiKeyStore::rotate that is AlreadyRotated must store nothing"
    );
    check_eq!(get(store, &old).await.as_ref(), Some(&rotated));

    // A revoked key.
    let gone = key(&a, "revoked");
    ok("ApiKeyStore::insert", store.insert(&gone).await);
    ok(
        "ApiKeyStore::revoke",
        store.revoke(&a, &gone.id, at(50)).await,
    );
    let third = key(&a, "third");
    check_eq!(
        ok(
            "ApiKeyStore::rotate",
            store.rotate(&a, &gone.id, &third, None, at(200)).await
        ),
        RotateOutcome::Revoked,
        "store conformance: rotating a revoked key must say Revoked"
    );
    check_eq!(
        get(store, &third).await,
        None,
        "store conformance: ApiKeyStore::rotate that is Revoked must store nothing"
    );

    // A successor that cannot be stored: the old key stays unrotated.
    let live = key(&a, "live");
    ok("ApiKeyStore::insert", store.insert(&live).await);
    let taken_id = ApiKeyRecord {
        id: successor.id.clone(),
        digest: digest(),
        ..key(&a, "dup")
    };
    let taken_digest = ApiKeyRecord {
        digest: successor.digest,
        ..key(&a, "dup")
    };
    for bad in [&taken_id, &taken_digest] {
        conflict(
            "ApiKeyStore::rotate with a successor whose id or digest exists",
            store.rotate(&a, &live.id, bad, None, at(300)).await,
        );
        check_eq!(
            get(store, &live).await.as_ref(),
            Some(&live),
            "store conformance: a failed ApiKeyStore::rotate must leave the old key unrotated"
        );
    }
    check_eq!(get(store, &successor).await.as_ref(), Some(&successor));
}

async fn touch_last_used<S: ApiKeyStore + ?Sized>(store: &S) {
    let a = tenant("a");
    let k = key(&a, "used");
    ok("ApiKeyStore::insert", store.insert(&k).await);
    let window = Duration::seconds(60);
    let ip1: IpAddr = [10, 1, 2, 3].into();
    let ip2: IpAddr = [0x2001, 0xdb8, 0, 0, 0, 0, 0, 9].into();
    let touch = |t: i64, ip: Option<IpAddr>| {
        let id = k.id.clone();
        async move {
            ok(
                "ApiKeyStore::touch_last_used",
                store.touch_last_used(&id, at(t), ip, at(t) - window).await,
            )
        }
    };
    let expect = |t: i64, ip: Option<IpAddr>| ApiKeyRecord {
        last_used_at: Some(at(t)),
        last_used_ip: ip,
        ..k.clone()
    };

    check!(
        touch(1000, Some(ip1)).await,
        "store conformance: ApiKeyStore::touch_last_used must write when last_used_at is unset"
    );
    check_eq!(get(store, &k).await, Some(expect(1000, Some(ip1))));
    check!(
        !touch(1010, Some(ip2)).await,
        "store conformance: ApiKeyStore::touch_last_used must not write when last_used_at is \
         later than stale_before"
    );
    check_eq!(get(store, &k).await, Some(expect(1000, Some(ip1))));
    check!(
        touch(1060, Some(ip2)).await,
        "store conformance: ApiKeyStore::touch_last_used must write when last_used_at equals \
         stale_before"
    );
    check_eq!(get(store, &k).await, Some(expect(1060, Some(ip2))));
    check!(touch(2000, None).await);
    check_eq!(
        get(store, &k).await,
        Some(expect(2000, None)),
        "store conformance: ApiKeyStore::touch_last_used must record a missing IP as None"
    );
    let unknown = key_id();
    check!(
        !ok(
            "ApiKeyStore::touch_last_used",
            store.touch_last_used(&unknown, at(1), None, at(0)).await
        ),
        "store conformance: ApiKeyStore::touch_last_used of an unknown id must return false"
    );
}

async fn races<S: ApiKeyStore + ?Sized>(store: Arc<S>) {
    let a = tenant("race");

    // 32 callers touch one key in the same window: one write.
    let k = key(&a, "touched");
    ok("ApiKeyStore::insert", store.insert(&k).await);
    let wrote = race("touch_last_used", |i| {
        let (store, id) = (store.clone(), k.id.clone());
        async move {
            let ip = IpAddr::from([10, 0, 0, u8::try_from(i).unwrap_or(0)]);
            ok(
                "ApiKeyStore::touch_last_used",
                store
                    .touch_last_used(&id, at(500), Some(ip), at(500) - Duration::seconds(60))
                    .await,
            )
        }
    })
    .await;
    check_eq!(
        wrote.iter().filter(|w| **w).count(),
        1,
        "store conformance: ApiKeyStore::touch_last_used must write exactly once among {RACERS} \
         concurrent callers in one window"
    );

    // 32 callers revoke one key: one Revoked.
    let k = key(&a, "revoked");
    ok("ApiKeyStore::insert", store.insert(&k).await);
    let outcomes = race("revoke", |i| {
        let (store, a, id) = (store.clone(), a.clone(), k.id.clone());
        async move {
            let t = at(600 + i64::try_from(i).unwrap_or(0));
            ok("ApiKeyStore::revoke", store.revoke(&a, &id, t).await)
        }
    })
    .await;
    let firsts: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            RevokeOutcome::Revoked(r) => Some(r.revoked_at),
            _ => None,
        })
        .collect();
    check_eq!(
        firsts.len(),
        1,
        "store conformance: ApiKeyStore::revoke must say Revoked exactly once among {RACERS} \
         concurrent callers"
    );
    for o in &outcomes {
        if let (RevokeOutcome::AlreadyRevoked(r), [first]) = (o, firsts.as_slice()) {
            check_eq!(
                r.revoked_at,
                *first,
                "store conformance: AlreadyRevoked must carry the first revoked_at"
            );
        }
    }

    // 32 callers rotate one key, each with its own successor: one is stored.
    let old = key(&a, "rotated");
    ok("ApiKeyStore::insert", store.insert(&old).await);
    let successors: Vec<ApiKeyRecord> = (0..RACERS).map(|_| key(&a, "successor")).collect();
    let outcomes = race("rotate", |i| {
        let (store, a, id, s) = (
            store.clone(),
            a.clone(),
            old.id.clone(),
            successors[i].clone(),
        );
        async move {
            ok(
                "ApiKeyStore::rotate",
                store.rotate(&a, &id, &s, None, at(700)).await,
            )
        }
    })
    .await;
    let winners: Vec<usize> = (0..RACERS)
        .filter(|i| matches!(outcomes[*i], RotateOutcome::Rotated(_)))
        .collect();
    check_eq!(
        winners.len(),
        1,
        "store conformance: ApiKeyStore::rotate must say Rotated exactly once among {RACERS} \
         concurrent callers"
    );
    let [w] = winners[..] else {
        return; // Recorded above; the rest needs one winner.
    };
    let winner = &successors[w];
    for (i, (o, s)) in outcomes.iter().zip(&successors).enumerate() {
        let stored = ok("ApiKeyStore::get", store.get(&a, &s.id).await);
        if i == w {
            check_eq!(stored.as_ref(), Some(s));
        } else {
            check_eq!(
                o,
                &RotateOutcome::AlreadyRotated(winner.id.clone()),
                "store conformance: the losers of a rotation race must say AlreadyRotated(winner)"
            );
            check_eq!(
                stored,
                None,
                "store conformance: a losing ApiKeyStore::rotate must store nothing"
            );
        }
    }
}
