//! Raw → validated. Each check pushes into one [`ErrorSink`] so the user sees every
//! problem in the file at once.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use globset::{Glob, GlobSet, GlobSetBuilder};
use indexmap::IndexMap;
use serde_saphyr::{Location, Spanned};

mod auth;
mod automation;
mod oauth;
mod pool;
mod resilience;
mod store;
mod tasks;

pub use auth::sha256_hex;

pub use store::{STORE_URL_ENV, check_store_url};

use super::{
    error::{ConfigErrors, ErrorSink},
    interpolate::{InterpolationError, WORKSPACE_FOLDER, interpolate},
    model::*,
    raw::{
        RawBreaker, RawConfig, RawResilience, RawServer, RawStore, RawToolFilter, RawWorkers,
        RawWorkflows, SpannedString,
    },
    resilience::*,
};
use crate::names::is_valid_tool_name;

/// `${workspaceFolder}`: the config's folder, or the workspace root of a `.vscode/mcp.json`
/// (or `.cursor/mcp.json`).
fn workspace_folder(base_dir: &Path) -> String {
    let root = match base_dir.file_name().and_then(|name| name.to_str()) {
        Some(".vscode" | ".cursor") => base_dir.parent().unwrap_or(base_dir),
        _ => base_dir,
    };
    let root = if root.as_os_str().is_empty() {
        std::env::current_dir().unwrap_or_default()
    } else {
        root.to_path_buf()
    };
    root.display().to_string()
}

/// Validates `raw` (read from `file`) into a [`Config`].
pub fn compile(
    file: &Path,
    raw: RawConfig,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let mut sink = ErrorSink::new(file.to_owned());
    let inputs = raw
        .inputs
        .iter()
        .filter_map(|input| {
            let id = input.id.clone()?;
            Some((id, input.description.clone().unwrap_or_default()))
        })
        .collect();
    let mut compiler = Compiler {
        sink: &mut sink,
        lookup,
        base_dir: file.parent().map(Path::to_owned).unwrap_or_default(),
        inputs,
    };
    let mut config = Config::empty();
    config.source = Some(file.to_owned());

    if let Some(namespace) = raw.namespace
        && let Some(separator) = namespace.separator
    {
        let valid = !separator.value.is_empty()
            && separator.value.len() <= 8
            && separator
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if valid {
            config.namespace.separator = separator.value;
        } else {
            compiler.sink.push(
                separator.referenced,
                "namespace.separator",
                format!(
                    "\"{}\" cannot join tool names: use 1 to 8 of a-z A-Z 0-9 _ - (default \"{DEFAULT_SEPARATOR}\")",
                    separator.value
                ),
            );
        }
    }

    if let Some(serve) = raw.serve {
        if let Some(http) = serve.http
            && let Some(address) = compiler.string(&http, "serve.http")
        {
            if address.parse::<std::net::SocketAddr>().is_ok() {
                config.serve.http = address;
            } else {
                compiler.sink.push(
                    http.referenced,
                    "serve.http",
                    format!(
                        "\"{address}\" is not an address: write host:port, e.g. {DEFAULT_HTTP_ADDR}"
                    ),
                );
            }
        }
        for (index, host) in serve.allowed_hosts.unwrap_or_default().iter().enumerate() {
            if let Some(host) = compiler.string(host, &format!("serve.allowed_hosts[{index}]")) {
                config.serve.allowed_hosts.push(host);
            }
        }
        for (index, origin) in serve.allowed_origins.unwrap_or_default().iter().enumerate() {
            let path = format!("serve.allowed_origins[{index}]");
            if let Some(value) = compiler.string(origin, &path) {
                if value.starts_with("http://") || value.starts_with("https://") || value == "null"
                {
                    config.serve.allowed_origins.push(value);
                } else {
                    compiler.sink.push(
                        origin.referenced,
                        path,
                        format!("origin \"{value}\" needs a scheme, e.g. http://localhost:5173"),
                    );
                }
            }
        }
        if let Some(auth) = &serve.auth {
            config.serve.auth = Some(compiler.auth(&auth.value, auth.referenced));
        }
        if let Some(limit) = serve.max_body_bytes {
            if limit.value < 1024 {
                compiler.sink.push(
                    limit.referenced,
                    "serve.max_body_bytes",
                    "must be at least 1024 bytes",
                );
            } else {
                config.serve.max_body_bytes = usize::try_from(limit.value).unwrap_or(usize::MAX);
            }
        }
        if let Some(address) = &serve.metrics
            && let Some(value) = compiler.string(address, "serve.metrics")
        {
            if value.parse::<std::net::SocketAddr>().is_ok() {
                config.serve.metrics = Some(value);
            } else {
                compiler.sink.push(
                    address.referenced,
                    "serve.metrics",
                    format!("\"{value}\" is not an address: write HOST:PORT, e.g. 127.0.0.1:9464"),
                );
            }
        }
        if let Some(max) = serve.sessions.as_ref().and_then(|s| s.max.as_ref()) {
            config.serve.max_sessions = compiler.at_least_one(max, "serve.sessions.max");
        }
        if let Some(cap) = serve.sessions.as_ref().and_then(|s| s.per_client.as_ref()) {
            config.serve.sessions_per_client =
                compiler.at_least_one(cap, "serve.sessions.per_client");
        }
        if let Some(init) = serve
            .sessions
            .as_ref()
            .and_then(|s| s.init_timeout.as_ref())
            && let Some(duration) = compiler.duration(init, "serve.sessions.init_timeout")
        {
            config.serve.session_init_timeout = duration;
        }
        if let Some(idle) = serve
            .sessions
            .as_ref()
            .and_then(|s| s.idle_timeout.as_ref())
            && let Some(duration) = compiler.duration(idle, "serve.sessions.idle_timeout")
        {
            config.serve.session_idle_timeout = duration;
        }
    }

    config.resilience = compiler.resilience(
        &Resilience::default(),
        raw.resilience.as_ref(),
        "resilience",
        false,
    );
    if let Some(size) = &raw.max_message_bytes
        && let Some(bytes) = compiler.size(size, "max_message_bytes")
    {
        config.resilience.max_message_bytes = bytes;
    }

    let servers = match (raw.servers, raw.mcp_servers) {
        (Some(servers), Some(duplicate)) => {
            compiler.sink.push(
                duplicate.referenced,
                "mcpServers",
                "both `servers` and `mcpServers` are present: keep one of them",
            );
            servers.value
        }
        (Some(servers), None) => servers.value,
        (None, Some(servers)) => servers.value,
        (None, None) => IndexMap::new(),
    };
    let section = "servers";
    for (name, raw_server) in servers {
        if let Some(server) = compiler.server(section, &name, raw_server, &config.resilience) {
            config.servers.push(server);
        }
    }

    compiler.store(raw.store.as_ref(), raw.workers.as_ref(), &mut config);
    if let Some(tasks) = &raw.tasks {
        compiler.tasks(tasks, &mut config.tasks);
    }
    if let Some(rules) = &raw.access {
        config.access = Some(compiler.access(rules));
    }
    config.audit.enabled = config.serve.auth.is_some();
    if let Some(audit) = &raw.audit {
        compiler.audit(audit, &mut config.audit);
    }
    if let Some(telemetry) = &raw.telemetry {
        config.metrics = telemetry.metrics.unwrap_or(true);
        config.traces = compiler.traces(telemetry);
    }
    if let Some(format) = raw.logging.as_ref().and_then(|l| l.format.as_ref())
        && let Some(value) = compiler.string(format, "logging.format")
    {
        match LogFormat::parse(&value) {
            Some(format) => config.logging.format = format,
            None => compiler.sink.push(
                format.referenced,
                "logging.format",
                format!(
                    "\"{value}\" is not a log format: write {} (default text)",
                    LogFormat::NAMES.join(" or ")
                ),
            ),
        }
    }
    // The modes first: a workflow phase's `mode:` is checked against them.
    compiler.builtins(
        raw.project.as_ref(),
        raw.memory.as_ref(),
        raw.validation.as_ref(),
        raw.modes.as_ref(),
        &mut config,
    );
    config.workflows.dir = compiler.base_dir.join("workflows");
    if let Some(workflows) = &raw.workflows {
        compiler.workflow_settings(workflows, &mut config);
    }
    compiler.automation(&raw.schedules, &raw.triggers, &raw.events, &mut config);

    sink.finish()?;
    Ok(config)
}

struct Compiler<'a> {
    sink: &'a mut ErrorSink,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    base_dir: PathBuf,
    /// VS Code `inputs` by id: their descriptions, for the error of one without a value.
    inputs: std::collections::HashMap<String, String>,
}

impl Compiler<'_> {
    /// `workflows:`: settings, then the inline definitions (checked against the servers).
    fn workflow_settings(&mut self, raw: &RawWorkflows, config: &mut Config) {
        let settings = &mut config.workflows;
        if let Some(dir) = &raw.dir
            && let Some(text) = self.string(dir, "workflows.dir")
        {
            settings.dir = self.base_dir.join(text);
        }
        for (index, name) in raw.env.iter().enumerate() {
            if let Some(name) = self.string(name, &format!("workflows.env[{index}]")) {
                settings.env_allow.push(name);
            }
        }
        if let Some(limit) = &raw.inline_output_limit {
            settings.inline_output_limit = usize::try_from(limit.value).unwrap_or(usize::MAX);
        }
        if let Some(keep_for) = &raw.keep_for
            && let Some(duration) = self.duration(keep_for, "workflows.keep_for")
        {
            settings.keep_for = duration;
        }
        if let Some(keep_runs) = &raw.keep_runs {
            settings.keep_runs = keep_runs.value;
        }
        if let Some(max) = &raw.max_concurrent {
            if max.value == 0 {
                self.sink.push(
                    max.referenced,
                    "workflows.max_concurrent",
                    "must be at least 1 (leave it out for no limit)",
                );
            } else {
                settings.max_concurrent = Some(max.value);
            }
        }
        let servers = config.server_names();
        let context = config.workflow_context(&servers);
        let file = self.sink.file().to_owned();
        let mut definitions = Vec::new();
        for (name, definition) in &raw.definitions {
            if let Some(workflow) = crate::workflow::compile_workflow_into(
                &file,
                Some(name),
                &definition.value,
                context,
                &format!("workflows.definitions.{name}"),
                definition.referenced,
                self.sink,
            ) {
                definitions.push(workflow);
            }
        }
        config.workflows.definitions = definitions;
    }

    /// Interpolates one string, reporting failure at its position.
    pub(super) fn string(&mut self, value: &SpannedString, path: &str) -> Option<String> {
        let workspace = workspace_folder(&self.base_dir);
        let lookup = |name: &str| match name {
            WORKSPACE_FOLDER => Some(workspace.clone()),
            _ => (self.lookup)(name),
        };
        match interpolate(&value.value, &lookup) {
            Ok(text) => Some(text),
            Err(InterpolationError::MissingInput(id, variable)) => {
                let message = match self.inputs.get(&id) {
                    Some(description) if !description.is_empty() => format!(
                        "input \"{id}\" ({description}) has no value: set {variable} (Baton does not prompt)"
                    ),
                    Some(_) => format!(
                        "input \"{id}\" has no value: set {variable} (Baton does not prompt)"
                    ),
                    None => format!(
                        "input \"{id}\" is not declared in `inputs` and has no value: set {variable}"
                    ),
                };
                self.sink.push(value.referenced, path, message);
                None
            }
            Err(error) => {
                self.sink.push(value.referenced, path, error.to_string());
                None
            }
        }
    }

    fn server(
        &mut self,
        section: &str,
        name: &str,
        raw: Spanned<RawServer>,
        defaults: &Resilience,
    ) -> Option<ServerConfig> {
        let at = raw.referenced;
        let mut raw = raw.value;
        let path = format!("{section}.{name}");
        let errors_before = self.sink_len();
        if !raw.urls.is_empty() {
            if let Some(url) = &raw.url {
                self.sink.push(
                    url.referenced,
                    format!("{path}.urls"),
                    "a server has `url` or `urls`, not both",
                );
            } else {
                raw.url = Some(raw.urls[0].clone());
            }
        }

        if name.is_empty() {
            self.sink.push(at, &path, "a server needs a non-empty name");
        } else if name == BUILTIN_SERVER || name == WORKFLOW_SERVER {
            self.sink.push(
                at,
                &path,
                format!("the name \"{name}\" is reserved for Baton's built-in tools and workflows: rename this server"),
            );
        }

        let transport = self.transport(&path, at, &raw);
        let isolation = match raw.isolation.as_ref() {
            None => Isolation::Shared,
            Some(value) => match value.value.as_str() {
                "shared" => Isolation::Shared,
                "per_client" | "per-client" => Isolation::PerClient,
                other => {
                    self.sink.push(
                        value.referenced,
                        format!("{path}.isolation"),
                        format!("unknown isolation \"{other}\": use shared or per_client"),
                    );
                    Isolation::Shared
                }
            },
        };
        let tools = self.tool_filter(&path, raw.tools.as_ref());
        let task_support = self.task_support(&path, "task_support", raw.task_support.as_ref());
        let upstream_task_support = self.task_support(
            &path,
            "upstream_task_support",
            raw.upstream_task_support.as_ref(),
        );
        let mut rename = BTreeMap::new();
        for (from, to) in &raw.rename {
            let field = format!("{path}.rename.{from}");
            if let Some(target) = self.string(to, &field) {
                if is_valid_tool_name(&target) {
                    rename.insert(from.clone(), target);
                } else {
                    self.sink.push(
                        to.referenced,
                        field,
                        format!(
                            "\"{target}\" is not a valid tool name: use 1 to 64 of a-z A-Z 0-9 _ -"
                        ),
                    );
                }
            }
        }
        if let Some(env_file) = &raw.env_file {
            self.sink.push(
                env_file.referenced,
                format!("{path}.envFile"),
                "envFile is not supported: put the variables under `env:` (values may use ${VAR})",
            );
        }

        let (replicas, autoscale) = self.replicas(&path, &raw);
        let mut replica_urls = Vec::new();
        if raw.urls.len() > 1 {
            for (index, url) in raw.urls.iter().enumerate() {
                let field = format!("{path}.urls[{index}]");
                if let Some(value) = self.string(url, &field) {
                    if value.starts_with("http://") || value.starts_with("https://") {
                        replica_urls.push(value);
                    } else {
                        self.sink.push(
                            url.referenced,
                            field,
                            format!("\"{value}\" is not an http:// or https:// URL"),
                        );
                    }
                }
            }
        }
        let replicas = if replica_urls.is_empty() {
            replicas
        } else {
            u32::try_from(replica_urls.len()).unwrap_or(u32::MAX)
        };
        let mut resilience = self.resilience(
            defaults,
            raw.resilience.as_ref(),
            &format!("{path}.resilience"),
            true,
        );
        if let Some(size) = &raw.max_message_bytes
            && let Some(bytes) = self.size(size, &format!("{path}.max_message_bytes"))
        {
            resilience.max_message_bytes = bytes;
        }

        if self.sink_len() > errors_before {
            return None;
        }
        Some(ServerConfig {
            name: name.to_owned(),
            transport: transport?,
            replicas,
            replica_urls,
            autoscale,
            isolation,
            tools,
            rename,
            namespaced: raw.namespace.unwrap_or(true),
            task_support,
            upstream_task_support,
            disabled: raw.disabled,
            required: !raw.disabled && raw.required.unwrap_or(true),
            resilience,
        })
    }

    fn sink_len(&self) -> usize {
        self.sink.len()
    }

    fn transport(&mut self, path: &str, at: Location, raw: &RawServer) -> Option<TransportConfig> {
        let kind = match (&raw.transport, &raw.kind) {
            (Some(transport), _) => Some(transport),
            (None, kind) => kind.as_ref(),
        };
        let kind_name = kind.map(|value| value.value.as_str());
        match (&raw.command, &raw.url) {
            (Some(_), Some(url)) => {
                self.sink.push(
                    url.referenced,
                    path,
                    "a server has either `command` (stdio) or `url` (HTTP), not both",
                );
                None
            }
            (None, None) => {
                self.sink.push(
                    at,
                    path,
                    "a server needs `command` (a stdio server) or `url` (an HTTP or SSE server)",
                );
                None
            }
            (Some(command), None) => {
                if let Some(kind) = kind
                    && kind.value != "stdio"
                {
                    self.sink.push(
                        kind.referenced,
                        format!("{path}.transport"),
                        format!(
                            "transport \"{}\" needs `url`; a `command` server speaks stdio",
                            kind.value
                        ),
                    );
                }
                if !raw.headers.is_empty() {
                    self.sink.push(
                        command.referenced,
                        format!("{path}.headers"),
                        "`headers` apply to `url` servers, not to stdio servers",
                    );
                }
                if let Some(auth) = &raw.auth {
                    self.sink.push(
                        auth.referenced,
                        format!("{path}.auth"),
                        "`auth` applies to `url` servers (Baton signs in to them); a stdio server gets its secrets through `env`",
                    );
                }
                let command_value = self.string(command, &format!("{path}.command"))?;
                if command_value.trim().is_empty() {
                    self.sink.push(
                        command.referenced,
                        format!("{path}.command"),
                        "command is empty",
                    );
                    return None;
                }
                let args = raw
                    .args
                    .iter()
                    .enumerate()
                    .filter_map(|(index, arg)| self.string(arg, &format!("{path}.args[{index}]")))
                    .collect();
                let env = raw
                    .env
                    .iter()
                    .filter_map(|(key, value)| {
                        self.string(value, &format!("{path}.env.{key}"))
                            .map(|value| (key.clone(), value))
                    })
                    .collect();
                let cwd = raw.cwd.as_ref().and_then(|cwd| {
                    let dir = PathBuf::from(self.string(cwd, &format!("{path}.cwd"))?);
                    Some(if dir.is_relative() {
                        self.base_dir.join(dir)
                    } else {
                        dir
                    })
                });
                Some(TransportConfig::Stdio(StdioConfig {
                    command: command_value,
                    args,
                    env,
                    cwd,
                }))
            }
            (None, Some(url)) => {
                let protocol = match kind_name {
                    None => HttpProtocol::Auto,
                    Some("streamable-http" | "streamable_http" | "http" | "streamableHttp") => {
                        HttpProtocol::StreamableHttp
                    }
                    Some("sse") => HttpProtocol::Sse,
                    Some(other) => {
                        let kind = kind?;
                        self.sink.push(
                            kind.referenced,
                            format!("{path}.transport"),
                            format!("unknown transport \"{other}\": use streamable-http or sse (or leave it out to detect)"),
                        );
                        return None;
                    }
                };
                for (field, present) in [
                    ("args", !raw.args.is_empty()),
                    ("env", !raw.env.is_empty()),
                    ("cwd", raw.cwd.is_some()),
                ] {
                    if present {
                        self.sink.push(
                            url.referenced,
                            format!("{path}.{field}"),
                            format!("`{field}` applies to stdio servers (with `command`), not to `url` servers"),
                        );
                    }
                }
                let url_value = self.string(url, &format!("{path}.url"))?;
                if !(url_value.starts_with("http://") || url_value.starts_with("https://"))
                    || url_value.len() <= "http://".len()
                {
                    self.sink.push(
                        url.referenced,
                        format!("{path}.url"),
                        format!("\"{url_value}\" is not an http:// or https:// URL"),
                    );
                    return None;
                }
                let headers = raw
                    .headers
                    .iter()
                    .filter_map(|(key, value)| {
                        self.string(value, &format!("{path}.headers.{key}"))
                            .map(|value| (key.clone(), value))
                    })
                    .collect();
                let oauth = raw
                    .auth
                    .as_ref()
                    .and_then(|auth| self.server_auth(path, at, auth));
                Some(TransportConfig::Http(HttpConfig {
                    url: url_value,
                    headers,
                    protocol,
                    oauth,
                }))
            }
        }
    }

    pub(super) fn duration(&mut self, value: &SpannedString, path: &str) -> Option<Duration> {
        let duration = self.duration_or_zero(value, path)?;
        if duration.is_zero() {
            self.sink.push(
                value.referenced,
                path,
                "must be longer than 0 (e.g. 500ms or 30s)",
            );
            return None;
        }
        Some(duration)
    }

    /// A duration that may be 0 (e.g. an allowed clock skew).
    pub(super) fn duration_or_zero(
        &mut self,
        value: &SpannedString,
        path: &str,
    ) -> Option<Duration> {
        let text = self.string(value, path)?;
        let parsed = parse_duration(&text);
        if parsed.is_none() {
            self.sink.push(
                value.referenced,
                path,
                format!("\"{text}\" is not a duration: write e.g. 500ms, 30s, 5m or 1h"),
            );
        }
        parsed
    }

    /// A size in bytes: `65536`, `64KiB`, `8MiB`, `1GiB`; at least 1 KiB.
    pub(super) fn size(&mut self, value: &SpannedString, path: &str) -> Option<usize> {
        let text = self.string(value, path)?;
        match crate::schedule::parse_size(&text) {
            Some(bytes) if bytes >= 1024 => Some(bytes),
            Some(_) => {
                self.sink
                    .push(value.referenced, path, "must be at least 1024 bytes (1KiB)");
                None
            }
            None => {
                self.sink.push(
                    value.referenced,
                    path,
                    format!("\"{text}\" is not a size: write e.g. 65536, 512KiB, 8MiB or 1GiB"),
                );
                None
            }
        }
    }

    fn tool_filter(&mut self, path: &str, raw: Option<&RawToolFilter>) -> ToolFilter {
        let Some(raw) = raw else {
            return ToolFilter::default();
        };
        let written =
            |patterns: &[SpannedString]| patterns.iter().map(|p| p.value.clone()).collect();
        ToolFilter {
            allow: self.glob_set(&format!("{path}.tools.allow"), &raw.allow),
            deny: self.glob_set(&format!("{path}.tools.deny"), &raw.deny),
            written: (written(&raw.allow), written(&raw.deny)),
        }
    }

    fn access(&mut self, rules: &[Spanned<crate::config::raw::RawAccessRule>]) -> Access {
        let mut access = Access { rules: Vec::new() };
        for (index, rule) in rules.iter().enumerate() {
            let path = format!("access[{index}]");
            if rule.value.who.is_empty() {
                self.sink.push(
                    rule.referenced,
                    path.clone(),
                    "who is required: principals, \"role:NAME\", \"scope:NAME\" or \"*\"",
                );
            }
            let who = rule
                .value
                .who
                .iter()
                .enumerate()
                .filter_map(|(i, who)| self.string(who, &format!("{path}.who[{i}]")))
                .collect();
            access.rules.push(AccessRule {
                who,
                allow: self.glob_set(&format!("{path}.allow"), &rule.value.allow),
                deny: self.glob_set(&format!("{path}.deny"), &rule.value.deny),
            });
        }
        access
    }

    fn glob_set(&mut self, path: &str, patterns: &[SpannedString]) -> Option<GlobSet> {
        if patterns.is_empty() {
            return None;
        }
        let mut builder = GlobSetBuilder::new();
        for (index, pattern) in patterns.iter().enumerate() {
            match Glob::new(&pattern.value) {
                Ok(glob) => {
                    builder.add(glob);
                }
                Err(error) => self.sink.push(
                    pattern.referenced,
                    format!("{path}[{index}]"),
                    format!("bad glob \"{}\": {}", pattern.value, error.kind()),
                ),
            }
        }
        builder.build().ok()
    }
}

/// `500ms`, `30s`, `5m`, `1h`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "ms" => number / 1000.0,
        "" | "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        "d" => number * 86400.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(seconds).ok()
}
