//! `baton-bench`: Baton's overhead, measured as ratios from one run.
//!
//! For each transport (stdio, streamable HTTP), protocol era and concurrency level, an rmcp
//! client calls the `echo` tool of `baton-echo-upstream` (a fast native MCP server)
//! directly, and `echo__echo` through `baton serve` fronting the same upstream over the
//! same transport. Direct and Baton rounds alternate, so both see the same machine state.
//! Concurrency C is C tasks sharing one client session. Reported per cell: latency
//! p50/p90/p99, throughput, CPU per call of each process, and Baton-vs-direct ratios.
//!
//! With `--gateway NAME=COMMAND` it instead measures Baton side by side with other gateways
//! over streamable HTTP (`gateways.rs`). See BENCHMARKS.md at the repository root for the
//! method and recorded figures.

#![forbid(unsafe_code)]

mod configs;
mod gateways;
mod procs;
mod report;
mod stats;
mod targets;
use targets::{Target, check_target, connect_http, setup};

use std::{
    borrow::Cow,
    path::{Path, PathBuf},
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use rmcp::{
    RoleClient,
    model::{CallToolRequestParams, JsonObject},
    service::Peer,
};
use tokio::task::JoinSet;

use crate::{
    procs::Snapshot,
    report::{Row, fmt_opt, loadavg, machine, print_table},
    stats::{Batch, Pooled, round2},
};

/// How long one call may take before it counts as an error.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Parser)]
#[command(
    name = "baton-bench",
    about = "Tool-call latency and throughput, direct vs through Baton, over stdio and streamable HTTP."
)]
struct Args {
    /// The `baton` binary (default: next to this binary, else $CARGO_TARGET_DIR/release/baton,
    /// else target/release/baton).
    #[arg(long, value_name = "PATH")]
    baton: Option<PathBuf>,
    /// The echo upstream binary (default: `baton-echo-upstream` next to this binary).
    #[arg(long, value_name = "PATH")]
    echo: Option<PathBuf>,
    /// Transports to measure.
    #[arg(long, value_delimiter = ',', default_values = ["stdio", "http"])]
    transport: Vec<Transport>,
    /// Protocol eras the benchmark client speaks: legacy = `initialize` handshake (2025-11-25),
    /// modern = stateless 2026-07-28 (`server/discover`, per-request metadata).
    #[arg(long, value_delimiter = ',', default_values = ["legacy"])]
    protocol: Vec<Protocol>,
    /// Concurrency levels: that many tasks share one client session.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 8, 64])]
    concurrency: Vec<usize>,
    /// Measured calls per cell per round.
    #[arg(long, default_value_t = 2000)]
    calls: usize,
    /// Rounds per cell; direct and Baton alternate each round, samples are pooled.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Unmeasured warm-up calls before each measured batch.
    #[arg(long, default_value_t = 200)]
    warmup: usize,
    /// Time limit for one measured batch, in seconds (the batch stops early when reached).
    #[arg(long, default_value_t = 20.0)]
    max_secs: f64,
    /// Size of the echoed message, in bytes.
    #[arg(long, default_value_t = 64)]
    message_bytes: usize,
    /// Over HTTP, protect Baton with `serve.auth.jwt` (an Ed25519 key in a JWKS file) and
    /// send a signed token with every request: the cost of authentication per call. The
    /// audit trail (on by default with `serve.auth`) is off unless --audit is given.
    #[arg(long)]
    jwt: bool,
    /// Turn Baton's metrics off (`telemetry.metrics: false`), to measure their cost against
    /// a default run.
    #[arg(long)]
    no_metrics: bool,
    /// Export traces to this OTLP/HTTP collector (`telemetry.otlp.endpoint`), to measure
    /// tracing's cost (with --sample-ratio).
    #[arg(long, value_name = "URL")]
    otlp: Option<String>,
    /// With --otlp: `telemetry.sample_ratio` (0.0 to 1.0).
    #[arg(long, default_value_t = 1.0, requires = "otlp")]
    sample_ratio: f64,
    /// With --jwt: keep the audit trail on (a record per call into a SQLite store), to
    /// measure its cost.
    #[arg(long, requires = "jwt")]
    audit: bool,
    /// Run the stdio echo upstream with rmcp's `stdio()` (tokio's blocking thread pool)
    /// instead of non-blocking pipes.
    #[arg(long)]
    echo_blocking_stdio: bool,
    /// The echo upstream behind Baton over stdio speaks only the revisions before
    /// 2026-07-28 (`initialize`), as most published servers do (`--legacy`).
    #[arg(long)]
    echo_legacy: bool,
    /// Over stdio, benchmark this MCP server instead of the echo upstream (it must have a
    /// tool `echo` whose text result contains its `message` argument, e.g. the reference
    /// `mcp-server-everything`). Not for --transport http.
    #[arg(long, value_name = "PATH")]
    upstream_command: Option<PathBuf>,
    /// An argument for --upstream-command (repeat for several).
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    upstream_arg: Vec<String>,
    /// Over --transport http, how Baton reaches the echo upstream: `http` (streamable HTTP,
    /// both of Baton's sides HTTP) or `stdio` (Baton spawns it: the HTTP serving path alone,
    /// as a host in front of local servers uses it). The direct baseline stays HTTP.
    #[arg(long, value_enum, default_value_t = HttpUpstream::Http)]
    http_upstream: HttpUpstream,
    /// Over stdio, run this many replicas of the upstream behind Baton (`replicas:`).
    #[arg(long, default_value_t = 1)]
    replicas: u32,
    /// `off` configures Baton with every resilience layer that can be turned off turned off
    /// (one attempt, no breaker, no concurrency limit to speak of), to measure the stack's
    /// cost against a default run.
    #[arg(long, value_enum, default_value_t = ResilienceMode::Default)]
    resilience: ResilienceMode,
    /// Worker threads of the benchmark client's runtime (default: tokio's, one per core).
    #[arg(long)]
    client_threads: Option<usize>,
    /// RUST_LOG for the baton process (default: unset, i.e. baton's own default level).
    #[arg(long, value_name = "FILTER")]
    baton_log: Option<String>,
    /// Measure Baton side by side with this gateway instead (repeat for several): NAME=COMMAND,
    /// the command's words split at whitespace, with {port} (a free loopback port it must
    /// serve `/mcp` on), {upstream} (the echo upstream's path) and {upstream_cmd} (the
    /// upstream as one shell command line). It must expose the upstream's `echo` tool.
    #[arg(long, value_name = "NAME=COMMAND")]
    gateway: Vec<String>,
    /// Measure another `baton` binary side by side with this one, on the same config (repeat
    /// for several): NAME=PATH, e.g. `--baton-also "baton 485f50c=/tmp/old/baton"` for an
    /// A/B of two revisions in one run, taking turns. Implies the side-by-side mode.
    #[arg(long, value_name = "NAME=PATH")]
    baton_also: Vec<String>,
    /// With --gateway: seconds a gateway idles after its first `tools/list` before its RSS is read.
    #[arg(long, default_value_t = 2.0)]
    idle_secs: f64,
    /// With --gateway: append the pid of every process started to this file, for a
    /// wrapper's cleanup (emptied once all were stopped).
    #[arg(long, value_name = "FILE")]
    pid_file: Option<PathBuf>,
    /// Also write every figure as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Keep the temporary directory (configs and logs) and print its path.
    #[arg(long)]
    keep_temp: bool,
    /// Target: Baton's added p50 latency, in microseconds.
    #[arg(long, default_value_t = 100.0)]
    target_p50_overhead_us: f64,
    /// Target: Baton's throughput as a fraction of direct.
    #[arg(long, default_value_t = 0.8)]
    target_throughput_ratio: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum HttpUpstream {
    Http,
    Stdio,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ResilienceMode {
    Default,
    Off,
}

impl ResilienceMode {
    /// The top-level `resilience:` block for Baton's config.
    fn yaml(self) -> &'static str {
        match self {
            ResilienceMode::Default => "",
            ResilienceMode::Off => {
                "resilience:\n  retry: { attempts: 1 }\n  breaker: { enabled: false }\n  concurrency: { max: 1000000, queue: 0 }\n"
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Transport {
    Stdio,
    Http,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Transport::Stdio => "stdio",
            Transport::Http => "streamable-http",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Protocol {
    Legacy,
    Modern,
}

impl Protocol {
    fn label(self) -> &'static str {
        match self {
            Protocol::Legacy => "legacy (initialize, 2025-11-25)",
            Protocol::Modern => "modern (stateless 2026-07-28)",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Protocol::Legacy => "legacy",
            Protocol::Modern => "modern",
        }
    }
}

struct Paths {
    baton: PathBuf,
    echo: PathBuf,
}

fn resolve_paths(args: &Args) -> anyhow::Result<Paths> {
    let here = std::env::current_exe().context("cannot find this executable")?;
    let sibling = |name: &str| here.with_file_name(name);
    let echo = args
        .echo
        .clone()
        .unwrap_or_else(|| sibling("baton-echo-upstream"));
    let baton = match &args.baton {
        Some(path) => path.clone(),
        None => {
            let target_dir = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("target"));
            [sibling("baton"), target_dir.join("release").join("baton")]
                .into_iter()
                .find(|path| path.is_file())
                .unwrap_or_else(|| target_dir.join("release").join("baton"))
        }
    };
    for (what, path) in [("baton", &baton), ("echo upstream", &echo)] {
        if !path.is_file() {
            bail!(
                "the {what} binary {} does not exist (build with `cargo build --release -p baton -p baton-bench`)",
                path.display()
            );
        }
    }
    Ok(Paths { baton, echo })
}

async fn call_once(
    peer: &Peer<RoleClient>,
    tool: &'static str,
    arguments: &JsonObject,
    expected: &str,
) -> Result<(), String> {
    let params = CallToolRequestParams::new(Cow::Borrowed(tool)).with_arguments(arguments.clone());
    let result = match tokio::time::timeout(CALL_TIMEOUT, peer.call_tool(params)).await {
        Ok(Ok(result)) => result,
        Ok(Err(error)) => return Err(error.to_string()),
        Err(_) => return Err(format!("no answer within {CALL_TIMEOUT:?}")),
    };
    if result.is_error == Some(true) {
        return Err(format!("the tool reported an error: {:?}", result.content));
    }
    match result.content.first().and_then(|block| block.as_text()) {
        Some(text) if text.text.contains(expected) => Ok(()),
        other => Err(format!("unexpected result: {other:?}")),
    }
}

/// Runs `calls` calls with `concurrency` tasks sharing the target's session.
async fn run_batch(
    target: &Target,
    arguments: &Arc<JsonObject>,
    expected: &Arc<str>,
    concurrency: usize,
    calls: usize,
    budget: Duration,
    measure_cpu: bool,
) -> Batch {
    let next = Arc::new(AtomicUsize::new(0));
    let before = measure_cpu.then(|| Snapshot::take(&target.cpu_pids));
    let start = Instant::now();
    let deadline = start + budget;
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let peer = target.client.peer().clone();
        let next = next.clone();
        let arguments = arguments.clone();
        let expected = expected.clone();
        let tool = target.tool;
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(calls / concurrency.max(1) + 1);
            let mut errors = 0;
            let mut first_error = None;
            while next.fetch_add(1, Ordering::Relaxed) < calls {
                if Instant::now() >= deadline {
                    break;
                }
                let began = Instant::now();
                let outcome = call_once(&peer, tool, &arguments, &expected).await;
                let elapsed = began.elapsed();
                match outcome {
                    Ok(()) => latencies.push(elapsed.as_nanos() as u64),
                    Err(error) => {
                        errors += 1;
                        first_error.get_or_insert(error);
                    }
                }
            }
            (latencies, errors, first_error)
        });
    }
    let mut batch = Batch::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((latencies, errors, first_error)) => {
                batch.latencies_ns.extend(latencies);
                batch.errors += errors;
                if batch.first_error.is_none() {
                    batch.first_error = first_error;
                }
            }
            Err(error) => {
                batch.errors += 1;
                batch.first_error.get_or_insert(error.to_string());
            }
        }
    }
    batch.wall = start.elapsed();
    if let Some(before) = before {
        batch.usage = Snapshot::take(&target.cpu_pids).since(&before);
    }
    batch
}

async fn bench_group(
    transport: Transport,
    protocol: Protocol,
    paths: &Paths,
    args: &Args,
    temp: &Path,
) -> anyhow::Result<Vec<Row>> {
    let (direct, baton, echo) = setup(transport, protocol, paths, args, temp).await?;
    eprintln!(
        "  {} {}: direct {:?} · baton {:?}",
        transport.label(),
        protocol.short(),
        direct.cpu_pids,
        baton.cpu_pids
    );
    let result = async {
        check_target(&direct).await.context("calling the echo upstream directly")?;
        check_target(&baton).await.context("calling through baton")?;
        let message: Arc<str> = "x".repeat(args.message_bytes).into();
        let mut arguments = JsonObject::new();
        arguments.insert("message".into(), message.to_string().into());
        let arguments = Arc::new(arguments);
        let budget = Duration::from_secs_f64(args.max_secs);
        let mut rows = Vec::new();
        for &concurrency in &args.concurrency {
            let mut pooled = [Pooled::default(), Pooled::default()];
            for round in 0..args.rounds.max(1) {
                // Alternate which side goes first, so neither always runs on a "warmer" machine.
                let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
                for side in order {
                    let target = if side == 0 { &direct } else { &baton };
                    if args.warmup > 0 {
                        let warm = run_batch(target, &arguments, &message, concurrency, args.warmup, budget, false).await;
                        if warm.errors > 0 {
                            bail!(
                                "{} warm-up calls failed ({}): {}",
                                warm.errors,
                                if side == 0 { "direct" } else { "baton" },
                                warm.first_error.unwrap_or_default()
                            );
                        }
                    }
                    let batch = run_batch(target, &arguments, &message, concurrency, args.calls, budget, true).await;
                    pooled[side].add(batch);
                }
            }
            let [mut direct_pool, mut baton_pool] = pooled;
            let row = Row {
                transport,
                protocol,
                concurrency,
                direct: direct_pool.summary(),
                baton: baton_pool.summary(),
            };
            eprintln!(
                "  {} {} c={:<3} direct p50 {:>8.1} µs {:>8.0} req/s | baton p50 {:>8.1} µs {:>8.0} req/s | baton process {} µs CPU, {} context switches per call",
                transport.label(),
                protocol.short(),
                concurrency,
                row.direct.p50_us,
                row.direct.throughput,
                row.baton.p50_us,
                row.baton.throughput,
                fmt_opt(row.baton.cpu_baton_us, 1).trim(),
                fmt_opt(row.baton.switches_baton, 1).trim(),
            );
            rows.push(row);
        }
        Ok(rows)
    }
    .await;
    direct.close().await;
    baton.close().await;
    if let Some(echo) = echo {
        echo.stop().await;
    }
    result
}

async fn run(args: Args) -> anyhow::Result<bool> {
    let paths = resolve_paths(&args)?;
    if args.upstream_command.is_some() && args.transport.contains(&Transport::Http) {
        bail!("--upstream-command applies to stdio only: add --transport stdio");
    }
    let temp = tempfile::Builder::new().prefix("baton-bench-").tempdir()?;
    // Kept from the start, so the logs survive a failed run too.
    let (_temp_guard, temp_path) = if args.keep_temp {
        let kept = temp.keep();
        eprintln!("baton-bench: configs and logs in {}", kept.display());
        (None, kept)
    } else {
        let path = temp.path().to_path_buf();
        (Some(temp), path)
    };
    if !args.gateway.is_empty() || !args.baton_also.is_empty() {
        gateways::run(&args, &paths, &temp_path).await?;
        return Ok(true);
    }
    let machine = machine();
    let load_before = loadavg();
    eprintln!(
        "baton-bench: baton {} · upstream {} · {} cores · load {} · {} calls × {} rounds per cell, {} warm-up, {}-byte message",
        paths.baton.display(),
        args.upstream_command
            .as_deref()
            .unwrap_or(&paths.echo)
            .display(),
        machine["cores"],
        load_before.as_deref().unwrap_or("?"),
        args.calls,
        args.rounds,
        args.warmup,
        args.message_bytes
    );
    let started = Instant::now();
    let mut rows = Vec::new();
    for &transport in &args.transport {
        for &protocol in &args.protocol {
            let group = bench_group(transport, protocol, &paths, &args, &temp_path)
                .await
                .with_context(|| format!("{} / {}", transport.label(), protocol.short()))?;
            rows.extend(group);
        }
    }
    let table = print_table(&rows, &args);
    println!("{table}");
    let all_met = rows.iter().all(|row| row.meets(&args) == (true, true));
    let load_after = loadavg();
    println!(
        "Overall: targets {} · elapsed {:.1} s · load average before {} / after {}",
        if all_met {
            "MET in every cell"
        } else {
            "NOT met in every cell"
        },
        started.elapsed().as_secs_f64(),
        load_before.as_deref().unwrap_or("?"),
        load_after.as_deref().unwrap_or("?")
    );
    if let Some(file) = &args.json {
        let report = serde_json::json!({
            "machine": machine,
            "load_average_before": load_before,
            "load_average_after": load_after,
            "baton": paths.baton,
            "echo_upstream": paths.echo,
            "settings": {
                "calls_per_round": args.calls,
                "rounds": args.rounds,
                "warmup": args.warmup,
                "max_secs_per_batch": args.max_secs,
                "message_bytes": args.message_bytes,
                "concurrency": args.concurrency,
                "client_threads": args.client_threads,
                "echo_blocking_stdio": args.echo_blocking_stdio,
                "echo_legacy": args.echo_legacy,
                "upstream_command": args.upstream_command,
                "upstream_args": args.upstream_arg,
                "baton_log": args.baton_log,
            },
            "targets": {
                "p50_overhead_us_max": args.target_p50_overhead_us,
                "throughput_ratio_min": args.target_throughput_ratio,
                "all_met": all_met,
            },
            "results": rows.iter().map(|row| serde_json::json!({
                "transport": row.transport.label(),
                "protocol": row.protocol.short(),
                "concurrency": row.concurrency,
                "direct": row.direct.to_json(),
                "baton": row.baton.to_json(),
                "p50_overhead_us": round2(row.p50_overhead_us()),
                "p99_overhead_us": round2(row.p99_overhead_us()),
                "throughput_ratio": (row.throughput_ratio() * 1000.0).round() / 1000.0,
                "cpu_overhead_us_per_call": row.baton_cpu_overhead_us().map(round2),
                "p50_target_met": row.meets(&args).0,
                "throughput_target_met": row.meets(&args).1,
            })).collect::<Vec<_>>(),
        });
        std::fs::write(file, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("cannot write {}", file.display()))?;
        eprintln!("baton-bench: wrote {}", file.display());
    }
    Ok(all_met)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(threads) = args.client_threads {
        builder.worker_threads(threads.max(1));
    }
    let runtime = match builder.build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        // Missing a target is a finding, not a failure of the benchmark.
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
