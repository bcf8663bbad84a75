//! `baton doctor`: what would fail, and how to fix it — the config, each stdio server's
//! command and runtime, each server's handshake (a remote one's reachability and protocol
//! era), the store (writable, schema version, free disk), the address `serve --http` would
//! bind, and the clock. One table; exit 1 when something would fail.

use std::{path::PathBuf, process::ExitCode};

use baton_core::config::{Config, TransportConfig};
use baton_mcp::upstream::UpstreamState;
use serde_json::{Value, json};

/// One line of the table.
struct Check {
    what: String,
    status: Status,
    detail: String,
    fix: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

fn check(what: impl Into<String>, status: Status, detail: impl Into<String>, fix: &str) -> Check {
    Check {
        what: what.into(),
        status,
        detail: detail.into(),
        fix: fix.to_owned(),
    }
}

/// Free space under this is a warning.
const LOW_DISK: u64 = 512 * 1024 * 1024;

pub async fn run(config_flag: Option<PathBuf>, as_json: bool) -> ExitCode {
    let mut checks = Vec::new();
    let config = match baton_core::config::resolve_path(config_flag.as_deref()) {
        None => {
            checks.push(check(
                "config",
                Status::Warn,
                "no baton.yaml here and no --config: only Baton's own tools",
                "write one with `baton init`",
            ));
            Config::empty()
        }
        Some(path) => match baton_core::config::load(&path, &baton_core::config::process_env) {
            Ok(config) => {
                checks.push(check("config", Status::Ok, path.display().to_string(), ""));
                config
            }
            Err(errors) => {
                for error in &errors.0 {
                    checks.push(check(
                        "config",
                        Status::Fail,
                        error.to_string(),
                        "fix the file (`baton validate` lists every error)",
                    ));
                }
                return report(checks, as_json);
            }
        },
    };
    commands(&config, &mut checks);
    servers(&config, &mut checks).await;
    store(&config, &mut checks).await;
    port(&config, &mut checks).await;
    clock(&mut checks);
    report(checks, as_json)
}

/// Each stdio server's command on PATH, and the runtime it needs with its version.
fn commands(config: &Config, checks: &mut Vec<Check>) {
    for server in &config.servers {
        let TransportConfig::Stdio(stdio) = &server.transport else {
            continue;
        };
        let what = format!("server {}: command", server.name);
        let Some(found) = which(&stdio.command) else {
            let fix = match stdio.command.as_str() {
                "npx" | "node" | "npm" => {
                    "install Node.js (it provides npx), e.g. apt-get install nodejs npm"
                }
                "uvx" | "uv" => "install uv (it provides uvx): pip install uv",
                "python" | "python3" => "install Python 3",
                "docker" => "install Docker",
                _ => "install it, or give its full path in `command:`",
            };
            checks.push(check(
                what,
                Status::Fail,
                format!("`{}` is not found (not on PATH)", stdio.command),
                fix,
            ));
            continue;
        };
        let version = version_of(&found);
        checks.push(check(
            what,
            Status::Ok,
            format!(
                "{}{}",
                found.display(),
                version.map(|v| format!(" ({v})")).unwrap_or_default()
            ),
            "",
        ));
    }
}

/// Where `command` is: itself when it names a path, else the first match on PATH.
fn which(command: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |path: &std::path::Path| {
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if command.contains('/') {
        let path = PathBuf::from(command);
        return executable(&path).then_some(path);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(command))
        .find(|path| executable(path))
}

/// `COMMAND --version`'s first line, for the runtimes that answer quickly.
fn version_of(path: &std::path::Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    if !matches!(
        name,
        "npx" | "node" | "uvx" | "uv" | "python" | "python3" | "docker" | "deno" | "bun"
    ) {
        return None;
    }
    let output = std::process::Command::new(path)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .next()
        .map(|line| line.trim().to_owned())
        .filter(|l| !l.is_empty())
}

/// Every server connected as `serve` would: its handshake's outcome and protocol era.
async fn servers(config: &Config, checks: &mut Vec<Check>) {
    if config.servers.is_empty() {
        return;
    }
    let app = baton_app::App::command(config.clone()).await;
    for upstream in app.gateway.upstreams() {
        // A command that is not there was said above.
        if let TransportConfig::Stdio(stdio) = &upstream.config.transport
            && which(&stdio.command).is_none()
        {
            continue;
        }
        let what = format!("server {}", upstream.label());
        let remote = match &upstream.config.transport {
            TransportConfig::Http(http) => Some(http.url.clone()),
            TransportConfig::Stdio(_) => None,
        };
        let line = match upstream.state() {
            UpstreamState::Ready {
                protocol,
                transport,
            } => check(
                what,
                Status::Ok,
                format!(
                    "ready: {transport}, protocol {protocol}, {} tools",
                    upstream.catalog().tools.len()
                ),
                "",
            ),
            UpstreamState::Disabled => check(what, Status::Ok, "disabled", ""),
            UpstreamState::NeedsLogin { error } => check(
                what,
                Status::Fail,
                error,
                "sign in: baton auth login <server>",
            ),
            state => {
                let fix = match &remote {
                    Some(_) => "check the URL and that the server runs and is reachable from here",
                    None => {
                        "run the command by hand to see why it stops (its stderr is in the detail)"
                    }
                };
                let detail = state
                    .error()
                    .map(str::to_owned)
                    .unwrap_or_else(|| state.unavailable_reason());
                let status = if upstream.config.required {
                    Status::Fail
                } else {
                    Status::Warn
                };
                check(what, status, detail, fix)
            }
        };
        checks.push(line);
    }
    app.stop().await;
}

/// The store opens (and is writable), its schema is known, and there is room on its disk.
async fn store(config: &Config, checks: &mut Vec<Check>) {
    let store = match baton_app::store::open_store(config).await {
        Ok(store) => store,
        Err(message) => {
            let fix = if config.store.url.is_some() {
                "fix store.url (or BATON_STORE_URL), or start PostgreSQL"
            } else {
                "point store.path at a folder Baton can write, or fix its permissions"
            };
            checks.push(check("store", Status::Fail, message, fix));
            return;
        }
    };
    match store.schema_version().await {
        Ok((applied, known)) if applied <= known => checks.push(check(
            "store",
            Status::Ok,
            format!("{} (schema {applied} of {known})", store.location()),
            "",
        )),
        Ok((applied, known)) => checks.push(check(
            "store",
            Status::Fail,
            format!("schema {applied} is newer than this Baton knows ({known})"),
            "upgrade Baton",
        )),
        Err(error) => checks.push(check(
            "store",
            Status::Fail,
            error.to_string(),
            "see the error",
        )),
    }
    if let Some(path) = store.path() {
        let folder = path.parent().unwrap_or(path);
        if let Ok(stats) = nix::sys::statvfs::statvfs(folder) {
            let free = stats.blocks_available() * stats.fragment_size();
            let status = if free < LOW_DISK {
                Status::Warn
            } else {
                Status::Ok
            };
            checks.push(check(
                "store disk",
                status,
                format!("{} MiB free in {}", free / (1024 * 1024), folder.display()),
                "free some space: runs and events are kept there",
            ));
        }
    }
}

/// The address `serve --http` binds by default is free.
async fn port(config: &Config, checks: &mut Vec<Check>) {
    let address = &config.serve.http;
    match tokio::net::TcpListener::bind(address.as_str()).await {
        Ok(_) => checks.push(check(
            format!("serve --http {address}"),
            Status::Ok,
            "free",
            "",
        )),
        Err(error) => checks.push(check(
            format!("serve --http {address}"),
            Status::Fail,
            format!("cannot bind: {error}"),
            "stop what listens there (or another baton serve), or set serve.http",
        )),
    }
}

/// The clock is plausible (schedules and leases follow it).
fn clock(checks: &mut Vec<Check>) {
    let now = baton_store::now_ms() / 1000;
    // 2024-01-01: a clock before it was never set.
    if now < 1_704_067_200 {
        checks.push(check(
            "clock",
            Status::Fail,
            format!("the system clock reads {now} s since 1970"),
            "set the clock (enable NTP): schedules fire and leases expire by it",
        ));
    } else {
        checks.push(check("clock", Status::Ok, "set", ""));
    }
}

fn report(checks: Vec<Check>, as_json: bool) -> ExitCode {
    let failed = checks.iter().any(|c| c.status == Status::Fail);
    if as_json {
        let rows: Vec<Value> = checks
            .iter()
            .map(|c| json!({"check": c.what, "status": c.status.as_str(), "detail": c.detail, "fix": c.fix}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "ok": !failed, "checks": rows }))
                .unwrap_or_default()
        );
    } else {
        let width = checks
            .iter()
            .map(|c| c.what.len())
            .max()
            .unwrap_or(5)
            .max(5);
        println!("{:width$}  {:6}  DETAIL", "CHECK", "STATUS");
        for c in &checks {
            println!("{:width$}  {:6}  {}", c.what, c.status.as_str(), c.detail);
            if c.status != Status::Ok && !c.fix.is_empty() {
                println!("{:width$}  {:6}  fix: {}", "", "", c.fix);
            }
        }
        println!(
            "{}",
            if failed {
                "something would fail: see the fixes above"
            } else {
                "everything checked would work"
            }
        );
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
