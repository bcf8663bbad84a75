//! A circuit breaker: opens after N consecutive failures or a failure rate over a sliding
//! window (with a minimum number of calls); while open, calls are rejected at once; after
//! the open period a limited number of trial calls decide between closing and reopening.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

/// A circuit breaker's thresholds. (No defaults here: the values come from the
/// configuration, whose settings in `baton-core` hold the one set of defaults.)
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerPolicy {
    /// Opens after this many failures in a row.
    pub consecutive_failures: u32,
    /// Opens when at least this share of the calls in `window` failed ...
    pub failure_rate: f64,
    pub window: Duration,
    /// ... and there were at least this many calls in it.
    pub min_calls: u32,
    /// How long it stays open before trial calls are let through.
    pub open_for: Duration,
    /// Trial calls let through while half-open; all must succeed to close.
    pub trial_calls: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open { until: Instant, failures: u32 },
    HalfOpen { trials_left: u32, successes: u32 },
}

/// Permission to make a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    Normal,
    /// A half-open trial: the caller should probe the server cheaply first.
    Trial,
}

/// The breaker refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    pub failures: u32,
    pub retry_in: Duration,
}

/// A state change worth an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Opened { failures: u32 },
    HalfOpened,
    Closed,
}

#[derive(Debug)]
pub struct Breaker {
    policy: BreakerPolicy,
    state: BreakerState,
    consecutive: u32,
    outcomes: VecDeque<(Instant, bool)>,
}

impl Breaker {
    pub fn new(policy: BreakerPolicy) -> Self {
        Breaker {
            policy,
            state: BreakerState::Closed,
            consecutive: 0,
            outcomes: VecDeque::new(),
        }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// May a call start at `now`? Moves an expired open breaker to half-open.
    pub fn check(&mut self, now: Instant) -> (Result<Permit, Rejected>, Option<Transition>) {
        match self.state {
            BreakerState::Closed => (Ok(Permit::Normal), None),
            BreakerState::Open { until, failures } if now < until => (
                Err(Rejected {
                    failures,
                    retry_in: until - now,
                }),
                None,
            ),
            BreakerState::Open { .. } => {
                self.state = BreakerState::HalfOpen {
                    trials_left: self.policy.trial_calls.max(1) - 1,
                    successes: 0,
                };
                (Ok(Permit::Trial), Some(Transition::HalfOpened))
            }
            BreakerState::HalfOpen {
                trials_left,
                successes,
            } => {
                if trials_left == 0 {
                    return (
                        Err(Rejected {
                            failures: self.consecutive,
                            retry_in: Duration::ZERO,
                        }),
                        None,
                    );
                }
                self.state = BreakerState::HalfOpen {
                    trials_left: trials_left - 1,
                    successes,
                };
                (Ok(Permit::Trial), None)
            }
        }
    }

    /// Gives back a trial permit that was not used (the call never started).
    pub fn release(&mut self, permit: Permit) {
        if let (
            Permit::Trial,
            BreakerState::HalfOpen {
                trials_left,
                successes,
            },
        ) = (permit, self.state)
        {
            self.state = BreakerState::HalfOpen {
                trials_left: trials_left + 1,
                successes,
            };
        }
    }

    /// Records a call's outcome at `now`.
    pub fn record(&mut self, now: Instant, success: bool) -> Option<Transition> {
        self.outcomes.push_back((now, success));
        while self
            .outcomes
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > self.policy.window)
        {
            self.outcomes.pop_front();
        }
        self.consecutive = if success { 0 } else { self.consecutive + 1 };
        match self.state {
            BreakerState::HalfOpen { successes, .. } if success => {
                if successes + 1 >= self.policy.trial_calls.max(1) {
                    self.close();
                    return Some(Transition::Closed);
                }
                if let BreakerState::HalfOpen { trials_left, .. } = self.state {
                    self.state = BreakerState::HalfOpen {
                        trials_left,
                        successes: successes + 1,
                    };
                }
                None
            }
            BreakerState::HalfOpen { .. } => Some(self.open(now)),
            BreakerState::Closed if !success && self.should_open() => Some(self.open(now)),
            _ => None,
        }
    }

    fn should_open(&self) -> bool {
        if self.consecutive >= self.policy.consecutive_failures {
            return true;
        }
        let calls = self.outcomes.len() as u32;
        let failures = self.outcomes.iter().filter(|(_, ok)| !ok).count() as f64;
        calls >= self.policy.min_calls && failures / f64::from(calls) >= self.policy.failure_rate
    }

    fn open(&mut self, now: Instant) -> Transition {
        let in_window = self.outcomes.iter().filter(|(_, ok)| !ok).count();
        let failures = self
            .consecutive
            .max(u32::try_from(in_window).unwrap_or(u32::MAX))
            .max(1);
        self.state = BreakerState::Open {
            until: now + self.policy.open_for,
            failures,
        };
        Transition::Opened { failures }
    }

    fn close(&mut self) {
        self.state = BreakerState::Closed;
        self.consecutive = 0;
        self.outcomes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BreakerPolicy {
        BreakerPolicy {
            consecutive_failures: 3,
            failure_rate: 0.5,
            window: Duration::from_secs(10),
            min_calls: 6,
            open_for: Duration::from_secs(5),
            trial_calls: 1,
        }
    }

    #[test]
    fn opens_after_consecutive_failures_and_rejects_until_the_period_ends() {
        let mut breaker = Breaker::new(policy());
        let t0 = Instant::now();
        assert_eq!(breaker.record(t0, false), None);
        assert_eq!(breaker.record(t0, false), None);
        assert_eq!(
            breaker.record(t0, false),
            Some(Transition::Opened { failures: 3 })
        );
        let (decision, _) = breaker.check(t0 + Duration::from_secs(2));
        assert_eq!(
            decision,
            Err(Rejected {
                failures: 3,
                retry_in: Duration::from_secs(3)
            })
        );
    }

    #[test]
    fn a_successful_trial_closes_a_failed_one_reopens() {
        let mut breaker = Breaker::new(policy());
        let t0 = Instant::now();
        for _ in 0..3 {
            breaker.record(t0, false);
        }
        let later = t0 + Duration::from_secs(6);
        assert_eq!(
            breaker.check(later),
            (Ok(Permit::Trial), Some(Transition::HalfOpened))
        );
        // Only one trial at a time.
        assert!(breaker.check(later).0.is_err());
        assert_eq!(
            breaker.record(later, false),
            Some(Transition::Opened { failures: 4 })
        );
        let much_later = later + Duration::from_secs(6);
        assert_eq!(breaker.check(much_later).0, Ok(Permit::Trial));
        assert_eq!(breaker.record(much_later, true), Some(Transition::Closed));
        assert_eq!(breaker.check(much_later).0, Ok(Permit::Normal));
    }

    #[test]
    fn a_failure_rate_over_the_window_opens_with_enough_calls() {
        let mut breaker = Breaker::new(policy());
        let t0 = Instant::now();
        // Alternating: never 3 failures in a row, but 50 % over 6 calls.
        let mut transition = None;
        for i in 0..6 {
            transition = breaker.record(t0 + Duration::from_millis(i), i % 2 == 0);
        }
        assert_eq!(transition, Some(Transition::Opened { failures: 3 }));
    }

    #[test]
    fn old_failures_leave_the_window() {
        let mut breaker = Breaker::new(BreakerPolicy {
            consecutive_failures: 100,
            ..policy()
        });
        let t0 = Instant::now();
        for i in 0..5 {
            breaker.record(t0 + Duration::from_millis(i), i % 2 == 0);
        }
        // Much later, one more failure: the window holds only it (below min_calls).
        assert_eq!(breaker.record(t0 + Duration::from_secs(60), false), None);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn an_unused_trial_is_given_back() {
        let start = Instant::now();
        let mut breaker = Breaker::new(policy());
        for _ in 0..3 {
            breaker.record(start, false);
        }
        let later = start + Duration::from_secs(6);
        let (permit, _) = breaker.check(later);
        assert_eq!(permit, Ok(Permit::Trial));
        assert!(breaker.check(later).0.is_err(), "one trial at a time");
        breaker.release(Permit::Trial);
        assert_eq!(breaker.check(later).0, Ok(Permit::Trial));
    }
}
