//! Resilience mechanisms as plain types that know nothing of MCP: the gateway composes
//! them (ARCHITECTURE.md, "Resilience"). Time is passed in, never read here, so every
//! state machine is tested without sleeping.

#![forbid(unsafe_code)]

pub mod balance;
pub mod breaker;
pub mod bucket;
pub mod limit;
pub mod restart;
pub mod retry;
pub mod stats;

pub use balance::{PeakEwma, two_choices};
pub use breaker::{Breaker, BreakerPolicy, BreakerState, Permit, Rejected, Transition};
pub use bucket::TokenBucket;
pub use limit::{ConcurrencyLimit, Overloaded};
pub use restart::{Decision, RestartPolicy, Supervisor};
pub use retry::{Exhausted, GaveUp, RetryPolicy, retry};
pub use stats::{CallStats, Outcome, StatsSummary};
