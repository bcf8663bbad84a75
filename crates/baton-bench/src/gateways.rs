//! Side by side with other gateways (`baton-bench --gateway NAME=COMMAND …`).
//!
//! Baton and each given gateway front the same native echo upstream (`baton-echo-upstream
//! --stdio`, started by the gateway itself), and the same rmcp client drives each over
//! streamable HTTP (`initialize` era). Per gateway: the time from its start to the first
//! `tools/list` answered with the echo tool in it, its idle RSS, and for each concurrency
//! level p50/p99 latency, req/s and the gateway's CPU per call, each also as a multiple of
//! Baton's from the same run. Within a round the gateways take turns, and the order rotates
//! every round, so all of them see the same machine state.
//!
//! "The gateway" is the process started and every process below it except the upstream
//! (recognised by its executable): e.g. the `sh` a Node gateway runs its server through.
//! In the shared statistics its CPU is the role `baton`.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use rmcp::model::JsonObject;
use tokio::process::{Child, Command};

use crate::{
    Args, Paths, Protocol, Target, check_target,
    configs::yaml_string,
    connect_http, procs,
    report::loadavg,
    run_batch,
    stats::{Pooled, Summary},
};

mod table;

/// How long a gateway may take from its start to its first `tools/list` answer.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a starting gateway is polled.
const POLL_EVERY: Duration = Duration::from_millis(5);

/// A gateway to measure: its name, its command line with placeholders, the tool it exposes.
struct Spec {
    name: String,
    words: Vec<String>,
    tool: &'static str,
}

/// A started gateway.
struct Gateway {
    spec: Spec,
    child: Child,
    pid: u32,
    base: String,
    log: PathBuf,
    ready_after: Duration,
    idle_rss_kib: Option<u64>,
    /// Every process seen under it (pid, executable), to stop stragglers at the end.
    seen: Vec<(u32, Option<PathBuf>)>,
}

/// What the run found for one gateway.
pub(crate) struct Outcome {
    pub(crate) name: String,
    pub(crate) ready_after: Duration,
    pub(crate) idle_rss_kib: Option<u64>,
    pub(crate) loaded_rss_kib: Option<u64>,
    pub(crate) processes: String,
    /// One summary per concurrency level, in `--concurrency` order.
    pub(crate) cells: Vec<Summary>,
    pub(crate) warmup_errors: usize,
}

/// What every gateway shares: where to write, what the upstream is.
struct Setup {
    temp: PathBuf,
    echo: PathBuf,
    pid_file: Option<PathBuf>,
    idle: Duration,
}

/// Baton first (the reference), then each `--baton-also NAME=PATH`, then each
/// `--gateway NAME=COMMAND`.
fn specs(args: &Args, paths: &Paths, config: &Path) -> anyhow::Result<Vec<Spec>> {
    let baton = |name: &str, binary: &Path| Spec {
        name: name.to_owned(),
        words: vec![
            binary.display().to_string(),
            "serve".into(),
            "--http".into(),
            "127.0.0.1:{port}".into(),
            "--config".into(),
            config.display().to_string(),
        ],
        tool: "echo__echo",
    };
    let mut specs = vec![baton("baton", &paths.baton)];
    for given in &args.baton_also {
        let Some((name, binary)) = given.split_once('=') else {
            bail!("--baton-also {given:?}: expected NAME=PATH");
        };
        let binary = Path::new(binary.trim());
        if name.trim().is_empty() || !binary.is_file() {
            bail!("--baton-also {given:?}: expected NAME=PATH of a baton binary");
        }
        specs.push(baton(name.trim(), binary));
    }
    for given in &args.gateway {
        let Some((name, command)) = given.split_once('=') else {
            bail!("--gateway {given:?}: expected NAME=COMMAND");
        };
        let words: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
        if name.trim().is_empty() || words.is_empty() {
            bail!("--gateway {given:?}: expected NAME=COMMAND");
        }
        if !words.iter().any(|word| word.contains("{port}")) {
            bail!("--gateway {given:?}: the command must listen on {{port}}");
        }
        specs.push(Spec {
            name: name.trim().to_owned(),
            words,
            tool: "echo",
        });
    }
    Ok(specs)
}

/// A free loopback port (bound and released; the gateway binds it next).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The upstream as one shell command line, for gateways that take one (`sh -c`).
fn shell_command(echo: &Path) -> String {
    format!(
        "'{}' --stdio",
        echo.display().to_string().replace('\'', r"'\''")
    )
}

fn record_pids(file: Option<&Path>, pids: &[u32]) {
    if let Some(file) = file
        && let Ok(mut out) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
    {
        for pid in pids {
            let _ = writeln!(out, "{pid}");
        }
    }
}

/// The gateway's processes and the upstream's, by executable.
fn split_tree(pid: u32, echo: &Path) -> (Vec<u32>, Vec<u32>) {
    procs::tree(pid)
        .into_iter()
        .partition(|&p| procs::exe(p).as_deref() != Some(echo))
}

fn rss_kib(pids: &[u32]) -> Option<u64> {
    pids.iter().map(|&pid| procs::rss_kib(pid)).sum()
}

/// Connects, lists the tools and disconnects; returns when the answer came, if it lists `tool`.
async fn probe(base: &str, tool: &str) -> anyhow::Result<Instant> {
    let client = connect_http(base, Protocol::Legacy, None).await?;
    let tools = client.peer().list_all_tools().await;
    let answered = Instant::now();
    let _ = tokio::time::timeout(Duration::from_secs(5), client.cancel()).await;
    if tools?.iter().any(|listed| listed.name == tool) {
        Ok(answered)
    } else {
        bail!("{tool} is not listed yet")
    }
}

/// Polls until the gateway answers `tools/list` with `tool` in it; returns the time since start.
async fn wait_ready(
    base: &str,
    tool: &str,
    child: &mut Child,
    started: Instant,
) -> anyhow::Result<Duration> {
    let address = base.trim_start_matches("http://");
    let mut last_error = "nothing listened".to_owned();
    while started.elapsed() < READY_TIMEOUT {
        if let Some(status) = child.try_wait()? {
            bail!("it exited ({status}) before answering tools/list ({last_error})");
        }
        if tokio::net::TcpStream::connect(address).await.is_ok() {
            match tokio::time::timeout(Duration::from_secs(10), probe(base, tool)).await {
                Ok(Ok(answered)) => return Ok(answered - started),
                Ok(Err(error)) => last_error = format!("{error:#}"),
                Err(_) => last_error = "no tools/list answer within 10 s".into(),
            }
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
    bail!("no tools/list answer within {READY_TIMEOUT:?} ({last_error})")
}

fn fill(word: &str, port: u16, echo: &Path) -> String {
    word.replace("{port}", &port.to_string())
        .replace("{upstream_cmd}", &shell_command(echo))
        .replace("{upstream}", &echo.display().to_string())
}

/// Starts a gateway in its own process group, waits for its first `tools/list`, lets it
/// idle, and reads its RSS.
async fn start(spec: Spec, ctx: &Setup) -> anyhow::Result<Gateway> {
    let port = free_port()?;
    let words: Vec<String> = spec
        .words
        .iter()
        .map(|word| fill(word, port, &ctx.echo))
        .collect();
    let slug: String = spec
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let log = ctx.temp.join(format!("{slug}.log"));
    let file = std::fs::File::create(&log)?;
    let mut command = Command::new(&words[0]);
    command
        .args(&words[1..])
        .current_dir(&ctx.temp)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .process_group(0)
        .kill_on_drop(true);
    let started = Instant::now();
    let child = command
        .spawn()
        .with_context(|| format!("{}: cannot start {:?}", spec.name, words[0]))?;
    let pid = child.id().context("the gateway has no pid")?;
    record_pids(ctx.pid_file.as_deref(), &[pid]);
    let base = format!("http://127.0.0.1:{port}");
    eprintln!("  {}: started (pid {pid}): {}", spec.name, words.join(" "));
    let mut gateway = Gateway {
        spec,
        child,
        pid,
        base,
        log,
        ready_after: Duration::ZERO,
        idle_rss_kib: None,
        seen: Vec::new(),
    };
    match wait_ready(
        &gateway.base,
        gateway.spec.tool,
        &mut gateway.child,
        started,
    )
    .await
    {
        Ok(after) => gateway.ready_after = after,
        Err(error) => {
            let log = std::fs::read_to_string(&gateway.log).unwrap_or_default();
            let name = gateway.spec.name.clone();
            stop(gateway).await;
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            bail!(
                "{name}: {error:#}\n  its last output:\n    {}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n    ")
            );
        }
    }
    tokio::time::sleep(ctx.idle).await;
    let (own, _) = split_tree(pid, &ctx.echo);
    gateway.idle_rss_kib = rss_kib(&own);
    eprintln!(
        "  {}: first tools/list after {:.0} ms; idle RSS {:.1} MiB",
        gateway.spec.name,
        gateway.ready_after.as_secs_f64() * 1e3,
        gateway.idle_rss_kib.unwrap_or(0) as f64 / 1024.0
    );
    Ok(gateway)
}

/// SIGTERM to its process group, SIGKILL after 5 s; then any process seen under it that
/// is still there (a gateway may start its server in a process group of its own).
async fn stop(mut gateway: Gateway) {
    use nix::sys::signal::{Signal, kill, killpg};
    use nix::unistd::Pid;
    let group = Pid::from_raw(gateway.pid as i32);
    let _ = killpg(group, Signal::SIGTERM);
    if tokio::time::timeout(Duration::from_secs(5), gateway.child.wait())
        .await
        .is_err()
    {
        let _ = killpg(group, Signal::SIGKILL);
        let _ = tokio::time::timeout(Duration::from_secs(5), gateway.child.wait()).await;
    }
    let _ = killpg(group, Signal::SIGKILL);
    for signal in [Signal::SIGTERM, Signal::SIGKILL] {
        let alive: Vec<u32> = gateway
            .seen
            .iter()
            .filter(|(pid, exe)| exe.is_some() && procs::exe(*pid) == *exe)
            .map(|(pid, _)| *pid)
            .collect();
        if alive.is_empty() {
            break;
        }
        for pid in alive {
            let _ = kill(Pid::from_raw(pid as i32), signal);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Connects the load client and names the processes whose CPU each call is charged to.
async fn connect(gateway: &mut Gateway, ctx: &Setup) -> anyhow::Result<Target> {
    let client = connect_http(&gateway.base, Protocol::Legacy, None)
        .await
        .with_context(|| format!("{}: connecting the load client", gateway.spec.name))?;
    let mut target = Target {
        tool: gateway.spec.tool,
        client,
        cpu_pids: vec![("client", std::process::id())],
        process: None,
    };
    check_target(&target)
        .await
        .with_context(|| format!("{}: the first call", gateway.spec.name))?;
    let (own, upstream) = split_tree(gateway.pid, &ctx.echo);
    target
        .cpu_pids
        .extend(own.iter().map(|&pid| ("baton", pid)));
    target
        .cpu_pids
        .extend(upstream.iter().map(|&pid| ("upstream", pid)));
    record_pids(ctx.pid_file.as_deref(), own.get(1..).unwrap_or_default());
    record_pids(ctx.pid_file.as_deref(), &upstream);
    for pid in own.iter().chain(&upstream) {
        gateway.seen.push((*pid, procs::exe(*pid)));
    }
    eprintln!(
        "  {}: gateway processes {:?}, upstream {:?}",
        gateway.spec.name, own, upstream
    );
    Ok(target)
}

/// Every concurrency level, `--rounds` rounds each; the gateways take turns in a rotating
/// order. Returns one pooled summary per gateway per concurrency level, and the failed
/// warm-up calls of each gateway.
async fn measure(
    names: &[String],
    targets: &[Target],
    args: &Args,
) -> (Vec<Vec<Summary>>, Vec<usize>) {
    let message: Arc<str> = "x".repeat(args.message_bytes).into();
    let mut arguments = JsonObject::new();
    arguments.insert("message".into(), message.to_string().into());
    let arguments = Arc::new(arguments);
    let budget = Duration::from_secs_f64(args.max_secs);
    let mut cells = vec![Vec::new(); targets.len()];
    let mut warm_errors = vec![0; targets.len()];
    for &concurrency in &args.concurrency {
        let mut pooled = vec![Pooled::default(); targets.len()];
        for round in 0..args.rounds.max(1) {
            for turn in 0..targets.len() {
                let at = (round + turn) % targets.len();
                let target = &targets[at];
                if args.warmup > 0 {
                    let warm = run_batch(
                        target,
                        &arguments,
                        &message,
                        concurrency,
                        args.warmup,
                        budget,
                        false,
                    )
                    .await;
                    if warm.errors > 0 {
                        warm_errors[at] += warm.errors;
                        eprintln!(
                            "  {}: {} warm-up call(s) failed: {}",
                            names[at],
                            warm.errors,
                            warm.first_error.unwrap_or_default()
                        );
                    }
                }
                let batch = run_batch(
                    target,
                    &arguments,
                    &message,
                    concurrency,
                    args.calls,
                    budget,
                    true,
                )
                .await;
                pooled[at].add(batch);
            }
        }
        for (at, pool) in pooled.iter_mut().enumerate() {
            let summary = pool.summary();
            eprintln!(
                "  c={concurrency:<3} {:<32} p50 {:>8.1} µs  p99 {:>8.1} µs  {:>7.0} req/s  gateway CPU {} µs/call  errors {}",
                names[at],
                summary.p50_us,
                summary.p99_us,
                summary.throughput,
                crate::report::fmt_opt(summary.cpu_baton_us, 1).trim(),
                summary.errors
            );
            cells[at].push(summary);
        }
    }
    (cells, warm_errors)
}

/// The whole side-by-side run; prints the tables, and writes JSON with `--json`.
pub(crate) async fn run(args: &Args, paths: &Paths, temp: &Path) -> anyhow::Result<()> {
    let echo = std::fs::canonicalize(&paths.echo)
        .with_context(|| format!("cannot find {}", paths.echo.display()))?;
    let config = temp.join("baton-gateways.yaml");
    std::fs::write(
        &config,
        format!(
            "servers:\n  echo:\n    command: {}\n    args: [\"--stdio\"]\n",
            yaml_string(&echo.display().to_string())
        ),
    )?;
    let ctx = Setup {
        temp: temp.to_path_buf(),
        echo,
        pid_file: args.pid_file.clone(),
        idle: Duration::from_secs_f64(args.idle_secs),
    };
    let load_before = loadavg();
    eprintln!(
        "baton-bench: side by side with {} other gateway(s) · load {} · {} calls × {} rounds per cell, {} warm-up, {}-byte message",
        args.gateway.len(),
        load_before.as_deref().unwrap_or("?"),
        args.calls,
        args.rounds,
        args.warmup,
        args.message_bytes
    );
    let began = Instant::now();
    let mut gateways = Vec::new();
    let result = async {
        // One at a time, so each starts on a machine the others leave idle.
        for spec in specs(args, paths, &config)? {
            gateways.push(start(spec, &ctx).await?);
        }
        let mut targets = Vec::new();
        for gateway in &mut gateways {
            targets.push(connect(gateway, &ctx).await?);
        }
        let names: Vec<String> = gateways.iter().map(|g| g.spec.name.clone()).collect();
        let (cells, warm_errors) = measure(&names, &targets, args).await;
        let outcomes: Vec<Outcome> = gateways
            .iter()
            .zip(cells)
            .zip(warm_errors)
            .map(|((gateway, cells), warmup_errors)| {
                let (own, upstream) = split_tree(gateway.pid, &ctx.echo);
                Outcome {
                    name: gateway.spec.name.clone(),
                    ready_after: gateway.ready_after,
                    idle_rss_kib: gateway.idle_rss_kib,
                    loaded_rss_kib: rss_kib(&own),
                    processes: format!("{} + {} upstream", own.len(), upstream.len()),
                    cells,
                    warmup_errors,
                }
            })
            .collect();
        for target in targets {
            target.close().await;
        }
        Ok::<_, anyhow::Error>(outcomes)
    }
    .await;
    for gateway in gateways {
        stop(gateway).await;
    }
    if let Some(file) = &args.pid_file {
        // Everything was stopped: nothing left for the caller to clean up.
        let _ = std::fs::write(file, "");
    }
    let outcomes = result?;
    let load_after = loadavg();
    println!("{}", table::markdown(&outcomes, args));
    println!(
        "Elapsed {:.1} s · load average before {} / after {}",
        began.elapsed().as_secs_f64(),
        load_before.as_deref().unwrap_or("?"),
        load_after.as_deref().unwrap_or("?")
    );
    if let Some(file) = &args.json {
        let report = table::json(
            &outcomes,
            args,
            load_before.as_deref(),
            load_after.as_deref(),
        );
        std::fs::write(file, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("cannot write {}", file.display()))?;
        eprintln!("baton-bench: wrote {}", file.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    fn specs_of(extra: &[&str], baton: &Path) -> anyhow::Result<Vec<Spec>> {
        let mut argv = vec!["baton-bench"];
        argv.extend_from_slice(extra);
        let args = Args::try_parse_from(argv)?;
        let paths = Paths {
            baton: baton.to_path_buf(),
            echo: PathBuf::from("/bin/true"),
        };
        specs(&args, &paths, Path::new("/tmp/config.yaml"))
    }

    #[test]
    fn another_baton_runs_on_the_same_config_after_the_reference_and_before_other_gateways() {
        let other = tempfile::NamedTempFile::new().expect("a file");
        let also = format!("baton old={}", other.path().display());
        let specs = specs_of(
            &[
                "--gateway",
                "relay=relay --listen 127.0.0.1:{port}",
                "--baton-also",
                &also,
            ],
            Path::new("/opt/baton"),
        )
        .expect("specs");
        let names: Vec<&str> = specs.iter().map(|spec| spec.name.as_str()).collect();
        assert_eq!(names, ["baton", "baton old", "relay"]);
        assert_eq!(specs[1].words[0], other.path().display().to_string());
        assert_eq!(specs[1].words[1..], specs[0].words[1..]);
        assert_eq!((specs[1].tool, specs[2].tool), ("echo__echo", "echo"));
    }

    #[test]
    fn another_baton_must_name_an_existing_binary() {
        let error = specs_of(
            &["--baton-also", "old=/no/such/baton"],
            Path::new("/opt/baton"),
        )
        .err()
        .expect("refused");
        assert!(error.to_string().contains("--baton-also"), "{error}");
        let error = specs_of(&["--baton-also", "no-path"], Path::new("/opt/baton"))
            .err()
            .expect("refused");
        assert!(error.to_string().contains("expected NAME=PATH"), "{error}");
    }
}
