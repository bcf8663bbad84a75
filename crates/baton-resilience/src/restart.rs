//! Restart supervision of a process that may crash: exponential backoff with jitter between
//! restarts, and quarantine when it keeps crashing inside a window.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use backon::{BackoffBuilder, ExponentialBuilder};

/// How a crashed process is restarted.
///
/// (No defaults here: the values come from the configuration, whose settings in
/// `baton-core` hold the one set of defaults.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartPolicy {
    /// First delay before a restart; doubles with each crash in a row.
    pub initial_delay: Duration,
    /// Cap on the delay.
    pub max_delay: Duration,
    /// Crashes counted over this window; a process up for longer starts afresh.
    pub crash_window: Duration,
    /// This many crashes inside the window put the process in quarantine.
    pub max_crashes: u32,
    /// A quarantined process is tried again after this long (or on request).
    pub quarantine_retry: Duration,
}

/// What to do after a crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Restart after `after`; this is restart number `attempt` in the current run of crashes.
    Restart { after: Duration, attempt: u32 },
    /// Too many crashes: leave it down, try again after `retry_after`.
    Quarantine { retry_after: Duration, crashes: u32 },
}

/// The restart state of one process.
#[derive(Debug)]
pub struct Supervisor {
    policy: RestartPolicy,
    crashes: VecDeque<Instant>,
    delays: backon::ExponentialBackoff,
    attempt: u32,
}

impl Supervisor {
    pub fn new(policy: RestartPolicy) -> Self {
        let delays = Self::delays(&policy);
        Supervisor {
            policy,
            crashes: VecDeque::new(),
            delays,
            attempt: 0,
        }
    }

    fn delays(policy: &RestartPolicy) -> backon::ExponentialBackoff {
        ExponentialBuilder::default()
            .with_min_delay(policy.initial_delay)
            .with_max_delay(policy.max_delay)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .build()
    }

    pub fn policy(&self) -> &RestartPolicy {
        &self.policy
    }

    /// The process stopped at `now` after running since `up_since` (when it ever came up).
    pub fn on_exit(&mut self, now: Instant, up_since: Option<Instant>) -> Decision {
        // A process that stayed up for a whole window was healthy: its next crash starts
        // a new run with the shortest delay.
        if up_since
            .is_some_and(|since| now.saturating_duration_since(since) >= self.policy.crash_window)
        {
            self.reset();
        }
        self.crashes.push_back(now);
        while self
            .crashes
            .front()
            .is_some_and(|crash| now.saturating_duration_since(*crash) > self.policy.crash_window)
        {
            self.crashes.pop_front();
        }
        let crashes = u32::try_from(self.crashes.len()).unwrap_or(u32::MAX);
        if crashes >= self.policy.max_crashes {
            return Decision::Quarantine {
                retry_after: self.policy.quarantine_retry,
                crashes,
            };
        }
        self.attempt += 1;
        let after = self.delays.next().unwrap_or(self.policy.max_delay);
        Decision::Restart {
            after: after.min(self.policy.max_delay.saturating_mul(2)),
            attempt: self.attempt,
        }
    }

    /// Forget past crashes (after a quarantine retry is requested, or a long healthy run).
    pub fn reset(&mut self) {
        self.crashes.clear();
        self.attempt = 0;
        self.delays = Self::delays(&self.policy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RestartPolicy {
        RestartPolicy {
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(4),
            crash_window: Duration::from_secs(60),
            max_crashes: 5,
            quarantine_retry: Duration::from_secs(600),
        }
    }

    fn restart_delay(decision: Decision) -> Duration {
        match decision {
            Decision::Restart { after, .. } => after,
            other => panic!("expected a restart, got {other:?}"),
        }
    }

    #[test]
    fn delays_grow_exponentially_with_jitter_up_to_the_cap() {
        let mut supervisor = Supervisor::new(RestartPolicy {
            max_crashes: 100,
            ..policy()
        });
        let start = Instant::now();
        let delays: Vec<_> = (0..8)
            .map(|i| restart_delay(supervisor.on_exit(start + Duration::from_millis(i), None)))
            .collect();
        // Jitter adds up to one more base delay: each delay lies in [base, 2 * base].
        let bases = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0];
        for (delay, base) in delays.iter().zip(bases) {
            let secs = delay.as_secs_f64();
            assert!(secs >= base && secs <= 2.0 * base, "{delays:?}");
        }
    }

    #[test]
    fn repeated_crashes_inside_the_window_quarantine() {
        let mut supervisor = Supervisor::new(policy());
        let start = Instant::now();
        for i in 0..4 {
            let decision = supervisor.on_exit(start + Duration::from_secs(i), None);
            assert!(
                matches!(decision, Decision::Restart { attempt, .. } if attempt == i as u32 + 1),
                "{decision:?}"
            );
        }
        assert_eq!(
            supervisor.on_exit(start + Duration::from_secs(5), None),
            Decision::Quarantine {
                retry_after: Duration::from_secs(600),
                crashes: 5
            }
        );
    }

    #[test]
    fn crashes_spread_over_time_never_quarantine() {
        let mut supervisor = Supervisor::new(policy());
        let start = Instant::now();
        for i in 0..20 {
            let decision = supervisor.on_exit(start + Duration::from_secs(i * 30), None);
            assert!(
                matches!(decision, Decision::Restart { .. }),
                "crash {i}: {decision:?}"
            );
        }
    }

    #[test]
    fn a_long_healthy_run_resets_the_backoff() {
        let mut supervisor = Supervisor::new(policy());
        let start = Instant::now();
        for i in 0..3 {
            supervisor.on_exit(start + Duration::from_secs(i), None);
        }
        let later = start + Duration::from_secs(300);
        let decision = supervisor.on_exit(later, Some(start + Duration::from_secs(100)));
        assert!(
            matches!(decision, Decision::Restart { attempt: 1, after } if after <= Duration::from_secs(1)),
            "{decision:?}"
        );
    }
}
