//! Codes: round trips, whole-digest lookups, `consume_code`.

use super::{
    super::fixtures::{access, at, code, digest, family, near, ok, other_version, refresh, tenant},
    find_access, find_code, find_refresh, insert, insert_code, revoke_family, rotate, tokens,
    untouched,
};
use crate::oauth::{
    AccessTokenRecord, AuthorizationCodeRecord, ConsumeCode, GrantStore, RefreshTokenRecord,
    RotateRefresh,
};
use crate::testkit::report::{check, check_eq};

/// A digest that differs from a stored one only in its last byte finds and
/// changes nothing (a store that indexes by a digest prefix must still
/// compare the whole digest).
pub(super) async fn near_digests<S: GrantStore + ?Sized>(store: &S) {
    let t = tenant("near");
    let f = family();
    let c = code(&t, &f, at(0));
    insert_code(store, &c).await;
    let (a, r) = (access(&t, &f, at(3600)), refresh(&t, &f, at(86_400)));
    insert(store, tokens(&a, Some(&r))).await;
    let rule =
        "store conformance: a digest differing in one bit from a stored one must not match it";
    check_eq!(
        find_code(store, &near(&c.digest)).await,
        None,
        "{rule} (find_code)"
    );
    check_eq!(
        find_access(store, &near(&a.digest)).await,
        None,
        "{rule} (find_access_token)"
    );
    check_eq!(
        find_refresh(store, &near(&r.digest)).await,
        None,
        "{rule} (find_refresh_token)"
    );
    let (a2, r2) = (access(&t, &f, at(3600)), refresh(&t, &f, at(86_400)));
    check_eq!(
        ok(
            "GrantStore::consume_code",
            store
                .consume_code(&near(&c.digest), at(1), tokens(&a2, Some(&r2)))
                .await
        ),
        ConsumeCode::Unknown,
        "{rule} (consume_code)"
    );
    check_eq!(
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
    check!(
        !ok(
            "GrantStore::revoke_access_token",
            store.revoke_access_token(&near(&a.digest), at(1)).await
        ),
        "{rule} (revoke_access_token)"
    );
    untouched(store, &c, &a, &r, rule).await;
    check_eq!(
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
    check_eq!(revoke_family(store, &g, at(2)).await, 2, "{rule}");
    check!(
        find_access(store, &ga.digest)
            .await
            .is_some_and(|t| t.revoked_at.is_some()),
        "{rule}"
    );
    check!(
        find_refresh(store, &gr.digest)
            .await
            .is_some_and(|t| t.revoked_at.is_some()),
        "{rule}"
    );
    untouched(store, &c, &a, &r, rule).await;
}

pub(super) async fn round_trips<S: GrantStore + ?Sized>(store: &S) {
    let t = tenant("grants");
    let f = family();
    // With resources (RFC 8707), which read back as they went in.
    let bound = crate::oauth::Resources::parse(["https://a.example/mcp", "https://b.example/api"])
        .unwrap_or_default();
    let with_uri = AuthorizationCodeRecord {
        resources: bound.clone(),
        ..code(&t, &f, at(0))
    };
    let without_uri = AuthorizationCodeRecord {
        redirect_uri: None,
        ..code(&t, &f, at(1))
    };
    for c in [&with_uri, &without_uri] {
        insert_code(store, c).await;
        check_eq!(
            find_code(store, &c.digest).await.as_ref(),
            Some(c),
            "store conformance: GrantStore::find_code must return the code as inserted"
        );
    }
    check_eq!(
        find_code(store, &other_version(&with_uri.digest)).await,
        None,
        "store conformance: GrantStore::find_code must match the digest version too"
    );
    check_eq!(find_code(store, &digest()).await, None);

    let a = AccessTokenRecord {
        audience: bound.clone(),
        ..access(&t, &f, at(3600))
    };
    let r = RefreshTokenRecord {
        rotated_at: Some(at(5)),
        resources: bound,
        ..refresh(&t, &f, at(86_400))
    };
    insert(store, tokens(&a, Some(&r))).await;
    check_eq!(
        find_access(store, &a.digest).await.as_ref(),
        Some(&a),
        "store conformance: GrantStore::find_access_token must return the token as inserted"
    );
    check_eq!(
        find_refresh(store, &r.digest).await.as_ref(),
        Some(&r),
        "store conformance: GrantStore::find_refresh_token must return the token as inserted"
    );
    check_eq!(
        find_access(store, &r.digest).await,
        None,
        "tokens of one kind only"
    );
    check_eq!(
        find_refresh(store, &a.digest).await,
        None,
        "tokens of one kind only"
    );
    check_eq!(find_access(store, &other_version(&a.digest)).await, None);
    check_eq!(find_refresh(store, &digest()).await, None);
}

pub(super) async fn consume_code<S: GrantStore + ?Sized>(store: &S) {
    let t = tenant("consume");
    let f = family();
    let c = code(&t, &f, at(0));
    insert_code(store, &c).await;
    let (a1, r1) = (access(&t, &f, at(3600)), refresh(&t, &f, at(86_400)));
    check_eq!(
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
    check_eq!(
        find_code(store, &c.digest).await.as_ref(),
        Some(&consumed),
        "store conformance: GrantStore::consume_code must set consumed_at"
    );
    check_eq!(
        find_access(store, &a1.digest).await.as_ref(),
        Some(&a1),
        "store conformance: GrantStore::consume_code must store the access token"
    );
    check_eq!(
        find_refresh(store, &r1.digest).await.as_ref(),
        Some(&r1),
        "store conformance: GrantStore::consume_code must store the refresh token"
    );

    // A replay.
    let (a2, r2) = (access(&t, &f, at(3600)), refresh(&t, &f, at(86_400)));
    check_eq!(
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
    check_eq!(
        (
            find_access(store, &a2.digest).await,
            find_refresh(store, &r2.digest).await
        ),
        (None, None),
        "store conformance: a replayed GrantStore::consume_code must store no tokens"
    );
    check_eq!(find_code(store, &c.digest).await.as_ref(), Some(&consumed));

    // Unknown code.
    let a3 = access(&t, &f, at(3600));
    check_eq!(
        ok(
            "GrantStore::consume_code",
            store
                .consume_code(&digest(), at(10), tokens(&a3, None))
                .await
        ),
        ConsumeCode::Unknown,
        "store conformance: GrantStore::consume_code of an unknown code must say Unknown"
    );
    check_eq!(
        find_access(store, &a3.digest).await,
        None,
        "store conformance: GrantStore::consume_code of an unknown code must store nothing"
    );

    // Without a refresh token.
    let f2 = family();
    let c2 = code(&t, &f2, at(0));
    insert_code(store, &c2).await;
    let a4 = access(&t, &f2, at(3600));
    check!(matches!(
        ok(
            "GrantStore::consume_code",
            store
                .consume_code(&c2.digest, at(10), tokens(&a4, None))
                .await
        ),
        ConsumeCode::Consumed
    ));
    check_eq!(find_access(store, &a4.digest).await.as_ref(), Some(&a4));
}
