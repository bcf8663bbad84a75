//! Child processes for the benchmark (echo upstream, `baton serve --http`), and CPU time and
//! memory read from `/proc` (Linux only; elsewhere those figures are absent).

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context, bail};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::{Child, Command},
};

/// A process that serves HTTP, killed when dropped.
pub struct HttpProcess {
    pub child: Child,
    /// `http://ADDR`, as the process printed it.
    pub base: String,
}

impl HttpProcess {
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGTERM (a graceful stop, so wrappers such as `perf record` can finish), then
    /// SIGKILL after 5 s.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id().and_then(|pid| i32::try_from(pid).ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
            if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
                .await
                .is_ok()
            {
                return;
            }
        }
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// Starts `command`, waits for the stderr line containing `marker` followed by `http://ADDR`,
/// then copies the rest of its stderr to `log` (so the pipe never fills).
pub async fn spawn_http(
    mut command: Command,
    marker: &str,
    log: &Path,
) -> anyhow::Result<HttpProcess> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start {:?}", command.as_std().get_program()))?;
    let stderr = child.stderr.take().context("no stderr pipe")?;
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    let base = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.find(marker).map(|at| &line[at + marker.len()..]) {
                let base = rest.trim().to_owned();
                return Ok::<_, anyhow::Error>(Some((base, seen)));
            }
            seen.push(line);
        }
        Ok(None)
    })
    .await;
    let (base, seen) = match base {
        Ok(Ok(Some(found))) => found,
        Ok(Ok(None)) => bail!("{:?} exited before printing its address", command.as_std()),
        Ok(Err(error)) => return Err(error),
        Err(_) => bail!("{:?} printed no address within 30 s", command.as_std()),
    };
    let mut file = tokio::fs::File::create(log)
        .await
        .with_context(|| format!("cannot create {}", log.display()))?;
    tokio::spawn(async move {
        for line in seen {
            let _ = file.write_all(format!("{line}\n").as_bytes()).await;
        }
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = file.write_all(format!("{line}\n").as_bytes()).await;
        }
        let _ = file.flush().await;
    });
    Ok(HttpProcess { child, base })
}

/// Direct children of `pid` (all threads), e.g. the echo upstream `baton serve` spawned.
pub fn children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return found;
    };
    for task in tasks.flatten() {
        let path: PathBuf = task.path().join("children");
        if let Ok(text) = std::fs::read_to_string(path) {
            found.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    found.sort_unstable();
    found.dedup();
    found
}

/// `pid` and all its descendants (children of every thread, recursively), `pid` first.
pub fn tree(pid: u32) -> Vec<u32> {
    let mut found = vec![pid];
    let mut next = 0;
    while next < found.len() {
        for child in children(found[next]) {
            if !found.contains(&child) {
                found.push(child);
            }
        }
        next += 1;
    }
    found
}

/// The executable a process runs (`/proc/PID/exe`), when readable.
pub fn exe(pid: u32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe")).ok()
}

/// Resident set size (`VmRSS`) of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// What a process has used so far: CPU nanoseconds and context switches.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// CPU time in nanoseconds, or None when unreadable.
    pub cpu_ns: Option<u64>,
    /// Voluntary + involuntary context switches of its live threads.
    pub switches: Option<u64>,
}

/// Reads `/proc`: the sum of the live threads' `schedstat` run time (nanosecond
/// resolution) and context switches. CPU falls back to `stat` utime+stime (10 ms ticks,
/// includes exited threads) when `schedstat` is unavailable.
pub fn usage(pid: u32) -> Usage {
    let mut cpu = 0u64;
    let mut switches = 0u64;
    let mut any_cpu = false;
    let mut any_switch = false;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("schedstat"))
                && let Some(ns) = text
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
            {
                cpu += ns;
                any_cpu = true;
            }
            if let Ok(text) = std::fs::read_to_string(task.path().join("status")) {
                for line in text.lines() {
                    if let Some(rest) = line
                        .strip_prefix("voluntary_ctxt_switches:")
                        .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
                        && let Ok(count) = rest.trim().parse::<u64>()
                    {
                        switches += count;
                        any_switch = true;
                    }
                }
            }
        }
    }
    Usage {
        cpu_ns: if any_cpu { Some(cpu) } else { stat_ns(pid) },
        switches: any_switch.then_some(switches),
    }
}

fn stat_ns(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the command name: state(3) … utime(14) stime(15), 1-based as in proc(5).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux platform Rust supports.
    Some((utime + stime) * 10_000_000)
}

/// Usage of each named process, to diff two snapshots.
#[derive(Debug, Clone, Default)]
pub struct Snapshot(pub Vec<(&'static str, Usage)>);

/// What one process role used between two snapshots (None when unreadable, or when a
/// counter went backwards because a thread exited).
#[derive(Debug, Clone, Copy)]
pub struct Used {
    pub role: &'static str,
    pub cpu_ns: Option<u64>,
    pub switches: Option<u64>,
}

impl Snapshot {
    pub fn take(pids: &[(&'static str, u32)]) -> Self {
        Snapshot(pids.iter().map(|&(role, pid)| (role, usage(pid))).collect())
    }

    pub fn since(&self, earlier: &Snapshot) -> Vec<Used> {
        let diff = |now: Option<u64>, before: Option<u64>| match (now, before) {
            (Some(now), Some(before)) if now >= before => Some(now - before),
            _ => None,
        };
        self.0
            .iter()
            .zip(&earlier.0)
            .map(|((role, now), (_, before))| Used {
                role,
                cpu_ns: diff(now.cpu_ns, before.cpu_ns),
                switches: diff(now.switches, before.switches),
            })
            .collect()
    }
}
