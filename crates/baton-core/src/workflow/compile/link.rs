//! Linking the compiled steps: needs (explicit, and the steps a template reads), every
//! template checked, dependency order.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use serde_saphyr::Location;

use super::*;

impl WorkflowCompiler<'_, '_> {
    /// Resolves needs (explicit and read by templates), checks every template, and puts
    /// the steps in dependency order.
    pub(super) fn link(
        &mut self,
        pending: Vec<Pending>,
        inputs: &indexmap::IndexMap<String, Input>,
    ) -> Vec<Step> {
        let mut ids: BTreeMap<String, Location> = BTreeMap::new();
        for item in &pending {
            if let Some(first) = ids.insert(item.step.id.clone(), item.at) {
                let _ = first;
                self.push(
                    item.at,
                    &format!("{}.id", item.path),
                    format!("step id \"{}\" is used twice", item.step.id),
                );
            }
        }
        let id_set: BTreeSet<&str> = ids.keys().map(String::as_str).collect();
        let mut steps = Vec::new();
        for item in &pending {
            let mut needs: BTreeSet<String> = BTreeSet::new();
            for (need, at) in &item.needs {
                if need == &item.step.id {
                    self.push(
                        *at,
                        &format!("{}.needs", item.path),
                        "a step cannot need itself",
                    );
                } else if id_set.contains(need.as_str()) {
                    needs.insert(need.clone());
                } else {
                    self.push(
                        *at,
                        &format!("{}.needs", item.path),
                        format!("unknown step \"{need}\"{}", suggest(need, &id_set)),
                    );
                }
            }
            for step in std::iter::once(&item.step).chain(item.step.fallback.as_deref()) {
                let (variables, errors) = self.step_templates(step);
                for (path, message) in errors {
                    self.push(
                        item.at,
                        &format!("{}.{path}", item.path),
                        format!("template error: {message}"),
                    );
                }
                for variable in variables {
                    if let Some(problem) = self.variable_problem(
                        &variable,
                        &id_set,
                        inputs,
                        item.step.for_each.is_some(),
                        &step.locals,
                    ) {
                        self.push(item.at, &item.path, problem);
                    } else if let Some(rest) = variable.strip_prefix("steps.") {
                        let target = rest.split('.').next().unwrap_or(rest);
                        if target == item.step.id {
                            self.push(
                                item.at,
                                &item.path,
                                format!("step \"{target}\" cannot read its own output"),
                            );
                        } else {
                            needs.insert(target.to_owned());
                        }
                    }
                }
            }
            let mut step = item.step.clone();
            step.needs = needs.into_iter().collect();
            steps.push(step);
        }
        match graph::order(&steps) {
            Ok(order) => order
                .into_iter()
                .map(|index| steps[index].clone())
                .collect(),
            Err(cycle) => {
                let at = ids.get(&cycle[0]).copied().unwrap_or(Location::UNKNOWN);
                self.push(
                    at,
                    "steps",
                    format!(
                        "the steps depend on each other in a cycle: {}",
                        cycle.join(" → ")
                    ),
                );
                steps
            }
        }
    }

    fn step_templates(&self, step: &Step) -> (BTreeSet<String>, Vec<(String, String)>) {
        let mut variables = BTreeSet::new();
        let mut errors = Vec::new();
        let env = &self.env;
        match &step.kind {
            StepKind::Tool { args, .. } => {
                template::analyze(env, args, "args", &mut variables, &mut errors)
            }
            StepKind::Workflow { inputs, .. } => {
                template::analyze(env, inputs, "inputs", &mut variables, &mut errors)
            }
            StepKind::Set { values } => {
                template::analyze(env, values, "set", &mut variables, &mut errors)
            }
            StepKind::Sleep { duration } => template::analyze(
                env,
                &Value::String(duration.clone()),
                "sleep",
                &mut variables,
                &mut errors,
            ),
            StepKind::Approval { prompt, .. } => template::analyze(
                env,
                &Value::String(prompt.clone()),
                "approval.prompt",
                &mut variables,
                &mut errors,
            ),
        }
        if let Some(condition) = &step.condition {
            match template::analyze_expression(env, condition) {
                Ok(found) => variables.extend(found),
                Err(message) => errors.push(("if".to_owned(), message)),
            }
        }
        if let Some(ForEach {
            items: Value::String(expression),
            ..
        }) = &step.for_each
        {
            match template::analyze_expression(env, expression) {
                Ok(found) => variables.extend(
                    found
                        .into_iter()
                        .filter(|v| v != "item" && v != "index" && !v.starts_with("item.")),
                ),
                Err(message) => errors.push(("for_each".to_owned(), message)),
            }
        }
        (variables, errors)
    }

    /// What is wrong with a template reading `variable`, if anything.
    pub(super) fn variable_problem(
        &self,
        variable: &str,
        ids: &BTreeSet<&str>,
        inputs: &indexmap::IndexMap<String, Input>,
        in_for_each: bool,
        locals: &serde_json::Map<String, Value>,
    ) -> Option<String> {
        let mut parts = variable.split('.');
        let root = parts.next().unwrap_or_default();
        let next = parts.next();
        match root {
            "inputs" => match next {
                Some(name) if !inputs.contains_key(name) => Some(format!(
                    "template reads unknown input \"{name}\"{}",
                    suggest(name, &inputs.keys().map(String::as_str).collect())
                )),
                _ => None,
            },
            "steps" => match next {
                Some(id) if !ids.contains(id) => Some(format!(
                    "template reads unknown step \"{id}\"{}",
                    suggest(id, ids)
                )),
                _ => None,
            },
            "env" => match next {
                Some(name) if !self.context.env_allow.iter().any(|allowed| allowed == name) => {
                    Some(format!(
                        "template reads env.{name}, which the config does not allow: add it to workflows.env in baton.yaml"
                    ))
                }
                _ => None,
            },
            "item" | "index" if !in_for_each => Some(format!(
                "template reads {root}, which only exists in a step with for_each"
            )),
            "item" | "index" => None,
            local if locals.contains_key(local) => None,
            "run" => None,
            function if template::FUNCTIONS.contains(&function) => None,
            other => Some(format!(
                "template reads \"{other}\", which is not defined: use inputs.NAME, steps.ID.output, env.NAME{}",
                if in_for_each { ", item or index" } else { "" }
            )),
        }
    }
}
