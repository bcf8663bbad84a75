//! The HTTP client the remote upstreams share.

use std::sync::{Arc, OnceLock};

/// The HTTP client every upstream shares (one connection pool), built when the first
/// remote server connects: building it loads the system's root certificates (a file per
/// authority), which a Baton fronting only stdio servers never needs at start-up.
#[derive(Clone, Default)]
pub struct SharedHttp(Arc<OnceLock<reqwest::Client>>);

impl SharedHttp {
    pub fn client(&self) -> reqwest::Client {
        self.0
            .get_or_init(|| {
                reqwest::Client::builder()
                    .connect_timeout(std::time::Duration::from_secs(10))
                    .build()
                    .unwrap_or_default()
            })
            .clone()
    }
}
