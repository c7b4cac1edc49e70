//! Refresh tokens: rotation, family handles, forgetting rotated tokens.

use crate::testkit::report::{check, check_eq};
use std::sync::Arc;

use super::{
    super::fixtures::{access, at, digest, family, near, ok, other_version, refresh, tenant},
    find_access, find_refresh, insert, revoke_family, rotate, tokens,
};
use crate::{
    Digest,
    oauth::{FamilyId, GrantStore, RefreshTokenRecord, RotateRefresh},
};

pub(super) async fn rotate_refresh<S: GrantStore + ?Sized>(store: &S) {
    let t = tenant("rotate");
    let f = family();
    let (a1, r1) = (access(&t, &f, at(3600)), refresh(&t, &f, at(86_400)));
    insert(store, tokens(&a1, Some(&r1))).await;

    let (a2, r2) = (access(&t, &f, at(7200)), refresh(&t, &f, at(90_000)));
    check_eq!(
        rotate(store, &r1.digest, tokens(&a2, Some(&r2)), at(60), at(60)).await,
        RotateRefresh::Rotated,
        "store conformance: GrantStore::rotate_refresh must say Rotated with the old record as \
         it was"
    );
    let used = RefreshTokenRecord {
        rotated_at: Some(at(60)),
        ..r1.clone()
    };
    check_eq!(
        find_refresh(store, &r1.digest).await.as_ref(),
        Some(&used),
        "store conformance: GrantStore::rotate_refresh must set the old token's rotated_at"
    );
    check_eq!(
        (
            find_access(store, &a2.digest).await.as_ref(),
            find_refresh(store, &r2.digest).await.as_ref()
        ),
        (Some(&a2), Some(&r2)),
        "store conformance: GrantStore::rotate_refresh must store the new tokens"
    );

    // Reuse of the old token.
    let (a3, r3) = (access(&t, &f, at(7200)), refresh(&t, &f, at(90_000)));
    check_eq!(
        rotate(store, &r1.digest, tokens(&a3, Some(&r3)), at(120), at(120)).await,
        RotateRefresh::AlreadyRotated(Box::new(used.clone())),
        "store conformance: reusing a rotated refresh token must say AlreadyRotated with its \
         record"
    );
    check_eq!(
        (
            find_access(store, &a3.digest).await,
            find_refresh(store, &r3.digest).await
        ),
        (None, None),
        "store conformance: GrantStore::rotate_refresh that is AlreadyRotated must store nothing"
    );

    // The new token rotates in turn.
    check!(matches!(
        rotate(store, &r2.digest, tokens(&a3, Some(&r3)), at(180), at(180)).await,
        RotateRefresh::Rotated
    ));

    // Unknown.
    let (a4, r4) = (access(&t, &f, at(7200)), refresh(&t, &f, at(90_000)));
    check_eq!(
        rotate(store, &digest(), tokens(&a4, Some(&r4)), at(180), at(180)).await,
        RotateRefresh::Unknown,
        "store conformance: GrantStore::rotate_refresh of an unknown token must say Unknown"
    );
    check_eq!(find_access(store, &a4.digest).await, None);

    // A token revoked on its own (its family is not).
    let g = family();
    let a5 = access(&t, &g, at(3600));
    let revoked = RefreshTokenRecord {
        revoked_at: Some(at(1)),
        ..refresh(&t, &g, at(86_400))
    };
    insert(store, tokens(&a5, Some(&revoked))).await;
    check_eq!(
        rotate(
            store,
            &revoked.digest,
            tokens(&a4, Some(&r4)),
            at(180),
            at(180)
        )
        .await,
        RotateRefresh::Revoked,
        "store conformance: GrantStore::rotate_refresh of a revoked token must say Revoked"
    );
    check_eq!(find_refresh(store, &r4.digest).await, None);
}

/// Refresh tokens with a family handle: found by it, and forgotten once
/// rotated before the time the server gives; tokens without one never are
/// (the `rotate_refresh` rule passes its rotation time).
pub(super) async fn refresh_handles<S: GrantStore + ?Sized>(store: &S) {
    let t = tenant("handles");
    let f = family();
    let h = digest();
    let with_handle = |expires: i64| RefreshTokenRecord {
        handle: Some(h),
        ..refresh(&t, &f, at(expires))
    };
    let by_handle = |d: Digest| async move {
        ok(
            "GrantStore::find_refresh_by_handle",
            store.find_refresh_by_handle(&d).await,
        )
        .map(Arc::unwrap_or_clone)
    };
    let r1 = with_handle(86_400);
    insert(store, tokens(&access(&t, &f, at(3600)), Some(&r1))).await;
    check_eq!(
        by_handle(h).await.as_ref(),
        Some(&r1),
        "store conformance: GrantStore::find_refresh_by_handle must find the family's token"
    );
    for other in [digest(), other_version(&h), near(&h)] {
        check_eq!(
            by_handle(other).await,
            None,
            "store conformance: GrantStore::find_refresh_by_handle must match the whole handle \
             digest, version included"
        );
    }
    let (t, f) = (&t, &f);
    // New tokens of family `g`: an access token and `refresh`.
    let next =
        |g: &FamilyId, refresh: &RefreshTokenRecord| tokens(&access(t, g, at(7200)), Some(refresh));
    // No grace: the old token is forgotten at once.
    let r2 = with_handle(90_000);
    check_eq!(
        rotate(store, &r1.digest, next(f, &r2), at(60), at(60)).await,
        RotateRefresh::Rotated
    );
    check_eq!(
        (
            find_refresh(store, &r1.digest).await,
            find_refresh(store, &r2.digest).await.as_ref()
        ),
        (None, Some(&r2)),
        "store conformance: GrantStore::rotate_refresh must delete the old token when it was \
         rotated at or before forget_rotated_before, and store the new one"
    );
    check_eq!(
        by_handle(h).await.as_ref(),
        Some(&r2),
        "store conformance: GrantStore::find_refresh_by_handle must answer with the newest token"
    );
    // A 30 s grace: the old token stays rotated until a later rotation
    // passes it.
    let r3 = with_handle(90_100);
    check_eq!(
        rotate(store, &r2.digest, next(f, &r3), at(120), at(90)).await,
        RotateRefresh::Rotated
    );
    check_eq!(
        find_refresh(store, &r2.digest)
            .await
            .and_then(|r| r.rotated_at),
        Some(at(120)),
        "store conformance: GrantStore::rotate_refresh must keep a token rotated after \
         forget_rotated_before"
    );
    let r4 = with_handle(90_200);
    check_eq!(
        rotate(store, &r3.digest, next(f, &r4), at(200), at(170)).await,
        RotateRefresh::Rotated
    );
    check_eq!(
        (
            find_refresh(store, &r2.digest).await,
            find_refresh(store, &r3.digest)
                .await
                .and_then(|r| r.rotated_at),
            find_refresh(store, &r4.digest).await.as_ref(),
        ),
        (None, Some(at(200)), Some(&r4)),
        "store conformance: GrantStore::rotate_refresh must delete the family's earlier \
         rotated tokens once rotated at or before forget_rotated_before, and only those"
    );
    // A failed rotation deletes nothing.
    check!(matches!(
        rotate(
            store,
            &r3.digest,
            next(f, &with_handle(90_300)),
            at(400),
            at(400)
        )
        .await,
        RotateRefresh::AlreadyRotated(_)
    ));
    check!(
        find_refresh(store, &r3.digest).await.is_some(),
        "store conformance: a GrantStore::rotate_refresh that is AlreadyRotated must delete nothing"
    );
    // Another family's handle finds that family only.
    let (g, h2) = (family(), digest());
    let other = RefreshTokenRecord {
        handle: Some(h2),
        ..refresh(t, &g, at(86_400))
    };
    insert(store, tokens(&access(t, &g, at(3600)), Some(&other))).await;
    check_eq!(by_handle(h2).await.as_ref(), Some(&other));
    // A successor whose handle differs from its predecessor's (a token from
    // before handles, or a handle digest of another version) is found by
    // its own handle.
    for old_handle in [None, Some(digest())] {
        let (g, new_handle) = (family(), digest());
        let old = RefreshTokenRecord {
            handle: old_handle,
            ..refresh(t, &g, at(86_400))
        };
        insert(store, tokens(&access(t, &g, at(3600)), Some(&old))).await;
        let successor = RefreshTokenRecord {
            handle: Some(new_handle),
            ..refresh(t, &g, at(90_000))
        };
        check_eq!(
            rotate(store, &old.digest, next(&g, &successor), at(60), at(0)).await,
            RotateRefresh::Rotated
        );
        check_eq!(
            by_handle(new_handle).await.as_ref(),
            Some(&successor),
            "store conformance: GrantStore::find_refresh_by_handle must find a token whose \
             handle is new to its family"
        );
    }
    // Forgetting stays within the family, even if another family's tokens
    // carried the same handle digest.
    let (g1, g2, shared) = (family(), family(), digest());
    let in_family = |g: &FamilyId, expires: i64| RefreshTokenRecord {
        handle: Some(shared),
        ..refresh(t, g, at(expires))
    };
    let (x1, y1) = (in_family(&g1, 86_400), in_family(&g2, 86_400));
    insert(store, tokens(&access(t, &g1, at(3600)), Some(&x1))).await;
    insert(store, tokens(&access(t, &g2, at(3600)), Some(&y1))).await;
    let (y2, x2) = (in_family(&g2, 90_000), in_family(&g1, 90_000));
    check_eq!(
        rotate(store, &y1.digest, next(&g2, &y2), at(100), at(0)).await,
        RotateRefresh::Rotated
    );
    check_eq!(
        rotate(store, &x1.digest, next(&g1, &x2), at(100), at(100)).await,
        RotateRefresh::Rotated
    );
    check_eq!(
        find_refresh(store, &y1.digest)
            .await
            .and_then(|r| r.rotated_at),
        Some(at(100)),
        "store conformance: GrantStore::rotate_refresh must forget rotated tokens of the old \
         token's family only"
    );
    // Revoking the family shows in what the handle finds.
    revoke_family(store, f, at(500)).await;
    check_eq!(
        by_handle(h).await.and_then(|r| r.revoked_at),
        Some(at(500)),
        "store conformance: GrantStore::find_refresh_by_handle must show the family's revocation"
    );
}
