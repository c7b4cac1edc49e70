//! Metrics, through the [`metrics`](https://docs.rs/metrics) facade (feature
//! `metrics`; without it every call here compiles to nothing).
//!
//! Install any `metrics` recorder in the application and these appear:
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `papyrus_auth_authentications_total` | counter | `method`, `outcome`, `reason` | every authentication answered by the HTTP layer |
//! | `papyrus_auth_throttled_total` | counter | – | failing requests refused with `429` |
//! | `papyrus_auth_throttle_fallback_total` | counter | – | failures counted in process because the shared counter store failed |
//! | `papyrus_auth_store_errors_total` | counter | `store` | store calls that failed |
//! | `papyrus_auth_store_seconds` | histogram | `op` | time of the store lookups an authentication waited for |
//!
//! * `method`: `api_key`, `access_token`, `client` (token, revocation and
//!   introspection endpoints), `password` (the sign-in form);
//! * `outcome`: `success`, `rejected`, `throttled`, `unavailable`;
//! * `reason`: the [`Rejection`](crate::Rejection) or OAuth error code
//!   (`revoked`, `unknown`, `invalid_grant`, …), or `none`.
//!
//! No label ever holds a credential, a token, a client id, a username, a
//! tenant or an address: every label has a small fixed set of values.
//!
//! With feature `prometheus`, [`install_prometheus`] installs a recorder,
//! and [`crate::http::metrics_response`] renders it in the Prometheus text
//! format (the example server serves it at `/metrics`).

#[cfg(feature = "metrics")]
use std::time::Duration;

/// How an authentication ended, for `papyrus_auth_authentications_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Accepted.
    Success,
    /// Refused with `4xx` (not throttled).
    Rejected,
    /// Refused with `429`.
    Throttled,
    /// The store failed (`503`).
    Unavailable,
}

impl Outcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Rejected => "rejected",
            Self::Throttled => "throttled",
            Self::Unavailable => "unavailable",
        }
    }
}

/// The counters of accepted authentications (the hot path), registered
/// once, when the HTTP layer is built: a success then costs an atomic add
/// (nothing without a recorder), not a registry lookup per request. A
/// recorder must be installed before the HTTP layer is built for these to
/// reach it.
#[derive(Clone, Default)]
pub(crate) struct Successes {
    #[cfg(feature = "metrics")]
    api_key: Option<metrics::Counter>,
    #[cfg(feature = "metrics")]
    access_token: Option<metrics::Counter>,
}

impl std::fmt::Debug for Successes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Successes").finish_non_exhaustive()
    }
}

impl Successes {
    /// Registers the counters with the installed recorder.
    pub(crate) fn register() -> Self {
        #[cfg(feature = "metrics")]
        {
            let counter = |method: &'static str| {
                metrics::counter!(
                    "papyrus_auth_authentications_total",
                    "method" => method,
                    "outcome" => Outcome::Success.as_str(),
                    "reason" => "none"
                )
            };
            Self {
                api_key: Some(counter("api_key")),
                access_token: Some(counter("access_token")),
            }
        }
        #[cfg(not(feature = "metrics"))]
        Self::default()
    }

    /// Counts one accepted authentication by `method`.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn count(&self, method: &'static str) {
        #[cfg(feature = "metrics")]
        {
            let counter = if method == "access_token" {
                &self.access_token
            } else {
                &self.api_key
            };
            match counter {
                Some(c) => c.increment(1),
                None => authentication(method, Outcome::Success, "none"),
            }
        }
    }
}

/// Counts an authentication answered by the HTTP layer.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn authentication(method: &'static str, outcome: Outcome, reason: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(
        "papyrus_auth_authentications_total",
        "method" => method,
        "outcome" => outcome.as_str(),
        "reason" => reason
    )
    .increment(1);
}

/// Counts a failing request refused with `429`.
pub(crate) fn throttled() {
    #[cfg(feature = "metrics")]
    metrics::counter!("papyrus_auth_throttled_total").increment(1);
}

/// Counts a failure counted in process because the shared store failed.
pub(crate) fn throttle_fallback() {
    #[cfg(feature = "metrics")]
    metrics::counter!("papyrus_auth_throttle_fallback_total").increment(1);
}

/// Counts a failed store call.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn store_error(store: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("papyrus_auth_store_errors_total", "store" => store).increment(1);
}

/// Times a store lookup that an authentication waits for.
#[cfg(feature = "metrics")]
pub(crate) struct StoreTimer {
    op: &'static str,
    start: std::time::Instant,
}

#[cfg(feature = "metrics")]
impl StoreTimer {
    pub(crate) fn start(op: &'static str) -> Self {
        Self {
            op,
            start: std::time::Instant::now(),
        }
    }

    pub(crate) fn stop(self) {
        let elapsed: Duration = self.start.elapsed();
        metrics::histogram!("papyrus_auth_store_seconds", "op" => self.op)
            .record(elapsed.as_secs_f64());
    }
}

/// Times a store lookup (without feature `metrics`: nothing).
#[cfg(not(feature = "metrics"))]
pub(crate) struct StoreTimer;

#[cfg(not(feature = "metrics"))]
impl StoreTimer {
    pub(crate) fn start(_op: &'static str) -> Self {
        Self
    }

    pub(crate) fn stop(self) {}
}

/// The handle of an installed Prometheus recorder (feature `prometheus`).
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub use metrics_exporter_prometheus::PrometheusHandle;

/// Installs a Prometheus recorder as the global `metrics` recorder and
/// returns its handle: `handle.render()` is the text to serve at
/// `/metrics`. Call it once, at start-up.
///
/// # Errors
///
/// When a global recorder is already installed.
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub fn install_prometheus() -> Result<PrometheusHandle, metrics_exporter_prometheus::BuildError> {
    metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()
}
