//! Conformance of [`FailureCounters`] implementations.

use crate::testkit::report::{Report, Suite, abort, check, check_eq};
use std::{sync::Arc, time::Duration};

use super::fixtures::{RACERS, race, tenant};
use crate::throttle::FailureCounters;

/// Checks a [`FailureCounters`] store: a hit counts one and starts the
/// window only for a new counter (a later hit never extends it), peeks
/// change nothing, counters are apart, exactly one of 32 concurrent hits of
/// a counter sees each count from 1 to 32 (the increment is atomic), and a
/// counter is gone once its window ends.
///
/// Takes about a second: it waits for a short window to end.
///
/// # Panics
///
/// After the whole run, when the store broke any rule: the message lists
/// every violation, each with the check and the kit's line that found it.
pub async fn failure_counters<S: FailureCounters + ?Sized>(store: Arc<S>) {
    Report::assert_passed(&[report(store).await]);
}

/// The checks of [`failure_counters`], reported.
pub(super) async fn report<S: FailureCounters + ?Sized>(store: Arc<S>) -> Report {
    let mut suite = Suite::new("failure_counters");
    suite.run("windows_and_atomicity", checks(store)).await;
    suite.finish()
}

async fn checks<S: FailureCounters + ?Sized>(store: Arc<S>) {
    let unwrap = |what: &str, r: Result<Vec<crate::throttle::Count>, crate::StoreError>| {
        r.unwrap_or_else(|e| abort(format!("store conformance: {what} failed: {e}")))
    };
    // Fresh keys, so that the check may run on a store in use.
    let a = format!("kit:{}", tenant("a").as_str());
    let b = format!("kit:{}", tenant("b").as_str());
    let minute = Duration::from_secs(60);
    let hour = Duration::from_secs(3600);

    let counts = unwrap("FailureCounters::peek", store.peek(&[&a]).await);
    check_eq!(
        counts[0].failures,
        0,
        "store conformance: FailureCounters::peek of a new counter must be 0"
    );
    let counts = unwrap("FailureCounters::hit", store.hit(&[(&a, minute)]).await);
    check_eq!(
        counts[0].failures,
        1,
        "store conformance: FailureCounters::hit must count 1 for a new counter"
    );
    check!(
        counts[0].resets_in <= minute && counts[0].resets_in > minute / 2,
        "store conformance: FailureCounters::hit must start the window of a new counter ({:?})",
        counts[0].resets_in
    );
    let counts = unwrap(
        "FailureCounters::hit",
        store.hit(&[(&a, hour), (&b, hour)]).await,
    );
    check_eq!(
        (counts[0].failures, counts[1].failures),
        (2, 1),
        "store conformance: FailureCounters::hit must count each counter apart, in the order given"
    );
    check!(
        counts[0].resets_in <= minute,
        "store conformance: FailureCounters::hit must not extend a running window"
    );
    check!(
        counts[1].resets_in > minute,
        "store conformance: FailureCounters::hit must give a new counter the window it names"
    );
    let peeked = unwrap("FailureCounters::peek", store.peek(&[&a, &b]).await);
    let peeked_again = unwrap("FailureCounters::peek", store.peek(&[&a, &b]).await);
    check_eq!(
        (peeked[0].failures, peeked[1].failures),
        (2, 1),
        "store conformance: FailureCounters::peek must return the counts"
    );
    check_eq!(
        (peeked_again[0].failures, peeked_again[1].failures),
        (2, 1),
        "store conformance: FailureCounters::peek must not change a count"
    );

    // Concurrent failures of one counter: every count from 1 to 32 once.
    let raced = format!("kit:{}", tenant("raced").as_str());
    let counts = {
        let (store, raced) = (Arc::clone(&store), raced.clone());
        race("FailureCounters::hit", move |_| {
            let (store, raced) = (Arc::clone(&store), raced.clone());
            async move { store.hit(&[(&raced, minute)]).await }
        })
        .await
    };
    let mut seen: Vec<u64> = counts
        .into_iter()
        .map(|r| unwrap("FailureCounters::hit", r)[0].failures)
        .collect();
    seen.sort_unstable();
    check_eq!(
        seen,
        (1..=RACERS as u64).collect::<Vec<_>>(),
        "store conformance: concurrent FailureCounters::hit calls must each count one"
    );

    // A window ends: the counter is gone.
    let short = format!("kit:{}", tenant("short").as_str());
    unwrap(
        "FailureCounters::hit",
        store.hit(&[(&short, Duration::from_millis(300))]).await,
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    let counts = unwrap("FailureCounters::peek", store.peek(&[&short]).await);
    check_eq!(
        counts[0].failures,
        0,
        "store conformance: a counter must be gone once its window ends"
    );
    let counts = unwrap(
        "FailureCounters::hit",
        store.hit(&[(&short, Duration::from_millis(300))]).await,
    );
    check_eq!(
        counts[0].failures,
        1,
        "store conformance: a counter must start again at 1 after its window"
    );
}
