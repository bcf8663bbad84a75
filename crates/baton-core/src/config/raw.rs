//! The user's file as written: `Raw*` structs deserialized by serde-saphyr, with spans on
//! every value that validation may need to point at. Nothing here is trusted; see
//! [`super::compile`] for the checks.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

pub type SpannedString = Spanned<String>;

/// The whole file. `servers` (Baton, VS Code) and `mcpServers` (Claude Desktop, Cursor)
/// are both accepted so that a client's existing file works unchanged.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub servers: Option<Spanned<IndexMap<String, Spanned<RawServer>>>>,
    #[serde(default, rename = "mcpServers")]
    pub mcp_servers: Option<Spanned<IndexMap<String, Spanned<RawServer>>>>,
    #[serde(default)]
    pub namespace: Option<RawNamespace>,
    #[serde(default)]
    pub serve: Option<RawServe>,
    /// Defaults for every server; each server may override them.
    #[serde(default)]
    pub resilience: Option<RawResilience>,
    /// The largest JSON-RPC message Baton accepts or sends, on every transport (also
    /// `resilience.max_message_bytes`; a server may set its own).
    pub max_message_bytes: Option<SpannedString>,
    /// Workflows: where their files are, inline definitions, what templates may read.
    #[serde(default)]
    pub workflows: Option<RawWorkflows>,
    /// Where Baton keeps its durable state.
    #[serde(default)]
    pub store: Option<RawStore>,
    /// This process as one worker among several on a shared store.
    #[serde(default)]
    pub workers: Option<RawWorkers>,
    /// Who may use which names once `serve.auth` says who is calling.
    #[serde(default)]
    pub access: Option<Vec<Spanned<RawAccessRule>>>,
    /// The audit trail of downstream clients' calls.
    #[serde(default)]
    pub audit: Option<RawAudit>,
    /// MCP tasks: retention and polling.
    #[serde(default)]
    pub tasks: Option<super::tasks::RawTasks>,
    /// Metrics (and, later, traces).
    #[serde(default)]
    pub telemetry: Option<RawTelemetry>,
    /// How Baton writes its logs.
    #[serde(default)]
    pub logging: Option<RawLogging>,
    /// Schedules that start workflows, tool calls or mode tasks, by name.
    #[serde(default)]
    pub schedules: Option<IndexMap<String, Spanned<crate::schedule::ScheduleSpec>>>,
    /// Triggers: events, webhooks and file changes that start them, by name.
    #[serde(default)]
    pub triggers: Option<IndexMap<String, Spanned<crate::schedule::TriggerSpec>>>,
    /// How long recorded events are kept.
    #[serde(default)]
    pub events: Option<RawEvents>,
    /// The project folder the file tools are confined to.
    #[serde(default)]
    pub project: Option<RawProject>,
    /// Persistent memory settings.
    #[serde(default)]
    pub memory: Option<RawMemory>,
    /// The commands `run_validation` may run.
    #[serde(default)]
    pub validation: Option<RawValidation>,
    /// Modes (roles with tool groups) and how tasks are delegated to them.
    #[serde(default)]
    pub modes: Option<RawModes>,
    /// VS Code's `inputs` (values it prompts for): Baton reads each from
    /// `BATON_INPUT_<ID>` for `${input:ID}`; their descriptions go into its errors.
    #[serde(default)]
    pub inputs: Vec<RawClientInput>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNamespace {
    pub separator: Option<SpannedString>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServe {
    pub http: Option<SpannedString>,
    #[serde(default)]
    pub allowed_hosts: Option<Vec<SpannedString>>,
    #[serde(default)]
    pub allowed_origins: Option<Vec<SpannedString>>,
    pub max_body_bytes: Option<Spanned<u64>>,
    /// Who may call `serve --http`.
    pub auth: Option<Spanned<RawAuth>>,
    pub sessions: Option<RawSessions>,
    /// `/metrics` also on this address, without `serve.auth` (e.g. 127.0.0.1:9464).
    pub metrics: Option<SpannedString>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSessions {
    /// Open MCP sessions (streamable HTTP and SSE) at most, all callers together.
    pub max: Option<Spanned<u32>>,
    /// A streamable HTTP session with no request for this long is closed (default 5m).
    pub idle_timeout: Option<SpannedString>,
    /// Open sessions per client address at most.
    pub per_client: Option<Spanned<u32>>,
    /// A session whose client has not sent `notifications/initialized` this long after
    /// `initialize` is closed (default 30s).
    pub init_timeout: Option<SpannedString>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    /// Principal → its key (`${ENV}`) or `sha256:<hex of the key>`.
    #[serde(default)]
    pub api_keys: IndexMap<String, SpannedString>,
    pub jwt: Option<Spanned<RawJwt>>,
    #[serde(default)]
    pub authorization_servers: Vec<SpannedString>,
    #[serde(default)]
    pub scopes_supported: Vec<SpannedString>,
    pub limits: Option<RawAuthLimits>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuthLimits {
    /// Tool calls per minute and principal (a token bucket: up to this many at once).
    pub calls_per_minute: Option<Spanned<u32>>,
    /// Open sessions per principal at most.
    pub sessions: Option<Spanned<u32>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJwt {
    pub issuer: Option<SpannedString>,
    pub audience: Option<SpannedString>,
    pub jwks_url: Option<SpannedString>,
    pub jwks_file: Option<SpannedString>,
    pub roles_claim: Option<SpannedString>,
    #[serde(default)]
    pub algorithms: Vec<SpannedString>,
    pub leeway: Option<SpannedString>,
}
/// One upstream server. stdio servers set `command`; remote servers set `url`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub command: Option<SpannedString>,
    #[serde(default)]
    pub args: Vec<SpannedString>,
    #[serde(default)]
    pub env: IndexMap<String, SpannedString>,
    pub cwd: Option<SpannedString>,
    pub url: Option<SpannedString>,
    /// Several URLs of the same server: a replica pool balanced like `replicas:`.
    #[serde(default)]
    pub urls: Vec<SpannedString>,
    #[serde(default)]
    pub headers: IndexMap<String, SpannedString>,
    /// `auth: oauth` (or `auth: { oauth: { … } }`) for a `url` server.
    pub auth: Option<Spanned<super::oauth::RawServerAuth>>,
    /// Baton's spelling.
    pub transport: Option<SpannedString>,
    /// Claude Desktop / VS Code spelling of the transport: `stdio`, `http`, `sse`.
    #[serde(rename = "type")]
    pub kind: Option<SpannedString>,
    pub isolation: Option<SpannedString>,
    /// stdio servers: run this many processes and balance calls across them.
    pub replicas: Option<super::pool::SpannedReplicas>,
    pub tools: Option<RawToolFilter>,
    #[serde(default)]
    pub rename: IndexMap<String, SpannedString>,
    /// `false`: expose the tools and prompts without the `NAME<separator>` prefix.
    pub namespace: Option<bool>,
    /// Which tools Baton runs as MCP tasks: `optional`, `required`, `forbidden`, or per tool.
    pub task_support: Option<super::tasks::SpannedTaskSupport>,
    /// Which tools the upstream itself runs as tasks (its tools' `execution.taskSupport`,
    /// which does not reach Baton): Baton calls them as upstream tasks and polls them.
    pub upstream_task_support: Option<super::tasks::SpannedTaskSupport>,
    #[serde(default)]
    pub disabled: bool,
    /// Whether `/readyz` waits for this server (default true).
    pub required: Option<bool>,
    #[serde(default)]
    pub resilience: Option<RawResilience>,
    /// The largest message accepted from or sent to this server (also
    /// `resilience.max_message_bytes`).
    pub max_message_bytes: Option<SpannedString>,
    /// Client-specific keys found in pasted `mcpServers` files (Cline, Roo, Cursor). They
    /// have no meaning for Baton and are accepted so those files load unchanged.
    #[serde(default, rename = "autoApprove")]
    pub auto_approve: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "alwaysAllow")]
    pub always_allow: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub timeout: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "envFile")]
    pub env_file: Option<SpannedString>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToolFilter {
    #[serde(default)]
    pub allow: Vec<SpannedString>,
    #[serde(default)]
    pub deny: Vec<SpannedString>,
}

/// Timeouts and restart supervision. Durations are written `500ms`, `30s`, `5m`, `1h`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResilience {
    /// Per-call time budget, reset by each progress notification from the server.
    pub timeout: Option<SpannedString>,
    /// Hard cap on a call, progress or not.
    pub max_timeout: Option<SpannedString>,
    pub restart: Option<RawRestart>,
    pub retry: Option<RawRetry>,
    pub breaker: Option<RawBreaker>,
    pub concurrency: Option<RawConcurrency>,
    /// Cache results of this server's read-only tools (`readOnlyHint: true`) for this long.
    pub cache: Option<SpannedString>,
    /// While the server is unavailable: `fail_fast` (default) keeps its tools listed and
    /// failing with the reason; `hide` removes them from tools/list until it recovers.
    pub degrade: Option<SpannedString>,
    /// How long a call to a server that is still connecting (or restarting) waits for it.
    pub connect_wait: Option<SpannedString>,
    /// How long the server may take to answer the MCP handshake.
    pub connect_timeout: Option<SpannedString>,
    /// How often an idle remote (http, sse) server is sent an MCP `ping`, so that one
    /// that went away is noticed (and `/readyz` says so) without traffic.
    pub ping_every: Option<SpannedString>,
    /// The largest message accepted from or sent to the server, e.g. `64MiB`.
    pub max_message_bytes: Option<SpannedString>,
    /// Per-tool overrides (server level only), by the server's own tool name.
    #[serde(default)]
    pub tools: IndexMap<String, RawToolResilience>,
    /// How `timeout: auto` budgets follow the latency seen.
    pub auto_timeout: Option<RawAutoTimeout>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAutoTimeout {
    /// The budget is the p99 latency times this (default 3).
    pub factor: Option<Spanned<f64>>,
    /// Never less than this (default 1s).
    pub min: Option<SpannedString>,
    /// Calls seen before the budget follows them (default 20).
    pub min_calls: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToolResilience {
    pub timeout: Option<SpannedString>,
    pub max_timeout: Option<SpannedString>,
    /// `auto` (retry only tools annotated read-only or idempotent), `always` or `never`.
    pub retry: Option<SpannedString>,
    /// Exposed tool names tried in order, with the same arguments, when this one fails
    /// with an open circuit, a timeout or a transport failure.
    #[serde(default)]
    pub fallback: Vec<SpannedString>,
    /// Cache this tool's results for this long (read-only tools only).
    pub cache: Option<SpannedString>,
    /// A circuit breaker for this tool alone (the server's settings are its defaults).
    pub breaker: Option<RawBreaker>,
    /// Retry this tool's `isError: true` results too (within the retry settings).
    pub retry_on_error: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    /// Attempts in all, the first included.
    pub attempts: Option<Spanned<u32>>,
    pub initial_delay: Option<SpannedString>,
    pub max_delay: Option<SpannedString>,
    /// Also retry tool results with `isError: true`.
    pub on_tool_error: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRestart {
    pub initial_delay: Option<SpannedString>,
    pub max_delay: Option<SpannedString>,
    pub crash_window: Option<SpannedString>,
    pub max_crashes: Option<Spanned<u32>>,
    pub quarantine_retry: Option<SpannedString>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBreaker {
    /// Opens after this many failures in a row.
    pub failures: Option<Spanned<u32>>,
    /// Or when this share (0 to 1) of the calls in `window` failed ...
    pub failure_rate: Option<Spanned<f64>>,
    pub window: Option<SpannedString>,
    /// ... with at least this many calls in it.
    pub min_calls: Option<Spanned<u32>>,
    /// How long it stays open before a trial call.
    pub open_for: Option<SpannedString>,
    /// `false` turns the breaker off.
    pub enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConcurrency {
    /// Calls in flight to the server at once.
    pub max: Option<Spanned<u32>>,
    /// Calls that may wait for a slot; beyond that a call is refused at once.
    pub queue: Option<Spanned<u32>>,
    /// Calls in flight to one replica at once (with `replicas:` or `urls:`).
    pub per_replica: Option<Spanned<u32>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkflows {
    /// The folder of workflow files (default `workflows/` next to baton.yaml).
    pub dir: Option<SpannedString>,
    /// Environment variables templates may read as `{{ env.NAME }}`.
    #[serde(default)]
    pub env: Vec<SpannedString>,
    /// Step outputs larger than this many bytes are stored out of line.
    pub inline_output_limit: Option<Spanned<u64>>,
    /// Finished runs older than this are deleted (e.g. `30d`).
    pub keep_for: Option<SpannedString>,
    /// At most this many finished runs are kept.
    pub keep_runs: Option<Spanned<u32>>,
    /// Top-level runs executing at once in this process (the seed's
    /// `max_concurrent_workflows`); the rest wait in the queue.
    #[serde(alias = "max_concurrent_workflows")]
    pub max_concurrent: Option<Spanned<u32>>,
    /// Workflows defined here, by name.
    #[serde(default)]
    pub definitions: IndexMap<String, Spanned<crate::workflow::raw::RawWorkflow>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    /// The SQLite database file (default `.baton/baton.db` next to baton.yaml).
    pub path: Option<SpannedString>,
    /// A PostgreSQL database (`postgres://user@host:5432/db`) shared by several workers.
    pub url: Option<SpannedString>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccessRule {
    /// Principals, `role:NAME`, `scope:NAME` or `*`.
    #[serde(default)]
    pub who: Vec<SpannedString>,
    #[serde(default)]
    pub allow: Vec<SpannedString>,
    #[serde(default)]
    pub deny: Vec<SpannedString>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkers {
    /// At most this many runs execute in this process at once (default: no limit).
    pub max_runs: Option<Spanned<u32>>,
    /// How long a run stays with a worker that stops renewing its lease (default 30s).
    pub lease: Option<SpannedString>,
    /// How often an idle worker looks for work it was not told about (default 2s).
    pub poll: Option<SpannedString>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTelemetry {
    /// Whether `/metrics` is served and metrics are recorded (default true).
    pub metrics: Option<bool>,
    /// Traces exported over OTLP (off without it, unless `OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub otlp: Option<Spanned<RawOtlp>>,
    /// `service.name` of the traces (default `baton`, or `OTEL_SERVICE_NAME`).
    pub service_name: Option<SpannedString>,
    /// The share of traces kept, 0.0 to 1.0 (default 1.0); a sampled parent is followed.
    pub sample_ratio: Option<Spanned<f64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOtlp {
    /// The collector's base URL (`/v1/traces` is added), e.g. http://127.0.0.1:4318.
    pub endpoint: Option<SpannedString>,
    /// `http/protobuf` (the only one so far).
    pub protocol: Option<SpannedString>,
    /// Headers sent with every export (e.g. an API key as `${ENV}`).
    #[serde(default)]
    pub headers: IndexMap<String, SpannedString>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLogging {
    /// `text` (default) or `json`.
    pub format: Option<SpannedString>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    /// Whether calls are recorded (default: when `serve.auth` is set).
    pub enabled: Option<bool>,
    /// Records older than this are deleted (default 30d).
    pub keep_for: Option<SpannedString>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEvents {
    /// At most this many events are kept (default 10000).
    pub keep: Option<Spanned<u32>>,
    /// Events older than this are deleted (default 7d).
    pub keep_for: Option<SpannedString>,
    /// Events derived from the servers' numbers (`server_degraded`, `error_rate_exceeded`
    /// and their recoveries).
    pub derive: Option<RawDerive>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDerive {
    /// On by default.
    pub enabled: Option<Spanned<bool>>,
    /// How often the numbers are looked at (default 5s).
    pub every: Option<SpannedString>,
    pub latency: Option<RawDeriveLatency>,
    pub errors: Option<RawDeriveErrors>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDeriveLatency {
    /// Degraded when p95 is above this multiple of its own baseline (default 3).
    pub factor: Option<Spanned<f64>>,
    /// ... or above this bound (no default).
    pub above: Option<SpannedString>,
    /// ... for this long (default 30s); back under it this long to recover.
    #[serde(rename = "for")]
    pub sustained: Option<SpannedString>,
    /// Calls seen before a baseline counts (default 20).
    pub min_calls: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDeriveErrors {
    /// Exceeded when this share (0 to 1) of the calls in `window` failed (default 0.5).
    pub rate: Option<Spanned<f64>>,
    /// Default 60s.
    pub window: Option<SpannedString>,
    /// ... out of at least this many calls (default 10).
    pub min_calls: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProject {
    /// The sandbox root (default: the folder of baton.yaml).
    pub root: Option<SpannedString>,
    pub max_read_bytes: Option<Spanned<u64>>,
    pub max_write_bytes: Option<Spanned<u64>>,
    pub max_entries: Option<Spanned<u32>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMemory {
    /// The memory used when a call names none (default `project`).
    pub default: Option<SpannedString>,
    /// Lines per memory before the oldest log entries are archived (default 300).
    pub max_lines: Option<Spanned<u32>>,
    pub sections: Option<Vec<SpannedString>>,
    /// The section whose oldest entries are archived first.
    pub log_section: Option<SpannedString>,
    /// Per memory, by name: its own line cap and sections (the settings above are the
    /// defaults).
    #[serde(default)]
    pub memories: IndexMap<String, Spanned<RawMemoryShape>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMemoryShape {
    pub max_lines: Option<Spanned<u32>>,
    pub sections: Option<Vec<SpannedString>>,
    pub log_section: Option<SpannedString>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawValidation {
    #[serde(default)]
    pub commands: IndexMap<String, Spanned<RawCommand>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCommand {
    /// A shell command line (`sh -c`), e.g. `cargo test --quiet`.
    pub run: SpannedString,
    pub description: Option<SpannedString>,
    /// Where it runs (default: the project root).
    pub cwd: Option<SpannedString>,
    pub timeout: Option<SpannedString>,
    /// Output beyond this many bytes is cut (default 64 KiB), keeping its head and tail.
    pub max_output: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModes {
    /// A Roo Code `.roomodes` file (YAML or JSON) whose modes are added.
    pub import: Option<SpannedString>,
    /// Modes defined here, by slug (they replace imported ones of the same slug).
    #[serde(default)]
    pub definitions: IndexMap<String, Spanned<crate::modes::ModeSpec>>,
}

/// One of VS Code's `inputs` (`{type: promptString, id, description, password}`).
#[derive(Debug, Default, Deserialize)]
pub struct RawClientInput {
    pub id: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub password: bool,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub options: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub default: Option<serde::de::IgnoredAny>,
}
