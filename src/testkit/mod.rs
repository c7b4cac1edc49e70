//! The store conformance kit (feature `testkit`): the test suite every store
//! shipped with this crate passes, public so that your own implementation of
//! the store traits can prove the same.
//!
//! ```
//! use std::sync::Arc;
//! use papyrus_auth::{
//!     MemoryApiKeyStore, MemoryAuditLog, MemoryClientStore, MemoryGrantStore, testkit,
//! };
//!
//! // In your crate's tests/, with papyrus-auth's `testkit` feature on in
//! // [dev-dependencies], as `#[tokio::test(flavor = "multi_thread")]`:
//! async fn my_stores_conform() {
//!     // Your stores here: one value may serve several roles (pass clones of one Arc).
//!     testkit::run_all(
//!         Arc::new(MemoryApiKeyStore::new()),
//!         Arc::new(MemoryClientStore::new()),
//!         Arc::new(MemoryGrantStore::new()),
//!         Arc::new(MemoryAuditLog::new()),
//!     )
//!     .await;
//! }
//! # tokio::runtime::Builder::new_multi_thread().build().unwrap().block_on(my_stores_conform());
//! ```
//!
//! Each function runs all its checks, then panics once if the store broke
//! any rule, listing **every** violation, each with the check that found it
//! and the kit's line (`src/testkit/grants/purge.rs:117`), the rule, and
//! what the store answered instead. A check that cannot go on (a store
//! call failed, or the store panicked) stops there and the next one runs.
//!
//! The kit's documentation shows in your crate's `cargo doc` only when the
//! `testkit` feature is on in `[dependencies]`; in `[dev-dependencies]`
//! alone (the usual place) it is compiled for tests but not documented.
//! Read it on docs.rs or with `cargo doc --features papyrus-auth/testkit`.
//!
//! # What a green run proves, and what it does not
//!
//! A pass means the store answered every case the kit tries as the trait
//! documents, and that concurrent callers of `consume_code`,
//! `rotate_refresh`, key `rotate`, `revoke` and `touch_last_used` found one
//! winner. The races of `consume_code` and `rotate_refresh` run 24 rounds
//! of 32 callers: a third of the rounds take turns on one thread, where
//! every `await` inside the store lets every other caller run up to its own
//! (so a store that reads, awaits and then writes, instead of deciding in
//! one atomic step, is caught whatever the machine's load: 100 of 100 runs
//! in the kit's own tests, also with both cores busy), and the others run
//! in parallel on the runtime's threads, with and without staggered
//! starts, for a store whose check and write are apart without an `await`
//! (caught often, not surely). A race that needs more than that to show
//! (two processes, a replica lagging behind its primary, a transaction
//! isolation level that lets two writers through) may still pass:
//! concurrency is shown, not proven, by tests. Run the kit on a
//! multi-thread runtime, against the database your deployment uses.
//!
//! # What is checked
//!
//! * [`api_key_store`]: insert / get / list / find-by-digest round trips of
//!   every field; duplicate ids and digests are conflicts; tenant isolation;
//!   revoke is idempotent and keeps the first `revoked_at`; every rotate
//!   outcome, and a failed rotate stores nothing; `touch_last_used` writes
//!   only when stale, exactly once among 32 concurrent callers.
//! * [`client_store`]: round trips, duplicate ids (a conflict within a
//!   tenant; another tenant may use the id), tenant isolation.
//! * [`grant_store`]: codes and tokens round trip; `consume_code` succeeds
//!   exactly once among 32 concurrent callers and stores only the winner's
//!   tokens, in each of 24 rounds; replays are told apart
//!   (`AlreadyConsumed`, `AlreadyRotated`), after a revoked family
//!   (`FamilyRevoked`, `Revoked`); `rotate_refresh` exactly once among 32,
//!   in each of 24 rounds; `find_refresh_by_handle` finds
//!   a family's newest refresh token by the whole handle digest, and
//!   `rotate_refresh` deletes the family's tokens rotated at or before the
//!   time it is given (only those, only in that family, never a token
//!   without a handle, nothing when the rotation fails); `revoke_family` revokes every
//!   token of the family and refuses later inserts, exchanges and
//!   rotations in it; `revoke_access_token`; `purge_expired` removes what
//!   expired, keeps consumed codes while their family has a live refresh
//!   token and keeps a revoked family's marker.
//! * [`audit_log`]: every event kind and actor round trips; queries per
//!   tenant and per key, newest first (ties: last recorded first), with a
//!   limit.
//! * [`signing_key_store`]: key rings round trip; the first insert of a
//!   generation wins, exactly once among 32 concurrent callers; purposes
//!   are apart; deleting older generations.
//! * [`failure_counters`]: the throttle's counters count one per hit, in
//!   windows that start with a counter and are never extended, atomically
//!   among 32 concurrent callers, and end.
//!
//! The last two are not part of [`run_all`]: a store that keeps no signing
//! keys or counters need not implement their traits.
//!
//! # Using a shared store
//!
//! The suite makes fresh random tenants, ids and digests on every run, so it
//! may run on a store that holds other data, and twice on the same store.
//! Its records are dated in 2030, except those of the purge check, dated in
//! 2001: `purge_expired` is called with a 2001 date, so it removes nothing
//! dated later. Do not run the suite against production data all the same.

mod api_keys;
mod audit;
mod clients;
mod counters;
mod fixtures;
mod grants;
mod report;
mod signing_keys;

use std::sync::Arc;

pub use api_keys::api_key_store;
pub use audit::audit_log;
pub use clients::client_store;
pub use counters::failure_counters;
pub use grants::grant_store;
pub use signing_keys::signing_key_store;

use crate::{AuditLog, api_key::ApiKeyStore, oauth::ClientStore, oauth::GrantStore};
use report::Report;

/// Runs the whole suite: [`api_key_store`], [`client_store`],
/// [`grant_store`] and [`audit_log`], one after the other.
///
/// # Panics
///
/// After the whole run, when a store broke any rule: the message lists
/// every violation of every suite, each with the check and the kit's line
/// that found it.
pub async fn run_all<K, C, G, A>(keys: Arc<K>, clients: Arc<C>, grants: Arc<G>, audit: Arc<A>)
where
    K: ApiKeyStore + ?Sized,
    C: ClientStore + ?Sized,
    G: GrantStore + ?Sized,
    A: AuditLog + ?Sized,
{
    Report::assert_passed(&[
        api_keys::report(keys).await,
        clients::report(clients).await,
        grants::report(grants).await,
        audit::report(audit).await,
    ]);
}
