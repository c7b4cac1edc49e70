//! Conformance of [`SigningKeyStore`] implementations.

use crate::testkit::report::{Report, Suite, check, check_eq};
use std::sync::Arc;

use super::fixtures::{at, ok, race, tenant};
use crate::signing::{SigningKey, SigningKeyStore};

/// Checks a [`SigningKeyStore`]: keys round trip (secret bytes included),
/// the first insert of a generation wins and a later one changes nothing,
/// exactly one of 32 concurrent inserts of a generation is stored, rings of
/// different purposes are apart, and deleting before a generation deletes
/// only older keys of that ring.
///
/// # Panics
///
/// After the whole run, when the store broke any rule: the message lists
/// every violation, each with the check and the kit's line that found it.
pub async fn signing_key_store<S: SigningKeyStore + ?Sized>(store: Arc<S>) {
    Report::assert_passed(&[report(store).await]);
}

/// The checks of [`signing_key_store`], reported.
pub(super) async fn report<S: SigningKeyStore + ?Sized>(store: Arc<S>) -> Report {
    let mut suite = Suite::new("signing_key_store");
    suite.run("key_rings", checks(store)).await;
    suite.finish()
}

async fn checks<S: SigningKeyStore + ?Sized>(store: Arc<S>) {
    // Fresh purposes, so that the check may run on a store in use.
    let purpose = tenant("ring").as_str().to_owned();
    let other = tenant("other-ring").as_str().to_owned();
    let first = SigningKey::generate(1, at(0));
    check!(
        ok(
            "SigningKeyStore::insert_signing_key",
            store.insert_signing_key(&purpose, &first).await
        ),
        "store conformance: SigningKeyStore::insert_signing_key of a new generation must return true"
    );
    let impostor = SigningKey::generate(1, at(5));
    check!(
        !ok(
            "SigningKeyStore::insert_signing_key",
            store.insert_signing_key(&purpose, &impostor).await
        ),
        "store conformance: SigningKeyStore::insert_signing_key of an existing generation must return false"
    );
    check_eq!(
        ok(
            "SigningKeyStore::signing_keys",
            store.signing_keys(&purpose).await
        ),
        vec![first.clone()],
        "store conformance: SigningKeyStore::signing_keys must return the first key of a generation, secret and all"
    );
    check!(
        ok(
            "SigningKeyStore::signing_keys",
            store.signing_keys(&other).await
        )
        .is_empty(),
        "store conformance: SigningKeyStore::signing_keys must return only the purpose's ring"
    );

    // Instances rotating at the same moment: one key per generation.
    let candidates: Vec<SigningKey> = (0..super::fixtures::RACERS)
        .map(|_| SigningKey::generate(2, at(60)))
        .collect();
    let stored = {
        let (store, purpose, candidates) = (
            Arc::clone(&store),
            purpose.clone(),
            Arc::new(candidates.clone()),
        );
        race("SigningKeyStore::insert_signing_key", move |i| {
            let (store, purpose, candidates) =
                (Arc::clone(&store), purpose.clone(), Arc::clone(&candidates));
            async move { store.insert_signing_key(&purpose, &candidates[i]).await }
        })
        .await
    };
    let stored: Vec<bool> = stored
        .into_iter()
        .map(|r| ok("SigningKeyStore::insert_signing_key", r))
        .collect();
    let winners: Vec<usize> = (0..stored.len()).filter(|&i| stored[i]).collect();
    check_eq!(
        winners.len(),
        1,
        "store conformance: exactly one of concurrent SigningKeyStore::insert_signing_key calls of a generation must be stored"
    );
    let [w] = winners[..] else {
        return; // Recorded above; the rest needs one winner.
    };
    let mut ring = ok(
        "SigningKeyStore::signing_keys",
        store.signing_keys(&purpose).await,
    );
    ring.sort_by_key(|k| k.generation);
    check_eq!(
        ring,
        vec![first.clone(), candidates[w].clone()],
        "store conformance: the stored key of a raced generation must be the winner's"
    );

    ok(
        "SigningKeyStore::insert_signing_key",
        store
            .insert_signing_key(&other, &SigningKey::generate(1, at(0)))
            .await,
    );
    check_eq!(
        ok(
            "SigningKeyStore::delete_signing_keys_before",
            store.delete_signing_keys_before(&purpose, 2).await
        ),
        1,
        "store conformance: SigningKeyStore::delete_signing_keys_before must delete the older keys and count them"
    );
    let ring = ok(
        "SigningKeyStore::signing_keys",
        store.signing_keys(&purpose).await,
    );
    check_eq!(
        ring.iter().map(|k| k.generation).collect::<Vec<_>>(),
        vec![2],
        "store conformance: SigningKeyStore::delete_signing_keys_before must keep the generation it names"
    );
    check_eq!(
        ok(
            "SigningKeyStore::signing_keys",
            store.signing_keys(&other).await
        )
        .len(),
        1,
        "store conformance: SigningKeyStore::delete_signing_keys_before must not touch another purpose's ring"
    );
}
