//! The seed's phase style: `phases:` with `dependencies:` and `parallel:`, compiled into
//! the same steps as `steps:`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use serde_saphyr::Location;

use super::*;

impl WorkflowCompiler<'_, '_> {
    /// The phase style: each phase's tasks become steps, chained when the phase is not
    /// parallel, after every step of the phases it depends on.
    pub(super) fn phases(
        &mut self,
        phases: &[serde_saphyr::Spanned<RawPhase>],
        pending: &mut Vec<Pending>,
    ) {
        let mut tails: BTreeMap<String, Vec<String>> = BTreeMap::new();
        // Every task of each phase: what a later phase's tasks get as context (`tails` are
        // only what they wait for: a sequential phase's last task implies the others).
        let mut results: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let names: BTreeSet<String> = phases
            .iter()
            .filter_map(|phase| phase.value.name.as_ref().map(|name| name.value.clone()))
            .collect();
        for (index, phase) in phases.iter().enumerate() {
            let path = format!("phases[{index}]");
            let raw = &phase.value;
            let Some(name) = &raw.name else {
                self.push(
                    phase.referenced,
                    &format!("{path}.name"),
                    "a phase needs a `name:`",
                );
                continue;
            };
            if tails.contains_key(&name.value) {
                self.push(
                    name.referenced,
                    &format!("{path}.name"),
                    format!("phase \"{}\" is defined twice", name.value),
                );
                continue;
            }
            let mut after = Vec::new();
            let mut context = Vec::new();
            for dependency in &raw.dependencies {
                if let Some(steps) = results.get(&dependency.value) {
                    context.extend(steps.iter().cloned());
                }
                match tails.get(&dependency.value) {
                    Some(steps) => after.extend(steps.iter().cloned()),
                    None if names.contains(&dependency.value) => self.push(
                        dependency.referenced,
                        &format!("{path}.dependencies"),
                        format!(
                            "phase \"{}\" must come after \"{}\", which it depends on",
                            name.value, dependency.value
                        ),
                    ),
                    None => self.push(
                        dependency.referenced,
                        &format!("{path}.dependencies"),
                        format!(
                            "unknown phase \"{}\" (phases: {})",
                            dependency.value,
                            names.iter().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    ),
                }
            }
            if let Some(tool) = &raw.tool {
                self.check_tool(tool, &format!("{path}.tool"));
            }
            let phase_slug = slug(&name.value);
            let tasks = raw
                .tasks
                .iter()
                .map(|task| (task.referenced, Some(&task.value), None))
                .chain(
                    raw.branches
                        .iter()
                        .map(|branch| (branch.referenced, None, Some(&branch.value))),
                );
            let mut ids = Vec::new();
            let mut previous: Option<String> = None;
            for (number, (at, task, branch)) in tasks.enumerate() {
                let task_path = format!("{path}.tasks[{number}]");
                let generated = match branch.and_then(|b| b.get("name")).and_then(Value::as_str) {
                    Some(branch_name) => format!("{phase_slug}_{}", slug(branch_name)),
                    None => format!("{phase_slug}_{}", number + 1),
                };
                let compiled = match (task, branch) {
                    (Some(RawTask::Step(step)), _) => self
                        .step_id(step.id.as_ref(), at, &task_path, Some(generated))
                        .and_then(|id| self.step(step, at, &task_path, id, serde_json::Map::new())),
                    (Some(RawTask::Text(text)), _) => {
                        let task = Value::String(text.clone());
                        self.task_step(raw, at, &task_path, generated, task, &context)
                    }
                    (None, Some(branch)) => {
                        self.task_step(raw, at, &task_path, generated, branch.clone(), &context)
                    }
                    (None, None) => None,
                };
                let Some(mut compiled) = compiled else {
                    continue;
                };
                let needs: Vec<String> = match (&previous, raw.parallel) {
                    (Some(previous), false) => vec![previous.clone()],
                    _ => after.clone(),
                };
                compiled
                    .needs
                    .extend(needs.into_iter().map(|need| (need, at)));
                previous = Some(compiled.step.id.clone());
                ids.push(compiled.step.id.clone());
                pending.push(compiled);
            }
            if ids.is_empty() && raw.tasks.is_empty() && raw.branches.is_empty() {
                self.push(
                    phase.referenced,
                    &path,
                    format!("phase \"{}\" has no tasks", name.value),
                );
            }
            let tail = if raw.parallel {
                ids.clone()
            } else {
                ids.last().cloned().into_iter().collect()
            };
            tails.insert(name.value.clone(), tail);
            results.insert(name.value.clone(), ids);
        }
    }

    /// A phase task given as text (or a branch object): the phase's `tool` with its `args`,
    /// the task visible as `{{ task }}`; or, in a phase with a `mode:` and no tool, the task
    /// delegated to the mode ([`Self::delegated`]).
    fn task_step(
        &mut self,
        phase: &RawPhase,
        at: Location,
        path: &str,
        id: String,
        task: Value,
        after: &[String],
    ) -> Option<Pending> {
        let mut locals = serde_json::Map::new();
        locals.insert("task".to_owned(), task);
        if let Some(mode) = &phase.mode {
            locals.insert("mode".to_owned(), Value::String(mode.clone()));
        }
        let raw = match (&phase.tool, &phase.mode) {
            (Some(tool), _) => RawStep {
                tool: Some(tool.clone()),
                args: phase.args.clone(),
                ..RawStep::default()
            },
            (None, Some(mode)) => self.delegated(mode, at, path, after)?,
            (None, None) => {
                self.push(
                    at,
                    path,
                    format!(
                        "task {} needs a mode or a tool: give the phase `mode:` (its tasks are delegated to the mode) or `tool:` and `args:` (the task is {{{{ task }}}} in them), or write the task as a step",
                        locals["task"]
                    ),
                );
                return None;
            }
        };
        self.tool_checked = true;
        let step = self.step(&raw, at, path, id, locals);
        self.tool_checked = false;
        step
    }

    /// A task for `mode`: a call of Baton's `delegate_task` (the mode's executor runs it),
    /// with the outputs of the phases it depends on (`after`) as its context.
    fn delegated(
        &mut self,
        mode: &str,
        at: Location,
        path: &str,
        after: &[String],
    ) -> Option<RawStep> {
        if !self.check_mode(mode, at, path) {
            return None;
        }
        // Each earlier result as text: a delegated task's answer, a tool's text, or JSON.
        let context: String = after
            .iter()
            .map(|step| {
                let out = format!("steps.{step}.output");
                format!(
                    "## {step}\n{{% if {out}.output is defined %}}{{{{ {out}.output }}}}{{% elif {out} is string %}}{{{{ {out} }}}}{{% else %}}{{{{ {out} | tojson }}}}{{% endif %}}\n\n"
                )
            })
            .collect();
        let mut args = serde_json::Map::new();
        args.insert("mode".to_owned(), Value::String(mode.to_owned()));
        args.insert(
            "instructions".to_owned(),
            Value::String("{{ task }}".to_owned()),
        );
        if !context.is_empty() {
            args.insert(
                "context".to_owned(),
                Value::String(format!(
                    "Results of the phases this task builds on:\n\n{context}"
                )),
            );
        }
        Some(RawStep {
            tool: Some(serde_saphyr::Spanned {
                value: format!(
                    "{}{}delegate_task",
                    crate::config::BUILTIN_SERVER,
                    self.context.separator
                ),
                referenced: at,
                defined: at,
            }),
            args: Some(Value::Object(args)),
            ..RawStep::default()
        })
    }

    /// Whether `mode` is configured (always, without a list to check against); reports it
    /// at `at` otherwise.
    pub(super) fn check_mode(&mut self, mode: &str, at: Location, path: &str) -> bool {
        let Some(modes) = self.context.modes else {
            return true;
        };
        if modes.iter().any(|known| known.slug == mode) {
            return true;
        }
        let known: Vec<&str> = modes.iter().map(|m| m.slug.as_str()).collect();
        self.push(
            at,
            path,
            format!(
                "mode \"{mode}\" is not configured ({}): define it under modes.definitions (role_definition, groups, executor) or in .roomodes",
                if known.is_empty() {
                    "no mode is".to_owned()
                } else {
                    format!("modes: {}", known.join(", "))
                }
            ),
        );
        false
    }
}
