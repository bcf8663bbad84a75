//! Retries with exponential backoff and jitter inside a time budget. The caller decides
//! which failures are worth retrying; this module only decides when, and how often.

use std::{future::Future, time::Duration};

use backon::{BackoffBuilder, ExponentialBuilder};

/// How often and how far apart to retry.
///
/// (No defaults here: the values come from the configuration, whose settings in
/// `baton-core` hold the one set of defaults.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
}

/// Every attempt failed, or the budget ran out: each attempt's error, in order.
#[derive(Debug)]
pub struct Exhausted<E> {
    pub errors: Vec<E>,
    /// Whether the last error was not retryable (as opposed to running out of attempts
    /// or budget).
    pub gave_up: GaveUp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GaveUp {
    NotRetryable,
    Attempts,
    Budget,
}

/// Runs `attempt` until it succeeds, fails with an error `retryable` rejects, uses up
/// `policy.max_attempts`, or the next try would start after `deadline`.
pub async fn retry<T, E, F, Fut>(
    policy: RetryPolicy,
    deadline: tokio::time::Instant,
    retryable: impl Fn(&E) -> bool,
    mut attempt: F,
) -> Result<T, Exhausted<E>>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(policy.initial_delay)
        .with_max_delay(policy.max_delay)
        .with_jitter()
        .without_max_times()
        .build();
    let mut errors = Vec::new();
    for number in 1..=policy.max_attempts.max(1) {
        let error = match attempt(number).await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let again = retryable(&error);
        errors.push(error);
        if !again {
            return Err(Exhausted {
                errors,
                gave_up: GaveUp::NotRetryable,
            });
        }
        if number == policy.max_attempts.max(1) {
            break;
        }
        let delay = delays.next().unwrap_or(policy.max_delay);
        if tokio::time::Instant::now() + delay >= deadline {
            return Err(Exhausted {
                errors,
                gave_up: GaveUp::Budget,
            });
        }
        tokio::time::sleep(delay).await;
    }
    Err(Exhausted {
        errors,
        gave_up: GaveUp::Attempts,
    })
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        }
    }

    fn far() -> tokio::time::Instant {
        tokio::time::Instant::now() + Duration::from_secs(3600)
    }

    #[tokio::test(start_paused = true)]
    async fn retries_retryable_errors_until_success() {
        let calls = Cell::new(0);
        let result = retry(
            policy(5),
            far(),
            |_: &&str| true,
            |_| {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move { if n < 3 { Err("flaky") } else { Ok(n) } }
            },
        )
        .await;
        assert_eq!(result.unwrap(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn stops_at_a_non_retryable_error() {
        let result: Result<(), _> = retry(
            policy(5),
            far(),
            |e: &&str| *e != "fatal",
            |_| async { Err("fatal") },
        )
        .await;
        let exhausted = result.unwrap_err();
        assert_eq!(exhausted.errors, vec!["fatal"]);
        assert_eq!(exhausted.gave_up, GaveUp::NotRetryable);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_attempts_with_every_error() {
        let result: Result<(), _> =
            retry(policy(3), far(), |_: &u32| true, |n| async move { Err(n) }).await;
        let exhausted = result.unwrap_err();
        assert_eq!(exhausted.errors, vec![1, 2, 3]);
        assert_eq!(exhausted.gave_up, GaveUp::Attempts);
    }

    #[tokio::test(start_paused = true)]
    async fn never_retries_past_the_budget() {
        // The first delay is at least 100 ms; a 50 ms budget allows no retry.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(50);
        let result: Result<(), _> = retry(
            policy(5),
            deadline,
            |_: &u32| true,
            |n| async move { Err(n) },
        )
        .await;
        let exhausted = result.unwrap_err();
        assert_eq!(exhausted.errors, vec![1]);
        assert_eq!(exhausted.gave_up, GaveUp::Budget);
    }
}
