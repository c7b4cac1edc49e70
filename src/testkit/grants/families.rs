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

/// The families of a client's tokens (what deleting the client revokes):
/// those of its access and refresh tokens in its tenant, each once, and
/// no other client's or tenant's.
pub(super) async fn families_of_client<S: GrantStore + ?Sized>(store: &S) {
    use super::super::fixtures::client_id;
    use crate::oauth::{AccessTokenRecord, RefreshTokenRecord};
    let (t, elsewhere) = (tenant("by-client"), tenant("by-client-other"));
    let (mine, theirs) = (client_id(), client_id());
    let (f1, f2, f3, f4) = (family(), family(), family(), family());
    let a = |t: &crate::TenantId, c: &crate::oauth::ClientId, f: &crate::oauth::FamilyId| {
        AccessTokenRecord {
            client_id: c.clone(),
            ..access(t, f, at(3600))
        }
    };
    let r = |t: &crate::TenantId, c: &crate::oauth::ClientId, f: &crate::oauth::FamilyId| {
        RefreshTokenRecord {
            client_id: c.clone(),
            ..refresh(t, f, at(86_400))
        }
    };
    // Two families of the client (one with a refresh token), one of
    // another client, one of the same client id in another tenant.
    insert(store, tokens(&a(&t, &mine, &f1), Some(&r(&t, &mine, &f1)))).await;
    insert(store, tokens(&a(&t, &mine, &f2), None)).await;
    insert(store, tokens(&a(&t, &theirs, &f3), None)).await;
    insert(store, tokens(&a(&elsewhere, &mine, &f4), None)).await;
    let mut found = ok(
        "GrantStore::families_of_client",
        store.families_of_client(&t, &mine).await,
    );
    found.sort_by(|x, y| x.as_str().cmp(y.as_str()));
    let mut expected = vec![f1, f2];
    expected.sort_by(|x, y| x.as_str().cmp(y.as_str()));
    check_eq!(
        found,
        expected,
        "store conformance: GrantStore::families_of_client must list each family of the \
         client's tokens in its tenant once, and no other"
    );
    check!(
        ok(
            "GrantStore::families_of_client",
            store.families_of_client(&t, &client_id()).await
        )
        .is_empty(),
        "store conformance: GrantStore::families_of_client of a client without tokens is empty"
    );
}
