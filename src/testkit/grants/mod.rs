//! Conformance of [`GrantStore`] implementations, one file per concern.

mod codes;
mod families;
mod purge;
mod races;
mod refresh;

use crate::testkit::report::{Report, Suite, check_eq};
use std::sync::Arc;

use time::OffsetDateTime;

use super::fixtures::ok;
use crate::{
    Digest,
    oauth::{
        AccessTokenRecord, AuthorizationCodeRecord, FamilyId, GrantStore, InsertTokens, NewTokens,
        RefreshTokenRecord, RotateRefresh,
    },
};

/// Checks a [`GrantStore`]: round trips; `consume_code` and `rotate_refresh`
/// exactly once among 32 concurrent callers, with replays told apart;
/// family revocation; lookups by family handle and the forgetting of rotated
/// tokens; access-token revocation; and `purge_expired`.
///
/// # Panics
///
/// After the whole run, when the store broke any rule: the message lists
/// every violation, each with the check and the kit's line that found it.
pub async fn grant_store<S: GrantStore + ?Sized>(store: Arc<S>) {
    Report::assert_passed(&[report(store).await]);
}

/// The checks of [`grant_store`], reported.
pub(in crate::testkit) async fn report<S: GrantStore + ?Sized>(store: Arc<S>) -> Report {
    let mut suite = Suite::new("grant_store");
    let s = &*store;
    suite.run("round_trips", codes::round_trips(s)).await;
    suite.run("near_digests", codes::near_digests(s)).await;
    suite.run("consume_code", codes::consume_code(s)).await;
    suite
        .run("family_revocation", families::family_revocation(s))
        .await;
    suite
        .run("rotate_refresh", refresh::rotate_refresh(s))
        .await;
    suite
        .run("refresh_handles", refresh::refresh_handles(s))
        .await;
    suite
        .run("revoke_access_token", families::revoke_access_token(s))
        .await;
    suite
        .run("families_of_client", families::families_of_client(s))
        .await;
    suite.run("purge_expired", purge::purge_expired(s)).await;
    suite
        .run("consume_code_race", races::consume_code_race(store.clone()))
        .await;
    suite
        .run(
            "rotate_refresh_race",
            races::rotate_refresh_race(store.clone()),
        )
        .await;
    suite
        .run("insert_revoke_race", races::insert_revoke_race(store))
        .await;
    suite.finish()
}

/// New tokens holding copies of `a` and `r` (the checks compare them with
/// what the store hands back).
pub(super) fn tokens(a: &AccessTokenRecord, r: Option<&RefreshTokenRecord>) -> NewTokens {
    NewTokens {
        access: a.clone(),
        refresh: r.cloned(),
    }
}

pub(super) async fn find_code<S: GrantStore + ?Sized>(
    store: &S,
    d: &Digest,
) -> Option<AuthorizationCodeRecord> {
    ok("GrantStore::find_code", store.find_code(d).await).map(Arc::unwrap_or_clone)
}

pub(super) async fn find_access<S: GrantStore + ?Sized>(
    store: &S,
    d: &Digest,
) -> Option<AccessTokenRecord> {
    ok(
        "GrantStore::find_access_token",
        store.find_access_token(*d).await,
    )
    .map(|t| AccessTokenRecord::clone(&t))
}

pub(super) async fn find_refresh<S: GrantStore + ?Sized>(
    store: &S,
    d: &Digest,
) -> Option<RefreshTokenRecord> {
    ok(
        "GrantStore::find_refresh_token",
        store.find_refresh_token(d).await,
    )
    .map(Arc::unwrap_or_clone)
}

pub(super) async fn rotate<S: GrantStore + ?Sized>(
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

pub(super) async fn revoke_family<S: GrantStore + ?Sized>(
    store: &S,
    f: &FamilyId,
    at: OffsetDateTime,
) -> u64 {
    ok(
        "GrantStore::revoke_family",
        store.revoke_family(f, at).await,
    )
}

pub(super) async fn insert_code<S: GrantStore + ?Sized>(store: &S, c: &AuthorizationCodeRecord) {
    ok(
        "GrantStore::insert_code",
        store.insert_code(c.clone()).await,
    );
}

pub(super) async fn insert<S: GrantStore + ?Sized>(store: &S, t: NewTokens) {
    check_eq!(
        ok("GrantStore::insert_tokens", store.insert_tokens(t).await),
        InsertTokens::Inserted,
        "store conformance: GrantStore::insert_tokens into a live family must store"
    );
}

/// Asserts that `c`, `a` and `r` read back exactly as inserted: not
/// consumed, rotated or revoked, nor changed in any other field.
pub(super) async fn untouched<S: GrantStore + ?Sized>(
    store: &S,
    c: &AuthorizationCodeRecord,
    a: &AccessTokenRecord,
    r: &RefreshTokenRecord,
    rule: &str,
) {
    check_eq!(
        find_code(store, &c.digest).await.as_ref(),
        Some(c),
        "{rule}"
    );
    check_eq!(
        find_access(store, &a.digest).await.as_ref(),
        Some(a),
        "{rule}"
    );
    check_eq!(
        find_refresh(store, &r.digest).await.as_ref(),
        Some(r),
        "{rule}"
    );
}
