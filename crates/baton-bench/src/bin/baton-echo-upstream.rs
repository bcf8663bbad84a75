//! `baton-echo-upstream`: a minimal, fast native MCP server with one tool, `echo`, that
//! returns its `message` argument as text. It is the upstream of Baton's overhead
//! benchmark (`baton-bench`), so it does no logging and no work beyond the echo.
//!
//!     baton-echo-upstream [--stdio]               # MCP on stdin/stdout (default)
//!     baton-echo-upstream --stdio --blocking-stdio  # … through rmcp's `stdio()`
//!     baton-echo-upstream --http 127.0.0.1:0      # streamable HTTP at /mcp
//!     baton-echo-upstream --stdio --legacy        # revisions before 2026-07-28 only
//!
//! On stdio it reads and writes stdin/stdout as non-blocking pipes registered with the
//! runtime's reactor when they are pipes (they are when a client spawns it). rmcp's
//! `transport::stdio()` goes through tokio's blocking thread pool instead, which costs
//! several thread hand-offs (context switches) per message; `--blocking-stdio` selects it,
//! to measure that difference. In HTTP mode it prints `listening on http://ADDR` on stderr
//! once it accepts connections.

#![forbid(unsafe_code)]

use std::{
    process::ExitCode,
    sync::{Arc, OnceLock},
};

use rmcp::{
    ErrorData, RoleServer, ServerHandler, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
        JsonObject, ListToolsResult, PaginatedRequestParams, ProtocolVersion, ServerCapabilities,
        ServerConfig, Tool, ToolAnnotations, ToolsCapability,
    },
    service::{NotificationContext, RequestContext},
    transport::{
        StreamableHttpServerConfig, StreamableHttpService,
        streamable_http_server::session::local::LocalSessionManager,
    },
};

const USAGE: &str =
    "usage: baton-echo-upstream [--stdio [--blocking-stdio] | --http ADDR] [--legacy]";

/// `--legacy`: the server speaks only the revisions with `initialize` (before 2026-07-28),
/// like most servers published today.
static LEGACY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[derive(Clone, Copy)]
struct Echo;

/// The one tool, built once.
fn echo_tool() -> &'static Tool {
    static TOOL: OnceLock<Tool> = OnceLock::new();
    TOOL.get_or_init(|| {
        let schema = serde_json::json!({
            "type": "object",
            "properties": { "message": { "type": "string", "description": "Text to echo back" } },
            "required": ["message"],
        });
        let schema: JsonObject = match schema {
            serde_json::Value::Object(map) => map,
            _ => JsonObject::new(),
        };
        Tool::new(
            "echo",
            "Returns its `message` argument as text.",
            Arc::new(schema),
        )
        .annotate(ToolAnnotations::new().read_only(true))
    })
}

impl ServerHandler for Echo {
    fn get_info(&self) -> ServerConfig {
        let mut capabilities = ServerCapabilities::default();
        capabilities.tools = Some(ToolsCapability::default());
        ServerConfig::new(capabilities).with_server_info(Implementation::new(
            "baton-echo-upstream",
            env!("CARGO_PKG_VERSION"),
        ))
    }

    fn supported_protocol_versions(&self) -> std::borrow::Cow<'static, [ProtocolVersion]> {
        if LEGACY.load(std::sync::atomic::Ordering::Relaxed) {
            std::borrow::Cow::Borrowed(ProtocolVersion::known_up_to(
                &ProtocolVersion::LATEST_WITH_INITIALIZE,
            ))
        } else {
            std::borrow::Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS)
        }
    }

    async fn on_initialized(&self, _context: NotificationContext<RoleServer>) {}

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(vec![echo_tool().clone()]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if request.name != "echo" {
            return Err(ErrorData::invalid_params(
                format!("unknown tool `{}`", request.name),
                None,
            ));
        }
        let message = request
            .arguments
            .and_then(|mut arguments| arguments.remove("message"))
            .and_then(|value| match value {
                serde_json::Value::String(text) => Some(text),
                _ => None,
            })
            .ok_or_else(|| ErrorData::invalid_params("`message` must be a string", None))?;
        Ok(CallToolResult::success(vec![ContentBlock::text(message)]).into())
    }
}

enum Mode {
    Stdio { blocking: bool },
    Http(String),
}

fn parse_args() -> Result<Mode, String> {
    let mut args = std::env::args().skip(1);
    let mut mode = Mode::Stdio { blocking: false };
    let mut blocking = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--stdio" => mode = Mode::Stdio { blocking: false },
            "--blocking-stdio" => blocking = true,
            "--legacy" => LEGACY.store(true, std::sync::atomic::Ordering::Relaxed),
            "--http" => {
                mode = Mode::Http(
                    args.next()
                        .ok_or("--http needs an address, e.g. 127.0.0.1:0")?,
                )
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    if let Mode::Stdio { blocking: b } = &mut mode {
        *b = blocking;
    }
    Ok(mode)
}

async fn serve_stdio(blocking: bool) -> anyhow::Result<()> {
    // Only try the pipes when wanted: making them non-blocking would break `stdio()`.
    let pipes = if blocking {
        None
    } else {
        baton_mcp::downstream::stdio::pipe_stdio().ok()
    };
    let service = match pipes {
        Some(pipes) => Echo.serve(pipes).await?,
        None => Echo.serve(rmcp::transport::stdio()).await?,
    };
    service.waiting().await?;
    Ok(())
}

async fn serve_http(address: &str) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    let local = listener.local_addr()?;
    let service = StreamableHttpService::new(
        || Ok(Echo),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new().nest_service("/mcp", service);
    eprintln!("listening on http://{local}");
    // An SSE answer is several small writes: without TCP_NODELAY a client that keeps its
    // connection waits for its own delayed ACK (~40 ms) before the later ones arrive.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

fn main() -> ExitCode {
    let mode = match parse_args() {
        Ok(mode) => mode,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match mode {
            Mode::Stdio { blocking } => serve_stdio(blocking).await,
            Mode::Http(address) => serve_http(&address).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
