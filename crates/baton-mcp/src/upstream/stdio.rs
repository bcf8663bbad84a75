//! stdio upstreams: a child process in its own process group (so stopping it also stops
//! the `npx`/`uvx` grandchildren it spawned), environment as configured, stderr read line
//! by line into Baton's log tagged with the server name.

use std::{
    collections::VecDeque,
    process::Stdio,
    sync::{Arc, Mutex},
};

use baton_core::config::StdioConfig;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{ChildStdin, ChildStdout},
};

/// How many stderr lines are kept for `baton__status` and error messages.
pub const STDERR_TAIL_LINES: usize = 20;

/// The last lines a server wrote to stderr.
pub type StderrTail = Arc<Mutex<VecDeque<String>>>;

/// Signals a stdio server's whole process group when dropped, so that grandchildren left
/// behind by wrappers (`npx`, `uvx`, shell scripts) stop with the server even when the
/// server itself exits cleanly on end of input; the server itself is killed if it has not
/// exited [`KILL_AFTER`] later.
#[derive(Debug)]
pub struct ProcessGroupGuard {
    pgid: i32,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// How long a stopped server may take to exit before it is killed.
pub const KILL_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

impl Drop for ProcessGroupGuard {
    fn drop(&mut self) {
        use nix::{sys::signal, unistd::Pid};
        // ESRCH (the group is already gone) is the normal case.
        let _ = signal::killpg(Pid::from_raw(self.pgid), signal::Signal::SIGTERM);
    }
}

/// A started stdio server.
pub struct StdioProcess {
    /// Its stdout and stdin, framed for the MCP session.
    pub transport: crate::lines::LineTransport<rmcp::RoleClient, ChildStdout, ChildStdin>,
    /// Requests written on `transport` beside rmcp's service loop.
    pub direct: Arc<crate::lines::direct::DirectRequests<rmcp::model::ServerJsonRpcMessage>>,
    pub guard: Option<ProcessGroupGuard>,
    /// How it ended (`exit status: 3`, `signal: 9 (SIGKILL)`), once it has.
    pub exit: ExitWatch,
    /// The task copying its stderr into the log and the tail; ends when stderr closes.
    pub stderr_reader: Option<tokio::task::JoinHandle<()>>,
}

/// How a server process ended, once it has.
pub type ExitWatch = tokio::sync::watch::Receiver<Option<String>>;

/// Waits (at most `limit`) for the process behind `exit` to end, and says how it did.
pub async fn exit_status(exit: &ExitWatch, limit: std::time::Duration) -> Option<String> {
    let mut exit = exit.clone();
    let ended = tokio::time::timeout(limit, exit.wait_for(Option::is_some)).await;
    match ended {
        Ok(Ok(status)) => status.clone(),
        _ => None,
    }
}

/// Starts the process. Errors name the command and the reason (not found, not executable).
pub fn spawn(
    server: &str,
    config: &StdioConfig,
    stderr_tail: StderrTail,
    max_message_bytes: usize,
) -> Result<StdioProcess, std::io::Error> {
    let mut command = tokio::process::Command::new(&config.command);
    command
        .args(&config.args)
        .envs(&config.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(cwd) = &config.cwd {
        command.current_dir(cwd);
    }
    let mut child = command.spawn()?;
    let missing = || std::io::Error::other("the child's pipes were not set up");
    let stdin = child.stdin.take().ok_or_else(missing)?;
    let stdout = child.stdout.take().ok_or_else(missing)?;
    let stderr = child.stderr.take();
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let guard = child
        .id()
        .and_then(|pid| i32::try_from(pid).ok())
        .map(|pgid| ProcessGroupGuard { pgid, _stop: stop });
    let (exit_tx, exit) = tokio::sync::watch::channel(None);
    tokio::spawn(async move {
        let status = tokio::select! {
            status = child.wait() => status,
            _ = stopped => match tokio::time::timeout(KILL_AFTER, child.wait()).await {
                Ok(status) => status,
                Err(_) => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            },
        };
        let described = match status {
            Ok(status) => status.to_string(),
            Err(error) => format!("unknown exit ({error})"),
        };
        let _ = exit_tx.send(Some(described));
    });
    let reader = stderr.map(|stderr| {
        let server = server.to_owned();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(target: "baton::upstream::stderr", server = %server, "{line}");
                let mut tail = stderr_tail
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner());
                if tail.len() == STDERR_TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        })
    });
    let mut transport = crate::lines::LineTransport::new(
        stdout,
        stdin,
        max_message_bytes,
        format!("server \"{server}\""),
    );
    Ok(StdioProcess {
        direct: transport.direct_requests(),
        transport,
        guard,
        exit,
        stderr_reader: reader,
    })
}
