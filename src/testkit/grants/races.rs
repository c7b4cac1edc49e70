//! Races: exactly one winner among concurrent callers.

use std::sync::Arc;

use super::{
    super::fixtures::{RACERS, access, at, code, family, ok, race, refresh, tenant},
    find_access, find_refresh, insert, insert_code, revoke_family, rotate, tokens,
};
use crate::oauth::{
    AccessTokenRecord, ConsumeCode, GrantStore, InsertTokens, RefreshTokenRecord, RotateRefresh,
};

pub(super) async fn races<S: GrantStore + ?Sized>(store: Arc<S>) {
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
