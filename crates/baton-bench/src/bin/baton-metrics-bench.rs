//! The cost of Baton's per-call metrics, in process: what one proxied tool call records on
//! its path (`baton_mcp::metrics`: the call counter and duration histogram with their
//! labels, the request counter, the response counter), timed over many iterations with
//! the Prometheus recorder installed, against the same loop in the same run with no
//! recorder (the macros then do nothing). End-to-end CPU per call is too noisy on this
//! machine to resolve a few microseconds (BENCHMARKS.md).
//!
//!     baton-metrics-bench [--iterations N] [--rounds R]

use std::time::{Duration, Instant};

use baton_mcp::metrics;

fn one_call() {
    metrics::request("tools/call", "streamable_http");
    metrics::tool_call("fault", "echo", "ok", Duration::from_micros(420));
    metrics::http_response(200);
}

/// ns per call over `iterations`, the best of `rounds`.
fn measure(iterations: u32, rounds: u32) -> f64 {
    (0..rounds)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..iterations {
                one_call();
            }
            started.elapsed().as_nanos() as f64 / f64::from(iterations)
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let mut iterations = 200_000u32;
    let mut rounds = 5u32;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().and_then(|v| v.parse().ok());
        match (arg.as_str(), value) {
            ("--iterations", Some(n)) => iterations = n,
            ("--rounds", Some(n)) => rounds = n,
            _ => {
                eprintln!("usage: baton-metrics-bench [--iterations N] [--rounds R]");
                std::process::exit(2);
            }
        }
    }
    let baseline = measure(iterations, rounds);
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .expect("install the recorder");
    metrics::recorder_installed();
    let recorded = measure(iterations, rounds);
    // Rendering is per scrape, not per call; shown for scale.
    let started = Instant::now();
    let text = handle.render();
    let render = started.elapsed();
    println!(
        "metrics per call: {recorded:.0} ns with the recorder, {baseline:.0} ns without (baseline, same run) -> {:.2} µs added per call; one scrape renders {} bytes in {:?}",
        (recorded - baseline) / 1000.0,
        text.len(),
        render
    );
}
