//! The side-by-side report: Markdown tables with every figure also as a multiple of Baton's
//! (the first gateway), and the same as JSON.

use std::fmt::Write as _;

use super::Outcome;
use crate::{
    Args,
    report::{fmt_opt, machine},
    stats::round2,
};

/// `value ÷ reference`, two decimals, or `-` when either is missing.
fn times(value: Option<f64>, reference: Option<f64>) -> String {
    match (value, reference) {
        (Some(value), Some(reference)) if reference > 0.0 => format!("{:.2}", value / reference),
        _ => "-".into(),
    }
}

fn mib(kib: Option<u64>) -> Option<f64> {
    kib.map(|kib| kib as f64 / 1024.0)
}

/// The load table (one row per concurrency level and gateway) and the start-up table.
pub(crate) fn markdown(outcomes: &[Outcome], args: &Args) -> String {
    let mut out = String::new();
    let Some(baton) = outcomes.first() else {
        return out;
    };
    let _ = writeln!(
        out,
        "\n### Load: streamable HTTP (initialize era), {}-byte message, {} calls × {} rounds per cell\n",
        args.message_bytes, args.calls, args.rounds
    );
    let _ = writeln!(
        out,
        "| gateway | conc | p50 µs | p99 µs | req/s | gateway CPU µs/call | p50 × baton | p99 × baton \
         | req/s × baton | CPU × baton | upstream CPU µs/call | client CPU µs/call | errors |"
    );
    let _ = writeln!(
        out,
        "|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (level, &concurrency) in args.concurrency.iter().enumerate() {
        let reference = &baton.cells[level];
        for outcome in outcomes {
            let cell = &outcome.cells[level];
            let _ = writeln!(
                out,
                "| {} | {} | {:.1} | {:.1} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} |",
                outcome.name,
                concurrency,
                cell.p50_us,
                cell.p99_us,
                cell.throughput,
                fmt_opt(cell.cpu_baton_us, 0).trim(),
                times(Some(cell.p50_us), Some(reference.p50_us)),
                times(Some(cell.p99_us), Some(reference.p99_us)),
                times(Some(cell.throughput), Some(reference.throughput)),
                times(cell.cpu_baton_us, reference.cpu_baton_us),
                fmt_opt(cell.cpu_upstream_us, 0).trim(),
                fmt_opt(cell.cpu_client_us, 0).trim(),
                cell.errors,
            );
        }
    }
    let _ = writeln!(out, "\n### Start-up and memory\n");
    let _ = writeln!(
        out,
        "| gateway | start → first tools/list ms | × baton | idle RSS MiB | × baton | RSS after load MiB | processes |"
    );
    let _ = writeln!(out, "|:---|---:|---:|---:|---:|---:|:---|");
    let ms = |outcome: &Outcome| outcome.ready_after.as_secs_f64() * 1e3;
    for outcome in outcomes {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {} | {} | {} | {} | {} |",
            outcome.name,
            ms(outcome),
            times(Some(ms(outcome)), Some(ms(baton))),
            fmt_opt(mib(outcome.idle_rss_kib), 0).trim(),
            times(mib(outcome.idle_rss_kib), mib(baton.idle_rss_kib)),
            fmt_opt(mib(outcome.loaded_rss_kib), 0).trim(),
            outcome.processes,
        );
    }
    let warmup_errors: usize = outcomes.iter().map(|o| o.warmup_errors).sum();
    let _ = writeln!(
        out,
        "\nA × baton figure is the gateway's value ÷ Baton's in this run (for req/s higher is \
         better, for the rest lower). Gateway CPU = the gateway's processes (not the upstream's) \
         per call; RSS = theirs, summed. Start = spawn to the first `tools/list` answer listing \
         the echo tool; idle RSS read {} s later. Failed warm-up calls: {warmup_errors}.",
        args.idle_secs
    );
    out
}

/// Every figure, for `--json`.
pub(crate) fn json(
    outcomes: &[Outcome],
    args: &Args,
    load_before: Option<&str>,
    load_after: Option<&str>,
) -> serde_json::Value {
    serde_json::json!({
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "settings": {
            "calls_per_round": args.calls,
            "rounds": args.rounds,
            "warmup": args.warmup,
            "max_secs_per_batch": args.max_secs,
            "message_bytes": args.message_bytes,
            "concurrency": args.concurrency,
            "idle_secs": args.idle_secs,
            "gateways": args.gateway,
        },
        "gateways": outcomes.iter().map(|outcome| serde_json::json!({
            "name": outcome.name,
            "start_to_first_tools_list_ms": round2(outcome.ready_after.as_secs_f64() * 1e3),
            "idle_rss_kib": outcome.idle_rss_kib,
            "rss_after_load_kib": outcome.loaded_rss_kib,
            "processes": outcome.processes,
            "warmup_errors": outcome.warmup_errors,
            "cells": args.concurrency.iter().zip(&outcome.cells).map(|(concurrency, cell)| {
                serde_json::json!({"concurrency": concurrency, "figures": cell.to_json()})
            }).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}
