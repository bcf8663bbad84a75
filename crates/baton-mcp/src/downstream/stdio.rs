//! `baton serve` on stdio: the MCP channel is stdin/stdout; logs go to stderr.
//!
//! When stdin and stdout are pipes (how every MCP host starts a server), they are read and
//! written as non-blocking pipes on tokio's reactor. tokio's own stdin/stdout go through
//! the blocking thread pool, which costs several context switches per message (measured in
//! BENCHMARKS.md). Anything else (a terminal, a file) uses tokio's stdin/stdout. Either way
//! messages are framed by [`LineTransport`], bounded by `max_message_bytes`.

use std::sync::Arc;

use rmcp::{RoleServer, ServiceExt};

use super::DownstreamSession;
use crate::{gateway::Gateway, lines::LineTransport};

/// Serves one client on stdin/stdout until it disconnects.
pub async fn serve(gateway: Arc<Gateway>) -> Result<(), std::io::Error> {
    let max = gateway.topology().config.resilience.max_message_bytes;
    let shim = super::legacy_tasks::LegacyTasks::new(&gateway);
    let session = DownstreamSession::new(gateway);
    let service = match pipe_stdio() {
        Ok((read, write)) => {
            let transport = LineTransport::<RoleServer, _, _>::new(read, write, max, "the client")
                .with_adapter(shim);
            session.serve(transport).await
        }
        Err(_) => {
            let (read, write) = rmcp::transport::stdio();
            let transport = LineTransport::<RoleServer, _, _>::new(read, write, max, "the client")
                .with_adapter(shim);
            session.serve(transport).await
        }
    }
    .map_err(|error| std::io::Error::other(error.to_string()))?;
    service
        .waiting()
        .await
        .map_err(|error| std::io::Error::other(error.to_string()))?;
    Ok(())
}

/// stdin and stdout as reactor pipes; an error when either is not a pipe (then neither was
/// touched). Shared with the benchmark's echo upstream.
pub fn pipe_stdio() -> std::io::Result<(
    tokio::net::unix::pipe::Receiver,
    tokio::net::unix::pipe::Sender,
)> {
    use std::os::{fd::AsFd, unix::fs::FileTypeExt};
    let stdin = std::io::stdin().as_fd().try_clone_to_owned()?;
    let stdout = std::io::stdout().as_fd().try_clone_to_owned()?;
    // Check both before converting either: conversion makes a descriptor non-blocking,
    // which the fallback transport cannot use.
    for fd in [&stdin, &stdout] {
        let file = std::fs::File::from(fd.try_clone()?);
        if !file.metadata()?.file_type().is_fifo() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a pipe",
            ));
        }
    }
    Ok((
        tokio::net::unix::pipe::Receiver::from_owned_fd(stdin)?,
        tokio::net::unix::pipe::Sender::from_owned_fd(stdout)?,
    ))
}
