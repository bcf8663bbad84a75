//! A workflow as written (one YAML file, or one entry of `workflows.definitions` in
//! baton.yaml), with spans where validation points. See [`super::compile`].

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::config::raw::SpannedString;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkflow {
    /// Required in a file; in baton.yaml the key is the name.
    pub name: Option<SpannedString>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub inputs: IndexMap<String, Spanned<RawInput>>,
    /// Output name → template (evaluated when the run completes).
    #[serde(default)]
    pub outputs: IndexMap<String, Value>,
    #[serde(default)]
    pub steps: Vec<Spanned<RawStep>>,
    /// The phase style (`phases:` with `dependencies:` and `parallel:`), compiled into steps.
    #[serde(default)]
    pub phases: Vec<Spanned<RawPhase>>,
    /// A run unfinished this long after it began executing is cancelled (e.g. `2h`).
    #[serde(default, alias = "default_timeout")]
    pub timeout: Option<SpannedString>,
    /// Runs of this workflow leave the run queue before runs of lower priority (default 0;
    /// a run's own `priority` wins).
    #[serde(default)]
    pub priority: Option<Spanned<i64>>,
    /// At most `limit` runs executing at once per value of `key`.
    #[serde(default)]
    pub concurrency: Option<Spanned<RawConcurrency>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConcurrency {
    /// Runs per key at once (default 1).
    pub limit: Option<Spanned<u32>>,
    /// A template over `inputs` (and `env`), e.g. `"{{ inputs.repo }}"`; without one, the
    /// limit holds for the workflow as a whole.
    pub key: Option<SpannedString>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInput {
    /// string, number, integer, boolean, array or object (default string).
    #[serde(rename = "type")]
    pub kind: Option<SpannedString>,
    pub description: Option<String>,
    pub default: Option<Value>,
    /// Required unless it has a default (default: true).
    pub required: Option<bool>,
    #[serde(rename = "enum")]
    pub choices: Option<Vec<Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub id: Option<SpannedString>,
    #[serde(default)]
    pub description: Option<String>,
    /// `server__tool`: call a tool with `args`.
    pub tool: Option<SpannedString>,
    pub args: Option<Value>,
    /// Run another workflow with `inputs`.
    pub workflow: Option<SpannedString>,
    pub inputs: Option<Value>,
    /// Compute values with templates, no call.
    pub set: Option<Value>,
    /// A durable timer: `30s`, `10m`, or a template giving one.
    pub sleep: Option<SpannedString>,
    /// A human approves or rejects before the run goes on.
    pub approval: Option<Spanned<RawApproval>>,
    /// Hand a task to a mode (`baton__delegate_task`): its executor answers.
    pub delegate: Option<Spanned<RawDelegate>>,
    #[serde(default)]
    pub needs: Vec<SpannedString>,
    /// A condition (template expression); false skips the step.
    #[serde(rename = "if")]
    pub condition: Option<SpannedString>,
    /// A list, or an expression giving one: the step runs once per item (`{{ item }}`,
    /// `{{ index }}`), results collected in order.
    pub for_each: Option<Spanned<Value>>,
    /// With `for_each`: how many items run at once (default 4).
    pub concurrency: Option<Spanned<u32>>,
    pub retry: Option<Spanned<RawStepRetry>>,
    pub timeout: Option<SpannedString>,
    /// `fail` (default) or `continue`.
    pub on_error: Option<SpannedString>,
    /// Another step definition run in this one's place when it fails.
    pub fallback: Option<Box<Spanned<RawStep>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDelegate {
    /// The mode (its slug in `modes:` or `.roomodes`).
    pub mode: SpannedString,
    /// The instructions (a template).
    pub task: String,
    /// What the task builds on (a template, e.g. `{{ steps.design.output }}`).
    pub context: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApproval {
    /// What the approver is asked (a template).
    pub prompt: Option<String>,
    /// How long to wait before the step fails (default: forever).
    pub timeout: Option<SpannedString>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStepRetry {
    pub max_attempts: Option<Spanned<u32>>,
    pub initial: Option<SpannedString>,
    pub multiplier: Option<Spanned<f64>>,
    pub max: Option<SpannedString>,
    pub jitter: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPhase {
    pub name: Option<SpannedString>,
    #[serde(default)]
    pub description: Option<String>,
    /// The mode that works the phase's tasks (recorded; mode tasks need the modes tools).
    pub mode: Option<String>,
    #[serde(default)]
    pub parallel: bool,
    #[serde(default)]
    pub dependencies: Vec<SpannedString>,
    /// The tool each task of the phase calls, with `args` (a task is `{{ task }}`).
    pub tool: Option<SpannedString>,
    pub args: Option<Value>,
    #[serde(default)]
    pub tasks: Vec<Spanned<RawTask>>,
    /// Named parallel branches (objects); like tasks, each is `{{ task }}`.
    #[serde(default)]
    pub branches: Vec<Spanned<Value>>,
}

/// A phase task: a description worked by the phase's `tool`, or a full step.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawTask {
    Text(String),
    Step(Box<RawStep>),
}
