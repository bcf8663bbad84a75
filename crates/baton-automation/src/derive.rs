//! Events derived from the servers' numbers (`events.derive`), as a pure state machine fed
//! one [`Sample`] per server (and per tool) every `every`:
//!
//! - **latency**: a baseline p95 is learnt while the target is healthy (a slow moving
//!   average, once `latency_min_calls` calls were seen). When the p95 stays above
//!   `factor` × baseline (or above `above`) for `sustained` → `server_degraded`; when it
//!   stays back under it for `sustained` → `server_recovered`. A sample without new calls
//!   changes nothing (the p95 is of the recent calls, and no call is no news).
//! - **errors**: over the last `window`, when at least `errors_min_calls` calls were made
//!   and at least `rate` of them failed → `error_rate_exceeded`; once the window holds calls
//!   again and their failure share is under `rate` (or no failure at all) →
//!   `error_rate_recovered`.

use std::{collections::VecDeque, time::Duration};

use baton_core::{config::DeriveSettings, schedule::EventKind};
use serde_json::{Map, Value, json};

/// A target's numbers at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Since the start of the process (any monotonic origin).
    pub at: Duration,
    /// Calls and failures so far (cumulative).
    pub calls: u64,
    pub errors: u64,
    /// p95 of the recent calls, in ms.
    pub p95_ms: Option<f64>,
}

/// One target's derivation state (a server, or one tool of a server).
#[derive(Debug, Default)]
pub struct Deriver {
    baseline_ms: Option<f64>,
    /// Since when the latency has been on the other side of its bound.
    crossing_since: Option<Duration>,
    degraded: bool,
    history: VecDeque<Sample>,
    exceeded: bool,
    last_calls: Option<u64>,
}

/// The weight of a new healthy p95 in the baseline.
const BASELINE_WEIGHT: f64 = 0.2;

impl Deriver {
    /// Takes `sample`; the events it causes, with their data (without the target's names,
    /// which the caller adds).
    pub fn observe(
        &mut self,
        settings: &DeriveSettings,
        sample: Sample,
    ) -> Vec<(EventKind, Map<String, Value>)> {
        let mut events = Vec::new();
        let fresh = self.last_calls.is_some_and(|last| sample.calls > last);
        self.last_calls = Some(sample.calls);
        if fresh && let Some(p95) = sample.p95_ms {
            self.latency(settings, sample, p95, &mut events);
        }
        self.errors(settings, sample, &mut events);
        events
    }

    fn latency(
        &mut self,
        settings: &DeriveSettings,
        sample: Sample,
        p95: f64,
        events: &mut Vec<(EventKind, Map<String, Value>)>,
    ) {
        let Some(baseline) = self.baseline_ms else {
            if sample.calls >= settings.latency_min_calls {
                self.baseline_ms = Some(p95);
            }
            return;
        };
        let bound = baseline * settings.factor;
        let over = p95 > bound || settings.above.is_some_and(|above| p95 > ms(above));
        if over != self.degraded {
            let since = *self.crossing_since.get_or_insert(sample.at);
            if sample.at.saturating_sub(since) >= settings.sustained {
                self.degraded = over;
                self.crossing_since = None;
                let kind = if over {
                    EventKind::ServerDegraded
                } else {
                    EventKind::ServerRecovered
                };
                events.push((
                    kind,
                    data(json!({
                        "p95_ms": round(p95),
                        "baseline_ms": round(baseline),
                        "factor": settings.factor,
                        "above_ms": settings.above.map(ms),
                        "for_s": settings.sustained.as_secs_f64(),
                    })),
                ));
            }
        } else {
            self.crossing_since = None;
            if !over {
                // Only healthy answers teach the baseline.
                self.baseline_ms = Some(baseline + BASELINE_WEIGHT * (p95 - baseline));
            }
        }
    }

    fn errors(
        &mut self,
        settings: &DeriveSettings,
        sample: Sample,
        events: &mut Vec<(EventKind, Map<String, Value>)>,
    ) {
        self.history.push_back(sample);
        // Keep one sample at or before the window's start, to diff against.
        while self.history.len() > 2
            && sample.at.saturating_sub(self.history[1].at) >= settings.window
        {
            self.history.pop_front();
        }
        let Some(first) = self.history.front() else {
            return;
        };
        let calls = sample.calls.saturating_sub(first.calls);
        let errors = sample.errors.saturating_sub(first.errors);
        let share = if calls == 0 {
            0.0
        } else {
            errors as f64 / calls as f64
        };
        let details = || {
            data(json!({
                "calls": calls,
                "errors": errors,
                "rate": round(share),
                "threshold": settings.rate,
                "window_s": settings.window.as_secs_f64(),
            }))
        };
        if !self.exceeded && calls >= settings.errors_min_calls && share >= settings.rate {
            self.exceeded = true;
            events.push((EventKind::ErrorRateExceeded, details()));
        } else if self.exceeded && ((calls > 0 && share < settings.rate) || errors == 0) {
            self.exceeded = false;
            events.push((EventKind::ErrorRateRecovered, details()));
        }
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn round(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

fn data(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> DeriveSettings {
        DeriveSettings {
            sustained: Duration::from_secs(10),
            ..DeriveSettings::default()
        }
    }

    fn at(s: u64, calls: u64, errors: u64, p95: f64) -> Sample {
        Sample {
            at: Duration::from_secs(s),
            calls,
            errors,
            p95_ms: Some(p95),
        }
    }

    fn kinds(events: &[(EventKind, Map<String, Value>)]) -> Vec<EventKind> {
        events.iter().map(|(kind, _)| *kind).collect()
    }

    #[test]
    fn a_sustained_slowdown_is_one_degraded_event_and_its_end_one_recovery() {
        let settings = settings();
        let mut target = Deriver::default();
        let mut calls = 0;
        let mut all = Vec::new();
        for s in 0..10 {
            calls += 10;
            all.extend(target.observe(&settings, at(s, calls, 0, 10.0)));
        }
        assert!(all.is_empty(), "healthy: {all:?}");
        // Slow for 5 s: not sustained yet.
        for s in 10..15 {
            calls += 10;
            all.extend(target.observe(&settings, at(s, calls, 0, 100.0)));
        }
        assert!(all.is_empty(), "a short spike: {all:?}");
        for s in 15..20 {
            calls += 10;
            all.extend(target.observe(&settings, at(s, calls, 0, 10.0)));
        }
        for s in 20..40 {
            calls += 10;
            all.extend(target.observe(&settings, at(s, calls, 0, 100.0)));
        }
        assert_eq!(kinds(&all), [EventKind::ServerDegraded]);
        assert_eq!(all[0].1["baseline_ms"], json!(10.0));
        // No calls: no news, however long.
        for s in 40..100 {
            all.extend(target.observe(&settings, at(s, calls, 0, 100.0)));
        }
        assert_eq!(all.len(), 1);
        for s in 100..115 {
            calls += 10;
            all.extend(target.observe(&settings, at(s, calls, 0, 12.0)));
        }
        assert_eq!(
            kinds(&all),
            [EventKind::ServerDegraded, EventKind::ServerRecovered]
        );
    }

    #[test]
    fn an_absolute_bound_degrades_without_a_change() {
        let settings = DeriveSettings {
            above: Some(Duration::from_millis(50)),
            sustained: Duration::ZERO,
            ..DeriveSettings::default()
        };
        let mut target = Deriver::default();
        target.observe(&settings, at(0, 0, 0, 80.0));
        target.observe(&settings, at(1, 30, 0, 80.0));
        let events = target.observe(&settings, at(2, 40, 0, 80.0));
        assert_eq!(kinds(&events), [EventKind::ServerDegraded]);
    }

    #[test]
    fn an_error_burst_over_the_window_exceeds_once_and_recovers() {
        let settings = DeriveSettings {
            window: Duration::from_secs(10),
            ..DeriveSettings::default()
        };
        let mut target = Deriver::default();
        let mut all = Vec::new();
        // 4 failures of 8 calls: under the minimum volume.
        all.extend(target.observe(&settings, at(0, 0, 0, 1.0)));
        all.extend(target.observe(&settings, at(1, 8, 4, 1.0)));
        assert!(all.is_empty());
        all.extend(target.observe(&settings, at(2, 20, 12, 1.0)));
        all.extend(target.observe(&settings, at(3, 30, 20, 1.0)));
        assert_eq!(kinds(&all), [EventKind::ErrorRateExceeded]);
        assert_eq!(all[0].1["errors"], json!(12));
        // The burst leaves the window; healthy calls follow.
        for s in 4..20 {
            all.extend(target.observe(&settings, at(s, 30 + s * 10, 20, 1.0)));
        }
        assert_eq!(
            kinds(&all),
            [EventKind::ErrorRateExceeded, EventKind::ErrorRateRecovered]
        );
    }
}
