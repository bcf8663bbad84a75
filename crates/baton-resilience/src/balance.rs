//! Load estimates for choosing among replicas: a peak-EWMA of latency (as in Finagle and
//! linkerd) and power-of-two-choices over it.
//!
//! The estimate jumps to any latency above it at once (a replica that turns slow is
//! avoided from its first slow answer) and decays towards faster answers with a time
//! constant, not a sample count, so a replica that has been idle is not judged by a burst
//! long past. The load compared is the estimate × (requests in flight + 1).

use std::time::{Duration, Instant};

/// The time constant of the decay: after `DECAY` without slower answers, the estimate has
/// moved ~63 % of the way towards the recent ones.
pub const DECAY: Duration = Duration::from_secs(10);

/// The estimate of a replica nothing is known of yet: optimistic, so a new (or restarted)
/// replica is tried, but not zero, so it is not flooded before its first answer.
pub const DEFAULT_RTT: Duration = Duration::from_millis(1);

#[derive(Debug, Clone)]
pub struct PeakEwma {
    decay_ns: f64,
    /// The estimate in nanoseconds, as of `stamp`.
    rtt_ns: f64,
    stamp: Instant,
}

impl PeakEwma {
    pub fn new(now: Instant) -> Self {
        PeakEwma::with(now, DEFAULT_RTT, DECAY)
    }

    pub fn with(now: Instant, default_rtt: Duration, decay: Duration) -> Self {
        PeakEwma {
            decay_ns: decay.as_nanos().max(1) as f64,
            rtt_ns: default_rtt.as_nanos() as f64,
            stamp: now,
        }
    }

    /// Records one answer that took `rtt`, received at `now`.
    pub fn observe(&mut self, now: Instant, rtt: Duration) {
        let rtt_ns = rtt.as_nanos() as f64;
        if rtt_ns > self.rtt_ns {
            // A peak: taken as is.
            self.rtt_ns = rtt_ns;
        } else {
            let elapsed = now.saturating_duration_since(self.stamp).as_nanos() as f64;
            let weight = (-elapsed / self.decay_ns).exp();
            self.rtt_ns = self.rtt_ns * weight + rtt_ns * (1.0 - weight);
        }
        self.stamp = self.stamp.max(now);
    }

    /// The current estimate.
    pub fn rtt(&self) -> Duration {
        Duration::from_nanos(self.rtt_ns as u64)
    }

    /// The load to compare: the estimate × (requests in flight + 1).
    pub fn load(&self, in_flight: usize) -> f64 {
        self.rtt_ns * (in_flight as f64 + 1.0)
    }
}

/// Power of two choices: two distinct indexes below `count` (≥ 2) drawn from `random`.
pub fn two_choices(random: u64, count: usize) -> (usize, usize) {
    debug_assert!(count >= 2);
    let count = count as u64;
    let first = random % count;
    let second = (first + 1 + (random >> 32) % (count - 1)) % count;
    (first as usize, second as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_slow_answer_is_taken_at_once() {
        let start = Instant::now();
        let mut estimate = PeakEwma::new(start);
        estimate.observe(start, ms(5));
        estimate.observe(start + ms(1), ms(200));
        assert_eq!(estimate.rtt(), ms(200));
    }

    #[test]
    fn faster_answers_pull_the_estimate_down_with_time_not_count() {
        let start = Instant::now();
        let mut estimate = PeakEwma::new(start);
        estimate.observe(start, ms(100));
        // Many fast answers within a millisecond barely move it ...
        for i in 0..100 {
            estimate.observe(start + Duration::from_micros(i * 10), ms(10));
        }
        assert!(estimate.rtt() > ms(95), "{:?}", estimate.rtt());
        // ... one after one time constant moves it ~63 % of the way ...
        estimate.observe(start + DECAY, ms(10));
        let after = estimate.rtt().as_secs_f64() * 1000.0;
        assert!((40.0..50.0).contains(&after), "{after}");
        // ... and after many, it has forgotten the peak.
        estimate.observe(start + DECAY * 10, ms(10));
        assert!(estimate.rtt() < ms(11), "{:?}", estimate.rtt());
    }

    #[test]
    fn load_grows_with_requests_in_flight() {
        let start = Instant::now();
        let mut fast = PeakEwma::new(start);
        let mut slow = PeakEwma::new(start);
        fast.observe(start, ms(10));
        slow.observe(start, ms(30));
        assert!(fast.load(0) < slow.load(0));
        // Three calls waiting on the fast one make it the worse choice.
        assert!(fast.load(3) > slow.load(0));
    }

    #[test]
    fn an_unknown_replica_is_tried_but_not_free() {
        let start = Instant::now();
        let fresh = PeakEwma::new(start);
        let mut known = PeakEwma::new(start);
        known.observe(start, ms(20));
        assert!(fresh.load(0) < known.load(0));
        assert!(fresh.load(0) > 0.0);
    }

    #[test]
    fn two_choices_are_distinct_and_cover_every_pair() {
        let mut seen = std::collections::BTreeSet::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..2_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (a, b) = two_choices(x, 3);
            assert_ne!(a, b);
            assert!(a < 3 && b < 3);
            seen.insert((a, b));
        }
        assert_eq!(seen.len(), 6, "every ordered pair of 3 replicas: {seen:?}");
    }
}
