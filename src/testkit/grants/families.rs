//! Token families: revocation, and revoking one access token.

use super::{
    super::fixtures::{access, at, code, digest, family, ok, refresh, tenant},
    find_access, find_code, find_refresh, insert, insert_code, revoke_family, rotate, tokens,
};
use crate::oauth::{ConsumeCode, GrantStore, InsertTokens, RotateRefresh};
use crate::testkit::report::{check, check_eq};

pub(super) async fn family_revocation<S: GrantStore + ?Sized>(store: &S) {
    let t = tenant("revoke");

    // Revoking a family that has only a code: the code can no longer be exchanged.
    let f = family();
    let c = code(&t, &f, at(0));
    insert_code(store, &c).await;
    check_eq!(
        revoke_family(store, &f, at(5)).await,
        0,
        "store conformance: GrantStore::revoke_family of a family without tokens revokes none"
    );
    let a = access(&t, &f, at(3600));
    check_eq!(
        ok(
            "GrantStore::consume_code",
            store
                .consume_code(&c.digest, at(10), tokens(&a, None))
                .await
        ),
        ConsumeCode::FamilyRevoked,
        "store conformance: GrantStore::consume_code in a revoked family must say FamilyRevoked"
    );
    check_eq!(
        find_access(store, &a.digest).await,
        None,
        "store conformance: GrantStore::consume_code in a revoked family must store nothing"
    );
    check_eq!(
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
    check_eq!(
        revoke_family(store, &f, at(100)).await,
        3,
        "store conformance: GrantStore::revoke_family must return how many tokens it revoked"
    );
    for d in [&a1.digest, &a2.digest] {
        check_eq!(
            find_access(store, d).await.and_then(|a| a.revoked_at),
            Some(at(100)),
            "store conformance: GrantStore::revoke_family must revoke every access token of the \
             family"
        );
    }
    check_eq!(
        find_refresh(store, &r1.digest)
            .await
            .and_then(|r| r.revoked_at),
        Some(at(100)),
        "store conformance: GrantStore::revoke_family must revoke every refresh token of the \
         family"
    );
    check_eq!(
        (
            find_access(store, &b1.digest).await.as_ref(),
            find_refresh(store, &b2.digest).await.as_ref()
        ),
        (Some(&b1), Some(&b2)),
        "store conformance: GrantStore::revoke_family must not touch other families"
    );
    check_eq!(
        revoke_family(store, &f, at(200)).await,
        0,
        "store conformance: a second GrantStore::revoke_family revokes nothing new"
    );
    check_eq!(
        find_access(store, &a1.digest)
            .await
            .and_then(|a| a.revoked_at),
        Some(at(100)),
        "store conformance: a second GrantStore::revoke_family must keep the first revoked_at"
    );

    // Later writes into the family are refused.
    let (a3, r3) = (access(&t, &f, at(3600)), refresh(&t, &f, at(86_400)));
    check_eq!(
        ok(
            "GrantStore::insert_tokens",
            store.insert_tokens(tokens(&a3, Some(&r3))).await
        ),
        InsertTokens::FamilyRevoked,
        "store conformance: GrantStore::insert_tokens into a revoked family must say \
         FamilyRevoked"
    );
    check_eq!(
        (
            find_access(store, &a3.digest).await,
            find_refresh(store, &r3.digest).await
        ),
        (None, None),
        "store conformance: GrantStore::insert_tokens into a revoked family must store nothing"
    );
    check_eq!(
        rotate(store, &r1.digest, tokens(&a3, Some(&r3)), at(300), at(300)).await,
        RotateRefresh::Revoked,
        "store conformance: GrantStore::rotate_refresh in a revoked family must say Revoked"
    );
    check_eq!(find_access(store, &a3.digest).await, None);

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
    check_eq!(
        revoke_family(store, &f, at(20)).await,
        2,
        "store conformance: GrantStore::revoke_family must revoke the tokens a code issued"
    );
    let a5 = access(&t, &f, at(3600));
    check_eq!(
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

pub(super) async fn revoke_access_token<S: GrantStore + ?Sized>(store: &S) {
    let t = tenant("access");
    let f = family();
    let (a, r) = (access(&t, &f, at(3600)), refresh(&t, &f, at(86_400)));
    insert(store, tokens(&a, Some(&r))).await;
    check!(
        ok(
            "GrantStore::revoke_access_token",
            store.revoke_access_token(&a.digest, at(10)).await
        ),
        "store conformance: GrantStore::revoke_access_token must say it revoked"
    );
    check!(
        !ok(
            "GrantStore::revoke_access_token",
            store.revoke_access_token(&a.digest, at(20)).await
        ),
        "store conformance: a second GrantStore::revoke_access_token must return false"
    );
    check_eq!(
        find_access(store, &a.digest)
            .await
            .and_then(|a| a.revoked_at),
        Some(at(10)),
        "store conformance: GrantStore::revoke_access_token must keep the first revoked_at"
    );
    check!(!ok(
        "GrantStore::revoke_access_token",
        store.revoke_access_token(&digest(), at(20)).await
    ));
    check_eq!(
        find_refresh(store, &r.digest).await.as_ref(),
        Some(&r),
        "store conformance: GrantStore::revoke_access_token must revoke only that token"
    );
    insert(store, tokens(&access(&t, &f, at(3600)), None)).await;
}
