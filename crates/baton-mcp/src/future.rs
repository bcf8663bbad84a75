//! [`then`]: `FutureExt::map` without its copy. futures' `Map` ends by replacing its whole
//! state (pin-project's `project_replace` writes a value of the full size), a copy as large
//! as the future it wraps; on the call path that is a copy of the call's future per call.

use std::{
    pin::Pin,
    task::{Context, Poll, ready},
};

pin_project_lite::pin_project! {
    /// `future`, then `f` applied to its output ([`then`]).
    #[must_use = "futures do nothing unless polled"]
    pub struct Then<Fut, F> {
        #[pin]
        future: Fut,
        f: Option<F>,
    }
}

/// `future`, its output passed through `f`; `future` stays where it is until this is
/// dropped.
pub fn then<Fut: Future, F: FnOnce(Fut::Output) -> T, T>(future: Fut, f: F) -> Then<Fut, F> {
    Then { future, f: Some(f) }
}

impl<Fut: Future, F: FnOnce(Fut::Output) -> T, T> Future for Then<Fut, F> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.project();
        let output = ready!(this.future.poll(cx));
        match this.f.take() {
            Some(f) => Poll::Ready(f(output)),
            None => panic!("`Then` polled after it completed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_output_goes_through_f_once_the_future_is_done() {
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let mut mapped = std::pin::pin!(then(rx, |got| got.map(|n| n * 2)));
        assert!(futures::poll!(mapped.as_mut()).is_pending());
        tx.send(21).unwrap();
        assert_eq!(mapped.await, Ok(42));
    }
}
