//! MCP tasks: `tasks:` (how long a task is kept, the poll interval Baton suggests),
//! `servers.NAME.task_support` (which tools Baton runs as tasks for clients that can take
//! one) and `servers.NAME.upstream_task_support` (which tools the upstream runs as tasks,
//! so Baton calls them as upstream tasks). Compiled in `compile/tasks.rs`.

use std::{collections::BTreeMap, time::Duration};

use indexmap::IndexMap;
use serde::Deserialize;

use serde_saphyr::Spanned;

use super::raw::SpannedString;

/// A tool's `execution.taskSupport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskSupport {
    /// Never a task.
    Forbidden,
    /// A task when the client can take one (server-directed for 2026-07-28 clients).
    Optional,
    /// Only as a task: a client without the tasks extension gets an error naming it.
    Required,
    /// A task once the client answered the tool's first input rounds (SEP-2663's MRTR →
    /// task composition): a call without input responses is forwarded as it is, so its
    /// `input_required` rounds reach the client; the call that carries the answers becomes
    /// the task. A client without the extension gets synchronous answers.
    AfterInput,
}

impl TaskSupport {
    pub const NAMES: [&'static str; 4] = ["optional", "required", "forbidden", "after_input"];

    pub fn parse(text: &str) -> Option<TaskSupport> {
        match text {
            "optional" => Some(TaskSupport::Optional),
            "required" => Some(TaskSupport::Required),
            "forbidden" => Some(TaskSupport::Forbidden),
            "after_input" => Some(TaskSupport::AfterInput),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskSupport::Forbidden => "forbidden",
            TaskSupport::Optional => "optional",
            TaskSupport::Required => "required",
            TaskSupport::AfterInput => "after_input",
        }
    }

    /// The tool's `execution.taskSupport` as the 2025-11-25 revision names it (which has
    /// no input-first tasks: such a tool is `optional` there).
    pub fn execution(self) -> &'static str {
        match self {
            TaskSupport::AfterInput => "optional",
            other => other.as_str(),
        }
    }
}

/// A server's `task_support`: one value for all its tools, per-tool values, or both
/// (`"*"` for the rest). Unset: the server's tools are not run as tasks by Baton's choice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskSupportRules {
    pub all: Option<TaskSupport>,
    /// Upstream (original) tool name → its support.
    pub tools: BTreeMap<String, TaskSupport>,
}

impl TaskSupportRules {
    /// The support of the upstream tool `original` (`None`: not configured).
    pub fn of(&self, original: &str) -> Option<TaskSupport> {
        self.tools.get(original).copied().or(self.all)
    }

    /// Whether `original` runs as a task there (`optional` or `required`).
    pub fn takes_tasks(&self, original: &str) -> bool {
        matches!(
            self.of(original),
            Some(TaskSupport::Optional | TaskSupport::Required)
        )
    }
}

/// `tasks:` — retention and polling of MCP tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSettings {
    /// How long a task is kept when the client asks for no TTL (`tasks.ttl`, default 1h).
    pub ttl: Duration,
    /// The longest TTL a client may ask for (`tasks.max_ttl`, default 24h).
    pub max_ttl: Duration,
    /// The polling interval Baton suggests (`tasks.poll_interval`, default 1s).
    pub poll_interval: Duration,
}

impl Default for TaskSettings {
    fn default() -> Self {
        TaskSettings {
            ttl: Duration::from_secs(3600),
            max_ttl: Duration::from_secs(24 * 3600),
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// `tasks:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTasks {
    pub ttl: Option<SpannedString>,
    pub max_ttl: Option<SpannedString>,
    pub poll_interval: Option<SpannedString>,
}

/// `servers.NAME.task_support` as written: `optional` or `{TOOL: optional, "*": forbidden}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawTaskSupport {
    All(String),
    Tools(IndexMap<String, String>),
}

pub type SpannedTaskSupport = Spanned<RawTaskSupport>;

#[cfg(test)]
mod tests {
    use super::TaskSupport;
    use crate::config::tests::{parse_err, parse_ok};

    #[test]
    fn task_support_namespace_and_task_settings_compile_with_errors_named() {
        let config = parse_ok(
            "servers:\n  a:\n    command: x\n    task_support: optional\n    upstream_task_support: { research: required }\n  b:\n    command: y\n    namespace: false\n    task_support: { slow: required, \"*\": forbidden }\ntasks:\n  ttl: 10m\n  poll_interval: 250ms\n",
        );
        let a = &config.servers[0];
        assert_eq!(a.task_support.of("anything"), Some(TaskSupport::Optional));
        assert!(a.upstream_task_support.takes_tasks("research"));
        assert!(!a.upstream_task_support.takes_tasks("anything"));
        assert!(a.namespaced);
        let b = &config.servers[1];
        assert!(!b.namespaced);
        assert_eq!(b.task_support.of("slow"), Some(TaskSupport::Required));
        assert_eq!(b.task_support.of("other"), Some(TaskSupport::Forbidden));
        assert_eq!(config.tasks.ttl, std::time::Duration::from_secs(600));
        assert_eq!(
            config.tasks.poll_interval,
            std::time::Duration::from_millis(250)
        );
        let errors = parse_err(
            "servers:\n  a:\n    command: x\n    task_support: sometimes\n    upstream_task_support: { r: always }\ntasks:\n  ttl: 48h\n",
        );
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            text.iter().any(|e| e.contains("servers.a.task_support")
                && e.contains("optional, required, forbidden")),
            "{text:?}"
        );
        assert!(
            text.iter().any(
                |e| e.contains("servers.a.upstream_task_support.r") && e.contains("\"always\"")
            ),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|e| e.contains("tasks.ttl") && e.contains("max_ttl")),
            "{text:?}"
        );
    }

    #[test]
    fn after_input_is_offered_to_clients_and_refused_as_an_upstream_declaration() {
        let config = parse_ok(
            "servers:
  a:
    command: x
    task_support: { ask_first: after_input }
",
        );
        let support = config.servers[0].task_support.of("ask_first");
        assert_eq!(support, Some(TaskSupport::AfterInput));
        assert_eq!(TaskSupport::AfterInput.execution(), "optional");
        let errors = parse_err(
            "servers:
  a:
    command: x
    upstream_task_support: { r: after_input }
",
        );
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|e| e.contains("servers.a.upstream_task_support.r")
                    && e.contains("write optional or required")),
            "{text:?}"
        );
    }
}
