//! Learned call statistics (SQLite migration 10, PostgreSQL 6): per server and tool name,
//! the call, error and timeout counts and the most recent latencies (at most
//! [`MAX_SAMPLES`]), so what `timeout: auto` and the status tools know survives a restart
//! and is shared by the workers of one store. Bounded and decaying: a fixed number of the
//! most recent samples per name, so old latencies leave as new calls come.

use crate::Result;

/// Latency samples kept per name.
pub const MAX_SAMPLES: usize = 64;

/// One name's statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct LearnedStats {
    pub server: String,
    pub name: String,
    pub calls: i64,
    pub errors: i64,
    pub timeouts: i64,
    /// Latencies in milliseconds, oldest first.
    pub samples_ms: Vec<f64>,
}

feature! {
    /// Learned call statistics, as every backend keeps them.
    LearnedStore {
        /// Replaces the statistics of each (server, name) given, in one transaction.
        fn save_learned(&self, rows: &[LearnedStats]) -> Result<()>;
        /// Every stored statistic.
        fn learned(&self) -> Result<Vec<LearnedStats>>;
    }
}
