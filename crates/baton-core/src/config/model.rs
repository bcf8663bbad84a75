//! The validated configuration: what the rest of Baton reads. Every value here has passed
//! [`super::compile`]; nothing downstream re-checks it.

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use globset::GlobSet;

use super::events::{DeriveSettings, EventSettings};
use super::resilience::Resilience;

/// Default streamable-HTTP listen address for `baton serve --http` when none is given.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8931";
/// Default request-body limit for the HTTP and SSE endpoints (4 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Default separator between a server's name and its tool's name.
pub const DEFAULT_SEPARATOR: &str = "__";
/// The namespace of Baton's built-in tools; no upstream may take it.
pub const BUILTIN_SERVER: &str = "baton";
/// The namespace of the tools that run workflows (`workflow__<name>`).
pub const WORKFLOW_SERVER: &str = "workflow";

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the configuration came from (`None`: built-in defaults, no file).
    pub source: Option<PathBuf>,
    pub servers: Vec<ServerConfig>,
    pub namespace: NamespaceConfig,
    pub serve: ServeConfig,
    /// The top-level `resilience:` defaults (each server has its merged copy).
    pub resilience: Resilience,
    pub workflows: WorkflowSettings,
    pub store: StoreConfig,
    pub workers: WorkersConfig,
    /// `access:` — `None` when the file has no such section (everyone sees everything).
    pub access: Option<Access>,
    pub audit: AuditSettings,
    /// `telemetry.metrics`: whether `/metrics` is served and metrics recorded.
    pub metrics: bool,
    /// `telemetry:` traces (`None`: not configured in the file).
    pub traces: Option<TraceSettings>,
    /// `logging:` — how Baton writes its logs (read at start only).
    pub logging: LoggingSettings,
    /// `schedules:` in the file (the store may hold more, added at run time).
    pub schedules: Vec<crate::schedule::Schedule>,
    pub triggers: Vec<crate::schedule::Trigger>,
    pub events: EventSettings,
    pub project: ProjectSettings,
    pub memory: MemorySettings,
    pub validation: Vec<ValidationCommand>,
    pub modes: Vec<crate::modes::Mode>,
    /// `tasks:` — retention and polling of MCP tasks.
    pub tasks: super::TaskSettings,
}

/// `project:` — the folder the file tools are confined to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectSettings {
    pub root: PathBuf,
    pub max_read_bytes: u64,
    pub max_write_bytes: u64,
    pub max_entries: u32,
}

/// `memory:` — persistent memory defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemorySettings {
    pub default: String,
    pub max_lines: u32,
    pub sections: Vec<String>,
    pub log_section: String,
    /// Memories with their own shape (`memory.memories.NAME`).
    pub memories: BTreeMap<String, MemoryShape>,
}

/// A memory's line cap and sections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryShape {
    pub max_lines: u32,
    pub sections: Vec<String>,
    pub log_section: String,
}

impl MemorySettings {
    /// The shape of memory `name`: its own, else the defaults.
    pub fn shape(&self, name: &str) -> MemoryShape {
        self.memories
            .get(name)
            .cloned()
            .unwrap_or_else(|| MemoryShape {
                max_lines: self.max_lines,
                sections: self.sections.clone(),
                log_section: self.log_section.clone(),
            })
    }
}

/// The three sections of the Roo sample memory file.
pub const DEFAULT_MEMORY_SECTIONS: [&str; 3] = [
    "Non-Obvious Implementation Patterns",
    "Development & Debug Commands",
    "System Updates & Status",
];

/// One `validation.commands` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationCommand {
    pub name: String,
    pub description: Option<String>,
    pub run: String,
    pub cwd: PathBuf,
    pub timeout: Duration,
    pub max_output: usize,
}

/// `audit:` — the audit trail of downstream clients' tool calls, prompt gets and resource
/// reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSettings {
    /// Whether uses are recorded (default: when `serve.auth` is set).
    pub enabled: bool,
    /// How long records are kept.
    pub keep_for: Duration,
}

/// `telemetry:` — traces exported over OTLP/HTTP.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSettings {
    /// The collector's base URL (`None`: from `OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub endpoint: Option<String>,
    pub headers: Vec<(String, String)>,
    pub service_name: Option<String>,
    pub sample_ratio: f64,
}

/// How long audit records are kept by default.
pub const DEFAULT_AUDIT_KEEP_FOR: Duration = Duration::from_secs(30 * 86_400);

/// `workflows:` — where definitions come from and how runs are kept.
#[derive(Debug, Clone)]
pub struct WorkflowSettings {
    /// The folder of workflow files.
    pub dir: PathBuf,
    /// Environment variables templates may read.
    pub env_allow: Vec<String>,
    /// Every workflow (inline and from `dir`), checked.
    pub definitions: Vec<crate::workflow::Workflow>,
    pub inline_output_limit: usize,
    pub keep_for: Duration,
    pub keep_runs: u32,
    /// Top-level runs executing at once in this process (`max_concurrent`); the rest are
    /// `queued`. With `workers.max_runs` too, the smaller applies ([`Config::run_limit`]).
    pub max_concurrent: Option<u32>,
}

/// `store:` — the durable state.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The SQLite database file (used when there is no `url`).
    pub path: PathBuf,
    /// A PostgreSQL URL (`store.url`, or `BATON_STORE_URL`, which wins over the file).
    pub url: Option<String>,
}

/// `workers:` — this process as one worker among several on a shared store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkersConfig {
    /// Runs this process executes at once at most (`None`: no limit).
    pub max_runs: Option<u32>,
    /// How long a run stays with a worker that stops renewing its lease.
    pub lease: Duration,
    /// How often an idle worker looks for work nobody told it about.
    pub poll: Duration,
}

/// The default lease period of a run.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// The default slow poll for work.
pub const DEFAULT_WORK_POLL: Duration = Duration::from_secs(2);

/// Default size above which a step's output is stored out of line (256 KiB).
pub const DEFAULT_INLINE_OUTPUT_LIMIT: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub struct NamespaceConfig {
    pub separator: String,
}

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub http: String,
    /// Extra `Host` values accepted besides loopback (DNS-rebinding protection).
    pub allowed_hosts: Vec<String>,
    /// Browser origins accepted; empty means "only requests without an `Origin`, or from
    /// loopback origins".
    pub allowed_origins: Vec<String>,
    pub max_body_bytes: usize,
    /// `serve.auth`: who may call `serve --http` (`None`: anyone who can reach it).
    pub auth: Option<AuthConfig>,
    /// `serve.sessions.max`: open MCP sessions at most, all callers together.
    pub max_sessions: Option<u32>,
    /// `serve.sessions.idle_timeout`: a streamable HTTP session idle this long is closed.
    pub session_idle_timeout: Duration,
    /// `serve.sessions.per_client`: open sessions per client address at most.
    pub sessions_per_client: Option<u32>,
    /// `serve.sessions.init_timeout`: a session not initialized this long is closed.
    pub session_init_timeout: Duration,
    /// `serve.metrics`: an address serving `/metrics` alone, without `serve.auth`.
    pub metrics: Option<String>,
}

/// `serve.auth` — Baton as an OAuth 2.1 protected resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Named principals and the SHA-256 (hex) of each one's key.
    pub api_keys: Vec<(String, String)>,
    pub jwt: Option<JwtConfig>,
    /// For the Protected Resource Metadata document.
    pub authorization_servers: Vec<String>,
    pub scopes_supported: Vec<String>,
    /// `limits.calls_per_minute`: tool calls per minute and principal (`None`: no limit).
    pub calls_per_minute: Option<u32>,
    /// `limits.sessions`: open sessions per principal (`None`: no limit).
    pub sessions_per_principal: Option<u32>,
}

/// `serve.auth.jwt` — bearer JWTs from an authorization server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    pub issuer: String,
    /// `None`: this server's `/mcp` URL (RFC 8707).
    pub audience: Option<String>,
    pub jwks: JwksSource,
    /// The claim roles come from (default `roles`).
    pub roles_claim: String,
    /// Accepted algorithms (default RS256, ES256, EdDSA; never `none`).
    pub algorithms: Vec<String>,
    /// Clock skew allowed on `exp`/`nbf`.
    pub leeway: Duration,
}

/// Where a JWT's signing keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// Fetched, cached, fetched again on an unknown `kid`.
    Url(String),
    File(PathBuf),
}

/// JWT algorithms Baton accepts.
pub const JWT_ALGORITHMS: [&str; 8] = [
    "RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA", "PS512",
];
/// Equal when every setting is: what a hot reload compares to decide which servers to
/// reconnect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    pub name: String,
    pub transport: TransportConfig,
    pub isolation: Isolation,
    /// Replicas: processes of a stdio server (`replicas:`), or one per URL (`urls:`).
    pub replicas: u32,
    /// With `urls:`, the URL of each replica (empty otherwise).
    pub replica_urls: Vec<String>,
    /// `replicas: {min, max, …}`: the pool grows and shrinks with the load (`replicas` is its min).
    pub autoscale: Option<super::Autoscale>,
    pub tools: ToolFilter,
    /// Upstream tool name → new local name (still namespaced).
    pub rename: BTreeMap<String, String>,
    /// `namespace: false`: the server's tools and prompts are exposed under their own
    /// (renamed) names, without `NAME<separator>`.
    pub namespaced: bool,
    /// `task_support`: which of its tools Baton runs as MCP tasks.
    pub task_support: super::TaskSupportRules,
    /// `upstream_task_support`: which of its tools the upstream runs as tasks (its tools'
    /// `execution.taskSupport`): Baton calls those as upstream tasks and polls them.
    pub upstream_task_support: super::TaskSupportRules,
    pub disabled: bool,
    /// Whether `/readyz` waits for this server (`required:`, default true; never for a
    /// disabled server).
    pub required: bool,
    /// The top-level defaults with this server's overrides applied.
    pub resilience: Resilience,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportConfig {
    Stdio(StdioConfig),
    Http(HttpConfig),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StdioConfig {
    pub command: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub protocol: HttpProtocol,
    /// `auth: oauth`: Baton signs in to the server as an OAuth client.
    pub oauth: Option<super::OAuthConfig>,
}

/// Which HTTP transport to speak to a remote server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpProtocol {
    /// Streamable HTTP; on a 4xx answer to the first POST, fall back to legacy SSE.
    Auto,
    StreamableHttp,
    Sse,
}

/// Whether downstream clients share one upstream session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// One upstream connection (one process for stdio) serves every client.
    #[default]
    Shared,
    /// Each downstream session gets its own upstream session, closed when it leaves.
    PerClient,
}

impl Isolation {
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::Shared => "shared",
            Isolation::PerClient => "per_client",
        }
    }
}

/// Allow/deny globs over upstream tool names. Empty `allow` means "everything".
#[derive(Debug, Clone, Default)]
pub struct ToolFilter {
    pub allow: Option<GlobSet>,
    pub deny: Option<GlobSet>,
    /// The `allow` and `deny` patterns as written (a `GlobSet` cannot be compared).
    pub written: (Vec<String>, Vec<String>),
}

/// Two filters are equal when their patterns, as written, are.
impl PartialEq for ToolFilter {
    fn eq(&self, other: &Self) -> bool {
        self.written == other.written
    }
}

impl Eq for ToolFilter {}

impl ToolFilter {
    pub fn permits(&self, tool: &str) -> bool {
        let allowed = self.allow.as_ref().is_none_or(|set| set.is_match(tool));
        let denied = self.deny.as_ref().is_some_and(|set| set.is_match(tool));
        allowed && !denied
    }
}

impl ServerConfig {
    /// This server's configuration as replica `index` runs it (its own URL, for `urls:`).
    pub fn for_replica(&self, index: usize) -> ServerConfig {
        let mut config = self.clone();
        if let (TransportConfig::Http(http), Some(url)) =
            (&mut config.transport, self.replica_urls.get(index))
        {
            http.url = url.clone();
        }
        config
    }

    /// Whether `other` connects exactly as this server does: equal in every setting but
    /// `required`, which only readiness reads (a reload does not reconnect for it).
    pub fn connects_like(&self, other: &ServerConfig) -> bool {
        let mut same = other.clone();
        same.required = self.required;
        *self == same
    }
}

/// `logging:` in baton.yaml.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoggingSettings {
    pub format: LogFormat,
}

/// How log lines are written on stderr (`logging.format`, `--log-format`, `BATON_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event (the default).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields` (with `message`),
    /// and the current `span` and `spans`.
    Json,
}

impl LogFormat {
    /// The spellings accepted in the file, the flag and the environment.
    pub const NAMES: [&'static str; 2] = ["text", "json"];

    pub fn parse(name: &str) -> Option<LogFormat> {
        match name.trim().to_ascii_lowercase().as_str() {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

impl Config {
    /// The configuration used when no file exists: no upstreams, only the built-in server.
    pub fn empty() -> Self {
        Config {
            source: None,
            servers: Vec::new(),
            namespace: NamespaceConfig {
                separator: DEFAULT_SEPARATOR.to_owned(),
            },
            serve: ServeConfig {
                http: DEFAULT_HTTP_ADDR.to_owned(),
                allowed_hosts: Vec::new(),
                allowed_origins: Vec::new(),
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
                auth: None,
                max_sessions: None,
                session_idle_timeout: Duration::from_secs(300),
                sessions_per_client: None,
                session_init_timeout: Duration::from_secs(30),
                metrics: None,
            },
            resilience: Resilience::default(),
            workflows: WorkflowSettings {
                dir: PathBuf::from("workflows"),
                env_allow: Vec::new(),
                definitions: Vec::new(),
                inline_output_limit: DEFAULT_INLINE_OUTPUT_LIMIT,
                keep_for: Duration::from_secs(30 * 24 * 3600),
                keep_runs: 1000,
                max_concurrent: None,
            },
            store: StoreConfig {
                path: PathBuf::from(".baton/baton.db"),
                url: None,
            },
            access: None,
            audit: AuditSettings {
                enabled: false,
                keep_for: DEFAULT_AUDIT_KEEP_FOR,
            },
            metrics: true,
            traces: None,
            logging: LoggingSettings::default(),
            workers: WorkersConfig {
                max_runs: None,
                lease: DEFAULT_LEASE,
                poll: DEFAULT_WORK_POLL,
            },
            schedules: Vec::new(),
            triggers: Vec::new(),
            events: EventSettings {
                keep: 10_000,
                keep_for: Duration::from_secs(7 * 86_400),
                derive: DeriveSettings::default(),
            },
            project: ProjectSettings {
                root: PathBuf::from("."),
                max_read_bytes: 1024 * 1024,
                max_write_bytes: 5 * 1024 * 1024,
                max_entries: 2000,
            },
            memory: MemorySettings {
                default: "project".to_owned(),
                max_lines: 300,
                sections: DEFAULT_MEMORY_SECTIONS.map(str::to_owned).to_vec(),
                log_section: DEFAULT_MEMORY_SECTIONS[2].to_owned(),
                memories: BTreeMap::new(),
            },
            validation: Vec::new(),
            modes: Vec::new(),
            tasks: super::TaskSettings::default(),
        }
    }

    /// Top-level runs executing at once in this process: the smaller of
    /// `workflows.max_concurrent` and `workers.max_runs` (`None`: no limit).
    pub fn run_limit(&self) -> Option<u32> {
        match (self.workflows.max_concurrent, self.workers.max_runs) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn workflow(&self, name: &str) -> Option<&crate::workflow::Workflow> {
        self.workflows
            .definitions
            .iter()
            .find(|workflow| workflow.name == name)
    }

    /// The configured server names (what workflow tools are checked against).
    pub fn server_names(&self) -> std::collections::BTreeSet<String> {
        self.servers
            .iter()
            .map(|server| server.name.clone())
            .collect()
    }

    /// What a workflow is checked against in this configuration (`servers`: from
    /// [`Config::server_names`]).
    pub fn workflow_context<'a>(
        &'a self,
        servers: &'a std::collections::BTreeSet<String>,
    ) -> crate::workflow::WorkflowContext<'a> {
        crate::workflow::WorkflowContext {
            servers: Some(servers),
            separator: &self.namespace.separator,
            env_allow: &self.workflows.env_allow,
            modes: Some(&self.modes),
        }
    }

    pub fn mode(&self, slug: &str) -> Option<&crate::modes::Mode> {
        self.modes.iter().find(|mode| mode.slug == slug)
    }

    pub fn server(&self, name: &str) -> Option<&ServerConfig> {
        self.servers.iter().find(|server| server.name == name)
    }

    /// The server whose prefix an exposed tool or prompt `name` carries
    /// (`<server><separator>…`).
    pub fn server_named_by(&self, name: &str) -> Option<&str> {
        let separator = self.namespace.separator.as_str();
        self.servers
            .iter()
            .map(|server| server.name.as_str())
            .find(|server| {
                name.strip_prefix(&crate::names::server_prefix(server))
                    .is_some_and(|rest| rest.starts_with(separator))
            })
    }
}

/// `access:` — which names (tools, prompts, resource URIs) each caller may use. A name is
/// usable when a rule that applies to the caller allows it and none that applies denies it;
/// a caller no rule applies to may use nothing.
#[derive(Debug, Clone)]
pub struct Access {
    pub rules: Vec<AccessRule>,
}

#[derive(Debug, Clone)]
pub struct AccessRule {
    /// Principals, `role:NAME`, `scope:NAME` or `*`.
    pub who: Vec<String>,
    pub allow: Option<globset::GlobSet>,
    pub deny: Option<globset::GlobSet>,
}

impl PartialEq for Access {
    fn eq(&self, other: &Self) -> bool {
        self.rules.len() == other.rules.len()
            && self
                .rules
                .iter()
                .zip(&other.rules)
                .all(|(a, b)| a.who == b.who)
    }
}

impl Access {
    /// Whether `caller` (with its roles and scopes) may use `name`.
    pub fn allows(&self, caller: &str, roles: &[String], scopes: &[String], name: &str) -> bool {
        let applies = |rule: &&AccessRule| {
            rule.who.iter().any(|who| {
                who == "*"
                    || who == caller
                    || who
                        .strip_prefix("role:")
                        .is_some_and(|role| roles.iter().any(|r| r == role))
                    || who
                        .strip_prefix("scope:")
                        .is_some_and(|scope| scopes.iter().any(|s| s == scope))
            })
        };
        let mut allowed = false;
        for rule in self.rules.iter().filter(applies) {
            if rule.deny.as_ref().is_some_and(|deny| deny.is_match(name)) {
                return false;
            }
            allowed |= rule
                .allow
                .as_ref()
                .is_some_and(|allow| allow.is_match(name));
        }
        allowed
    }
}
