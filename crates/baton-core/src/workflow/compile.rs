//! Validation of a [`RawWorkflow`] into a [`Workflow`]: every error at once, each with
//! file, line, column, field path and a fix; steps put in dependency order.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    time::Duration,
};

use minijinja::Environment;
use serde_saphyr::Location;
use sha2::{Digest, Sha256};

use super::{
    ForEach, Input, InputKind, OnError, Step, StepKind, StepRetry, Workflow, graph,
    raw::{RawPhase, RawStep, RawTask, RawWorkflow},
    template,
};
mod link;
mod phases;
mod queue;
mod step;

use crate::config::{
    ConfigError, ConfigErrors, error::ErrorSink, parse_duration, raw::SpannedString,
};

/// What a workflow is checked against besides itself.
#[derive(Debug, Clone, Copy)]
pub struct WorkflowContext<'a> {
    /// The configured server names: a tool's `server__` prefix must be one of them (or
    /// `baton`, `workflow`). `None` skips the check.
    pub servers: Option<&'a BTreeSet<String>>,
    pub separator: &'a str,
    /// Environment variables templates may read as `{{ env.X }}`.
    pub env_allow: &'a [String],
    /// The configured modes: a phase's `mode:` must be one of them. `None` skips the check.
    pub modes: Option<&'a [crate::modes::Mode]>,
}

/// Default `for_each` concurrency.
pub const DEFAULT_CONCURRENCY: u32 = 4;

/// Compiles one workflow; `key` is its name in baton.yaml (a file names it with `name:`),
/// `path` the field path of its definition (empty for a file). Errors go to `sink`.
pub(crate) fn compile_workflow_into(
    file: &Path,
    key: Option<&str>,
    raw: &RawWorkflow,
    context: WorkflowContext<'_>,
    path: &str,
    at: Location,
    sink: &mut ErrorSink,
) -> Option<Workflow> {
    let before = sink.len();
    let mut compiler = WorkflowCompiler {
        sink,
        context,
        env: template::environment(),
        prefix: if path.is_empty() {
            String::new()
        } else {
            format!("{path}.")
        },
        tool_checked: false,
    };
    compiler
        .workflow(file, key, raw, at)
        .filter(|_| compiler.sink.len() == before)
}

/// Compiles one workflow file's text on its own (`baton validate`, `baton graph`, tests).
pub fn compile_workflow(
    file: &Path,
    text: &str,
    context: WorkflowContext<'_>,
) -> Result<Workflow, ConfigErrors> {
    let mut sink = ErrorSink::new(file.to_owned());
    let raw: RawWorkflow = match serde_saphyr::from_str(text) {
        Ok(raw) => raw,
        Err(error) => {
            let (line, column) = error
                .location()
                .map(|at| (at.line(), at.column()))
                .unwrap_or((0, 0));
            return Err(ConfigErrors(vec![ConfigError {
                file: file.to_owned(),
                line,
                column,
                path: String::new(),
                message: crate::config::first_line(&error.to_string()),
            }]));
        }
    };
    let workflow =
        compile_workflow_into(file, None, &raw, context, "", Location::UNKNOWN, &mut sink);
    sink.finish()?;
    workflow.ok_or_else(|| ConfigErrors(Vec::new()))
}

/// Every workflow file in `dir`, compiled; the errors of all of them.
pub fn load_workflows(
    dir: &Path,
    context: WorkflowContext<'_>,
) -> (Vec<Workflow>, Vec<ConfigError>) {
    let mut workflows = Vec::new();
    let mut errors = Vec::new();
    let files = match super::workflow_files(dir) {
        Ok(files) => files,
        Err(error) => {
            errors.push(ConfigError {
                file: dir.to_owned(),
                line: 0,
                column: 0,
                path: String::new(),
                message: format!("cannot read the workflows folder: {error}"),
            });
            return (workflows, errors);
        }
    };
    for file in files {
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(error) => {
                errors.push(ConfigError {
                    file: file.clone(),
                    line: 0,
                    column: 0,
                    path: String::new(),
                    message: format!("cannot read the file: {error}"),
                });
                continue;
            }
        };
        match compile_workflow(&file, &text, context) {
            Ok(workflow) => workflows.push(workflow),
            Err(ConfigErrors(mut found)) => errors.append(&mut found),
        }
    }
    (workflows, errors)
}

/// Checks across workflows: unique names, known sub-workflows, no workflow that runs
/// itself through its sub-workflows.
pub(crate) fn check_set(workflows: &[Workflow]) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let mut seen: BTreeMap<&str, &PathBuf> = BTreeMap::new();
    for workflow in workflows {
        if let Some(first) = seen.insert(&workflow.name, &workflow.source) {
            errors.push(ConfigError {
                file: workflow.source.clone(),
                line: 0,
                column: 0,
                path: "name".to_owned(),
                message: format!(
                    "workflow \"{}\" is also defined in {}: names must be unique",
                    workflow.name,
                    first.display()
                ),
            });
        }
    }
    let mut calls: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for workflow in workflows {
        for step in &workflow.steps {
            for step in std::iter::once(step).chain(step.fallback.as_deref()) {
                if let StepKind::Workflow { name, .. } = &step.kind {
                    if seen.contains_key(name.as_str()) {
                        calls.entry(&workflow.name).or_default().push(name);
                    } else {
                        errors.push(ConfigError {
                            file: workflow.source.clone(),
                            line: step.line,
                            column: step.column,
                            path: format!("steps.{}.workflow", step.id),
                            message: format!(
                                "unknown workflow \"{name}\" (known: {})",
                                seen.keys().copied().collect::<Vec<_>>().join(", ")
                            ),
                        });
                    }
                }
            }
        }
    }
    if let Some(cycle) = graph::find_cycle(&calls) {
        let first = workflows.iter().find(|w| w.name == cycle[0]);
        errors.push(ConfigError {
            file: first.map(|w| w.source.clone()).unwrap_or_default(),
            line: 0,
            column: 0,
            path: String::new(),
            message: format!(
                "workflows run each other in a cycle: {} (a workflow cannot run itself)",
                cycle.join(" → ")
            ),
        });
    }
    errors
}

struct WorkflowCompiler<'s, 'c> {
    sink: &'s mut ErrorSink,
    context: WorkflowContext<'c>,
    env: Environment<'static>,
    /// Field path prefix ("workflows.definitions.NAME." inline, "" in a file).
    prefix: String,
    /// Set while a phase's tasks are compiled: the phase's tool was checked once.
    tool_checked: bool,
}

/// A step as written, with what is needed to check it once every id is known.
struct Pending {
    step: Step,
    /// Explicit needs with their positions.
    needs: Vec<(String, Location)>,
    at: Location,
    path: String,
}

impl WorkflowCompiler<'_, '_> {
    fn push(&mut self, at: Location, path: &str, message: impl Into<String>) {
        let path = format!("{}{path}", self.prefix);
        self.sink
            .push(at, path.trim_end_matches('.').to_owned(), message);
    }

    fn workflow(
        &mut self,
        file: &Path,
        key: Option<&str>,
        raw: &RawWorkflow,
        at: Location,
    ) -> Option<Workflow> {
        let name = match (&raw.name, key) {
            (Some(name), Some(key)) if name.value != key => {
                self.push(
                    name.referenced,
                    "name",
                    format!("the name \"{}\" differs from its key \"{key}\": drop `name:` or make them equal", name.value),
                );
                key.to_owned()
            }
            (_, Some(key)) => key.to_owned(),
            (Some(name), None) => name.value.clone(),
            (None, None) => {
                self.push(
                    at,
                    "name",
                    "a workflow needs a `name:` (it becomes the tool workflow__<name>)",
                );
                String::new()
            }
        };
        let tool_name = format!("{}{name}", super::TOOL_PREFIX);
        if !name.is_empty() && !crate::names::is_valid_tool_name(&tool_name) {
            let at = raw.name.as_ref().map_or(at, |name| name.referenced);
            self.push(
                at,
                "name",
                format!(
                    "\"{name}\" cannot name a tool: use a-z A-Z 0-9 _ - (at most {} characters)",
                    crate::names::MAX_TOOL_NAME - super::TOOL_PREFIX.len()
                ),
            );
        }
        let inputs = self.inputs(raw);
        let mut pending = Vec::new();
        for (index, step) in raw.steps.iter().enumerate() {
            let path = format!("steps[{index}]");
            let Some(id) = self.step_id(step.value.id.as_ref(), step.referenced, &path, None)
            else {
                continue;
            };
            if let Some(compiled) = self.step(
                &step.value,
                step.referenced,
                &path,
                id,
                serde_json::Map::new(),
            ) {
                pending.push(compiled);
            }
        }
        self.phases(&raw.phases, &mut pending);
        let steps = self.link(pending, &inputs);
        let mut outputs_vars = BTreeSet::new();
        let mut errors = Vec::new();
        for (output, value) in &raw.outputs {
            template::analyze(
                &self.env,
                value,
                &format!("outputs.{output}"),
                &mut outputs_vars,
                &mut errors,
            );
        }
        for (path, message) in errors {
            self.push(
                Location::UNKNOWN,
                &path,
                format!("template error: {message}"),
            );
        }
        let ids: BTreeSet<&str> = steps.iter().map(|step| step.id.as_str()).collect();
        for variable in &outputs_vars {
            if let Some(problem) =
                self.variable_problem(variable, &ids, &inputs, false, &serde_json::Map::new())
            {
                self.push(Location::UNKNOWN, "outputs", problem);
            }
        }
        let timeout = raw
            .timeout
            .as_ref()
            .and_then(|timeout| self.duration(timeout, "timeout"));
        let concurrency = self.concurrency(raw, &inputs);
        let mut workflow = Workflow {
            name,
            description: raw.description.clone().unwrap_or_default(),
            source: file.to_owned(),
            hash: String::new(),
            inputs,
            outputs: raw.outputs.clone(),
            steps,
            timeout,
            priority: raw.priority.as_ref().map_or(0, |priority| priority.value),
            concurrency,
        };
        workflow.hash = hash(&workflow);
        Some(workflow)
    }

    fn inputs(&mut self, raw: &RawWorkflow) -> indexmap::IndexMap<String, Input> {
        let mut inputs = indexmap::IndexMap::new();
        for (name, input) in &raw.inputs {
            let path = format!("inputs.{name}");
            if !is_identifier(name) {
                self.push(
                    input.referenced,
                    &path,
                    "an input name is an identifier (letters, digits, _; not starting with a digit), so templates can read it as inputs.NAME",
                );
            }
            let kind = match &input.value.kind {
                None => InputKind::String,
                Some(kind) => match InputKind::parse(&kind.value) {
                    Some(kind) => kind,
                    None => {
                        self.push(
                            kind.referenced,
                            &format!("{path}.type"),
                            format!("unknown type \"{}\": use string, number, integer, boolean, array or object", kind.value),
                        );
                        InputKind::String
                    }
                },
            };
            if let Some(default) = &input.value.default
                && !kind.accepts(default)
            {
                self.push(
                    input.referenced,
                    &format!("{path}.default"),
                    format!("the default {default} is not a {}", kind.as_str()),
                );
            }
            let required = input
                .value
                .required
                .unwrap_or(input.value.default.is_none());
            inputs.insert(
                name.clone(),
                Input {
                    kind,
                    description: input.value.description.clone(),
                    default: input.value.default.clone(),
                    required,
                    choices: input.value.choices.clone(),
                },
            );
        }
        inputs
    }

    fn step_id(
        &mut self,
        id: Option<&SpannedString>,
        at: Location,
        path: &str,
        generated: Option<String>,
    ) -> Option<String> {
        match (id, generated) {
            (Some(id), _) if is_identifier(&id.value) => Some(id.value.clone()),
            (Some(id), _) => {
                self.push(
                    id.referenced,
                    &format!("{path}.id"),
                    format!(
                        "\"{}\" is not a step id: use letters, digits and _ (not starting with a digit), e.g. \"{}\", so templates can read steps.ID",
                        id.value,
                        slug(&id.value)
                    ),
                );
                None
            }
            (None, Some(generated)) => Some(generated),
            (None, None) => {
                self.push(at, &format!("{path}.id"), "a step needs an `id:`");
                None
            }
        }
    }

    fn check_tool(&mut self, tool: &SpannedString, path: &str) {
        let separator = self.context.separator;
        let Some((server, rest)) = tool.value.split_once(separator) else {
            self.push(
                tool.referenced,
                path,
                format!(
                    "\"{}\" is not an exposed tool name: write server{separator}tool, as `baton tools` lists them",
                    tool.value
                ),
            );
            return;
        };
        if rest.is_empty() {
            self.push(
                tool.referenced,
                path,
                format!("\"{}\" names no tool after the server", tool.value),
            );
            return;
        }
        if let Some(servers) = self.context.servers
            && !servers.contains(server)
            && server != crate::config::BUILTIN_SERVER
            && server != "workflow"
        {
            self.push(
                tool.referenced,
                path,
                format!(
                    "no server \"{server}\" is configured for tool \"{}\" (servers: {})",
                    tool.value,
                    servers.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            );
        }
    }

    fn duration(&mut self, value: &SpannedString, path: &str) -> Option<Duration> {
        match parse_duration(&value.value) {
            Some(duration) if !duration.is_zero() => Some(duration),
            _ => {
                self.push(
                    value.referenced,
                    path,
                    format!(
                        "\"{}\" is not a duration: write e.g. 500ms, 30s, 5m or 1h",
                        value.value
                    ),
                );
                None
            }
        }
    }
}

/// `text` as a step id: lower case, runs of other characters as one `_`.
pub fn slug(text: &str) -> String {
    let mut slug = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('_') {
            slug.push('_');
        }
    }
    let slug = slug.trim_matches('_').to_owned();
    match slug.chars().next() {
        None => "step".to_owned(),
        Some(first) if first.is_ascii_digit() => format!("s_{slug}"),
        Some(_) => slug,
    }
}

fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// ` (did you mean "x"?)` when a known name is close.
fn suggest(name: &str, known: &BTreeSet<&str>) -> String {
    let close = known
        .iter()
        .map(|candidate| (edit_distance(name, candidate), *candidate))
        .filter(|(distance, _)| *distance <= 2)
        .min();
    match close {
        Some((_, candidate)) => format!(" (did you mean \"{candidate}\"?)"),
        None if known.is_empty() => String::new(),
        None => format!(
            " (known: {})",
            known.iter().copied().collect::<Vec<_>>().join(", ")
        ),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(current + 1);
            previous = current;
        }
    }
    row[b.len()]
}

/// A stable hash of what the workflow does (not where it was written).
pub(crate) fn hash(workflow: &Workflow) -> String {
    let mut hasher = Sha256::new();
    hasher.update(format!(
        "{}|{:?}|{:?}|{:?}",
        workflow.name, workflow.inputs, workflow.outputs, workflow.steps
    ));
    hasher
        .finalize()
        .iter()
        .take(16)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
