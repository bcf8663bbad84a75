//! Latency and throughput figures for one cell (transport × protocol × concurrency × target).

use std::time::Duration;

use crate::procs::Used;

/// What one measured batch of calls produced.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    /// Latency of each successful call, in nanoseconds.
    pub latencies_ns: Vec<u64>,
    pub errors: usize,
    pub first_error: Option<String>,
    pub wall: Duration,
    /// CPU time and context switches per process role ("client", "upstream", "baton").
    pub usage: Vec<Used>,
}

/// Several batches (rounds) of the same cell pooled together.
#[derive(Debug, Default, Clone)]
pub struct Pooled {
    pub latencies_ns: Vec<u64>,
    pub errors: usize,
    pub first_error: Option<String>,
    pub wall: Duration,
    pub round_throughputs: Vec<f64>,
    pub usage: Vec<Used>,
}

impl Pooled {
    pub fn add(&mut self, batch: Batch) {
        let calls = batch.latencies_ns.len() + batch.errors;
        if batch.wall > Duration::ZERO {
            self.round_throughputs
                .push(calls as f64 / batch.wall.as_secs_f64());
        }
        self.latencies_ns.extend(batch.latencies_ns);
        self.errors += batch.errors;
        if self.first_error.is_none() {
            self.first_error = batch.first_error;
        }
        self.wall += batch.wall;
        let add = |a: Option<u64>, b: Option<u64>| Some(a? + b?);
        for used in batch.usage {
            match self.usage.iter_mut().find(|u| u.role == used.role) {
                Some(total) => {
                    total.cpu_ns = add(total.cpu_ns, used.cpu_ns);
                    total.switches = add(total.switches, used.switches);
                }
                None => self.usage.push(used),
            }
        }
    }

    pub fn summary(&mut self) -> Summary {
        self.latencies_ns.sort_unstable();
        let ok = self.latencies_ns.len();
        let calls = ok + self.errors;
        let mean = if ok == 0 {
            0.0
        } else {
            self.latencies_ns.iter().map(|&n| n as f64).sum::<f64>() / ok as f64 / 1e3
        };
        let per_call = |value: Option<u64>, scale: f64| -> Option<f64> {
            (calls > 0).then(|| value.map(|v| v as f64 / calls as f64 / scale))?
        };
        let role = |name: &str| self.usage.iter().find(|u| u.role == name).copied();
        let cpu_us_per_call = |name: &str| per_call(role(name)?.cpu_ns, 1e3);
        let switches_per_call = |name: &str| per_call(role(name)?.switches, 1.0);
        let total_cpu = if self.usage.is_empty() {
            None
        } else {
            per_call(
                self.usage.iter().map(|u| u.cpu_ns).sum::<Option<u64>>(),
                1e3,
            )
        };
        Summary {
            calls,
            errors: self.errors,
            p50_us: percentile_us(&self.latencies_ns, 0.50),
            p90_us: percentile_us(&self.latencies_ns, 0.90),
            p99_us: percentile_us(&self.latencies_ns, 0.99),
            max_us: self.latencies_ns.last().map_or(0.0, |&n| n as f64 / 1e3),
            mean_us: mean,
            throughput: if self.wall > Duration::ZERO {
                calls as f64 / self.wall.as_secs_f64()
            } else {
                0.0
            },
            round_throughputs: self.round_throughputs.clone(),
            cpu_client_us: cpu_us_per_call("client"),
            cpu_upstream_us: cpu_us_per_call("upstream"),
            cpu_baton_us: cpu_us_per_call("baton"),
            cpu_total_us: total_cpu,
            switches_client: switches_per_call("client"),
            switches_upstream: switches_per_call("upstream"),
            switches_baton: switches_per_call("baton"),
            first_error: self.first_error.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Summary {
    pub calls: usize,
    pub errors: usize,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
    /// All calls over all rounds' wall time.
    pub throughput: f64,
    pub round_throughputs: Vec<f64>,
    pub cpu_client_us: Option<f64>,
    pub cpu_upstream_us: Option<f64>,
    pub cpu_baton_us: Option<f64>,
    pub cpu_total_us: Option<f64>,
    pub switches_client: Option<f64>,
    pub switches_upstream: Option<f64>,
    pub switches_baton: Option<f64>,
    pub first_error: Option<String>,
}

impl Summary {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "calls": self.calls,
            "errors": self.errors,
            "p50_us": round2(self.p50_us),
            "p90_us": round2(self.p90_us),
            "p99_us": round2(self.p99_us),
            "max_us": round2(self.max_us),
            "mean_us": round2(self.mean_us),
            "throughput_rps": round2(self.throughput),
            "round_throughputs_rps": self.round_throughputs.iter().map(|&t| round2(t)).collect::<Vec<_>>(),
            "cpu_us_per_call": {
                "client": self.cpu_client_us.map(round2),
                "upstream": self.cpu_upstream_us.map(round2),
                "baton": self.cpu_baton_us.map(round2),
                "total": self.cpu_total_us.map(round2),
            },
            "context_switches_per_call": {
                "client": self.switches_client.map(round2),
                "upstream": self.switches_upstream.map(round2),
                "baton": self.switches_baton.map(round2),
            },
            "first_error": self.first_error,
        })
    }
}

/// Nearest-rank percentile of sorted nanoseconds, in microseconds.
fn percentile_us(sorted_ns: &[u64], p: f64) -> f64 {
    if sorted_ns.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted_ns.len() as f64).ceil() as usize;
    sorted_ns[rank.clamp(1, sorted_ns.len()) - 1] as f64 / 1e3
}

pub fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let data: Vec<u64> = (1..=100).map(|n| n * 1000).collect();
        assert_eq!(percentile_us(&data, 0.50), 50.0);
        assert_eq!(percentile_us(&data, 0.99), 99.0);
        assert_eq!(percentile_us(&[7000], 0.99), 7.0);
        assert_eq!(percentile_us(&[], 0.5), 0.0);
    }

    #[test]
    fn pooling_sums_calls_and_cpu() {
        let mut pooled = Pooled::default();
        for _ in 0..2 {
            pooled.add(Batch {
                latencies_ns: vec![1000, 2000, 3000],
                errors: 1,
                first_error: Some("x".into()),
                wall: Duration::from_millis(4),
                usage: vec![
                    Used {
                        role: "client",
                        cpu_ns: Some(4000),
                        switches: Some(4),
                    },
                    Used {
                        role: "baton",
                        cpu_ns: Some(8000),
                        switches: Some(8),
                    },
                ],
            });
        }
        let summary = pooled.summary();
        assert_eq!(summary.calls, 8);
        assert_eq!(summary.errors, 2);
        assert_eq!(summary.p50_us, 2.0);
        assert!((summary.throughput - 1000.0).abs() < 1e-6);
        assert_eq!(summary.cpu_baton_us, Some(2.0));
        assert_eq!(summary.cpu_total_us, Some(3.0));
        assert_eq!(summary.switches_baton, Some(2.0));
    }
}
