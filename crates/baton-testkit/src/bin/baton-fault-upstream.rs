//! `baton-fault-upstream`: an MCP server that misbehaves on command, for Baton's resilience
//! tests. Test-only: it lives in a crate that is never shipped.
//!
//!     baton-fault-upstream [--id NAME] [--legacy] [--exit-at-startup CODE]
//!                          [--startup-delay MS] [--call-delay MS] [--http ADDR]
//!
//! On stdio by default; with `--http ADDR`, streamable HTTP at `/mcp` (legacy sessions
//! kept), printing `listening on http://ADDR` on stderr once it accepts connections.
//! `--legacy` negotiates 2025-11-25 at most (so HTTP clients get a session to expire).
//! `--exit-at-startup CODE` writes a line on stderr and exits before speaking MCP.
//! `--call-delay MS` makes every tool call take that much longer (a slow replica).
//! `--journal PATH` appends `TOOL<TAB>IDEMPOTENCY-KEY` for every call to PATH (the key from
//! the request `_meta`, `-` without one), so tests can count calls across restarts.
//!
//! Tools (each call also counts towards `calls`):
//! - `echo {message}` (read-only): the message.
//! - `whoami` (read-only): "ID PID".
//! - `bump`: this session's call count and the server id, "N ID".
//! - `delay {ms}` (read-only): answers after `ms` milliseconds.
//! - `hang`: never answers (until cancelled).
//! - `crash {code?}`: the process exits mid-call.
//! - `fail {message?}` (read-only): a tool error (`isError: true`).
//! - `flaky {key, failures}` (idempotent): a tool error for the first `failures` calls
//!   with `key`, then "ok after N".
//! - `rpc_error`: a JSON-RPC error.
//! - `needs_file {path}`: a tool error until `path` exists, then "found".
//! - `calls {tool}` (read-only): how often `tool` ran in this process.
//! - `expire_sessions`: every HTTP session open now answers 404 from the next request on.
//! - `initializations` (read-only): how many `initialize` requests this process answered.
//! - `task_job {ms}`: a 2026-07-28 task when the request declares the tasks extension
//!   ("slept MS as a task"; `tasks/get`, `tasks/cancel`), else answered inline (`tasks.rs`).
//!
//! Prompts: `greet {name}` answers a greeting; `completion/complete` for its argument never
//! answers (until cancelled): a hung completion.

#![forbid(unsafe_code)]

#[path = "baton-fault-upstream/tasks.rs"]
mod tasks;

use std::{
    borrow::Cow,
    collections::HashMap,
    process::ExitCode,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    extract::{Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};
use rmcp::{
    ErrorData, RoleServer, ServerHandler, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams,
        CompleteResult, ContentBlock, GetPromptRequestParams, GetPromptResponse, GetPromptResult,
        Implementation, InitializeRequestParams, InitializeResult, JsonObject, ListPromptsResult,
        ListToolsResult, PaginatedRequestParams, Prompt, PromptArgument, PromptMessage,
        ProtocolVersion, Role, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
        ToolsCapability,
    },
    service::RequestContext,
    transport::{
        StreamableHttpServerConfig, StreamableHttpService,
        streamable_http_server::session::local::LocalSessionManager,
    },
};
use serde_json::{Value, json};

const USAGE: &str = "usage: baton-fault-upstream [--id NAME] [--legacy] [--exit-at-startup CODE] [--startup-delay MS] [--call-delay MS] [--journal PATH] [--http ADDR]";

/// What the whole process shares across sessions.
#[derive(Default)]
struct Shared {
    id: String,
    legacy: bool,
    call_delay: Duration,
    journal: Option<std::path::PathBuf>,
    calls: Mutex<HashMap<String, u64>>,
    flaky: Mutex<HashMap<String, u64>>,
    initializations: AtomicU64,
    /// Bumped by `expire_sessions`; a session born in an older generation is gone.
    generation: AtomicU64,
    /// HTTP session id → the generation it was born in.
    sessions: Mutex<HashMap<String, u64>>,
    /// The tasks `task_job` started.
    tasks: Arc<tasks::Tasks>,
}

/// One MCP session's handler.
#[derive(Clone)]
struct Fault {
    shared: Arc<Shared>,
    bumps: Arc<AtomicU64>,
}

impl Fault {
    fn new(shared: Arc<Shared>) -> Self {
        Fault {
            shared,
            bumps: Arc::new(AtomicU64::new(0)),
        }
    }
}

fn tool(
    name: &'static str,
    description: &'static str,
    properties: Value,
    hints: ToolAnnotations,
) -> Tool {
    let schema = json!({ "type": "object", "properties": properties });
    let schema: JsonObject = match schema {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    };
    Tool::new(name, description, Arc::new(schema)).annotate(hints)
}

fn tools() -> Vec<Tool> {
    let read_only = || ToolAnnotations::new().read_only(true);
    let plain = ToolAnnotations::new;
    vec![
        tool(
            "echo",
            "Returns `message`.",
            json!({"message": {"type": "string"}}),
            read_only(),
        ),
        tool("whoami", "Says \"ID PID\".", json!({}), read_only()),
        tool(
            "bump",
            "Counts this session's calls: \"N ID\".",
            json!({}),
            plain(),
        ),
        tool(
            "delay",
            "Answers after `ms` milliseconds.",
            json!({"ms": {"type": "integer"}}),
            read_only(),
        ),
        tool("hang", "Never answers.", json!({}), plain()),
        tool(
            "crash",
            "Exits the process mid-call.",
            json!({"code": {"type": "integer"}}),
            plain(),
        ),
        tool(
            "meta",
            "The request's `_meta` as this server received it, as JSON.",
            json!({}),
            read_only(),
        ),
        tool(
            "headers",
            "The HTTP request headers this call arrived with (over --http), as JSON.",
            json!({}),
            read_only(),
        ),
        tool(
            "fail",
            "A tool error (isError).",
            json!({"message": {"type": "string"}}),
            read_only(),
        ),
        tool(
            "flaky",
            "A tool error for the first `failures` calls with `key`, then success.",
            json!({"key": {"type": "string"}, "failures": {"type": "integer"}}),
            ToolAnnotations::new().idempotent(true),
        ),
        tool(
            "structured",
            "A text block \"structured\" and `value` (any JSON) as structuredContent.",
            json!({"value": {}}),
            read_only(),
        ),
        tool(
            "rpc_error",
            "Answers with a JSON-RPC error.",
            json!({}),
            plain(),
        ),
        tool(
            "needs_file",
            "A tool error until `path` exists.",
            json!({"path": {"type": "string"}}),
            plain(),
        ),
        tool(
            "calls",
            "How often `tool` ran in this process.",
            json!({"tool": {"type": "string"}}),
            read_only(),
        ),
        tool(
            "expire_sessions",
            "Every HTTP session open now is gone from the next request on.",
            json!({}),
            plain(),
        ),
        tool(
            "initializations",
            "How many initialize requests this process answered.",
            json!({}),
            read_only(),
        ),
        tool(
            "task_job",
            "Sleeps `ms`: as a task when the request declares the tasks extension.",
            json!({"ms": {"type": "integer"}}),
            plain(),
        ),
    ]
}

fn text(value: impl Into<String>) -> CallToolResponse {
    CallToolResult::success(vec![ContentBlock::text(value.into())]).into()
}

impl ServerHandler for Fault {
    fn get_info(&self) -> ServerConfig {
        let mut capabilities = ServerCapabilities::default();
        capabilities.tools = Some(ToolsCapability::default());
        capabilities.prompts = Some(Default::default());
        capabilities.completions = Some(Default::default());
        capabilities
            .extensions
            .get_or_insert_with(Default::default)
            .insert(
                rmcp::model::TASKS_EXTENSION_ID.to_owned(),
                Default::default(),
            );
        ServerConfig::new(capabilities).with_server_info(Implementation::new(
            "baton-fault-upstream",
            env!("CARGO_PKG_VERSION"),
        ))
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        if self.shared.legacy {
            Cow::Borrowed(ProtocolVersion::known_up_to(&ProtocolVersion::V_2025_11_25))
        } else {
            Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS)
        }
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        self.shared.initializations.fetch_add(1, Ordering::SeqCst);
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools()))
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let mut name = PromptArgument::new("name");
        name.required = Some(true);
        Ok(ListPromptsResult::with_all_items(vec![Prompt::new(
            "greet",
            Some("A greeting; completing its argument hangs."),
            Some(vec![name]),
        )]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let name = request
            .arguments
            .and_then(|arguments| {
                arguments
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "you".to_owned());
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            format!("hello {name}"),
        )])
        .into())
    }

    async fn complete(
        &self,
        _request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        context.ct.cancelled().await;
        eprintln!("complete: cancelled by the client");
        Err(ErrorData::internal_error("cancelled", None))
    }

    async fn get_task(
        &self,
        request: rmcp::model::GetTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::GetTaskResult, ErrorData> {
        self.shared.tasks.get(&request.task_id)
    }

    async fn cancel_task(
        &self,
        request: rmcp::model::CancelTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.shared.tasks.cancel(&request.task_id)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        // rmcp hands the request's `_meta` over in the context.
        let meta = context.meta.clone();
        let arguments = request.arguments.unwrap_or_default();
        let string = |key: &str| {
            arguments
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let number = |key: &str| arguments.get(key).and_then(Value::as_u64);
        *self
            .shared
            .calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.clone())
            .or_default() += 1;
        let shared = &self.shared;
        if let Some(journal) = &shared.journal {
            let key = context
                .meta
                .0
                .0
                .get("io.baton/idempotency-key")
                .and_then(Value::as_str)
                .unwrap_or("-");
            use std::io::Write;
            let line = format!("{name}\t{key}\n");
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(journal)
                .and_then(|mut file| file.write_all(line.as_bytes()));
            if let Err(error) = written {
                eprintln!("journal {}: {error}", journal.display());
            }
        }
        tokio::time::sleep(shared.call_delay).await;
        match name.as_str() {
            "echo" => Ok(text(string("message").unwrap_or_default())),
            "whoami" => Ok(text(format!("{} {}", shared.id, std::process::id()))),
            "bump" => {
                let count = self.bumps.fetch_add(1, Ordering::SeqCst) + 1;
                Ok(text(format!("{count} {}", shared.id)))
            }
            "delay" => {
                let ms = number("ms").unwrap_or(0);
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(ms)) => Ok(text(format!("slept {ms}"))),
                    _ = context.ct.cancelled() => Err(ErrorData::internal_error("cancelled", None)),
                }
            }
            "hang" => {
                context.ct.cancelled().await;
                eprintln!("hang: cancelled by the client");
                Err(ErrorData::internal_error("cancelled", None))
            }
            "crash" => {
                let code = number("code").unwrap_or(3);
                eprintln!("crash: exiting with {code} mid-call");
                std::process::exit(code as i32);
            }
            "meta" => Ok(text(
                serde_json::to_value(&meta).unwrap_or_default().to_string(),
            )),
            "headers" => {
                let headers: serde_json::Map<String, Value> = context
                    .extensions
                    .get::<axum::http::request::Parts>()
                    .map(|parts| {
                        parts
                            .headers
                            .iter()
                            .map(|(name, value)| {
                                let value = value.to_str().unwrap_or_default().to_owned();
                                (name.as_str().to_owned(), Value::String(value))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(text(Value::Object(headers).to_string()))
            }
            "fail" => {
                let message = string("message").unwrap_or_else(|| "failure on command".to_owned());
                Ok(CallToolResult::error(vec![ContentBlock::text(message)]).into())
            }
            "flaky" => {
                let key = string("key").unwrap_or_default();
                let failures = number("failures").unwrap_or(1);
                let mut flaky = shared.flaky.lock().unwrap_or_else(|p| p.into_inner());
                let seen = flaky.entry(key).or_default();
                *seen += 1;
                if *seen <= failures {
                    Ok(
                        CallToolResult::error(vec![ContentBlock::text(format!("failure {seen}"))])
                            .into(),
                    )
                } else {
                    Ok(text(format!("ok after {seen}")))
                }
            }
            "structured" => {
                let mut result = CallToolResult::success(vec![ContentBlock::text("structured")]);
                result.structured_content = arguments.get("value").cloned();
                Ok(result.into())
            }
            "rpc_error" => Err(ErrorData::internal_error("error on command", None)),
            "needs_file" => {
                let path = string("path").unwrap_or_default();
                if std::path::Path::new(&path).exists() {
                    Ok(text("found"))
                } else {
                    Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                        "{path} does not exist"
                    ))])
                    .into())
                }
            }
            "calls" => {
                let tool = string("tool").unwrap_or_default();
                let calls = shared.calls.lock().unwrap_or_else(|p| p.into_inner());
                Ok(text(calls.get(&tool).copied().unwrap_or(0).to_string()))
            }
            "expire_sessions" => {
                let generation = shared.generation.fetch_add(1, Ordering::SeqCst) + 1;
                eprintln!("expire_sessions: sessions before generation {generation} are gone");
                Ok(text("expired"))
            }
            "initializations" => Ok(text(
                shared.initializations.load(Ordering::SeqCst).to_string(),
            )),
            "task_job" => {
                let ms = number("ms").unwrap_or(0);
                let declared = context
                    .client_capabilities()
                    .is_some_and(|capabilities| capabilities.supports_tasks());
                if declared {
                    return Ok(CallToolResponse::Task(shared.tasks.start(ms)));
                }
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(text(format!("slept {ms} inline")))
            }
            other => Err(ErrorData::invalid_params(
                format!("unknown tool `{other}`"),
                None,
            )),
        }
    }
}

/// Answers 404 for sessions expired by `expire_sessions`, and notes new sessions.
async fn expiry(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let generation = shared.generation.load(Ordering::SeqCst);
    let session = request
        .headers()
        .get("mcp-session-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    if let Some(id) = &session {
        let born = shared
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .copied();
        if born.is_some_and(|born| born < generation) {
            eprintln!("expiry: 404 for expired session {id}");
            return (StatusCode::NOT_FOUND, "session expired").into_response();
        }
    }
    let response = next.run(request).await;
    if let Some(id) = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
    {
        shared
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id.to_owned())
            .or_insert(generation);
    }
    response
}

struct Options {
    id: String,
    legacy: bool,
    exit_at_startup: Option<u8>,
    startup_delay: Duration,
    call_delay: Duration,
    journal: Option<std::path::PathBuf>,
    http: Option<String>,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        id: "fault".to_owned(),
        legacy: false,
        exit_at_startup: None,
        startup_delay: Duration::ZERO,
        call_delay: Duration::ZERO,
        journal: None,
        http: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--id" => options.id = value()?,
            "--legacy" => options.legacy = true,
            "--http" => options.http = Some(value()?),
            "--exit-at-startup" => {
                options.exit_at_startup = Some(
                    value()?
                        .parse()
                        .map_err(|_| "--exit-at-startup needs a code 0-255")?,
                )
            }
            "--startup-delay" => {
                let ms: u64 = value()?
                    .parse()
                    .map_err(|_| "--startup-delay needs milliseconds")?;
                options.startup_delay = Duration::from_millis(ms);
            }
            "--call-delay" => {
                let ms: u64 = value()?
                    .parse()
                    .map_err(|_| "--call-delay needs milliseconds")?;
                options.call_delay = Duration::from_millis(ms);
            }
            "--journal" => options.journal = Some(value()?.into()),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    Ok(options)
}

async fn run(options: Options) -> anyhow::Result<()> {
    tokio::time::sleep(options.startup_delay).await;
    let shared = Arc::new(Shared {
        id: options.id,
        legacy: options.legacy,
        call_delay: options.call_delay,
        journal: options.journal,
        ..Shared::default()
    });
    let Some(address) = options.http else {
        let service = Fault::new(shared).serve(rmcp::transport::stdio()).await?;
        service.waiting().await?;
        return Ok(());
    };
    let listener = tokio::net::TcpListener::bind(&address).await?;
    let local = listener.local_addr()?;
    // Small SSE writes must not wait for the peer's delayed ACK (Nagle).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let factory = shared.clone();
    let mut config = StreamableHttpServerConfig::default();
    config.legacy_session_mode = true;
    let service = StreamableHttpService::new(
        move || Ok(Fault::new(factory.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let app = axum::Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn_with_state(shared, expiry));
    eprintln!("listening on http://{local}");
    axum::serve(listener, app).await?;
    Ok(())
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if let Some(code) = options.exit_at_startup {
        eprintln!("exiting at startup with {code}, as told");
        return ExitCode::from(code);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
