//! Races: exactly one winner among concurrent callers, round after round.
//!
//! A store whose `consume_code` or `rotate_refresh` checks and then acts in
//! two steps (a read, an `await`, a write) lets two callers both pass the
//! check. Callers released together on a multi-thread runtime catch that
//! often, not always (a loaded machine may run them one after another);
//! a third of the [`ROUNDS`] rounds therefore run the callers in turn on
//! one thread, where every `await` lets the others in, and catch such a
//! store every time. The other rounds run in parallel, for a store whose
//! check and write are apart without an `await` (the kit's own tests run
//! check-then-act stores 100 times each).

use std::sync::Arc;

use super::{
    super::fixtures::{
        RACERS, Racing, access, at, code, family, ok, race_staggered, refresh, tenant,
    },
    find_access, find_refresh, insert, insert_code, revoke_family, rotate, tokens,
};
use crate::{
    TenantId,
    oauth::{
        AccessTokenRecord, ConsumeCode, GrantStore, InsertTokens, RefreshTokenRecord, RotateRefresh,
    },
    testkit::report::{check, check_eq},
};

/// Rounds of each race check.
pub(in crate::testkit) const ROUNDS: usize = 24;

/// How round `round` runs its callers: in turn on one thread (an `await`
/// between a store's check and its write always lets another caller in),
/// in parallel released at once, or in parallel with staggered starts.
fn racing(round: usize) -> Racing {
    match round % 3 {
        0 => Racing::Interleaved,
        1 => Racing::Parallel,
        _ => Racing::Staggered,
    }
}

/// What went wrong in one round, if anything: the first broken rule.
type Broken = Option<String>;

/// Runs `round` [`ROUNDS`] times and records one violation naming how many
/// rounds broke a rule and the first rule broken.
async fn rounds<F, Fut>(rule: &str, mut round: F)
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Broken>,
{
    let mut broken = Vec::new();
    for r in 0..ROUNDS {
        if let Some(what) = round(r).await {
            broken.push((r, what));
        }
    }
    if let Some((first, what)) = broken.first() {
        check!(
            false,
            "store conformance: {rule}: broken in {} of {ROUNDS} rounds of {RACERS} concurrent \
             callers (first in round {first}: {what}). Make the check and the write one atomic \
             step (a transaction with a row lock, a conditional UPDATE, one critical section).",
            broken.len()
        );
    }
}

/// 32 callers exchange one code, each with its own tokens: exactly one
/// `Consumed`, whose tokens are stored; the others `AlreadyConsumed`,
/// storing nothing.
pub(super) async fn consume_code_race<S: GrantStore + ?Sized>(store: Arc<S>) {
    let t = tenant("race");
    rounds(
        "GrantStore::consume_code must say Consumed exactly once and store only the winner's \
         tokens",
        |round| consume_round(store.clone(), t.clone(), round),
    )
    .await;
}

async fn consume_round<S: GrantStore + ?Sized>(store: Arc<S>, t: TenantId, round: usize) -> Broken {
    let f = family();
    let c = code(&t, &f, at(0));
    insert_code(&*store, &c).await;
    let issued: Vec<(AccessTokenRecord, RefreshTokenRecord)> = (0..RACERS)
        .map(|_| (access(&t, &f, at(3600)), refresh(&t, &f, at(86_400))))
        .collect();
    let outcomes = race_staggered("consume_code", racing(round), |i| {
        let (store, d, (a, r)) = (store.clone(), c.digest, issued[i].clone());
        async move {
            ok(
                "GrantStore::consume_code",
                store.consume_code(&d, at(10), tokens(&a, Some(&r))).await,
            )
        }
    })
    .await;
    judge(
        &*store,
        &outcomes,
        &issued,
        |o| matches!(o, ConsumeCode::Consumed),
        |o| matches!(o, ConsumeCode::AlreadyConsumed(_)),
        ("Consumed", "AlreadyConsumed"),
    )
    .await
}

/// 32 callers rotate one refresh token, each with its own new tokens:
/// exactly one `Rotated`, whose tokens are stored; the others
/// `AlreadyRotated`, storing nothing.
pub(super) async fn rotate_refresh_race<S: GrantStore + ?Sized>(store: Arc<S>) {
    let t = tenant("race");
    rounds(
        "GrantStore::rotate_refresh must say Rotated exactly once and store only the winner's \
         tokens",
        |round| rotate_round(store.clone(), t.clone(), round),
    )
    .await;
}

async fn rotate_round<S: GrantStore + ?Sized>(store: Arc<S>, t: TenantId, round: usize) -> Broken {
    let f = family();
    let (a0, r0) = (access(&t, &f, at(3600)), refresh(&t, &f, at(86_400)));
    insert(&*store, tokens(&a0, Some(&r0))).await;
    let issued: Vec<(AccessTokenRecord, RefreshTokenRecord)> = (0..RACERS)
        .map(|_| (access(&t, &f, at(7200)), refresh(&t, &f, at(90_000))))
        .collect();
    let outcomes = race_staggered("rotate_refresh", racing(round), |i| {
        let (store, d, (a, r)) = (store.clone(), r0.digest, issued[i].clone());
        async move { rotate(&*store, &d, tokens(&a, Some(&r)), at(60), at(0)).await }
    })
    .await;
    judge(
        &*store,
        &outcomes,
        &issued,
        |o| matches!(o, RotateRefresh::Rotated),
        |o| matches!(o, RotateRefresh::AlreadyRotated(_)),
        ("Rotated", "AlreadyRotated"),
    )
    .await
}

/// A round's outcomes judged: exactly one winner, whose tokens are
/// stored; every other caller told it lost, with nothing stored.
async fn judge<S: GrantStore + ?Sized, O: std::fmt::Debug>(
    store: &S,
    outcomes: &[O],
    issued: &[(AccessTokenRecord, RefreshTokenRecord)],
    won: impl Fn(&O) -> bool,
    lost: impl Fn(&O) -> bool,
    (winning, losing): (&str, &str),
) -> Broken {
    let winners = outcomes.iter().filter(|o| won(o)).count();
    if winners != 1 {
        return Some(format!("{winners} callers were told {winning}"));
    }
    for (o, (a, r)) in outcomes.iter().zip(issued) {
        let stored = (
            find_access(store, &a.digest).await.is_some(),
            find_refresh(store, &r.digest).await.is_some(),
        );
        if won(o) {
            if stored != (true, true) {
                return Some("the winner's tokens were not stored".to_owned());
            }
        } else if !lost(o) {
            return Some(format!("a loser was told {o:?}, not {losing}"));
        } else if stored != (false, false) {
            return Some("a loser's tokens were stored".to_owned());
        }
    }
    None
}

/// Racing inserts and a revocation: every token stored is revoked or
/// refused.
pub(super) async fn insert_revoke_race<S: GrantStore + ?Sized>(store: Arc<S>) {
    let t = tenant("race");
    let f = family();
    let issued: Vec<AccessTokenRecord> = (0..RACERS).map(|_| access(&t, &f, at(3600))).collect();
    let outcomes = race_staggered("insert_tokens/revoke_family", Racing::Parallel, |i| {
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
            Some(InsertTokens::Inserted) => check_eq!(
                found.and_then(|a| a.revoked_at),
                Some(at(30)),
                "store conformance: a token inserted before or during GrantStore::revoke_family \
                 must end up revoked"
            ),
            Some(_) => check_eq!(found, None, "a refused insert stores nothing"),
            None => {}
        }
    }
}
