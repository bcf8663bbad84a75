//! The report: rows of direct-vs-Baton figures, their Markdown tables, and the machine.

use std::fmt::Write as _;

use crate::{Args, Protocol, Transport, stats::Summary};

/// One row of the report.
pub(crate) struct Row {
    pub(crate) transport: Transport,
    pub(crate) protocol: Protocol,
    pub(crate) concurrency: usize,
    pub(crate) direct: Summary,
    pub(crate) baton: Summary,
}

impl Row {
    pub(crate) fn p50_overhead_us(&self) -> f64 {
        self.baton.p50_us - self.direct.p50_us
    }
    pub(crate) fn p99_overhead_us(&self) -> f64 {
        self.baton.p99_us - self.direct.p99_us
    }
    pub(crate) fn throughput_ratio(&self) -> f64 {
        if self.direct.throughput > 0.0 {
            self.baton.throughput / self.direct.throughput
        } else {
            0.0
        }
    }
    pub(crate) fn baton_cpu_overhead_us(&self) -> Option<f64> {
        Some(self.baton.cpu_total_us? - self.direct.cpu_total_us?)
    }
    pub(crate) fn meets(&self, args: &Args) -> (bool, bool) {
        (
            self.p50_overhead_us() <= args.target_p50_overhead_us,
            self.throughput_ratio() >= args.target_throughput_ratio,
        )
    }
}

pub(crate) fn fmt_opt(value: Option<f64>, width: usize) -> String {
    match value {
        Some(v) => format!("{v:>width$.1}"),
        None => format!("{:>width$}", "-"),
    }
}

/// The report as Markdown tables, one per transport and protocol.
pub(crate) fn print_table(rows: &[Row], args: &Args) -> String {
    let mut out = String::new();
    let mut groups: Vec<(Transport, Protocol)> = Vec::new();
    for row in rows {
        if !groups.contains(&(row.transport, row.protocol)) {
            groups.push((row.transport, row.protocol));
        }
    }
    for (transport, protocol) in groups {
        let _ = writeln!(out, "\n### {} — {}\n", transport.label(), protocol.label());
        let _ = writeln!(
            out,
            "| conc | direct p50 µs | direct p99 µs | direct req/s | baton p50 µs | baton p99 µs | baton req/s \
             | Δp50 µs | Δp99 µs | tput× | CPU µs/call direct | CPU µs/call baton | of which baton process | targets |"
        );
        let _ = writeln!(
            out,
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---|"
        );
        for row in rows
            .iter()
            .filter(|r| r.transport == transport && r.protocol == protocol)
        {
            let (p50_ok, tput_ok) = row.meets(args);
            let verdict = match (p50_ok, tput_ok) {
                (true, true) => "met",
                (false, true) => "MISS p50",
                (true, false) => "MISS tput",
                (false, false) => "MISS p50, tput",
            };
            let errors = if row.direct.errors + row.baton.errors > 0 {
                format!(
                    " ({} direct / {} baton errors)",
                    row.direct.errors, row.baton.errors
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "| {} | {:.1} | {:.1} | {:.0} | {:.1} | {:.1} | {:.0} | {:+.1} | {:+.1} | {:.2} | {} | {} | {} | {}{} |",
                row.concurrency,
                row.direct.p50_us,
                row.direct.p99_us,
                row.direct.throughput,
                row.baton.p50_us,
                row.baton.p99_us,
                row.baton.throughput,
                row.p50_overhead_us(),
                row.p99_overhead_us(),
                row.throughput_ratio(),
                fmt_opt(row.direct.cpu_total_us, 0),
                fmt_opt(row.baton.cpu_total_us, 0),
                fmt_opt(row.baton.cpu_baton_us, 0),
                verdict,
                errors
            );
        }
    }
    let _ = writeln!(
        out,
        "\nΔp50/Δp99 = baton − direct; tput× = baton req/s ÷ direct req/s. CPU µs/call = CPU time of \
         every process on the call path (client, upstream, and baton) per call.\n\
         Targets: Δp50 ≤ {} µs and tput× ≥ {}.",
        args.target_p50_overhead_us, args.target_throughput_ratio
    );
    out
}

pub(crate) fn machine() -> serde_json::Value {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        });
    serde_json::json!({
        "cores": cores,
        "cpu": model,
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
    })
}

pub(crate) fn loadavg() -> Option<String> {
    std::fs::read_to_string("/proc/loadavg").ok().map(|text| {
        text.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    })
}
