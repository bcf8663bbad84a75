//! Triggers: an event (by type and field matches), a webhook (`POST /hooks/<name>`) or
//! changed files start a [`Target`], at most once per `cooldown`.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::spec::{Problems, Target, duration_or, target_of, valid_name};

/// The types of Baton's event stream (`on:` of a trigger, `baton events --type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    RunStarted,
    RunCompleted,
    RunFailed,
    RunCancelled,
    StepFailed,
    ServerUp,
    ServerDown,
    ServerQuarantined,
    CircuitOpened,
    CircuitClosed,
    ScheduleFired,
    ScheduleSkipped,
    ConfigReloaded,
    WebhookReceived,
    FileChanged,
    TriggerFired,
    /// A remote server had lost Baton's session (or its stream): Baton reconnected.
    SessionRecovered,
    /// A server's (or tool's) p95 latency stayed above its bound (`events.derive.latency`).
    ServerDegraded,
    /// ... and is back under it.
    ServerRecovered,
    /// A server's (or tool's) failures over a window exceeded `events.derive.errors.rate`.
    ErrorRateExceeded,
    /// ... and are back under it.
    ErrorRateRecovered,
    /// An autoscaling pool added or removed a replica.
    PoolScaled,
}

impl EventKind {
    pub const ALL: [EventKind; 22] = [
        EventKind::RunStarted,
        EventKind::RunCompleted,
        EventKind::RunFailed,
        EventKind::RunCancelled,
        EventKind::StepFailed,
        EventKind::ServerUp,
        EventKind::ServerDown,
        EventKind::ServerQuarantined,
        EventKind::CircuitOpened,
        EventKind::CircuitClosed,
        EventKind::ScheduleFired,
        EventKind::ScheduleSkipped,
        EventKind::ConfigReloaded,
        EventKind::WebhookReceived,
        EventKind::FileChanged,
        EventKind::TriggerFired,
        EventKind::SessionRecovered,
        EventKind::ServerDegraded,
        EventKind::ServerRecovered,
        EventKind::ErrorRateExceeded,
        EventKind::ErrorRateRecovered,
        EventKind::PoolScaled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::RunStarted => "run_started",
            EventKind::RunCompleted => "run_completed",
            EventKind::RunFailed => "run_failed",
            EventKind::RunCancelled => "run_cancelled",
            EventKind::StepFailed => "step_failed",
            EventKind::ServerUp => "server_up",
            EventKind::ServerDown => "server_down",
            EventKind::ServerQuarantined => "server_quarantined",
            EventKind::CircuitOpened => "circuit_opened",
            EventKind::CircuitClosed => "circuit_closed",
            EventKind::ScheduleFired => "schedule_fired",
            EventKind::ScheduleSkipped => "schedule_skipped",
            EventKind::ConfigReloaded => "config_reloaded",
            EventKind::WebhookReceived => "webhook_received",
            EventKind::FileChanged => "file_changed",
            EventKind::TriggerFired => "trigger_fired",
            EventKind::SessionRecovered => "session_recovered",
            EventKind::ServerDegraded => "server_degraded",
            EventKind::ServerRecovered => "server_recovered",
            EventKind::ErrorRateExceeded => "error_rate_exceeded",
            EventKind::ErrorRateRecovered => "error_rate_recovered",
            EventKind::PoolScaled => "pool_scaled",
        }
    }

    /// `server_down`, also written `server down`, `server.down`, `server-down` or
    /// `ServerDown`.
    pub fn parse(text: &str) -> Option<EventKind> {
        let mut normal = String::with_capacity(text.len() + 4);
        for (index, c) in text.trim().chars().enumerate() {
            if c.is_ascii_uppercase() && index > 0 && !normal.ends_with('_') {
                normal.push('_');
            }
            normal.push(match c {
                ' ' | '.' | '-' => '_',
                other => other.to_ascii_lowercase(),
            });
        }
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == normal)
    }

    /// Every type's name, comma-separated (for error messages).
    pub fn names() -> String {
        EventKind::ALL.map(EventKind::as_str).join(", ")
    }
}

/// One trigger as written: exactly one of `on:`, `webhook:`, `files:`, and one target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    #[serde(default)]
    pub description: Option<String>,
    /// An event type (see [`EventKind`]).
    #[serde(default, alias = "event", alias = "type")]
    pub on: Option<String>,
    /// Field → value the event must carry (`server: git`).
    #[serde(default, rename = "match", alias = "filter", alias = "where")]
    pub matches: Option<Map<String, Value>>,
    #[serde(default)]
    pub webhook: Option<WebhookSpec>,
    #[serde(default)]
    pub files: Option<FilesSpec>,
    /// After starting, further matching events are ignored for this long.
    #[serde(default, alias = "debounce")]
    pub cooldown: Option<String>,
    #[serde(default)]
    pub workflow: Option<String>,
    #[serde(default)]
    pub inputs: Option<Map<String, Value>>,
    #[serde(default)]
    pub tool: Option<String>,
    #[serde(default)]
    pub args: Option<Map<String, Value>>,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub task: Option<String>,
    #[serde(default)]
    pub disabled: Option<bool>,
    /// The runs' place in the run queue (higher first; default: the workflow's own).
    #[serde(default)]
    pub priority: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    /// The shared secret (write `${HOOK_SECRET}`: keep it out of the file).
    pub secret: String,
    /// `bearer` (default: `Authorization: Bearer <secret>`) or `hmac` (HMAC-SHA256 of the
    /// body, hex, in `header`, optionally prefixed `sha256=`).
    #[serde(default)]
    pub auth: Option<String>,
    /// The signature header for `hmac` (default `X-Baton-Signature`; GitHub sends
    /// `X-Hub-Signature-256`).
    #[serde(default)]
    pub header: Option<String>,
    /// Largest accepted body (default 1 MiB), e.g. `65536` or `64KiB`.
    #[serde(default)]
    pub max_body: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesSpec {
    /// Folders or files to watch (relative to baton.yaml), recursively.
    pub paths: Vec<String>,
    /// Only changes to paths matching one of these globs (relative to the watched path).
    #[serde(default, alias = "globs", alias = "glob")]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Changes closer together than this make one event (default 500ms).
    #[serde(default)]
    pub debounce: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookAuth {
    Bearer,
    Hmac { header: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub secret: String,
    pub auth: HookAuth,
    pub max_body: usize,
}

#[derive(Debug, Clone)]
pub struct FileWatch {
    pub paths: Vec<PathBuf>,
    pub include: Option<GlobSet>,
    pub exclude: Option<GlobSet>,
    pub debounce: Duration,
}

impl PartialEq for FileWatch {
    fn eq(&self, other: &Self) -> bool {
        // Glob sets have no equality; the spec they came from is compared by the trigger.
        self.paths == other.paths && self.debounce == other.debounce
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum TriggerSource {
    Event {
        kind: EventKind,
        matches: Map<String, Value>,
    },
    /// Fires on `webhook_received` events of this trigger's hook.
    Webhook(Webhook),
    /// Fires on `file_changed` events of this trigger's watch.
    Files(FileWatch),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub name: String,
    pub source: TriggerSource,
    pub cooldown: Duration,
    pub target: Target,
    pub disabled: bool,
    pub spec: TriggerSpec,
    /// Where baton.yaml declares it.
    pub line: u64,
    pub column: u64,
}

/// The HMAC signature header when `webhook.header` is not set (GitHub's
/// `X-Hub-Signature-256` is accepted too then).
pub const DEFAULT_SIGNATURE_HEADER: &str = "X-Baton-Signature";

/// Default webhook body limit.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;
/// Default file-change debounce.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(500);

impl Trigger {
    /// The event type and field matches that start this trigger.
    pub fn filter(&self) -> (EventKind, Map<String, Value>) {
        match &self.source {
            TriggerSource::Event { kind, matches } => (*kind, matches.clone()),
            TriggerSource::Webhook(_) => (EventKind::WebhookReceived, hook_match(&self.name)),
            TriggerSource::Files(_) => (EventKind::FileChanged, watch_match(&self.name)),
        }
    }

    /// Whether an event of `kind` with `data` starts this trigger.
    pub fn matches(&self, kind: EventKind, data: &Map<String, Value>) -> bool {
        let (wanted, fields) = self.filter();
        wanted == kind
            && fields.iter().all(|(key, value)| {
                data.get(key).is_some_and(|found| {
                    found == value
                        || value
                            .as_str()
                            .is_some_and(|text| found.as_str() == Some(text))
                })
            })
    }
}

fn hook_match(name: &str) -> Map<String, Value> {
    Map::from_iter([("hook".to_owned(), Value::String(name.to_owned()))])
}

fn watch_match(name: &str) -> Map<String, Value> {
    Map::from_iter([("watch".to_owned(), Value::String(name.to_owned()))])
}

impl TriggerSpec {
    /// Checks every field; `base` is the folder relative paths start from, `lookup` gives
    /// `${VAR}` values for the webhook secret.
    pub fn compile(
        &self,
        name: &str,
        base: &Path,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Trigger, Problems> {
        let mut problems = Problems::new();
        let mut problem = |field: &str, message: String| problems.push((field.to_owned(), message));
        if !valid_name(name) {
            problem(
                "name",
                format!("\"{name}\" is not a trigger name: use 1 to 64 of a-z A-Z 0-9 _ - ."),
            );
        }
        let source = match (&self.on, &self.webhook, &self.files) {
            (Some(kind), None, None) => match EventKind::parse(kind) {
                Some(kind) => Some(TriggerSource::Event {
                    kind,
                    matches: self.matches.clone().unwrap_or_default(),
                }),
                None => {
                    problem(
                        "on",
                        format!(
                            "unknown event type \"{kind}\": use one of {}",
                            EventKind::names()
                        ),
                    );
                    None
                }
            },
            (None, Some(hook), None) => {
                webhook(hook, lookup, &mut problem).map(TriggerSource::Webhook)
            }
            (None, None, Some(files)) => {
                file_watch(files, base, &mut problem).map(TriggerSource::Files)
            }
            (None, None, None) => {
                problem(
                    "on",
                    "a trigger needs one of on: (an event type), webhook: or files:".into(),
                );
                None
            }
            _ => {
                problem("on", "give only one of on:, webhook: and files:".into());
                None
            }
        };
        if self.matches.is_some() && self.on.is_none() {
            problem("match", "match: goes with on:".into());
        }
        let cooldown = duration_or(
            self.cooldown.as_deref(),
            "cooldown",
            Duration::ZERO,
            &mut problem,
        );
        let target = target_of(
            &self.workflow,
            &self.inputs,
            &self.tool,
            &self.args,
            &self.mode,
            &self.task,
            &mut problem,
        );
        match (source, target) {
            (Some(source), Some(target)) if problems.is_empty() => Ok(Trigger {
                name: name.to_owned(),
                source,
                cooldown,
                target,
                disabled: self.disabled.unwrap_or(false),
                spec: self.clone(),
                line: 0,
                column: 0,
            }),
            _ => Err(problems),
        }
    }
}

fn webhook(
    spec: &WebhookSpec,
    lookup: &dyn Fn(&str) -> Option<String>,
    problem: &mut dyn FnMut(&str, String),
) -> Option<Webhook> {
    let secret = match crate::config::interpolate::interpolate(&spec.secret, lookup) {
        Ok(secret) if secret.len() >= 16 => Some(secret),
        Ok(_) => {
            problem(
                "webhook.secret",
                "is shorter than 16 characters: use a long random secret, e.g. from `openssl rand -hex 32`".into(),
            );
            None
        }
        Err(error) => {
            problem("webhook.secret", error.to_string());
            None
        }
    };
    let auth = match spec.auth.as_deref().unwrap_or("bearer") {
        "bearer" => Some(HookAuth::Bearer),
        "hmac" | "hmac-sha256" => Some(HookAuth::Hmac {
            header: spec
                .header
                .clone()
                .unwrap_or_else(|| DEFAULT_SIGNATURE_HEADER.to_owned()),
        }),
        other => {
            problem(
                "webhook.auth",
                format!("\"{other}\" is not an authentication: use bearer or hmac"),
            );
            None
        }
    };
    let max_body = match spec.max_body.as_deref() {
        None => Some(DEFAULT_MAX_BODY),
        Some(text) => parse_size(text).or_else(|| {
            problem(
                "webhook.max_body",
                format!("\"{text}\" is not a size: write e.g. 65536, 64KiB or 1MiB"),
            );
            None
        }),
    };
    Some(Webhook {
        secret: secret?,
        auth: auth?,
        max_body: max_body?,
    })
}

fn file_watch(
    spec: &FilesSpec,
    base: &Path,
    problem: &mut dyn FnMut(&str, String),
) -> Option<FileWatch> {
    if spec.paths.is_empty() {
        problem(
            "files.paths",
            "is empty: name the folders or files to watch".into(),
        );
    }
    let mut globs = |field: &str, patterns: &[String]| -> Option<GlobSet> {
        if patterns.is_empty() {
            return None;
        }
        let mut builder = GlobSetBuilder::new();
        for (index, pattern) in patterns.iter().enumerate() {
            match Glob::new(pattern) {
                Ok(glob) => {
                    builder.add(glob);
                }
                Err(error) => problem(
                    &format!("files.{field}[{index}]"),
                    format!("bad glob \"{pattern}\": {}", error.kind()),
                ),
            }
        }
        builder.build().ok()
    };
    let include = globs("include", &spec.include);
    let exclude = globs("exclude", &spec.exclude);
    let debounce = duration_or(
        spec.debounce.as_deref(),
        "files.debounce",
        DEFAULT_DEBOUNCE,
        problem,
    );
    Some(FileWatch {
        paths: spec.paths.iter().map(|path| base.join(path)).collect(),
        include,
        exclude,
        debounce,
    })
}

/// `65536`, `64KiB`, `64KB`, `1MiB`, `1MB`, `1GiB`.
pub fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number.parse().ok()?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        "g" | "gb" | "gib" => 1024 * 1024 * 1024,
        _ => return None,
    };
    number.checked_mul(factor).filter(|size| *size > 0)
}
