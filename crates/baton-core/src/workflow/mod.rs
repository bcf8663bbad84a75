//! Workflows: YAML DAGs of tool calls. [`raw`] is the file as written, [`compile`] checks
//! it (every error at once, with file, line, column and field path) into a [`Workflow`]
//! whose steps are in dependency order; [`template`] renders the `{{ … }}` data flow and
//! [`graph`] draws the DAG. Running them is the engine's job (crate `baton-engine`).

mod compile;
pub mod graph;
pub mod raw;
pub mod template;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use compile::{WorkflowContext, compile_workflow, load_workflows, slug};
pub(crate) use compile::{check_set, compile_workflow_into};

/// The prefix of the MCP tool that runs a workflow: `workflow__<name>`.
pub const TOOL_PREFIX: &str = "workflow__";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workflow {
    pub name: String,
    pub description: String,
    /// Where it was defined (a workflow file, or baton.yaml).
    pub source: PathBuf,
    /// SHA-256 of the definition as compiled: a run is pinned to it.
    pub hash: String,
    pub inputs: IndexMap<String, Input>,
    /// Output name → template, evaluated when the run completes.
    pub outputs: IndexMap<String, Value>,
    /// In dependency order: every step comes after the steps it needs.
    pub steps: Vec<Step>,
    /// A run still unfinished this long after it began executing is cancelled (`timeout:`,
    /// the seed's `default_timeout`). Left out of the stored form when unset, so the hash of
    /// a workflow without one does not change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<std::time::Duration>,
    /// The run queue's order for this workflow's runs (`priority:`; a run's own wins).
    /// Stored only when set, like `timeout`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: i64,
    /// `concurrency:`: runs per key executing at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<Concurrency>,
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

/// At most `limit` runs of a workflow execute at once for one value of `key` (Hatchet's
/// group keys): runs with other values overlap, runs with the same value wait in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Concurrency {
    pub limit: u32,
    /// A template over the run's `inputs` and `env`; `None`: one group for the workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    pub kind: InputKind,
    pub description: Option<String>,
    pub default: Option<Value>,
    pub required: bool,
    pub choices: Option<Vec<Value>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InputKind {
    String,
    Number,
    Integer,
    Boolean,
    Array,
    Object,
}

impl InputKind {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "string" => InputKind::String,
            "number" => InputKind::Number,
            "integer" => InputKind::Integer,
            "boolean" => InputKind::Boolean,
            "array" => InputKind::Array,
            "object" => InputKind::Object,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            InputKind::String => "string",
            InputKind::Number => "number",
            InputKind::Integer => "integer",
            InputKind::Boolean => "boolean",
            InputKind::Array => "array",
            InputKind::Object => "object",
        }
    }

    pub fn accepts(self, value: &Value) -> bool {
        match self {
            InputKind::String => value.is_string(),
            InputKind::Number => value.is_number(),
            InputKind::Integer => value.is_i64() || value.is_u64(),
            InputKind::Boolean => value.is_boolean(),
            InputKind::Array => value.is_array(),
            InputKind::Object => value.is_object(),
        }
    }

    /// A command-line `--input k=v` value as this type (`v` as JSON unless a string).
    pub fn from_text(self, text: &str) -> Result<Value, String> {
        if self == InputKind::String {
            return Ok(Value::String(text.to_owned()));
        }
        let value: Value = serde_json::from_str(text)
            .map_err(|_| format!("\"{text}\" is not a valid {}", self.as_str()))?;
        if self.accepts(&value) {
            Ok(value)
        } else {
            Err(format!("\"{text}\" is not a valid {}", self.as_str()))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub id: String,
    pub description: Option<String>,
    pub kind: StepKind,
    /// Explicit `needs:` plus the steps its templates read.
    pub needs: Vec<String>,
    pub condition: Option<String>,
    pub for_each: Option<ForEach>,
    pub retry: Option<StepRetry>,
    pub timeout: Option<Duration>,
    pub on_error: OnError,
    pub fallback: Option<Box<Step>>,
    /// Values fixed at compile time and visible to this step's templates (a phase task's
    /// `task`).
    pub locals: serde_json::Map<String, Value>,
    /// Where it is defined.
    pub line: u64,
    pub column: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StepKind {
    /// Call `tool` (an exposed name, `server__tool`) with `args` (templates inside).
    /// `whole`: the step's output is the tool's whole answer (an MCP task's result), and
    /// an answer flagged as an error is that output rather than a failed step.
    Tool {
        tool: String,
        args: Value,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        whole: bool,
    },
    /// Run workflow `name` with `inputs` (templates inside).
    Workflow { name: String, inputs: Value },
    /// Compute `values` (templates inside); they are the step's output.
    Set { values: Value },
    /// Wait durably: a duration (`30s`), or a template giving one.
    Sleep { duration: String },
    /// Wait for a human's decision.
    Approval {
        prompt: String,
        timeout: Option<Duration>,
    },
}

impl StepKind {
    pub fn label(&self) -> String {
        match self {
            StepKind::Tool { tool, .. } => tool.clone(),
            StepKind::Workflow { name, .. } => format!("workflow {name}"),
            StepKind::Set { .. } => "set".to_owned(),
            StepKind::Sleep { duration } => format!("sleep {duration}"),
            StepKind::Approval { .. } => "approval".to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForEach {
    /// A list literal, or a template expression giving one.
    pub items: Value,
    pub concurrency: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepRetry {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub initial: Duration,
    pub multiplier: f64,
    pub max: Duration,
    pub jitter: bool,
}

impl Default for StepRetry {
    fn default() -> Self {
        StepRetry {
            max_attempts: 3,
            initial: Duration::from_secs(1),
            multiplier: 2.0,
            max: Duration::from_secs(60),
            jitter: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum OnError {
    #[default]
    Fail,
    Continue,
}

impl Workflow {
    /// A one-step workflow calling `tool` with `args` (what a schedule or trigger that
    /// targets a tool runs, so that it is durable and recorded like any run).
    pub fn single_call(name: &str, description: &str, tool: &str, args: Value) -> Workflow {
        let mut workflow = Workflow {
            name: name.to_owned(),
            description: description.to_owned(),
            source: PathBuf::new(),
            hash: String::new(),
            inputs: IndexMap::new(),
            outputs: IndexMap::new(),
            steps: vec![Step {
                id: "call".to_owned(),
                description: None,
                kind: StepKind::Tool {
                    tool: tool.to_owned(),
                    args,
                    whole: false,
                },
                needs: Vec::new(),
                condition: None,
                for_each: None,
                retry: None,
                timeout: None,
                on_error: OnError::Fail,
                fallback: None,
                locals: serde_json::Map::new(),
                line: 0,
                column: 0,
            }],
            timeout: None,
            priority: 0,
            concurrency: None,
        };
        workflow.hash = compile::hash(&workflow);
        workflow
    }

    /// A one-step definition like [`Workflow::single_call`] whose output is the tool's
    /// whole answer, an error answer included: the work of an MCP task.
    pub fn whole_call(name: &str, description: &str, tool: &str, args: Value) -> Workflow {
        let mut workflow = Workflow::single_call(name, description, tool, args);
        for step in &mut workflow.steps {
            if let StepKind::Tool { whole, .. } = &mut step.kind {
                *whole = true;
            }
        }
        workflow.hash = compile::hash(&workflow);
        workflow
    }

    /// The concurrency group of a run with `inputs` (already resolved) and its limit:
    /// `NAME` or `NAME:KEY` with the key rendered; `None` without `concurrency:`.
    pub fn concurrency_group(
        &self,
        inputs: &serde_json::Map<String, Value>,
        env: &std::collections::BTreeMap<String, String>,
    ) -> Result<Option<(String, u32)>, String> {
        let Some(concurrency) = &self.concurrency else {
            return Ok(None);
        };
        let Some(key) = &concurrency.key else {
            return Ok(Some((self.name.clone(), concurrency.limit)));
        };
        let context = minijinja::Value::from_serialize(serde_json::json!({
            "inputs": inputs,
            "env": env,
        }));
        let env = template::environment();
        let rendered = template::render(&env, &Value::String(key.clone()), &context)
            .map_err(|error| format!("concurrency.key: {error}"))?;
        let text = match rendered {
            Value::String(text) => text,
            other => other.to_string(),
        };
        Ok(Some((format!("{}:{text}", self.name), concurrency.limit)))
    }

    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|step| step.id == id)
    }

    /// The input schema of its MCP tool.
    pub fn input_schema(&self) -> Value {
        let mut properties = serde_json::Map::new();
        let mut required = Vec::new();
        for (name, input) in &self.inputs {
            let mut property = serde_json::json!({ "type": input.kind.as_str() });
            if let Some(description) = &input.description {
                property["description"] = Value::String(description.clone());
            }
            if let Some(default) = &input.default {
                property["default"] = default.clone();
            }
            if let Some(choices) = &input.choices {
                property["enum"] = Value::Array(choices.clone());
            }
            if input.required {
                required.push(Value::String(name.clone()));
            }
            properties.insert(name.clone(), property);
        }
        serde_json::json!({
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false,
        })
    }

    /// Checks `given` against the inputs and fills in defaults; every problem is named.
    pub fn resolve_inputs(
        &self,
        given: &serde_json::Map<String, Value>,
    ) -> Result<serde_json::Map<String, Value>, Vec<String>> {
        let mut problems = Vec::new();
        let mut resolved = serde_json::Map::new();
        for key in given.keys() {
            if !self.inputs.contains_key(key) {
                let known: Vec<&str> = self.inputs.keys().map(String::as_str).collect();
                problems.push(format!(
                    "unknown input \"{key}\" (inputs of {}: {})",
                    self.name,
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ));
            }
        }
        for (name, input) in &self.inputs {
            match given.get(name).or(input.default.as_ref()) {
                Some(value) if !input.kind.accepts(value) => problems.push(format!(
                    "input \"{name}\" must be a {}, got {value}",
                    input.kind.as_str()
                )),
                Some(value)
                    if input
                        .choices
                        .as_ref()
                        .is_some_and(|choices| !choices.contains(value)) =>
                {
                    problems.push(format!(
                        "input \"{name}\" must be one of {}, got {value}",
                        Value::Array(input.choices.clone().unwrap_or_default())
                    ))
                }
                Some(value) => {
                    resolved.insert(name.clone(), value.clone());
                }
                None if input.required => {
                    problems.push(format!("input \"{name}\" is required"));
                }
                None => {}
            }
        }
        if problems.is_empty() {
            Ok(resolved)
        } else {
            Err(problems)
        }
    }
}

/// The workflow files in `dir` (`*.yaml`, `*.yml`), sorted; none when it does not exist.
pub fn workflow_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.is_file()
                && path
                    .extension()
                    .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests;
