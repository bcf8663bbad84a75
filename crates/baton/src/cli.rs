//! Command-line definition and logging set-up. Logs always go to stderr: in stdio mode
//! stdout is the MCP channel.

use std::path::PathBuf;

use baton_core::config::LogFormat;
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::{
    Layer,
    filter::{FilterExt, filter_fn},
    layer::SubscriberExt,
    util::SubscriberInitExt,
};

#[derive(Debug, Parser)]
#[command(
    name = "baton",
    version,
    about = "A durable MCP orchestrator: one gateway in front of all your MCP servers."
)]
pub struct Cli {
    /// Configuration file: baton.yaml, or a Claude Desktop / VS Code `mcpServers` JSON file.
    /// Default: ./baton.yaml if it exists, else no upstream servers.
    #[arg(long, short = 'c', global = true, env = "BATON_CONFIG")]
    pub config: Option<PathBuf>,

    /// More logging on stderr (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Log format on stderr: text (default) or json (one object per line). Wins over
    /// `logging.format` in the configuration file.
    #[arg(
        long,
        global = true,
        env = "BATON_LOG_FORMAT",
        value_name = "FORMAT",
        value_parser = clap::builder::PossibleValuesParser::new(LogFormat::NAMES)
    )]
    pub log_format: Option<String>,

    /// Async worker threads. Default: 1 for stdio and one-shot commands, half the cores
    /// for `serve --http` (on 2 cores, 1 worker measured faster than 2: BENCHMARKS.md).
    #[arg(long, global = true, env = "BATON_THREADS", value_name = "N")]
    pub threads: Option<std::num::NonZeroUsize>,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    pub fn worker_threads(&self) -> usize {
        if let Some(threads) = self.threads {
            return threads.get();
        }
        match &self.command {
            Command::Serve(ServeArgs { http: Some(_), .. }) => std::thread::available_parallelism()
                .map(|cores| (cores.get() / 2).max(1))
                .unwrap_or(1),
            _ => 1,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the aggregated servers to MCP clients: stdio by default, or HTTP with --http.
    Serve(ServeArgs),
    /// Check a configuration file and report every error at once (exit 1 on errors).
    Validate(ValidateArgs),
    /// List the tools Baton exposes.
    Tools(ToolsArgs),
    /// Call one tool and print its result (exit 1 when the tool reports an error).
    Call(CallArgs),
    /// Show the state of each upstream server.
    Servers(ServersArgs),
    /// Print a workflow's steps and dependencies as a Mermaid (or DOT) graph.
    Graph(GraphArgs),
    /// Run a workflow to its end with a live display (`baton run show RUN` shows a run).
    Run(RunArgs),
    /// List recent workflow runs.
    Runs(RunsArgs),
    /// Cancel an unfinished run.
    Cancel(RunIdArgs),
    /// Run a failed or cancelled run again from its failed steps, or from --from STEP.
    Retry(RetryArgs),
    /// Continue an interrupted run here (`baton serve` also resumes them at start).
    Resume(RunIdArgs),
    /// Approve (or --reject) a run's waiting approval step.
    Approve(ApproveArgs),
    /// Schedules: list, add, pause, resume, delete, trigger, import (Roo Code).
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Recorded events (runs, servers, circuits, schedules, reloads, webhooks, files).
    Events(EventsArgs),
    /// Time tracking: show, import or export (Roo's task_timing.tsv format).
    #[command(subcommand)]
    Timing(TimingCommand),
    /// Persistent memory: show, import or export (markdown).
    #[command(subcommand)]
    Memory(MemoryCommand),
    /// The configured modes (baton.yaml and .roomodes) and their tool groups.
    Modes {
        #[arg(long)]
        json: bool,
    },
    /// The store: schema version (status), apply migrations (migrate), copy a SQLite
    /// store into PostgreSQL (copy).
    #[command(subcommand)]
    Store(StoreCommand),
    /// Authentication: API keys for serve.auth.api_keys (`auth key new NAME`), and signing
    /// in to remote servers that require OAuth (`auth login|status|logout`).
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Writes a starter baton.yaml, importing the servers of a Claude Desktop, VS Code or
    /// Cursor MCP config (found in the usual places, or --from), and the .roomodes and
    /// .roo/schedules.json next to it. Never overwrites an existing file.
    Init(InitArgs),
    /// Checks what would fail — the config, each server's command, runtime and handshake
    /// (a remote one's reachability and protocol era), the store, the port serve would
    /// bind, the clock — and prints a fix for each problem; exit 1 when something would fail.
    Doctor {
        #[arg(long)]
        json: bool,
    },
    /// Connects to an MCP server through Baton's upstream client (with its OAuth client)
    /// the way the official conformance suite's client scenarios expect
    /// (`conformance client --command "baton conformance-client"`): the server URL is the
    /// argument, MCP_CONFORMANCE_SCENARIO and MCP_CONFORMANCE_CONTEXT come from the suite.
    #[command(hide = true)]
    ConformanceClient { url: String },
    /// The audit trail: who called which tool, prompt or resource, and the outcome.
    Audit(AuditArgs),
    /// The workers sharing this store: last heartbeat, runs held, capacity.
    Workers {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// API keys of serve.auth.api_keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Signs in to remote server SERVER (OAuth: a browser sign-in with PKCE, the code
    /// received on a loopback redirect; or the client credentials grant) and keeps its
    /// tokens in the store, where `baton serve` finds them.
    Login(LoginArgs),
    /// Which servers need or have OAuth credentials: client, scopes, expiry (never a token).
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Forgets SERVER's OAuth tokens.
    Logout { server: String },
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The client config to import (default: .vscode/mcp.json, .cursor/mcp.json, .mcp.json,
    /// ~/.cursor/mcp.json, then Claude Desktop's, whichever exists first).
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// Where to write (default: ./baton.yaml).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    pub server: String,
    /// Follow the authorization server's redirects without a browser (for one that
    /// approves at once, e.g. a test or machine setup); prints nothing to open.
    #[arg(long)]
    pub headless: bool,
    /// A scope to ask for instead of the configured ones (repeat for several).
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Prints a new random key for principal NAME (once: only its hash is kept) and the
    /// line to paste under serve.auth.api_keys.
    New { name: String },
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Where the store is, its backend and schema version (exit 1 when it cannot be used).
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Applies the migrations this Baton knows (also done at every start).
    Migrate,
    /// Copies every record of one store into another, empty one (runs, steps, blobs,
    /// schedules, slots, events, trigger state, time entries, memories, audit records).
    Copy {
        /// The store to read: sqlite:PATH (default: the configured SQLite file).
        #[arg(long)]
        from: Option<String>,
        /// The store to fill: postgres://USER@HOST:5432/DB (it must be empty).
        #[arg(long)]
        to: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TimingCommand {
    /// Timed tasks with totals and per-mode summaries.
    Show {
        #[arg(long)]
        mode: Option<String>,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Adds the entries of a task_timing.tsv file (entries already stored are skipped).
    Import { file: PathBuf },
    /// Writes every entry as task_timing.tsv (to stdout, or --output).
    Export {
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum MemoryCommand {
    /// A memory as markdown (default: memory.default).
    Show {
        #[arg(long, short = 'm')]
        memory: Option<String>,
    },
    /// Adds the entries of a memory markdown file (entries already stored are skipped).
    Import {
        file: PathBuf,
        #[arg(long, short = 'm')]
        memory: Option<String>,
    },
    /// Writes a memory as markdown (to stdout, or --output).
    Export {
        #[arg(long, short = 'm')]
        memory: Option<String>,
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Every schedule: timing, target, policies, last and next fire, result, skipped.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add a schedule at run time (kept in the store; baton.yaml's `schedules:` also works).
    Add(ScheduleAddArgs),
    /// Pause a schedule (its slots are skipped until it resumes, not caught up).
    Pause { name: String },
    /// Resume a paused schedule.
    Resume { name: String },
    /// Delete a schedule added at run time.
    Delete { name: String },
    /// Run a schedule now (through its overlap policy) and wait for the run.
    Trigger {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Import a Roo Code scheduler file (.roo/schedules.json).
    Import {
        file: PathBuf,
        /// The time zone of the file's local start and expiration times.
        #[arg(long)]
        timezone: Option<String>,
        /// Show what would be imported without storing it.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct ScheduleAddArgs {
    pub name: String,
    /// An interval, e.g. 10m.
    #[arg(long)]
    pub every: Option<String>,
    /// A cron pattern, e.g. "*/10 8-18 * * 1-5".
    #[arg(long)]
    pub cron: Option<String>,
    /// Once, at this time.
    #[arg(long)]
    pub at: Option<String>,
    #[arg(long)]
    pub timezone: Option<String>,
    /// Weekdays, e.g. mon,tue,wed.
    #[arg(long, value_delimiter = ',')]
    pub days: Option<Vec<String>>,
    #[arg(long)]
    pub start: Option<String>,
    #[arg(long)]
    pub until: Option<String>,
    #[arg(long)]
    pub jitter: Option<String>,
    /// Target: a workflow (with --input NAME=VALUE).
    #[arg(long, short = 'w')]
    pub workflow: Option<String>,
    #[arg(long = "input", short = 'i')]
    pub inputs: Vec<String>,
    /// Target: a tool (server__tool), with --args JSON.
    #[arg(long)]
    pub tool: Option<String>,
    #[arg(long)]
    pub args: Option<String>,
    /// Target: a mode task (with --task).
    #[arg(long)]
    pub mode: Option<String>,
    #[arg(long)]
    pub task: Option<String>,
    /// skip, buffer_one, buffer_all, cancel_other, allow_all.
    #[arg(long)]
    pub overlap: Option<String>,
    /// none, latest, all.
    #[arg(long)]
    pub catch_up: Option<String>,
    #[arg(long)]
    pub catch_up_window: Option<String>,
    #[arg(long)]
    pub pause_on_failure: bool,
    /// The runs' place in the run queue (higher first).
    #[arg(long, allow_negative_numbers = true)]
    pub priority: Option<i64>,
    #[arg(long)]
    pub paused: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only this principal's records.
    #[arg(long)]
    pub principal: Option<String>,
    /// Only names matching this glob (tools, prompts, resource URIs; `*` and `?`).
    #[arg(long)]
    pub tool: Option<String>,
    /// Only records since then: a duration back from now (30m, 24h, 7d) or an RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only events of this type (e.g. server_down, schedule_fired).
    #[arg(long = "type", short = 't')]
    pub kind: Option<String>,
    /// Only events after this id.
    #[arg(long)]
    pub after: Option<i64>,
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Keep printing new events as they are recorded.
    #[arg(long, short = 'f')]
    pub follow: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The workflow: its name, or a workflow file. (`show` followed by a run id shows that run.)
    pub workflow: String,
    /// With `show`: the run to show.
    pub run: Option<String>,
    /// An input, as NAME=VALUE (VALUE is JSON for non-string inputs); repeat for several.
    #[arg(long = "input", short = 'i', value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,
    /// Print the run (status, outputs, steps) as JSON instead of the live display.
    #[arg(long)]
    pub json: bool,
    /// The run's place in the run queue when it has to wait (higher first; default: the
    /// workflow's `priority:`, else 0).
    #[arg(long, allow_negative_numbers = true)]
    pub priority: Option<i64>,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only runs of this workflow.
    #[arg(long, short = 'w')]
    pub workflow: Option<String>,
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunIdArgs {
    pub run: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RetryArgs {
    pub run: String,
    /// Start again from this step (it and everything after it run again).
    #[arg(long, value_name = "STEP")]
    pub from: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    pub run: String,
    pub step: String,
    /// Reject instead of approving.
    #[arg(long)]
    pub reject: bool,
    /// Who decides (recorded; default: $USER).
    #[arg(long)]
    pub by: Option<String>,
    #[arg(long)]
    pub comment: Option<String>,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The workflow: its name (from the config and its workflows folder) or a file.
    pub workflow: String,
    /// `mermaid` (default; paste into Markdown) or `dot` (Graphviz).
    #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
    pub format: GraphFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    Mermaid,
    Dot,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Serve streamable HTTP at /mcp and legacy SSE at /sse + /message on this address
    /// instead of stdio (default address: serve.http in the config, else 127.0.0.1:8931).
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "")]
    pub http: Option<String>,
    /// Serve HTTP beyond loopback without `serve.auth` (anyone who can reach it may call).
    #[arg(long)]
    pub allow_unauthenticated: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The file to check: a configuration (default: --config, then ./baton.yaml) with its
    /// workflows, or one workflow file (checked against the configuration).
    pub file: Option<PathBuf>,
    /// Also connect to every server and report tool-name conflicts and unreachable servers.
    #[arg(long)]
    pub connect: bool,
}

#[derive(Debug, Args)]
pub struct ToolsArgs {
    /// Only this server's tools.
    #[arg(long, short = 's')]
    pub server: Option<String>,
    /// Print the tools as JSON (name, description, input schema, server, original name).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CallArgs {
    /// The exposed tool name, e.g. everything__echo (see `baton tools`).
    pub tool: String,
    /// Tool arguments as a JSON object.
    #[arg(long, short = 'a', default_value = "{}")]
    pub args: String,
    /// Print the whole result as JSON instead of its text content.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServersArgs {
    /// Print the status as JSON.
    #[arg(long)]
    pub json: bool,
    /// Include call statistics (calls, errors, timeouts, retries, latency percentiles,
    /// restarts); per tool with --json.
    #[arg(long)]
    pub stats: bool,
    /// Ask a running `baton serve --http` at this MCP URL (e.g. http://127.0.0.1:8931/mcp)
    /// instead of starting the configured servers here.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}

/// Logging on stderr in the format of `--log-format` (or `BATON_LOG_FORMAT`), else the
/// configuration file's `logging.format`, else text. Set up before the configuration is
/// loaded, so the file's key is read on its own ([`baton_core::config::peek_log_format`]).
/// Announcements (`baton: listening on …`, target [`baton_app::ANNOUNCE`]) are written
/// whatever the level: scripts read them; in text they are the bare line.
pub fn init_logging(cli: &Cli) {
    // Baton's own events at the chosen level; libraries (rmcp logs every message at info)
    // one step quieter unless -vvv.
    let default = match (cli.verbose, &cli.command) {
        (0, Command::Serve(_)) => "warn,baton=info,baton_mcp=info,baton_core=info",
        (0, _) => "warn",
        (1, _) => "warn,baton=info,baton_mcp=info,baton_core=info",
        (2, _) => "info,baton=debug,baton_mcp=debug,baton_core=debug",
        _ => "trace",
    };
    // Traces first, so their layer sits on the registry whatever the log format.
    let (traces, trouble) = trace_layer(cli);
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    if traces.is_some() {
        // With traces on, the request spans (and their `trace_id`) frame the log lines
        // written inside them.
        if let Ok(directive) = format!("{}=info", baton_mcp::trace::TARGET).parse() {
            filter = filter.add_directive(directive);
        }
    }
    let announcement = filter_fn(|metadata| metadata.target() == baton_app::ANNOUNCE);
    // Layers in a list, each with its own filter. (Not `Option` for the traces: a `None`
    // layer declares an interest in everything, so every span and event would be built —
    // spans allocated in the registry for every request — only for each filter to drop it.)
    type Boxed = Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync>;
    let mut layers: Vec<Boxed> = Vec::new();
    if let Some(traces) = traces {
        layers.push(Box::new(traces));
    }
    match log_format(cli) {
        LogFormat::Json => layers.push(Box::new(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(true)
                .with_writer(std::io::stderr)
                .with_filter(filter.or(announcement)),
        )),
        LogFormat::Text => {
            layers.push(Box::new(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_filter(filter.and(announcement.clone().not())),
            ));
            layers.push(Box::new(
                tracing_subscriber::fmt::layer()
                    .without_time()
                    .with_level(false)
                    .with_target(false)
                    .with_ansi(false)
                    .with_writer(std::io::stderr)
                    .with_filter(announcement),
            ));
        }
    }
    tracing_subscriber::registry().with(layers).init();
    if let Some(error) = trouble {
        tracing::warn!("traces are off: {error}");
    }
}

/// Traces (`baton serve` with `telemetry.otlp` or `OTEL_EXPORTER_OTLP_ENDPOINT`): the
/// request spans of target `mcp_trace`, which nothing else listens to; or why not.
#[allow(clippy::type_complexity)]
fn trace_layer(
    cli: &Cli,
) -> (
    Option<
        tracing_subscriber::filter::Filtered<
            tracing_opentelemetry::OpenTelemetryLayer<
                tracing_subscriber::Registry,
                opentelemetry_sdk::trace::Tracer,
            >,
            tracing_subscriber::filter::Targets,
            tracing_subscriber::Registry,
        >,
    >,
    Option<String>,
) {
    let settings = match &cli.command {
        Command::Serve(_) => baton_app::telemetry::settings(cli.config.as_deref()),
        _ => None,
    };
    let Some(settings) = settings else {
        return (None, None);
    };
    match baton_app::telemetry::tracer(&settings) {
        Ok(tracer) => {
            let layer = tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_tracked_inactivity(false)
                .with_location(false)
                .with_threads(false)
                .with_target(false)
                .with_filter(
                    tracing_subscriber::filter::Targets::new()
                        .with_target(baton_mcp::trace::TARGET, tracing::Level::INFO),
                );
            (Some(layer), None)
        }
        Err(error) => (None, Some(error)),
    }
}

/// The flag (or its environment variable), else the file's `logging.format`, else text.
fn log_format(cli: &Cli) -> LogFormat {
    if let Some(format) = cli.log_format.as_deref().and_then(LogFormat::parse) {
        return format;
    }
    baton_core::config::resolve_path(cli.config.as_deref())
        .and_then(|path| {
            baton_core::config::peek_log_format(&path, &baton_core::config::process_env)
        })
        .unwrap_or_default()
}
