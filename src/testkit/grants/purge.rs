//! Purging expired records.

use crate::testkit::report::{check, check_eq};
use time::{Duration, OffsetDateTime, macros::datetime};

use super::{
    super::fixtures::{access, code, family, ok, refresh, tenant},
    find_access, find_code, find_refresh, insert, insert_code, revoke_family, tokens,
};
use crate::oauth::{
    ConsumeCode, FamilyId, GrantStore, InsertTokens, MAX_CODE_TTL, RefreshTokenRecord,
};

/// Purging, on records dated in 2001 (the rest of the suite is in 2030).
pub(super) async fn purge_expired<S: GrantStore + ?Sized>(store: &S) {
    let now: OffsetDateTime = datetime!(2001-01-01 00:00 UTC);
    let s = Duration::seconds(1);
    let t = tenant("purge");

    // Tokens: past expiry (or the family's) → gone; at or after now → kept.
    let f = family();
    let expired_access = access(&t, &f, now - s);
    let boundary_access = access(&t, &f, now);
    let live_access = access(&t, &f, now + Duration::hours(1));
    let expired_refresh = refresh(&t, &f, now - s);
    let family_expired = RefreshTokenRecord {
        family_expires_at: now - s,
        ..refresh(&t, &f, now + Duration::hours(1))
    };
    let live_refresh = refresh(&t, &f, now + Duration::hours(1));
    insert(store, tokens(&expired_access, Some(&expired_refresh))).await;
    insert(store, tokens(&boundary_access, Some(&family_expired))).await;
    insert(store, tokens(&live_access, Some(&live_refresh))).await;

    // Codes: an expired unconsumed code → gone; an unexpired one → kept.
    let expired_code = code(&t, &family(), now - Duration::minutes(2));
    let fresh_code = code(&t, &family(), now - s);
    for c in [&expired_code, &fresh_code] {
        insert_code(store, c).await;
    }
    // An expired consumed code whose family has a live refresh token → kept
    // (a late replay must still revoke what it issued).
    let kept_family = family();
    let kept_code = code(&t, &kept_family, now - Duration::minutes(2));
    insert_code(store, &kept_code).await;
    let (ka, kr) = (
        access(&t, &kept_family, now - s),
        refresh(&t, &kept_family, now + Duration::days(1)),
    );
    check!(matches!(
        ok(
            "GrantStore::consume_code",
            store
                .consume_code(
                    &kept_code.digest,
                    now - Duration::minutes(2),
                    tokens(&ka, Some(&kr))
                )
                .await
        ),
        ConsumeCode::Consumed
    ));
    // An expired consumed code whose family's refresh tokens are revoked → gone.
    let dead_family = family();
    let dead_code = code(&t, &dead_family, now - Duration::minutes(2));
    insert_code(store, &dead_code).await;
    let (da, dr) = (
        access(&t, &dead_family, now + Duration::hours(1)),
        refresh(&t, &dead_family, now + Duration::days(1)),
    );
    ok(
        "GrantStore::consume_code",
        store
            .consume_code(
                &dead_code.digest,
                now - Duration::minutes(2),
                tokens(&da, Some(&dr)),
            )
            .await,
    );
    revoke_family(store, &dead_family, now - s).await;

    // A family revoked a minute ago whose tokens all expired: its marker stays.
    let marked: FamilyId = family();
    let ma = access(&t, &marked, now - s);
    insert(store, tokens(&ma, None)).await;
    revoke_family(store, &marked, now - Duration::minutes(1)).await;
    check!(MAX_CODE_TTL > Duration::minutes(1));

    let removed = ok("GrantStore::purge_expired", store.purge_expired(now).await);
    check!(
        removed >= 7,
        "store conformance: GrantStore::purge_expired must count what it removed (at least 7 of \
         the suite's records, said {removed})"
    );
    let gone = "store conformance: GrantStore::purge_expired must remove what expired before the \
                given time";
    let kept = "store conformance: GrantStore::purge_expired must keep what expires at or after \
                the given time";
    check_eq!(
        find_access(store, &expired_access.digest).await,
        None,
        "{gone}"
    );
    check_eq!(find_access(store, &ka.digest).await, None, "{gone}");
    check_eq!(find_access(store, &ma.digest).await, None, "{gone}");
    check_eq!(
        find_refresh(store, &expired_refresh.digest).await,
        None,
        "{gone}"
    );
    check_eq!(
        find_refresh(store, &family_expired.digest).await,
        None,
        "store conformance: GrantStore::purge_expired must remove refresh tokens whose family \
         expired"
    );
    check_eq!(find_code(store, &expired_code.digest).await, None, "{gone}");
    check!(
        find_access(store, &boundary_access.digest).await.is_some(),
        "{kept}"
    );
    check!(
        find_access(store, &live_access.digest).await.is_some(),
        "{kept}"
    );
    check!(
        find_refresh(store, &live_refresh.digest).await.is_some(),
        "{kept}"
    );
    check!(
        find_code(store, &fresh_code.digest).await.is_some(),
        "{kept}"
    );
    check!(
        find_access(store, &da.digest).await.is_some()
            && find_refresh(store, &dr.digest).await.is_some(),
        "store conformance: GrantStore::purge_expired must keep revoked tokens until they expire"
    );
    check!(
        find_code(store, &kept_code.digest).await.is_some(),
        "store conformance: GrantStore::purge_expired must keep a consumed code while its family \
         has a live refresh token"
    );
    check_eq!(
        find_code(store, &dead_code.digest).await,
        None,
        "store conformance: GrantStore::purge_expired must remove an expired consumed code whose \
         family has no live refresh token"
    );
    let late = access(&t, &marked, now + Duration::hours(1));
    check_eq!(
        ok(
            "GrantStore::insert_tokens",
            store.insert_tokens(tokens(&late, None)).await
        ),
        InsertTokens::FamilyRevoked,
        "store conformance: GrantStore::purge_expired must keep a revoked family's marker for at \
         least MAX_CODE_TTL after its revocation"
    );
}
