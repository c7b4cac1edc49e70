//! Conformance of [`GrantStore`] implementations.

use std::sync::Arc;

use time::{Duration, OffsetDateTime, macros::datetime};

use super::fixtures::{
    RACERS, access, at, code, digest, family, near, ok, other_version, race, refresh, tenant,
};
use crate::{
    Digest,
    oauth::{
        AccessTokenRecord, AuthorizationCodeRecord, ConsumeCode, FamilyId, GrantStore,
        InsertTokens, MAX_CODE_TTL, NewTokens, RefreshTokenRecord, RotateRefresh,
    },
};

/// Checks a [`GrantStore`]: round trips; `consume_code` and `rotate_refresh`
/// exactly once among 32 concurrent callers, with replays told apart;
/// family revocation; lookups by family handle and the forgetting of rotated
/// tokens; access-token revocation; and `purge_expired`.
///
/// # Panics
///
/// At the first violation, naming the method and the rule.
pub async fn grant_store<S: GrantStore + ?Sized>(store: Arc<S>) {
    round_trips(&*store).await;
    near_digests(&*store).await;
    consume_code(&*store).await;
    family_revocation(&*store).await;
    rotate_refresh(&*store).await;
    refresh_handles(&*store).await;
    revoke_access_token(&*store).await;
    purge_expired(&*store).await;
    races(store).await;
}

/// New tokens holding copies of `a` and `r` (the checks compare them with
/// what the store hands back).
fn tokens(a: &AccessTokenRecord, r: Option<&RefreshTokenRecord>) -> NewTokens {
    NewTokens {
        access: a.clone(),
        refresh: r.cloned(),
    }
}

async fn find_code<S: GrantStore + ?Sized>(
    store: &S,
    d: &Digest,
) -> Option<AuthorizationCodeRecord> {
    ok("GrantStore::find_code", store.find_code(d).await).map(Arc::unwrap_or_clone)
}

async fn find_access<S: GrantStore + ?Sized>(store: &S, d: &Digest) -> Option<AccessTokenRecord> {
    ok(
        "GrantStore::find_access_token",
        store.find_access_token(*d).await,
    )
    .map(|t| AccessTokenRecord::clone(&t))
}

async fn find_refresh<S: GrantStore + ?Sized>(store: &S, d: &Digest) -> Option<RefreshTokenRecord> {
    ok(
        "GrantStore::find_refresh_token",
        store.find_refresh_token(d).await,
    )
    .map(Arc::unwrap_or_clone)
}

async fn rotate<S: GrantStore + ?Sized>(
    store: &S,
    old: &Digest,
    new: NewTokens,
    at: OffsetDateTime,
    forget_rotated_before: OffsetDateTime,
) -> RotateRefresh {
    ok(
        "GrantStore::rotate_refresh",
        store
            .rotate_refresh(old, new, at, forget_rotated_before)
            .await,
    )
}

async fn revoke_family<S: GrantStore + ?Sized>(store: &S, f: &FamilyId, at: OffsetDateTime) -> u64 {
    ok(
        "GrantStore::revoke_family",
        store.revoke_family(f, at).await,
    )
}

async fn insert_code<S: GrantStore + ?Sized>(store: &S, c: &AuthorizationCodeRecord) {
    ok(
        "GrantStore::insert_code",
        store.insert_code(c.clone()).await,
    );
}

async fn insert<S: GrantStore + ?Sized>(store: &S, t: NewTokens) {
    assert_eq!(
        ok("GrantStore::insert_tokens", store.insert_tokens(t).await),
        InsertTokens::Inserted,
        "store conformance: GrantStore::insert_tokens into a live family must store"
    );
}

/// A digest that differs from a stored one only in its last byte finds and
/// changes nothing (a store that indexes by a digest prefix must still
/// compare the whole digest).
async fn near_digests<S: GrantStore + ?Sized>(store: &S) {
    let t = tenant("near");
    let f = family();
    let c = code(&t, &f, at(0));
    insert_code(store, &c).await;
    let (a, r) = (access(&t, &f, at(3600)), refresh(&t, &f, at(86_400)));
    insert(store, tokens(&a, Some(&r))).await;
    let rule =
        "store conformance: a digest differing in one bit from a stored one must not match it";
    assert_eq!(
        find_code(store, &near(&c.digest)).await,
        None,
        "{rule} (find_code)"
    );
    assert_eq!(
        find_access(store, &near(&a.digest)).await,
        None,
        "{rule} (find_access_token)"
    );
    assert_eq!(
        find_refresh(store, &near(&r.digest)).await,
        None,
        "{rule} (find_refresh_token)"
    );
    let (a2, r2) = (access(&t, &f, at(3600)), refresh(&t, &f, at(86_400)));
    assert_eq!(
        ok(
            "GrantStore::consume_code",
            store
                .consume_code(&near(&c.digest), at(1), tokens(&a2, Some(&r2)))
                .await
        ),
        ConsumeCode::Unknown,
        "{rule} (consume_code)"
    );
    assert_eq!(
        rotate(
            store,
            &near(&r.digest),
            tokens(&a2, Some(&r2)),
            at(1),
            at(1)
        )
        .await,
        RotateRefresh::Unknown,
        "{rule} (rotate_refresh)"
    );
    assert!(
        !ok(
            "GrantStore::revoke_access_token",
            store.revoke_access_token(&near(&a.digest), at(1)).await
        ),
        "{rule} (revoke_access_token)"
    );
    untouched(store, &c, &a, &r, rule).await;
    assert_eq!(
        find_access(store, &a2.digest).await,
        None,
        "{rule}: nothing was stored"
    );

    // Another family whose tokens are one bit away from this family's,
    // crosswise (its access token near the refresh token, its refresh
    // token near the access token): revoking it revokes exactly its own.
    let g = family();
    let ga = AccessTokenRecord {
        digest: near(&r.digest),
        ..access(&t, &g, at(3600))
    };
    let gr = RefreshTokenRecord {
        digest: near(&a.digest),
        ..refresh(&t, &g, at(86_400))
    };
    insert(store, tokens(&ga, Some(&gr))).await;
    let rule = "store conformance: GrantStore::revoke_family revokes the family's own tokens, \
                not another family's one bit away";
    assert_eq!(revoke_family(store, &g, at(2)).await, 2, "{rule}");
    assert!(
        find_access(store, &ga.digest)
            .await
            .is_some_and(|t| t.revoked_at.is_some()),
        "{rule}"
    );
    assert!(
        find_refresh(store, &gr.digest)
            .await
            .is_some_and(|t| t.revoked_at.is_some()),
        "{rule}"
    );
    untouched(store, &c, &a, &r, rule).await;
}

/// Asserts that `c`, `a` and `r` read back exactly as inserted: not
/// consumed, rotated or revoked, nor changed in any other field.
async fn untouched<S: GrantStore + ?Sized>(
    store: &S,
    c: &AuthorizationCodeRecord,
    a: &AccessTokenRecord,
    r: &RefreshTokenRecord,
    rule: &str,
) {
    assert_eq!(
        find_code(store, &c.digest).await.as_ref(),
        Some(c),
        "{rule}"
    );
    assert_eq!(
        find_access(store, &a.digest).await.as_ref(),
        Some(a),
        "{rule}"
    );
    assert_eq!(
        find_refresh(store, &r.digest).await.as_ref(),
        Some(r),
        "{rule}"
    );
}

async fn round_trips<S: GrantStore + ?Sized>(store: &S) {
    let t = tenant("grants");
    let f = family();
    let with_uri = code(&t, &f, at(0));
    let without_uri = AuthorizationCodeRecord {
        redirect_uri: None,
        ..code(&t, &f, at(1))
    };
    for c in [&with_uri, &without_uri] {
        insert_code(store, c).await;
        assert_eq!(
            find_code(store, &c.digest).await.as_ref(),
            Some(c),
            "store conformance: GrantStore::find_code must return the code as inserted"
        );
    }
    assert_eq!(
        find_code(store, &other_version(&with_uri.digest)).await,
        None,
        "store conformance: GrantStore::find_code must match the digest version too"
    );
    assert_eq!(find_code(store, &digest()).await, None);

    let a = access(&t, &f, at(3600));
    let r = RefreshTokenRecord {
        rotated_at: Some(at(5)),
        ..refresh(&t, &f, at(86_400))
    };
    insert(store, tokens(&a, Some(&r))).await;
    assert_eq!(
        find_access(store, &a.digest).await.as_ref(),
        Some(&a),
        "store conformance: GrantStore::find_access_token must return the token as inserted"
    );
    assert_eq!(
        find_refresh(store, &r.digest).await.as_ref(),
        Some(&r),
        "store conformance: GrantStore::find_refresh_token must return the token as inserted"
    );
    assert_eq!(
        find_access(store, &r.digest).await,
        None,
        "tokens of one kind only"
    );
    assert_eq!(
        find_refresh(store, &a.digest).await,
        None,
        "tokens of one kind only"
    );
    assert_eq!(find_access(store, &other_version(&a.digest)).await, None);
    assert_eq!(find_refresh(store, &digest()).await, None);
}

async fn consume_code<S: GrantStore + ?Sized>(store: &S) {
    let t = tenant("consume");
    let f = family();
    let c = code(&t, &f, at(0));
    insert_code(store, &c).await;
    let (a1, r1) = (access(&t, &f, at(3600)), refresh(&t, &f, at(86_400)));
    assert_eq!(
        ok(
            "GrantStore::consume_code",
            store
                .consume_code(&c.digest, at(10), tokens(&a1, Some(&r1)))
                .await
        ),
        ConsumeCode::Consumed,
        "store conformance: GrantStore::consume_code must say Consumed with the record as it was"
    );
    let consumed = AuthorizationCodeRecord {
        consumed_at: Some(at(10)),
        ..c.clone()
    };
    assert_eq!(
        find_code(store, &c.digest).await.as_ref(),
        Some(&consumed),
        "store conformance: GrantStore::consume_code must set consumed_at"
    );
    assert_eq!(
        find_access(store, &a1.digest).await.as_ref(),
        Some(&a1),
        "store conformance: GrantStore::consume_code must store the access token"
    );
    assert_eq!(
        find_refresh(store, &r1.digest).await.as_ref(),
        Some(&r1),
        "store conformance: GrantStore::consume_code must store the refresh token"
    );

    // A replay.
    let (a2, r2) = (access(&t, &f, at(3600)), refresh(&t, &f, at(86_400)));
    assert_eq!(
        ok(
            "GrantStore::consume_code",
            store
                .consume_code(&c.digest, at(20), tokens(&a2, Some(&r2)))
                .await
        ),
        ConsumeCode::AlreadyConsumed(Box::new(consumed.clone())),
        "store conformance: a second GrantStore::consume_code must say AlreadyConsumed with the \
         consumed record"
    );
    assert_eq!(
        (
            find_access(store, &a2.digest).await,
            find_refresh(store, &r2.digest).await
        ),
        (None, None),
        "store conformance: a replayed GrantStore::consume_code must store no tokens"
    );
    assert_eq!(find_code(store, &c.digest).await.as_ref(), Some(&consumed));

    // Unknown code.
    let a3 = access(&t, &f, at(3600));
    assert_eq!(
        ok(
            "GrantStore::consume_code",
            store
                .consume_code(&digest(), at(10), tokens(&a3, None))
                .await
        ),
        ConsumeCode::Unknown,
        "store conformance: GrantStore::consume_code of an unknown code must say Unknown"
    );
    assert_eq!(
        find_access(store, &a3.digest).await,
        None,
        "store conformance: GrantStore::consume_code of an unknown code must store nothing"
    );

    // Without a refresh token.
    let f2 = family();
    let c2 = code(&t, &f2, at(0));
    insert_code(store, &c2).await;
    let a4 = access(&t, &f2, at(3600));
    assert!(matches!(
        ok(
            "GrantStore::consume_code",
            store
                .consume_code(&c2.digest, at(10), tokens(&a4, None))
                .await
        ),
        ConsumeCode::Consumed
    ));
    assert_eq!(find_access(store, &a4.digest).await.as_ref(), Some(&a4));
}

async fn family_revocation<S: GrantStore + ?Sized>(store: &S) {
    let t = tenant("revoke");

    // Revoking a family that has only a code: the code can no longer be exchanged.
    let f = family();
    let c = code(&t, &f, at(0));
    insert_code(store, &c).await;
    assert_eq!(
        revoke_family(store, &f, at(5)).await,
        0,
        "store conformance: GrantStore::revoke_family of a family without tokens revokes none"
    );
    let a = access(&t, &f, at(3600));
    assert_eq!(
        ok(
            "GrantStore::consume_code",
            store
                .consume_code(&c.digest, at(10), tokens(&a, None))
                .await
        ),
        ConsumeCode::FamilyRevoked,
        "store conformance: GrantStore::consume_code in a revoked family must say FamilyRevoked"
    );
    assert_eq!(
        find_access(store, &a.digest).await,
        None,
        "store conformance: GrantStore::consume_code in a revoked family must store nothing"
    );
    assert_eq!(
        find_code(store, &c.digest)
            .await
            .and_then(|c| c.consumed_at),
        None,
        "store conformance: GrantStore::consume_code in a revoked family must not consume"
    );

    // Every token of the family, none of another.
    let f = family();
    let bystander = family();
    let (a1, r1) = (access(&t, &f, at(3600)), refresh(&t, &f, at(86_400)));
    let a2 = access(&t, &f, at(3600));
    let (b1, b2) = (
        access(&t, &bystander, at(3600)),
        refresh(&t, &bystander, at(86_400)),
    );
    insert(store, tokens(&a1, Some(&r1))).await;
    insert(store, tokens(&a2, None)).await;
    insert(store, tokens(&b1, Some(&b2))).await;
    assert_eq!(
        revoke_family(store, &f, at(100)).await,
        3,
        "store conformance: GrantStore::revoke_family must return how many tokens it revoked"
    );
    for d in [&a1.digest, &a2.digest] {
        assert_eq!(
            find_access(store, d).await.and_then(|a| a.revoked_at),
            Some(at(100)),
            "store conformance: GrantStore::revoke_family must revoke every access token of the \
             family"
        );
    }
    assert_eq!(
        find_refresh(store, &r1.digest)
            .await
            .and_then(|r| r.revoked_at),
        Some(at(100)),
        "store conformance: GrantStore::revoke_family must revoke every refresh token of the \
         family"
    );
    assert_eq!(
        (
            find_access(store, &b1.digest).await.as_ref(),
            find_refresh(store, &b2.digest).await.as_ref()
        ),
        (Some(&b1), Some(&b2)),
        "store conformance: GrantStore::revoke_family must not touch other families"
    );
    assert_eq!(
        revoke_family(store, &f, at(200)).await,
        0,
        "store conformance: a second GrantStore::revoke_family revokes nothing new"
    );
    assert_eq!(
        find_access(store, &a1.digest)
            .await
            .and_then(|a| a.revoked_at),
        Some(at(100)),
        "store conformance: a second GrantStore::revoke_family must keep the first revoked_at"
    );

    // Later writes into the family are refused.
    let (a3, r3) = (access(&t, &f, at(3600)), refresh(&t, &f, at(86_400)));
    assert_eq!(
        ok(
            "GrantStore::insert_tokens",
            store.insert_tokens(tokens(&a3, Some(&r3))).await
        ),
        InsertTokens::FamilyRevoked,
        "store conformance: GrantStore::insert_tokens into a revoked family must say \
         FamilyRevoked"
    );
    assert_eq!(
        (
            find_access(store, &a3.digest).await,
            find_refresh(store, &r3.digest).await
        ),
        (None, None),
        "store conformance: GrantStore::insert_tokens into a revoked family must store nothing"
    );
    assert_eq!(
        rotate(store, &r1.digest, tokens(&a3, Some(&r3)), at(300), at(300)).await,
        RotateRefresh::Revoked,
        "store conformance: GrantStore::rotate_refresh in a revoked family must say Revoked"
    );
    assert_eq!(find_access(store, &a3.digest).await, None);

    // A replayed code whose family was revoked.
    let f = family();
    let c = code(&t, &f, at(0));
    insert_code(store, &c).await;
    let (a, r) = (access(&t, &f, at(3600)), refresh(&t, &f, at(86_400)));
    ok(
        "GrantStore::consume_code",
        store
            .consume_code(&c.digest, at(10), tokens(&a, Some(&r)))
            .await,
    );
    assert_eq!(
        revoke_family(store, &f, at(20)).await,
        2,
        "store conformance: GrantStore::revoke_family must revoke the tokens a code issued"
    );
    let a5 = access(&t, &f, at(3600));
    assert_eq!(
        ok(
            "GrantStore::consume_code",
            store
                .consume_code(&c.digest, at(30), tokens(&a5, None))
                .await
        ),
        ConsumeCode::FamilyRevoked,
        "store conformance: GrantStore::consume_code in a revoked family must say FamilyRevoked"
    );
}

async fn rotate_refresh<S: GrantStore + ?Sized>(store: &S) {
    let t = tenant("rotate");
    let f = family();
    let (a1, r1) = (access(&t, &f, at(3600)), refresh(&t, &f, at(86_400)));
    insert(store, tokens(&a1, Some(&r1))).await;

    let (a2, r2) = (access(&t, &f, at(7200)), refresh(&t, &f, at(90_000)));
    assert_eq!(
        rotate(store, &r1.digest, tokens(&a2, Some(&r2)), at(60), at(60)).await,
        RotateRefresh::Rotated,
        "store conformance: GrantStore::rotate_refresh must say Rotated with the old record as \
         it was"
    );
    let used = RefreshTokenRecord {
        rotated_at: Some(at(60)),
        ..r1.clone()
    };
    assert_eq!(
        find_refresh(store, &r1.digest).await.as_ref(),
        Some(&used),
        "store conformance: GrantStore::rotate_refresh must set the old token's rotated_at"
    );
    assert_eq!(
        (
            find_access(store, &a2.digest).await.as_ref(),
            find_refresh(store, &r2.digest).await.as_ref()
        ),
        (Some(&a2), Some(&r2)),
        "store conformance: GrantStore::rotate_refresh must store the new tokens"
    );

    // Reuse of the old token.
    let (a3, r3) = (access(&t, &f, at(7200)), refresh(&t, &f, at(90_000)));
    assert_eq!(
        rotate(store, &r1.digest, tokens(&a3, Some(&r3)), at(120), at(120)).await,
        RotateRefresh::AlreadyRotated(Box::new(used.clone())),
        "store conformance: reusing a rotated refresh token must say AlreadyRotated with its \
         record"
    );
    assert_eq!(
        (
            find_access(store, &a3.digest).await,
            find_refresh(store, &r3.digest).await
        ),
        (None, None),
        "store conformance: GrantStore::rotate_refresh that is AlreadyRotated must store nothing"
    );

    // The new token rotates in turn.
    assert!(matches!(
        rotate(store, &r2.digest, tokens(&a3, Some(&r3)), at(180), at(180)).await,
        RotateRefresh::Rotated
    ));

    // Unknown.
    let (a4, r4) = (access(&t, &f, at(7200)), refresh(&t, &f, at(90_000)));
    assert_eq!(
        rotate(store, &digest(), tokens(&a4, Some(&r4)), at(180), at(180)).await,
        RotateRefresh::Unknown,
        "store conformance: GrantStore::rotate_refresh of an unknown token must say Unknown"
    );
    assert_eq!(find_access(store, &a4.digest).await, None);

    // A token revoked on its own (its family is not).
    let g = family();
    let a5 = access(&t, &g, at(3600));
    let revoked = RefreshTokenRecord {
        revoked_at: Some(at(1)),
        ..refresh(&t, &g, at(86_400))
    };
    insert(store, tokens(&a5, Some(&revoked))).await;
    assert_eq!(
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
    assert_eq!(find_refresh(store, &r4.digest).await, None);
}

/// Refresh tokens with a family handle: found by it, and forgotten once
/// rotated before the time the server gives; tokens without one never are
/// (the `rotate_refresh` rule passes its rotation time).
async fn refresh_handles<S: GrantStore + ?Sized>(store: &S) {
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
    assert_eq!(
        by_handle(h).await.as_ref(),
        Some(&r1),
        "store conformance: GrantStore::find_refresh_by_handle must find the family's token"
    );
    for other in [digest(), other_version(&h), near(&h)] {
        assert_eq!(
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
    assert_eq!(
        rotate(store, &r1.digest, next(f, &r2), at(60), at(60)).await,
        RotateRefresh::Rotated
    );
    assert_eq!(
        (
            find_refresh(store, &r1.digest).await,
            find_refresh(store, &r2.digest).await.as_ref()
        ),
        (None, Some(&r2)),
        "store conformance: GrantStore::rotate_refresh must delete the old token when it was \
         rotated at or before forget_rotated_before, and store the new one"
    );
    assert_eq!(
        by_handle(h).await.as_ref(),
        Some(&r2),
        "store conformance: GrantStore::find_refresh_by_handle must answer with the newest token"
    );
    // A 30 s grace: the old token stays rotated until a later rotation
    // passes it.
    let r3 = with_handle(90_100);
    assert_eq!(
        rotate(store, &r2.digest, next(f, &r3), at(120), at(90)).await,
        RotateRefresh::Rotated
    );
    assert_eq!(
        find_refresh(store, &r2.digest)
            .await
            .and_then(|r| r.rotated_at),
        Some(at(120)),
        "store conformance: GrantStore::rotate_refresh must keep a token rotated after \
         forget_rotated_before"
    );
    let r4 = with_handle(90_200);
    assert_eq!(
        rotate(store, &r3.digest, next(f, &r4), at(200), at(170)).await,
        RotateRefresh::Rotated
    );
    assert_eq!(
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
    assert!(matches!(
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
    assert!(
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
    assert_eq!(by_handle(h2).await.as_ref(), Some(&other));
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
        assert_eq!(
            rotate(store, &old.digest, next(&g, &successor), at(60), at(0)).await,
            RotateRefresh::Rotated
        );
        assert_eq!(
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
    assert_eq!(
        rotate(store, &y1.digest, next(&g2, &y2), at(100), at(0)).await,
        RotateRefresh::Rotated
    );
    assert_eq!(
        rotate(store, &x1.digest, next(&g1, &x2), at(100), at(100)).await,
        RotateRefresh::Rotated
    );
    assert_eq!(
        find_refresh(store, &y1.digest)
            .await
            .and_then(|r| r.rotated_at),
        Some(at(100)),
        "store conformance: GrantStore::rotate_refresh must forget rotated tokens of the old \
         token's family only"
    );
    // Revoking the family shows in what the handle finds.
    revoke_family(store, f, at(500)).await;
    assert_eq!(
        by_handle(h).await.and_then(|r| r.revoked_at),
        Some(at(500)),
        "store conformance: GrantStore::find_refresh_by_handle must show the family's revocation"
    );
}

async fn revoke_access_token<S: GrantStore + ?Sized>(store: &S) {
    let t = tenant("access");
    let f = family();
    let (a, r) = (access(&t, &f, at(3600)), refresh(&t, &f, at(86_400)));
    insert(store, tokens(&a, Some(&r))).await;
    assert!(
        ok(
            "GrantStore::revoke_access_token",
            store.revoke_access_token(&a.digest, at(10)).await
        ),
        "store conformance: GrantStore::revoke_access_token must say it revoked"
    );
    assert!(
        !ok(
            "GrantStore::revoke_access_token",
            store.revoke_access_token(&a.digest, at(20)).await
        ),
        "store conformance: a second GrantStore::revoke_access_token must return false"
    );
    assert_eq!(
        find_access(store, &a.digest)
            .await
            .and_then(|a| a.revoked_at),
        Some(at(10)),
        "store conformance: GrantStore::revoke_access_token must keep the first revoked_at"
    );
    assert!(!ok(
        "GrantStore::revoke_access_token",
        store.revoke_access_token(&digest(), at(20)).await
    ));
    assert_eq!(
        find_refresh(store, &r.digest).await.as_ref(),
        Some(&r),
        "store conformance: GrantStore::revoke_access_token must revoke only that token"
    );
    insert(store, tokens(&access(&t, &f, at(3600)), None)).await;
}

/// Purging, on records dated in 2001 (the rest of the suite is in 2030).
async fn purge_expired<S: GrantStore + ?Sized>(store: &S) {
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
    assert!(matches!(
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
    assert!(MAX_CODE_TTL > Duration::minutes(1));

    let removed = ok("GrantStore::purge_expired", store.purge_expired(now).await);
    assert!(
        removed >= 7,
        "store conformance: GrantStore::purge_expired must count what it removed (at least 7 of \
         the suite's records, said {removed})"
    );
    let gone = "store conformance: GrantStore::purge_expired must remove what expired before the \
                given time";
    let kept = "store conformance: GrantStore::purge_expired must keep what expires at or after \
                the given time";
    assert_eq!(
        find_access(store, &expired_access.digest).await,
        None,
        "{gone}"
    );
    assert_eq!(find_access(store, &ka.digest).await, None, "{gone}");
    assert_eq!(find_access(store, &ma.digest).await, None, "{gone}");
    assert_eq!(
        find_refresh(store, &expired_refresh.digest).await,
        None,
        "{gone}"
    );
    assert_eq!(
        find_refresh(store, &family_expired.digest).await,
        None,
        "store conformance: GrantStore::purge_expired must remove refresh tokens whose family \
         expired"
    );
    assert_eq!(find_code(store, &expired_code.digest).await, None, "{gone}");
    assert!(
        find_access(store, &boundary_access.digest).await.is_some(),
        "{kept}"
    );
    assert!(
        find_access(store, &live_access.digest).await.is_some(),
        "{kept}"
    );
    assert!(
        find_refresh(store, &live_refresh.digest).await.is_some(),
        "{kept}"
    );
    assert!(
        find_code(store, &fresh_code.digest).await.is_some(),
        "{kept}"
    );
    assert!(
        find_access(store, &da.digest).await.is_some()
            && find_refresh(store, &dr.digest).await.is_some(),
        "store conformance: GrantStore::purge_expired must keep revoked tokens until they expire"
    );
    assert!(
        find_code(store, &kept_code.digest).await.is_some(),
        "store conformance: GrantStore::purge_expired must keep a consumed code while its family \
         has a live refresh token"
    );
    assert_eq!(
        find_code(store, &dead_code.digest).await,
        None,
        "store conformance: GrantStore::purge_expired must remove an expired consumed code whose \
         family has no live refresh token"
    );
    let late = access(&t, &marked, now + Duration::hours(1));
    assert_eq!(
        ok(
            "GrantStore::insert_tokens",
            store.insert_tokens(tokens(&late, None)).await
        ),
        InsertTokens::FamilyRevoked,
        "store conformance: GrantStore::purge_expired must keep a revoked family's marker for at \
         least MAX_CODE_TTL after its revocation"
    );
}

async fn races<S: GrantStore + ?Sized>(store: Arc<S>) {
    let t = tenant("race");

    // 32 callers exchange one code, each with its own tokens.
    let f = family();
    let c = code(&t, &f, at(0));
    insert_code(&*store, &c).await;
    let issued: Vec<(AccessTokenRecord, RefreshTokenRecord)> = (0..RACERS)
        .map(|_| (access(&t, &f, at(3600)), refresh(&t, &f, at(86_400))))
        .collect();
    let outcomes = race("consume_code", |i| {
        let (store, d, (a, r)) = (store.clone(), c.digest, issued[i].clone());
        async move {
            ok(
                "GrantStore::consume_code",
                store.consume_code(&d, at(10), tokens(&a, Some(&r))).await,
            )
        }
    })
    .await;
    let winners: Vec<usize> = (0..RACERS)
        .filter(|i| matches!(outcomes[*i], ConsumeCode::Consumed))
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "store conformance: GrantStore::consume_code must say Consumed exactly once among \
         {RACERS} concurrent callers"
    );
    for (i, (o, (a, r))) in outcomes.iter().zip(&issued).enumerate() {
        let stored = (
            find_access(&*store, &a.digest).await.is_some(),
            find_refresh(&*store, &r.digest).await.is_some(),
        );
        if i == winners[0] {
            assert_eq!(stored, (true, true), "the winner's tokens are stored");
        } else {
            assert!(
                matches!(o, ConsumeCode::AlreadyConsumed(_)),
                "store conformance: the losers of a code exchange race must say AlreadyConsumed"
            );
            assert_eq!(
                stored,
                (false, false),
                "store conformance: a losing GrantStore::consume_code must store no tokens"
            );
        }
    }

    // 32 callers rotate one refresh token, each with its own new tokens.
    let f = family();
    let (a0, r0) = (access(&t, &f, at(3600)), refresh(&t, &f, at(86_400)));
    insert(&*store, tokens(&a0, Some(&r0))).await;
    let issued: Vec<(AccessTokenRecord, RefreshTokenRecord)> = (0..RACERS)
        .map(|_| (access(&t, &f, at(7200)), refresh(&t, &f, at(90_000))))
        .collect();
    let outcomes = race("rotate_refresh", |i| {
        let (store, d, (a, r)) = (store.clone(), r0.digest, issued[i].clone());
        async move { rotate(&*store, &d, tokens(&a, Some(&r)), at(60), at(60)).await }
    })
    .await;
    let winners: Vec<usize> = (0..RACERS)
        .filter(|i| matches!(outcomes[*i], RotateRefresh::Rotated))
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "store conformance: GrantStore::rotate_refresh must say Rotated exactly once among \
         {RACERS} concurrent callers"
    );
    for (i, (o, (a, r))) in outcomes.iter().zip(&issued).enumerate() {
        let stored = (
            find_access(&*store, &a.digest).await.is_some(),
            find_refresh(&*store, &r.digest).await.is_some(),
        );
        if i == winners[0] {
            assert_eq!(stored, (true, true), "the winner's tokens are stored");
        } else {
            assert!(
                matches!(o, RotateRefresh::AlreadyRotated(_)),
                "store conformance: the losers of a refresh race must say AlreadyRotated"
            );
            assert_eq!(
                stored,
                (false, false),
                "store conformance: a losing GrantStore::rotate_refresh must store no tokens"
            );
        }
    }

    // Racing inserts and a revocation: every token stored is revoked or refused.
    let f = family();
    let issued: Vec<AccessTokenRecord> = (0..RACERS).map(|_| access(&t, &f, at(3600))).collect();
    let outcomes = race("insert_tokens/revoke_family", |i| {
        let (store, a, f) = (store.clone(), issued[i].clone(), f.clone());
        async move {
            if i == RACERS / 2 {
                revoke_family(&*store, &f, at(30)).await;
                None
            } else {
                Some(ok(
                    "GrantStore::insert_tokens",
                    store.insert_tokens(tokens(&a, None)).await,
                ))
            }
        }
    })
    .await;
    for (o, a) in outcomes.iter().zip(&issued) {
        let found = find_access(&*store, &a.digest).await;
        match o {
            Some(InsertTokens::Inserted) => assert_eq!(
                found.and_then(|a| a.revoked_at),
                Some(at(30)),
                "store conformance: a token inserted before or during GrantStore::revoke_family \
                 must end up revoked"
            ),
            Some(_) => assert_eq!(found, None, "a refused insert stores nothing"),
            None => {}
        }
    }
}
