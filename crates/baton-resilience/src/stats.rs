//! Live call statistics: counts, an EWMA of latency, and percentiles over the most recent
//! calls. Plain data; the caller decides what a call and an error are.

use std::{collections::VecDeque, time::Duration};

/// How many recent latencies the percentiles are computed over.
pub const WINDOW: usize = 512;
/// Weight of the newest sample in the EWMA.
const EWMA_ALPHA: f64 = 0.2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// The server could not be reached or failed to answer.
    Error,
    Timeout,
}

#[derive(Debug, Clone, Default)]
pub struct CallStats {
    pub calls: u64,
    pub errors: u64,
    pub timeouts: u64,
    pub retries: u64,
    ewma_ms: Option<f64>,
    recent: VecDeque<Duration>,
}

/// A snapshot for display.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatsSummary {
    pub calls: u64,
    pub errors: u64,
    pub timeouts: u64,
    pub retries: u64,
    pub ewma_ms: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

impl CallStats {
    /// Records one attempt; `retry` when it was not the first attempt of its call.
    pub fn record(&mut self, latency: Duration, outcome: Outcome, retry: bool) {
        self.calls += 1;
        if retry {
            self.retries += 1;
        }
        match outcome {
            Outcome::Success => {}
            Outcome::Error => self.errors += 1,
            Outcome::Timeout => self.timeouts += 1,
        }
        let ms = latency.as_secs_f64() * 1000.0;
        self.ewma_ms = Some(match self.ewma_ms {
            Some(previous) => previous + EWMA_ALPHA * (ms - previous),
            None => ms,
        });
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(latency);
    }

    /// The most recent `n` latencies (oldest first), in milliseconds: what is kept.
    pub fn samples_ms(&self, n: usize) -> Vec<f64> {
        let skip = self.recent.len().saturating_sub(n);
        self.recent
            .iter()
            .skip(skip)
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect()
    }

    /// Starts from what an earlier process learned: counts and latencies (oldest first)
    /// come before anything recorded here.
    pub fn seed(&mut self, calls: u64, errors: u64, timeouts: u64, samples_ms: &[f64]) {
        self.calls += calls;
        self.errors += errors;
        self.timeouts += timeouts;
        let mut seeded: VecDeque<Duration> = samples_ms
            .iter()
            .filter(|ms| ms.is_finite() && **ms >= 0.0)
            .map(|ms| Duration::from_secs_f64(ms / 1000.0))
            .collect();
        seeded.extend(self.recent.drain(..));
        while seeded.len() > WINDOW {
            seeded.pop_front();
        }
        self.recent = seeded;
        if self.ewma_ms.is_none() {
            self.ewma_ms = samples_ms.last().copied();
        }
    }

    /// The latency EWMA in milliseconds, without computing percentiles.
    pub fn ewma_ms(&self) -> Option<f64> {
        self.ewma_ms
    }

    pub fn summary(&self) -> StatsSummary {
        let mut sorted: Vec<Duration> = self.recent.iter().copied().collect();
        sorted.sort_unstable();
        let percentile = |p: f64| {
            if sorted.is_empty() {
                return None;
            }
            // Nearest rank.
            let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            Some(sorted[rank - 1].as_secs_f64() * 1000.0)
        };
        StatsSummary {
            calls: self.calls,
            errors: self.errors,
            timeouts: self.timeouts,
            retries: self.retries,
            ewma_ms: self.ewma_ms,
            p50_ms: percentile(0.50),
            p95_ms: percentile(0.95),
            p99_ms: percentile(0.99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_percentiles() {
        let mut stats = CallStats::default();
        for ms in 1..=100 {
            stats.record(Duration::from_millis(ms), Outcome::Success, false);
        }
        stats.record(Duration::from_millis(5), Outcome::Error, true);
        stats.record(Duration::from_millis(5), Outcome::Timeout, false);
        let summary = stats.summary();
        assert_eq!(
            (
                summary.calls,
                summary.errors,
                summary.timeouts,
                summary.retries
            ),
            (102, 1, 1, 1)
        );
        // 102 samples (1..=100 ms plus two of 5 ms): the 51st smallest is 49 ms.
        assert_eq!(summary.p50_ms, Some(49.0));
        assert_eq!(summary.p99_ms, Some(99.0));
        assert!(summary.ewma_ms.unwrap() < 100.0);
    }

    #[test]
    fn the_window_keeps_only_recent_calls() {
        let mut stats = CallStats::default();
        for _ in 0..WINDOW {
            stats.record(Duration::from_secs(1), Outcome::Success, false);
        }
        for _ in 0..WINDOW {
            stats.record(Duration::from_millis(1), Outcome::Success, false);
        }
        assert_eq!(stats.summary().p99_ms, Some(1.0));
        assert_eq!(stats.summary().calls, 2 * WINDOW as u64);
    }

    #[test]
    fn empty_stats_have_no_percentiles() {
        let summary = CallStats::default().summary();
        assert_eq!((summary.p50_ms, summary.ewma_ms), (None, None));
    }

    #[test]
    fn seeded_statistics_come_before_new_ones() {
        let mut stats = CallStats::default();
        stats.record(Duration::from_millis(7), Outcome::Success, false);
        stats.seed(40, 2, 1, &[100.0, 200.0, 300.0]);
        let summary = stats.summary();
        assert_eq!(
            (summary.calls, summary.errors, summary.timeouts),
            (41, 2, 1)
        );
        assert_eq!(summary.p99_ms, Some(300.0));
        assert_eq!(stats.samples_ms(2), vec![300.0, 7.0]);
    }
}
