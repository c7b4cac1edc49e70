//! [`Answer`]: a value now, or a future of it.
//!
//! The hot path of every request is a store lookup and a decision. A store
//! that keeps its records in memory answers at once; a database makes the
//! caller wait. One type carries both, from the store's lookup
//! ([`Lookup`]) up through the services' `authenticate` to the HTTP layer,
//! so the memory stores cost no boxed future per request and a database
//! costs one, and every caller can simply `.await` the answer.

use std::{
    fmt,
    future::{Future, IntoFuture},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use crate::StoreError;

/// A boxed, sendable future of `T` that may borrow for `'a`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A value now, or a future of it; `.await` it either way.
///
/// A [`Later`](Answer::Later) answer has done nothing yet: dropping it
/// unpolled is free and changes nothing (an adapter that cannot keep the
/// borrow may drop it and ask again from a future that owns the request).
#[must_use = "an answer does nothing unless awaited or matched"]
pub enum Answer<'a, T> {
    /// Decided at once.
    Now(T),
    /// To be awaited (a store that waits, or a write that must come first).
    Later(BoxFuture<'a, T>),
}

impl<'a, T> Answer<'a, T> {
    /// A value now.
    pub fn now(value: T) -> Self {
        Self::Now(value)
    }

    /// A value later, when `future` completes.
    pub fn later(future: impl Future<Output = T> + Send + 'a) -> Self {
        Self::Later(Box::pin(future))
    }

    /// The answer with `f` applied to its value, now or when it comes.
    pub fn map<U>(self, f: impl FnOnce(T) -> U + Send + 'a) -> Answer<'a, U>
    where
        T: 'a,
    {
        match self {
            Self::Now(value) => Answer::Now(f(value)),
            Self::Later(future) => Answer::later(async move { f(future.await) }),
        }
    }
}

impl<T> fmt::Debug for Answer<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Now(_) => "Answer::Now(..)",
            Self::Later(_) => "Answer::Later(..)",
        })
    }
}

impl<'a, T> From<BoxFuture<'a, T>> for Answer<'a, T> {
    fn from(future: BoxFuture<'a, T>) -> Self {
        Self::Later(future)
    }
}

/// The future of an [`Answer`]: ready at its first poll, or the boxed one.
pub struct AnswerFuture<'a, T>(Inner<'a, T>);

enum Inner<'a, T> {
    Now(Option<T>),
    Later(BoxFuture<'a, T>),
}

impl<T> fmt::Debug for AnswerFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnswerFuture").finish_non_exhaustive()
    }
}

// Holds no self-reference: the boxed future is pinned on the heap, the
// ready value is moved out.
impl<T> Unpin for AnswerFuture<'_, T> {}

impl<T> Future for AnswerFuture<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match &mut self.get_mut().0 {
            Inner::Now(value) => match value.take() {
                Some(value) => Poll::Ready(value),
                // Polled again after completion: a contract breach of the
                // caller. Pending for ever rather than a panic.
                None => Poll::Pending,
            },
            Inner::Later(future) => future.as_mut().poll(cx),
        }
    }
}

impl<'a, T> IntoFuture for Answer<'a, T> {
    type Output = T;
    type IntoFuture = AnswerFuture<'a, T>;

    fn into_future(self) -> Self::IntoFuture {
        AnswerFuture(match self {
            Self::Now(value) => Inner::Now(Some(value)),
            Self::Later(future) => Inner::Later(future),
        })
    }
}

/// What a store's hot lookup returns: the shared record with that digest,
/// or none, now (a store in memory) or later (a database).
///
/// # Examples
///
/// A database-backed store answers later:
///
/// ```
/// # use std::sync::Arc;
/// # use papyrus_auth::{ApiKeyRecord, Digest, Lookup, StoreError};
/// # async fn select(_: &Digest) -> Result<Option<ApiKeyRecord>, StoreError> { Ok(None) }
/// fn find_by_digest<'a>(digest: &'a Digest) -> Lookup<'a, ApiKeyRecord> {
///     Lookup::later(async move { Ok(select(digest).await?.map(Arc::new)) })
/// }
/// ```
pub type Lookup<'a, R> = Answer<'a, Result<Option<Arc<R>>, StoreError>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    #[test]
    fn answers_now_and_later_await_alike() {
        assert_eq!(block_on(Answer::<u8>::now(7).into_future()), 7);
        assert_eq!(block_on(Answer::later(async { 7u8 }).into_future()), 7);
        assert_eq!(block_on(Answer::now(3u8).map(|v| v * 2).into_future()), 6);
        assert_eq!(
            block_on(Answer::later(async { 3u8 }).map(|v| v * 2).into_future()),
            6
        );
        assert_eq!(format!("{:?}", Answer::now(1)), "Answer::Now(..)");
    }
}
