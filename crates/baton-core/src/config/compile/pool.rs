//! `servers.NAME.replicas`: a fixed count, or an autoscaling pool.

use super::*;
use crate::config::pool::{Autoscale, RawReplicas};

impl Compiler<'_> {
    /// The replicas to start with, and the pool's scaling when it has one.
    pub(super) fn replicas(&mut self, path: &str, raw: &RawServer) -> (u32, Option<Autoscale>) {
        let Some(spanned) = &raw.replicas else {
            return (1, None);
        };
        let at = spanned.referenced;
        let field = format!("{path}.replicas");
        if raw.command.is_none() {
            // `urls:` sets the replicas of a remote server.
            self.sink.push(
                at,
                &field,
                "replicas apply to stdio servers (with `command`)",
            );
            return (1, None);
        }
        match &spanned.value {
            RawReplicas::Count(0) => {
                self.sink.push(at, &field, "must be at least 1");
                (1, None)
            }
            RawReplicas::Count(count) => (*count, None),
            RawReplicas::Pool(pool) => {
                let min = pool.min.unwrap_or(1);
                let max = pool.max.unwrap_or(min.max(4));
                let target = pool.target_in_flight.unwrap_or(4);
                let after = match &pool.scale_in_after {
                    None => Some(Duration::from_secs(60)),
                    Some(text) => self.duration(text, &format!("{field}.scale_in_after")),
                };
                let mut fine = true;
                for (ok, message) in [
                    (min >= 1, "min must be at least 1"),
                    (max >= min, "max must be at least min"),
                    (target >= 1, "target_in_flight must be at least 1"),
                ] {
                    if !ok {
                        self.sink.push(at, &field, message);
                        fine = false;
                    }
                }
                match (fine, after) {
                    (true, Some(scale_in_after)) => (
                        min,
                        Some(Autoscale {
                            min,
                            max,
                            target_in_flight: target,
                            scale_in_after,
                        }),
                    ),
                    _ => (min.max(1), None),
                }
            }
        }
    }
}
