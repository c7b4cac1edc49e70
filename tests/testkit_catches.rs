//! The conformance kit itself: it reports every violation of a run (not
//! only the first), names the check and the kit's line that found each, and
//! catches a store whose `consume_code` or `rotate_refresh` checks and then
//! acts in two steps, in every one of 100 runs on 2 cores.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::{sync::Arc, time::Instant};

use async_trait::async_trait;
use papyrus_auth::{
    Digest, Lookup, MemoryGrantStore, OffsetDateTime, StoreError,
    oauth::{
        AccessTokenRecord, AuthorizationCodeRecord, ConsumeCode, FamilyId, GrantStore,
        InsertTokens, NewTokens, RefreshTokenRecord, RotateRefresh,
    },
    testkit,
};

/// Which of its atomic steps a [`Faulty`] store takes in two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// `consume_code` reads the code, yields, then writes whatever it finds.
    ConsumeCheckThenAct,
    /// `rotate_refresh` likewise.
    RotateCheckThenAct,
    /// Rules broken in several checks at once, none of them a race:
    /// `consume_code` answers a replay before a revoked family, and
    /// `purge_expired` purges nothing.
    Several,
}

/// A correct store ([`MemoryGrantStore`]) with one fault.
#[derive(Debug)]
struct Faulty {
    inner: MemoryGrantStore,
    fault: Fault,
}

impl Faulty {
    fn new(fault: Fault) -> Arc<Self> {
        Arc::new(Self {
            inner: MemoryGrantStore::new(),
            fault,
        })
    }
}

#[async_trait]
impl GrantStore for Faulty {
    async fn insert_code(&self, code: AuthorizationCodeRecord) -> Result<(), StoreError> {
        self.inner.insert_code(code).await
    }

    async fn find_code(
        &self,
        digest: &Digest,
    ) -> Result<Option<Arc<AuthorizationCodeRecord>>, StoreError> {
        self.inner.find_code(digest).await
    }

    async fn consume_code(
        &self,
        digest: &Digest,
        at: OffsetDateTime,
        tokens: NewTokens,
    ) -> Result<ConsumeCode, StoreError> {
        match self.fault {
            Fault::ConsumeCheckThenAct => {
                // Check…
                let Some(code) = self.inner.find_code(digest).await? else {
                    return Ok(ConsumeCode::Unknown);
                };
                if code.consumed_at.is_some() {
                    // (Every other answer as the trait says.)
                    return self.inner.consume_code(digest, at, tokens).await;
                }
                tokio::task::yield_now().await; // …a round trip to the database…
                // …then act on what was checked: whoever passed the check
                // stores its tokens and is told it won.
                match self.inner.consume_code(digest, at, tokens.clone()).await? {
                    ConsumeCode::AlreadyConsumed(_) => {
                        self.inner.insert_tokens(tokens).await?;
                        Ok(ConsumeCode::Consumed)
                    }
                    other => Ok(other),
                }
            }
            Fault::Several => match self.inner.find_code(digest).await? {
                Some(code) if code.consumed_at.is_some() => Ok(ConsumeCode::AlreadyConsumed(
                    Box::new(AuthorizationCodeRecord::clone(&code)),
                )),
                _ => self.inner.consume_code(digest, at, tokens).await,
            },
            Fault::RotateCheckThenAct => self.inner.consume_code(digest, at, tokens).await,
        }
    }

    async fn insert_tokens(&self, tokens: NewTokens) -> Result<InsertTokens, StoreError> {
        self.inner.insert_tokens(tokens).await
    }

    fn find_access_token(&self, digest: Digest) -> Lookup<'_, AccessTokenRecord> {
        self.inner.find_access_token(digest)
    }

    async fn find_refresh_token(
        &self,
        digest: &Digest,
    ) -> Result<Option<Arc<RefreshTokenRecord>>, StoreError> {
        self.inner.find_refresh_token(digest).await
    }

    async fn find_refresh_by_handle(
        &self,
        handle: &Digest,
    ) -> Result<Option<Arc<RefreshTokenRecord>>, StoreError> {
        self.inner.find_refresh_by_handle(handle).await
    }

    async fn rotate_refresh(
        &self,
        old: &Digest,
        new: NewTokens,
        at: OffsetDateTime,
        forget_rotated_before: OffsetDateTime,
    ) -> Result<RotateRefresh, StoreError> {
        if self.fault != Fault::RotateCheckThenAct {
            return self
                .inner
                .rotate_refresh(old, new, at, forget_rotated_before)
                .await;
        }
        let Some(token) = self.inner.find_refresh_token(old).await? else {
            return Ok(RotateRefresh::Unknown);
        };
        if token.revoked_at.is_some() || token.rotated_at.is_some() {
            // (Every other answer as the trait says.)
            return self
                .inner
                .rotate_refresh(old, new, at, forget_rotated_before)
                .await;
        }
        tokio::task::yield_now().await; // …a round trip to the database…
        match self
            .inner
            .rotate_refresh(old, new.clone(), at, forget_rotated_before)
            .await?
        {
            RotateRefresh::AlreadyRotated(_) => {
                self.inner.insert_tokens(new).await?;
                Ok(RotateRefresh::Rotated)
            }
            other => Ok(other),
        }
    }

    async fn revoke_family(
        &self,
        family: &FamilyId,
        at: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        self.inner.revoke_family(family, at).await
    }

    async fn revoke_access_token(
        &self,
        digest: &Digest,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.inner.revoke_access_token(digest, at).await
    }

    async fn families_of_client(
        &self,
        tenant: &papyrus_auth::TenantId,
        client: &papyrus_auth::oauth::ClientId,
    ) -> Result<Vec<FamilyId>, StoreError> {
        self.inner.families_of_client(tenant, client).await
    }

    async fn purge_expired(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        if self.fault == Fault::Several {
            return Ok(0);
        }
        self.inner.purge_expired(before).await
    }
}

/// The kit's report on `store`: `None` when it passed.
async fn kit_report(store: Arc<Faulty>) -> Option<String> {
    let run = tokio::spawn(testkit::grant_store(store)).await;
    match run {
        Ok(()) => None,
        Err(e) => {
            let payload = e.into_panic();
            Some(
                payload
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_else(|| "a panic without a message".to_owned()),
            )
        }
    }
}

/// Runs the kit 100 times on a store with `fault`; every run must name
/// `rule`.
async fn caught_every_time(fault: Fault, rule: &str) {
    let started = Instant::now();
    let mut caught = 0;
    for run in 0..100 {
        let report = kit_report(Faulty::new(fault)).await;
        match report {
            Some(report) if report.contains(rule) => {
                assert!(
                    report.contains("found 1 violation(s)"),
                    "run {run}: only the race is broken:\n{report}"
                );
                caught += 1;
            }
            Some(report) => panic!("run {run}: the kit missed {rule:?}:\n{report}"),
            None => panic!("run {run}: the kit passed a store with {fault:?}"),
        }
    }
    assert_eq!(caught, 100);
    println!(
        "{fault:?}: caught in 100 of 100 runs, {:?} a run",
        started.elapsed() / 100
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_then_act_consume_code_is_caught_in_every_run() {
    caught_every_time(
        Fault::ConsumeCheckThenAct,
        "GrantStore::consume_code must say Consumed exactly once",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_then_act_rotate_refresh_is_caught_in_every_run() {
    caught_every_time(
        Fault::RotateCheckThenAct,
        "GrantStore::rotate_refresh must say Rotated exactly once",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_violation_is_reported_with_its_check_and_line() {
    let report = kit_report(Faulty::new(Fault::Several))
        .await
        .expect("the kit refuses the store");
    // Both faults, from two checks, in one run.
    for expected in [
        "[family_revocation]",
        "GrantStore::consume_code in a revoked family must say FamilyRevoked",
        "[purge_expired]",
        "GrantStore::purge_expired must remove what expired",
    ] {
        assert!(
            report.contains(expected),
            "{expected:?} missing from:\n{report}"
        );
    }
    // Each names the kit's line that found it, not a helper's.
    assert!(
        report.contains("src/testkit/grants/families.rs:"),
        "{report}"
    );
    assert!(report.contains("src/testkit/grants/purge.rs:"), "{report}");
    assert!(!report.contains("fixtures.rs"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correct_store_passes() {
    let started = Instant::now();
    testkit::grant_store(Arc::new(MemoryGrantStore::new())).await;
    println!("grant_store on the memory store: {:?}", started.elapsed());
}
