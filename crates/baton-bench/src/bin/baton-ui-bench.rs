//! `baton-ui-bench`: the dashboard's cost with a big store and many open dashboards.
//!
//!     baton-ui-bench [--runs 10000] [--dashboards 50] [--calls 2000] [--rounds 3]
//!                    [--store-url postgres://…]   # default: SQLite in a temporary folder
//!
//! 1. Fills a store with `--runs` finished runs (their workflow `noop`), starts the release
//!    `baton serve --http` beside this binary on it, and times the API the runs page reads:
//!    the newest page, a page deep in the list (by cursor), a status filter that matches
//!    nothing (a scan of every run), and one run with its graph.
//! 2. Times `--calls` tool calls (the native echo upstream, streamable HTTP, concurrency 1)
//!    with no dashboard open, then with `--dashboards` open (each: the live stream
//!    `/api/stream` read continuously, and `/api/overview` fetched every 5 s as the overview
//!    page does), alternating `--rounds` times; prints the latency and Baton's CPU per call
//!    of each, and their ratio.

#![forbid(unsafe_code)]

use std::{
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::Context;
use baton_engine::baton_store::{NewRun, Store};
use rmcp::{
    ServiceExt,
    model::CallToolRequestParams,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::json;
use tokio::process::Command;

#[path = "../procs.rs"]
#[allow(dead_code)]
mod procs;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn number(name: &str, default: u64) -> u64 {
    arg(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::current_exe()?
        .parent()
        .context("no folder")?
        .join(name);
    anyhow::ensure!(
        path.exists(),
        "{} is missing: build it with `cargo build --release -p baton -p baton-bench`",
        path.display()
    );
    Ok(path)
}

fn quantiles(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

/// The `noop` workflow of the bench's baton.yaml, compiled as `baton serve` pins it.
const NOOP: &str = "name: noop\nsteps:\n  - id: only\n    set: {ok: true}\n";

async fn fill(store: &Store, runs: u64) -> anyhow::Result<String> {
    let workflow = baton_core::workflow::compile_workflow(
        std::path::Path::new("noop.yaml"),
        NOOP,
        baton_core::workflow::WorkflowContext {
            servers: None,
            separator: "__",
            env_allow: &[],
            modes: None,
        },
    )
    .map_err(|errors| anyhow::anyhow!("{errors}"))?;
    store
        .save_version(&workflow.hash, "noop", &serde_json::to_string(&workflow)?)
        .await?;
    let hash = workflow.hash.clone();
    let mut last = String::new();
    for i in 0..runs {
        let id = store
            .create_run(NewRun {
                workflow: "noop".into(),
                hash: hash.clone(),
                inputs: json!({"i": i}),
                parent: None,
                origin: if i % 3 == 0 {
                    "schedule:nightly".into()
                } else {
                    "cli".into()
                },
                held_by: None,
                priority: 0,
                concurrency: None,
            })
            .await?;
        store.cancel(&id).await?;
        last = id;
    }
    Ok(last)
}

/// Times `GET path` `times` times; (p50, p99) in ms.
async fn time_get(http: &reqwest::Client, url: &str, times: usize) -> anyhow::Result<(f64, f64)> {
    let mut ms = Vec::with_capacity(times);
    for _ in 0..times {
        let started = Instant::now();
        let response = http.get(url).send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        response.bytes().await?;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(quantiles(ms))
}

/// One open dashboard: the live stream read continuously and the overview every 5 s.
fn open_dashboard(http: reqwest::Client, base: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let stream = async {
            if let Ok(mut response) = http.get(format!("{base}/api/stream")).send().await {
                while let Ok(Some(_)) = response.chunk().await {}
            }
        };
        let poll = async {
            loop {
                if let Ok(response) = http.get(format!("{base}/api/overview")).send().await {
                    let _ = response.bytes().await;
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        };
        tokio::join!(stream, poll);
    })
}

/// `calls` echo calls; (p50 ms, p99 ms, Baton CPU µs per call).
async fn calls(base: &str, pid: u32, count: u64) -> anyhow::Result<(f64, f64, f64)> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp")),
    );
    let client = ().serve(transport).await?;
    let arguments = json!({"message": "hi"})
        .as_object()
        .cloned()
        .unwrap_or_default();
    for _ in 0..50 {
        client
            .call_tool(CallToolRequestParams::new("echo__echo").with_arguments(arguments.clone()))
            .await?;
    }
    let before = procs::usage(pid).cpu_ns.unwrap_or(0);
    let mut ms = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let started = Instant::now();
        client
            .call_tool(CallToolRequestParams::new("echo__echo").with_arguments(arguments.clone()))
            .await?;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let cpu = procs::usage(pid).cpu_ns.unwrap_or(0).saturating_sub(before);
    let _ = client.cancel().await;
    let (p50, p99) = quantiles(ms);
    Ok((p50, p99, cpu as f64 / count as f64 / 1000.0))
}

async fn run() -> anyhow::Result<()> {
    let runs = number("--runs", 10_000);
    let dashboards = number("--dashboards", 50);
    let count = number("--calls", 2000);
    let rounds = number("--rounds", 3);
    let dir = tempfile::tempdir()?;
    let baton = sibling("baton")?;
    let echo = sibling("baton-echo-upstream")?;
    let (store, store_line) = match arg("--store-url") {
        Some(url) => (
            Store::connect_postgres(&url, 256 * 1024).await?,
            format!("store:\n  url: \"{url}\"\n"),
        ),
        None => {
            let path = dir.path().join("baton.db");
            (
                Store::open(&path, 256 * 1024).await?,
                format!("store:\n  path: {}\n", path.display()),
            )
        }
    };
    let started = Instant::now();
    let last = fill(&store, runs).await?;
    println!(
        "filled {runs} runs in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    drop(store);
    let config = dir.path().join("baton.yaml");
    std::fs::write(
        &config,
        format!(
            "servers:\n  echo:\n    command: {}\n    args: [--stdio]\n{store_line}workflows:\n  definitions:\n    noop:\n      steps:\n        - id: only\n          set: {{ok: true}}\n",
            echo.display()
        ),
    )?;
    let mut command = Command::new(&baton);
    command
        .args(["serve", "--http", "127.0.0.1:0", "--config"])
        .arg(&config);
    command.env_remove("RUST_LOG");
    let server = procs::spawn_http(
        command,
        "baton: listening on ",
        &dir.path().join("baton.log"),
    )
    .await?;
    let base = server.base.clone();
    let pid = server.pid().context("no pid")?;
    let http = reqwest::Client::new();
    // Wait for the echo server before timing anything.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !http
        .get(format!("{base}/api/servers"))
        .send()
        .await?
        .text()
        .await?
        .contains("\"ready\"")
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the echo upstream never became ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first: serde_json::Value = http
        .get(format!("{base}/api/runs?limit=50&origin=cli"))
        .send()
        .await?
        .json()
        .await?;
    let mut cursor = first["next"].as_str().unwrap_or_default().to_owned();
    for _ in 0..(runs / 50 / 2) {
        let page: serde_json::Value = http
            .get(format!("{base}/api/runs?limit=50&before={cursor}"))
            .send()
            .await?
            .json()
            .await?;
        match page["next"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    println!("\n## The runs page's API with {runs} runs (50 requests each)\n");
    println!("| request | p50 ms | p99 ms |\n|---|---|---|");
    for (label, path) in [
        ("newest page (50)", "/api/runs?limit=50".to_owned()),
        (
            "page in the middle (cursor)",
            format!("/api/runs?limit=50&before={cursor}"),
        ),
        (
            "status filter matching nothing",
            "/api/runs?limit=50&status=failed".to_owned(),
        ),
        (
            "origin filter",
            "/api/runs?limit=50&origin=schedule:".to_owned(),
        ),
        ("one run with its graph", format!("/api/runs/{last}")),
    ] {
        let (p50, p99) = time_get(&http, &format!("{base}{path}"), 50).await?;
        println!("| {label} | {p50:.2} | {p99:.2} |");
    }
    println!(
        "\n## Tool calls with 0 and {dashboards} open dashboards ({count} calls, concurrency 1)\n"
    );
    println!("| round | dashboards | p50 ms | p99 ms | Baton CPU µs/call |\n|---|---|---|---|---|");
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        let (a50, a99, acpu) = calls(&base, pid, count).await?;
        println!("| {round} | 0 | {a50:.3} | {a99:.3} | {acpu:.1} |");
        let open: Vec<_> = (0..dashboards)
            .map(|_| open_dashboard(http.clone(), base.clone()))
            .collect();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (b50, b99, bcpu) = calls(&base, pid, count).await?;
        println!("| {round} | {dashboards} | {b50:.3} | {b99:.3} | {bcpu:.1} |");
        open.iter().for_each(tokio::task::JoinHandle::abort);
        ratios.push((b50 / a50, bcpu / acpu));
    }
    let n = ratios.len() as f64;
    println!(
        "\nwith/without dashboards: p50 × {:.3}, CPU per call × {:.3} (mean of {} rounds)",
        ratios.iter().map(|r| r.0).sum::<f64>() / n,
        ratios.iter().map(|r| r.1).sum::<f64>() / n,
        ratios.len()
    );
    server.stop().await;
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("baton-ui-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}
