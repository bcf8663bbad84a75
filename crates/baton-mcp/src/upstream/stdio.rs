//! stdio upstreams: a child process in its own process group (so stopping it also stops
//! the `npx`/`uvx` grandchildren it spawned), environment as configured, stderr read line
//! by line into Baton's log tagged with the server name.

use std::{
    collections::VecDeque,
    process::Stdio,
    sync::{Arc, Mutex},
};

use baton_core::config::StdioConfig;
use process_wrap::tokio::{CommandWrap, KillOnDrop, ProcessGroup};
use rmcp::transport::TokioChildProcess;
use tokio::io::{AsyncBufReadExt, BufReader};

/// How many stderr lines are kept for `baton__status` and error messages.
pub const STDERR_TAIL_LINES: usize = 20;

/// The last lines a server wrote to stderr.
pub type StderrTail = Arc<Mutex<VecDeque<String>>>;

/// Signals a stdio server's whole process group when dropped, so that grandchildren left
/// behind by wrappers (`npx`, `uvx`, shell scripts) stop with the server even when the
/// server itself exits cleanly on end of input.
#[derive(Debug)]
pub struct ProcessGroupGuard {
    pgid: i32,
}

impl ProcessGroupGuard {
    pub fn new(leader_pid: u32) -> Option<Self> {
        i32::try_from(leader_pid)
            .ok()
            .map(|pgid| ProcessGroupGuard { pgid })
    }
}

impl Drop for ProcessGroupGuard {
    fn drop(&mut self) {
        use nix::{sys::signal, unistd::Pid};
        // ESRCH (the group is already gone) is the normal case.
        let _ = signal::killpg(Pid::from_raw(self.pgid), signal::Signal::SIGTERM);
    }
}

/// Starts the process. Errors name the command and the reason (not found, not executable).
pub fn spawn(
    server: &str,
    config: &StdioConfig,
    stderr_tail: StderrTail,
) -> Result<(TokioChildProcess, Option<tokio::task::JoinHandle<()>>), std::io::Error> {
    let mut command = tokio::process::Command::new(&config.command);
    command.args(&config.args).envs(&config.env);
    if let Some(cwd) = &config.cwd {
        command.current_dir(cwd);
    }
    let mut wrapped = CommandWrap::from(command);
    wrapped.wrap(ProcessGroup::leader()).wrap(KillOnDrop);
    let (process, stderr) = TokioChildProcess::builder(wrapped)
        .stderr(Stdio::piped())
        .spawn()?;
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
    Ok((process, reader))
}
