//! `replicas: { min, max, target_in_flight, scale_in_after }`: an autoscaling pool of a stdio
//! server's processes (`replicas: N` is a fixed pool).

use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::raw::SpannedString;

/// How a pool grows and shrinks: a replica is added while the calls in flight per replica
/// stay above `target_in_flight` (up to `max`); one idle for `scale_in_after` is removed
/// (down to `min`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Autoscale {
    pub min: u32,
    pub max: u32,
    pub target_in_flight: u32,
    pub scale_in_after: Duration,
}

/// `replicas: 3` or `replicas: { min: 1, max: 4, target_in_flight: 4, scale_in_after: 60s }`.
#[derive(Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "expected a number, or an autoscaling pool { min, max, target_in_flight, scale_in_after }"
)]
pub enum RawReplicas {
    Count(u32),
    Pool(RawPool),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPool {
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub target_in_flight: Option<u32>,
    pub scale_in_after: Option<SpannedString>,
}

/// The raw value, with its position.
pub type SpannedReplicas = Spanned<RawReplicas>;
