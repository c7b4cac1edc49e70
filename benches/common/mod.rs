//! Helpers shared by the benches.

use std::{
    future::IntoFuture,
    pin::pin,
    task::{Context, Poll, Waker},
};

/// Polls `f` to completion with a no-op waker. The in-memory stores never
/// wait, so this measures the library, not an executor. Takes anything
/// `.await` takes (a future, or an `Answer` that is ready at once).
pub(crate) fn block_on<F: IntoFuture>(f: F) -> F::Output {
    let mut f = pin!(f.into_future());
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}
