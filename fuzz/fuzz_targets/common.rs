//! Helpers shared by the fuzz targets.

#![allow(dead_code)] // Each target uses a different part.

use std::{
    pin::pin,
    task::{Context, Poll, Waker},
};

/// Polls `f` to completion with a no-op waker. The in-memory stores never
/// wait, so no executor is needed.
pub fn block_on<F: std::future::IntoFuture>(f: F) -> F::Output {
    let mut f = pin!(f.into_future());
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}

/// Splits `data` at the first `n - 1` newlines into at most `n` UTF-8 parts;
/// `None` when a part is not UTF-8.
pub fn lines(data: &[u8], n: usize) -> Option<Vec<&str>> {
    data.splitn(n, |&b| b == b'\n')
        .map(|p| std::str::from_utf8(p).ok())
        .collect()
}

/// RFC 6750 §2.1 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
pub fn is_b64token(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// Whether `FUZZ_TRACE` is set: then targets print each input's outcome, to
/// check by hand that the seeds reach the paths they were written for.
pub fn trace() -> bool {
    static T: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *T.get_or_init(|| std::env::var_os("FUZZ_TRACE").is_some())
}
