//! `baton-floor-relay`: the least a streamable HTTP → stdio MCP relay does, as a floor to
//! measure Baton's HTTP path against (`baton-bench --gateway`, BENCHMARKS.md "The floor of
//! an HTTP → stdio relay"). It is not a gateway and must never be used as one: no
//! namespacing, no checks, limits or sessions, no progress, cancellation or server-to-client
//! requests, no resilience, metrics or audit.
//!
//!     baton-floor-relay --listen 127.0.0.1:PORT -- UPSTREAM [ARGS…]
//!
//! It starts the upstream, does the MCP handshake with it once, then per HTTP POST on
//! `/mcp`: reads the JSON-RPC message's id, method and params (borrowed, the params not
//! parsed), answers `initialize` with the upstream's own answer and a notification with
//! 202, and relays any other request to the upstream under a fresh id; the upstream's
//! answer is matched by id and sent back under the client's id as one SSE event, with a
//! `Content-Length` (one write) — the same stack as Baton (axum, hyper, tokio with one
//! worker thread, serde_json) and the same system calls per call.

#![forbid(unsafe_code)]

use std::{
    borrow::Cow,
    collections::HashMap,
    process::{ExitCode, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use anyhow::{Context, bail};
use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::{ChildStdin, ChildStdout},
    sync::oneshot,
};

const USAGE: &str = "usage: baton-floor-relay --listen ADDR -- UPSTREAM [ARGS…]";

/// The upstream's side: its stdin, the requests waiting for an answer, its handshake answer.
struct Relay {
    stdin: tokio::sync::Mutex<ChildStdin>,
    pending: Mutex<HashMap<u64, oneshot::Sender<Vec<u8>>>>,
    next_id: AtomicU64,
    initialized: Box<RawValue>,
}

/// A client's message, borrowed from the request body.
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow)]
    params: Option<&'a RawValue>,
}

/// An upstream's answer, borrowed from its line.
#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    #[serde(borrow)]
    error: Option<&'a RawValue>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (listen, upstream) = match args.as_slice() {
        [flag, listen, dashes, upstream @ ..]
            if flag == "--listen" && dashes == "--" && !upstream.is_empty() =>
        {
            (listen.clone(), upstream.to_vec())
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("baton-floor-relay: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&listen, &upstream)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("baton-floor-relay: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(listen: &str, upstream: &[String]) -> anyhow::Result<()> {
    let mut child = tokio::process::Command::new(&upstream[0])
        .args(&upstream[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start the upstream {:?}", upstream[0]))?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        bail!("the upstream's stdin and stdout were not piped");
    };
    let mut lines = BufReader::new(stdout);
    let initialized = handshake(&mut stdin, &mut lines).await?;
    let relay = Arc::new(Relay {
        stdin: tokio::sync::Mutex::new(stdin),
        pending: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(1),
        initialized,
    });
    tokio::spawn(read_answers(lines, relay.clone()));

    let app = Router::new()
        .route(
            "/mcp",
            axum::routing::post(post)
                .get(|| async { StatusCode::METHOD_NOT_ALLOWED })
                .delete(|| async { StatusCode::OK }),
        )
        .with_state(relay);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    eprintln!("listening on http://{listen}");
    tokio::select! {
        served = axum::serve(listener, app) => served.context("serving")?,
        exited = child.wait() => bail!("the upstream exited: {exited:?}"),
    }
    Ok(())
}

/// `initialize` and `notifications/initialized` with the upstream; its answer's `result`.
async fn handshake(
    stdin: &mut ChildStdin,
    lines: &mut BufReader<ChildStdout>,
) -> anyhow::Result<Box<RawValue>> {
    let initialize = serde_json::json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": { "name": "baton-floor-relay", "version": env!("CARGO_PKG_VERSION") },
        },
    });
    let mut line = serde_json::to_vec(&initialize)?;
    line.push(b'\n');
    stdin.write_all(&line).await?;
    let mut answer = Vec::new();
    if lines.read_until(b'\n', &mut answer).await? == 0 {
        bail!("the upstream closed its stdout before answering initialize");
    }
    let answer: Answer = serde_json::from_slice(&answer).context("the initialize answer")?;
    let result = answer
        .result
        .with_context(|| format!("the upstream refused initialize: {:?}", answer.error))?
        .to_owned();
    let initialized =
        serde_json::json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let mut line = serde_json::to_vec(&initialized)?;
    line.push(b'\n');
    stdin.write_all(&line).await?;
    Ok(result)
}

/// Hands each upstream answer line to the request waiting for its id.
async fn read_answers(mut lines: BufReader<ChildStdout>, relay: Arc<Relay>) {
    loop {
        let mut line = Vec::with_capacity(256);
        match lines.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        #[derive(Deserialize)]
        struct Id {
            id: Option<u64>,
        }
        let Ok(Id { id: Some(id) }) = serde_json::from_slice::<Id>(&line) else {
            continue;
        };
        let waiting = relay
            .pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&id);
        if let Some(waiting) = waiting {
            let _ = waiting.send(line);
        }
    }
}

async fn post(State(relay): State<Arc<Relay>>, body: Bytes) -> Response {
    let Ok(message) = serde_json::from_slice::<Incoming>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let (Some(id), Some(method)) = (message.id, message.method.as_deref()) else {
        return StatusCode::ACCEPTED.into_response();
    };
    if method == "initialize" {
        let mut response = event(id, "result", &relay.initialized);
        response
            .headers_mut()
            .insert("mcp-session-id", header::HeaderValue::from_static("floor"));
        return response;
    }
    let upstream_id = relay.next_id.fetch_add(1, Ordering::Relaxed);
    let (sender, answer) = oneshot::channel();
    relay
        .pending
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(upstream_id, sender);
    let mut line = Vec::with_capacity(body.len() + 48);
    line.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    line.extend_from_slice(upstream_id.to_string().as_bytes());
    line.extend_from_slice(br#","method":"#);
    if serde_json::to_writer(&mut line, method).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    if let Some(params) = message.params {
        line.extend_from_slice(br#","params":"#);
        line.extend_from_slice(params.get().as_bytes());
    }
    line.extend_from_slice(b"}\n");
    if relay.stdin.lock().await.write_all(&line).await.is_err() {
        return StatusCode::BAD_GATEWAY.into_response();
    }
    let Ok(answer) = answer.await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    match serde_json::from_slice::<Answer>(&answer) {
        Ok(Answer {
            result: Some(result),
            ..
        }) => event(id, "result", result),
        Ok(Answer {
            error: Some(error), ..
        }) => event(id, "error", error),
        _ => StatusCode::BAD_GATEWAY.into_response(),
    }
}

/// `{"jsonrpc":"2.0","id":ID,"KEY":VALUE}` as one SSE event, the whole body at once.
fn event(id: &RawValue, key: &str, value: &RawValue) -> Response {
    let mut body = Vec::with_capacity(value.get().len() + 64);
    body.extend_from_slice(
        br#"event: message
data: {"jsonrpc":"2.0","id":"#,
    );
    body.extend_from_slice(id.get().as_bytes());
    body.extend_from_slice(b",\"");
    body.extend_from_slice(key.as_bytes());
    body.extend_from_slice(b"\":");
    body.extend_from_slice(value.get().as_bytes());
    body.extend_from_slice(b"}\n\n");
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
