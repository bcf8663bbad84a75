//! `baton serve [--http ADDR]`.

use std::{path::PathBuf, process::ExitCode};

use baton_mcp::{Gateway, downstream};
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
    let workflows = !config.workflows.definitions.is_empty() || config.store.path.exists();
    let settings = config.workflows.clone();
    let engine_config = config.clone();
    let gateway = Gateway::start(config);
    // Workflows (and the store) only when there are some, or a store from earlier runs:
    // a plain gateway writes no files.
    if workflows {
        match super::open_engine(&engine_config, &gateway).await {
            Ok(engine) => {
                match engine.resume_all().await {
                    Ok(resumed) if !resumed.is_empty() => {
                        tracing::info!(runs = resumed.len(), "resuming unfinished workflow runs")
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "could not look for unfinished runs"),
                }
                let store = engine.store().clone();
                tokio::spawn(async move {
                    loop {
                        match store.prune(settings.keep_for, settings.keep_runs).await {
                            Ok(0) => {}
                            Ok(pruned) => tracing::info!(pruned, "deleted old finished runs"),
                            Err(error) => tracing::warn!(%error, "could not prune old runs"),
                        }
                        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                    }
                });
            }
            Err(error) => tracing::error!("{error}; serving without workflows"),
        }
    }
    // Hot reload: edits to the config file and the workflows folder apply live.
    if let Some(path) = engine_config.source.clone() {
        crate::reload::watch(path, gateway.clone(), |_outcome| {});
    }
    let shutdown = CancellationToken::new();
    let signal_shutdown = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        signal_shutdown.cancel();
    });
    let result = match address {
        None => {
            tokio::select! {
                result = downstream::stdio::serve(gateway.clone()) => result,
                _ = shutdown.cancelled() => Ok(()),
            }
        }
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
                eprintln!("baton: listening on http://{local}");
                downstream::http::serve(gateway.clone(), listener, shutdown.clone()).await
            }
            Err(error) => Err(std::io::Error::new(
                error.kind(),
                format!("cannot listen on {address}: {error}"),
            )),
        },
    };
    gateway.shutdown().await;
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
