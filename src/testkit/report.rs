//! How the kit reports: every violation of a run, each with the line of
//! the check that found it.
//!
//! A suite is a list of named checks. A check records a violation and goes
//! on ([`check!`] and [`check_eq!`]); it stops early only when it cannot go
//! on (a store call failed, or the store panicked), and then the next check
//! runs. At the end the suite panics once, listing them all.

use std::{
    any::Any,
    fmt,
    future::Future,
    panic::{AssertUnwindSafe, Location},
    pin::Pin,
    sync::{Mutex, Once, PoisonError},
    task::{Context, Poll},
};

/// One rule a store broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Violation {
    /// The check that found it (`consume_code`).
    pub(super) check: &'static str,
    /// The kit's line that found it.
    pub(super) location: String,
    /// The rule and what the store did instead.
    pub(super) message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}: {}", self.check, self.location, self.message)
    }
}

/// What a check stops with when it cannot go on (carried by a panic, so
/// that it also crosses spawned tasks).
#[derive(Debug)]
pub(super) struct Abort {
    location: String,
    message: String,
}

tokio::task_local! {
    static FOUND: Mutex<Vec<(String, String)>>;
}

/// Records a violation found at `file:line`, and goes on.
pub(super) fn record(file: &str, line: u32, message: String) {
    let at = format!("{file}:{line}");
    let recorded = FOUND.try_with(|found| {
        found
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((at.clone(), message.clone()));
    });
    if recorded.is_err() {
        // Outside a suite (a spawned task): stop this task; the suite
        // records it when it joins the task.
        std::panic::panic_any(Abort {
            location: at,
            message,
        });
    }
}

/// Stops the current check: it cannot go on.
#[track_caller]
pub(super) fn abort(message: String) -> ! {
    let location = Location::caller();
    silence_aborts();
    std::panic::panic_any(Abort {
        location: format!("{}:{}", location.file(), location.line()),
        message,
    })
}

/// Records a violation unless `cond`, and goes on.
macro_rules! check {
    ($cond:expr $(,)?) => {
        if !$cond {
            $crate::testkit::report::record(
                file!(),
                line!(),
                concat!("check failed: ", stringify!($cond)).to_owned(),
            );
        }
    };
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            $crate::testkit::report::record(file!(), line!(), format!($($arg)+));
        }
    };
}

/// Records a violation unless `left == right` (both shown), and goes on.
macro_rules! check_eq {
    ($left:expr, $right:expr $(,)?) => {
        $crate::testkit::report::check_eq!($left, $right, "the two must be equal")
    };
    ($left:expr, $right:expr, $($arg:tt)+) => {
        match (&$left, &$right) {
            (left, right) => {
                if !(*left == *right) {
                    $crate::testkit::report::record(
                        file!(),
                        line!(),
                        format!("{}\n      got: {:?}\n expected: {:?}", format!($($arg)+), left, right),
                    );
                }
            }
        }
    };
}

pub(super) use {check, check_eq};

/// The checks of one suite, run one after another, each to its end or its
/// abort; every violation kept.
pub(super) struct Suite {
    name: &'static str,
    violations: Vec<Violation>,
}

impl Suite {
    pub(super) fn new(name: &'static str) -> Self {
        silence_aborts();
        Self {
            name,
            violations: Vec::new(),
        }
    }

    /// Runs the check `name`.
    pub(super) async fn run(&mut self, name: &'static str, check: impl Future<Output = ()> + Send) {
        let found = Mutex::new(Vec::new());
        let outcome = FOUND
            .scope(found, async {
                let outcome = CatchUnwind(Box::pin(check)).await;
                let found = FOUND.with(|f| {
                    std::mem::take(&mut *f.lock().unwrap_or_else(PoisonError::into_inner))
                });
                (outcome, found)
            })
            .await;
        let (outcome, found) = outcome;
        for (location, message) in found {
            self.violations.push(Violation {
                check: name,
                location,
                message,
            });
        }
        if let Err(payload) = outcome {
            let (location, message) = describe(payload);
            self.violations.push(Violation {
                check: name,
                location,
                message,
            });
        }
    }

    /// The violations found.
    pub(super) fn finish(self) -> Report {
        Report {
            suite: self.name,
            violations: self.violations,
        }
    }
}

/// What a suite found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub(super) struct Report {
    suite: &'static str,
    violations: Vec<Violation>,
}

impl Report {
    /// Panics listing every violation of `reports`, if there is any.
    #[track_caller]
    pub(super) fn assert_passed(reports: &[Report]) {
        let failed: Vec<String> = reports
            .iter()
            .filter(|r| !r.violations.is_empty())
            .map(Report::to_string)
            .collect();
        assert!(failed.is_empty(), "{}", failed.join("\n"));
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.violations.is_empty() {
            return write!(f, "store conformance: {} passed", self.suite);
        }
        writeln!(
            f,
            "store conformance: {} found {} violation(s):",
            self.suite,
            self.violations.len()
        )?;
        for (i, v) in self.violations.iter().enumerate() {
            writeln!(f, "{:>3}. {v}", i + 1)?;
        }
        Ok(())
    }
}

/// The location and message of a check's abort, or of a panic in the
/// store.
fn describe(payload: Box<dyn Any + Send>) -> (String, String) {
    let payload = match payload.downcast::<Abort>() {
        Ok(abort) => return (abort.location, abort.message),
        Err(other) => other,
    };
    let text = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic without a message".to_owned());
    (
        "(a panic)".to_owned(),
        format!("the check panicked, in the store or on an answer it could not use: {text}"),
    )
}

/// The default panic hook prints every panic; the kit's own aborts are
/// reported in its summary instead.
fn silence_aborts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<Abort>().is_none() {
                previous(info);
            }
        }));
    });
}

/// A future whose panics are caught, as `futures::FutureExt::catch_unwind`.
struct CatchUnwind<'a>(Pin<Box<dyn Future<Output = ()> + Send + 'a>>);

impl Future for CatchUnwind<'_> {
    type Output = Result<(), Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(())) => Poll::Ready(Ok(())),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}
