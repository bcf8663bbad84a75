//! One step of `steps:` (or a phase's task): its kind, `for_each`, `retry`, `timeout`,
//! `on_error` and `fallback`, each checked with its position and a fix.

use serde_json::Value;
use serde_saphyr::Location;

use super::*;

impl WorkflowCompiler<'_, '_> {
    pub(super) fn step(
        &mut self,
        raw: &RawStep,
        at: Location,
        path: &str,
        id: String,
        locals: serde_json::Map<String, Value>,
    ) -> Option<Pending> {
        let before = self.sink.len();
        let kinds: Vec<&str> = [
            ("tool", raw.tool.is_some()),
            ("workflow", raw.workflow.is_some()),
            ("set", raw.set.is_some()),
            ("sleep", raw.sleep.is_some()),
            ("approval", raw.approval.is_some()),
            ("delegate", raw.delegate.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, present)| present.then_some(name))
        .collect();
        if kinds.len() != 1 {
            self.push(
                at,
                path,
                if kinds.is_empty() {
                    "a step needs one of tool, workflow, set, sleep, approval or delegate"
                        .to_owned()
                } else {
                    format!("a step does one thing: it has {}", kinds.join(" and "))
                },
            );
        }
        if raw.args.is_some() && raw.tool.is_none() {
            self.push(at, &format!("{path}.args"), "`args:` goes with `tool:`");
        }
        if raw.inputs.is_some() && raw.workflow.is_none() {
            self.push(
                at,
                &format!("{path}.inputs"),
                "`inputs:` goes with `workflow:`",
            );
        }
        let kind = self.step_kind(raw, path, &id);
        let for_each = self.for_each(raw, path);
        if raw.concurrency.is_some() && raw.for_each.is_none() {
            self.push(
                at,
                &format!("{path}.concurrency"),
                "`concurrency:` goes with `for_each:`",
            );
        }
        let retry = self.step_retry(raw, path);
        let timeout = raw
            .timeout
            .as_ref()
            .and_then(|timeout| self.duration(timeout, &format!("{path}.timeout")));
        let on_error = self.on_error(raw, path);
        let fallback = raw.fallback.as_ref().and_then(|fallback| {
            let fallback_path = format!("{path}.fallback");
            if !fallback.value.needs.is_empty() || fallback.value.for_each.is_some() {
                self.push(
                    fallback.referenced,
                    &fallback_path,
                    "a fallback runs in its step's place: it takes no needs or for_each of its own",
                );
            }
            self.step(
                &fallback.value,
                fallback.referenced,
                &fallback_path,
                format!("{id}_fallback"),
                locals.clone(),
            )
            .map(|pending| Box::new(pending.step))
        });
        let step = Step {
            id,
            description: raw.description.clone(),
            kind,
            needs: Vec::new(),
            condition: raw
                .condition
                .as_ref()
                .map(|condition| condition.value.clone()),
            for_each,
            retry,
            timeout,
            on_error,
            fallback,
            locals,
            line: at.line(),
            column: at.column(),
        };
        let needs = raw
            .needs
            .iter()
            .map(|need| (need.value.clone(), need.referenced))
            .collect();
        // Kept even when it has errors, so that steps needing it are not reported too.
        let _ = before;
        Some(Pending {
            step,
            needs,
            at,
            path: path.to_owned(),
        })
    }

    /// What the step does: exactly one of tool, workflow, set, sleep or approval.
    fn step_kind(&mut self, raw: &RawStep, path: &str, id: &str) -> StepKind {
        if let Some(tool) = &raw.tool {
            if !self.tool_checked {
                self.check_tool(tool, &format!("{path}.tool"));
            }
            StepKind::Tool {
                tool: tool.value.clone(),
                args: raw
                    .args
                    .clone()
                    .unwrap_or(Value::Object(Default::default())),
                whole: false,
            }
        } else if let Some(workflow) = &raw.workflow {
            StepKind::Workflow {
                name: workflow.value.clone(),
                inputs: raw
                    .inputs
                    .clone()
                    .unwrap_or(Value::Object(Default::default())),
            }
        } else if let Some(values) = &raw.set {
            StepKind::Set {
                values: values.clone(),
            }
        } else if let Some(sleep) = &raw.sleep {
            let is_template = sleep.value.contains("{{");
            if !is_template && parse_duration(&sleep.value).is_none() {
                self.push(
                    sleep.referenced,
                    &format!("{path}.sleep"),
                    format!(
                        "\"{}\" is not a duration: write e.g. 30s, 10m or 2h",
                        sleep.value
                    ),
                );
            }
            StepKind::Sleep {
                duration: sleep.value.clone(),
            }
        } else if let Some(delegate) = &raw.delegate {
            let delegate = &delegate.value;
            self.check_mode(
                &delegate.mode.value,
                delegate.mode.referenced,
                &format!("{path}.delegate.mode"),
            );
            let mut args = serde_json::Map::new();
            args.insert("mode".into(), Value::String(delegate.mode.value.clone()));
            args.insert("instructions".into(), Value::String(delegate.task.clone()));
            if let Some(context) = &delegate.context {
                args.insert("context".into(), Value::String(context.clone()));
            }
            StepKind::Tool {
                tool: format!(
                    "{}{}delegate_task",
                    crate::config::BUILTIN_SERVER,
                    self.context.separator
                ),
                args: Value::Object(args),
                whole: false,
            }
        } else if let Some(approval) = &raw.approval {
            let timeout =
                approval.value.timeout.as_ref().and_then(|timeout| {
                    self.duration(timeout, &format!("{path}.approval.timeout"))
                });
            StepKind::Approval {
                prompt: approval
                    .value
                    .prompt
                    .clone()
                    .unwrap_or_else(|| format!("Approve step {id}?")),
                timeout,
            }
        } else {
            StepKind::Set {
                values: Value::Null,
            }
        }
    }

    /// `for_each:` with its `concurrency:`.
    fn for_each(&mut self, raw: &RawStep, path: &str) -> Option<ForEach> {
        raw.for_each.as_ref().map(|items| {
            let concurrency = match &raw.concurrency {
                Some(value) if value.value == 0 => {
                    self.push(
                        value.referenced,
                        &format!("{path}.concurrency"),
                        "must be at least 1",
                    );
                    1
                }
                Some(value) => value.value,
                None => DEFAULT_CONCURRENCY,
            };
            if !(items.value.is_array() || items.value.is_string()) {
                self.push(
                    items.referenced,
                    &format!("{path}.for_each"),
                    "for_each takes a list, or an expression giving one (e.g. \"{{ steps.list.output }}\")",
                );
            }
            ForEach {
                items: items.value.clone(),
                concurrency,
            }
        })
    }

    /// `retry:`: attempts, delays, multiplier and jitter.
    fn step_retry(&mut self, raw: &RawStep, path: &str) -> Option<StepRetry> {
        raw.retry.as_ref().map(|retry| {
            let mut settings = StepRetry::default();
            let field = |name: &str| format!("{path}.retry.{name}");
            if let Some(attempts) = &retry.value.max_attempts {
                if attempts.value == 0 {
                    self.push(
                        attempts.referenced,
                        &field("max_attempts"),
                        "must be at least 1",
                    );
                } else {
                    settings.max_attempts = attempts.value;
                }
            }
            if let Some(initial) = &retry.value.initial
                && let Some(duration) = self.duration(initial, &field("initial"))
            {
                settings.initial = duration;
            }
            if let Some(max) = &retry.value.max
                && let Some(duration) = self.duration(max, &field("max"))
            {
                settings.max = duration;
            }
            if let Some(multiplier) = &retry.value.multiplier {
                if multiplier.value >= 1.0 && multiplier.value.is_finite() {
                    settings.multiplier = multiplier.value;
                } else {
                    self.push(
                        multiplier.referenced,
                        &field("multiplier"),
                        "must be at least 1, e.g. 2",
                    );
                }
            }
            if let Some(jitter) = retry.value.jitter {
                settings.jitter = jitter;
            }
            settings
        })
    }

    /// `on_error:` fail (default) or continue.
    fn on_error(&mut self, raw: &RawStep, path: &str) -> OnError {
        match raw
            .on_error
            .as_ref()
            .map(|value| (value, value.value.as_str()))
        {
            None | Some((_, "fail")) => OnError::Fail,
            Some((_, "continue")) => OnError::Continue,
            Some((value, other)) => {
                self.push(
                    value.referenced,
                    &format!("{path}.on_error"),
                    format!("unknown on_error \"{other}\": use fail or continue"),
                );
                OnError::Fail
            }
        }
    }
}
