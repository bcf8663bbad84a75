//! `baton serve [--http ADDR]`: the application started for serving (see `baton_app`), then
//! the listener, until the client leaves (stdio) or SIGINT/SIGTERM.

use std::{path::PathBuf, process::ExitCode};

use baton_app::{App, Role};
use tokio_util::sync::CancellationToken;

use crate::cli::ServeArgs;

pub async fn run(config_flag: Option<PathBuf>, args: ServeArgs) -> ExitCode {
    let config = match super::load_config(config_flag.as_deref()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let address = args.http.map(|address| {
        if address.is_empty() {
            config.serve.http.clone()
        } else {
            address
        }
    });
    if let Some(address) = &address
        && config.serve.auth.is_none()
        && !args.allow_unauthenticated
        && !is_loopback(address)
    {
        eprintln!(
            "error: serving {address} beyond this machine without authentication: add serve.auth (api_keys or jwt) to baton.yaml, bind 127.0.0.1, or pass --allow-unauthenticated if anyone who can reach it may call"
        );
        return ExitCode::from(2);
    }
    let shutdown = CancellationToken::new();
    let signal_shutdown = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stopping: no new requests; in-flight ones may finish");
        signal_shutdown.cancel();
    });
    let shared_store = config.store.url.is_some();
    let app = App::start(config, Role::Serve, shutdown).await;
    // A shared store named on purpose must work: a worker without it would serve without
    // runs or schedules while its peers carry on.
    if shared_store && let Err(message) = app.services.store() {
        eprintln!("error: {message}");
        app.stop().await;
        return ExitCode::FAILURE;
    }
    let result = match address {
        None => app.serve_stdio().await,
        Some(address) => match tokio::net::TcpListener::bind(&address).await {
            Ok(listener) => {
                let local = listener
                    .local_addr()
                    .map(|a| a.to_string())
                    .unwrap_or(address);
                tracing::info!(
                    "serving MCP on http://{local}/mcp (streamable HTTP) and http://{local}/sse (legacy SSE)"
                );
                // Tests and scripts read this line to find the port when ADDR ends in :0.
                tracing::info!(target: baton_app::ANNOUNCE, "baton: listening on http://{local}");
                app.serve_http(listener).await
            }
            Err(error) => Err(std::io::Error::new(
                error.kind(),
                format!("cannot listen on {address}: {error}"),
            )),
        },
    };
    app.stop().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn wait_for_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

/// Whether `address` (host:port) only listens on this machine.
fn is_loopback(address: &str) -> bool {
    let host = address
        .rsplit_once(':')
        .map_or(address, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
