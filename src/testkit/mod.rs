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
//! Each function panics, naming the method and the rule, at the first
//! violation, and also when a store call fails. Run them on a multi-thread
//! runtime: the concurrency checks spawn 32 tasks racing for one code, one
//! refresh token or one key, and a store that is only atomic by accident of
//! scheduling will be caught more often there.
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
//!   tokens; replays are told apart (`AlreadyConsumed`, `AlreadyRotated`);
//!   `rotate_refresh` exactly once among 32; `find_refresh_by_handle` finds
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
mod signing_keys;

use std::sync::Arc;

pub use api_keys::api_key_store;
pub use audit::audit_log;
pub use clients::client_store;
pub use counters::failure_counters;
pub use grants::grant_store;
pub use signing_keys::signing_key_store;

use crate::{AuditLog, api_key::ApiKeyStore, oauth::ClientStore, oauth::GrantStore};

/// Runs the whole suite: [`api_key_store`], [`client_store`],
/// [`grant_store`] and [`audit_log`], one after the other.
///
/// # Panics
///
/// At the first violation, with a message naming the method and the rule.
pub async fn run_all<K, C, G, A>(keys: Arc<K>, clients: Arc<C>, grants: Arc<G>, audit: Arc<A>)
where
    K: ApiKeyStore + ?Sized,
    C: ClientStore + ?Sized,
    G: GrantStore + ?Sized,
    A: AuditLog + ?Sized,
{
    api_key_store(keys).await;
    client_store(clients).await;
    grant_store(grants).await;
    audit_log(audit).await;
}
