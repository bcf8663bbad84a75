//! A workflow's place in the run queue: `concurrency:` (a limit per key, the key a
//! template over the run's inputs).

use std::collections::BTreeSet;

use super::WorkflowCompiler;
use crate::workflow::{Concurrency, Input, raw::RawWorkflow, template};

impl WorkflowCompiler<'_, '_> {
    pub(super) fn concurrency(
        &mut self,
        raw: &RawWorkflow,
        inputs: &indexmap::IndexMap<String, Input>,
    ) -> Option<Concurrency> {
        let spanned = raw.concurrency.as_ref()?;
        let limit = match &spanned.value.limit {
            None => 1,
            Some(limit) if limit.value == 0 => {
                self.push(
                    limit.referenced,
                    "concurrency.limit",
                    "must be at least 1 (leave `concurrency:` out for no limit)",
                );
                return None;
            }
            Some(limit) => limit.value,
        };
        let key = spanned.value.key.as_ref().map(|key| {
            let mut variables = BTreeSet::new();
            let mut errors = Vec::new();
            let text = serde_json::Value::String(key.value.clone());
            template::analyze(
                &self.env,
                &text,
                "concurrency.key",
                &mut variables,
                &mut errors,
            );
            for (path, message) in errors {
                self.push(key.referenced, &path, format!("template error: {message}"));
            }
            for variable in &variables {
                let root = variable.split('.').next().unwrap_or_default();
                let problem = if matches!(root, "inputs" | "env") {
                    self.variable_problem(
                        variable,
                        &BTreeSet::new(),
                        inputs,
                        false,
                        &serde_json::Map::new(),
                    )
                } else if template::FUNCTIONS.contains(&root) {
                    None
                } else {
                    Some(format!(
                        "the key is computed when the run is created, from its inputs: it can read inputs.NAME and env.NAME, not {variable}"
                    ))
                };
                if let Some(problem) = problem {
                    self.push(key.referenced, "concurrency.key", problem);
                }
            }
            key.value.clone()
        });
        Some(Concurrency { limit, key })
    }
}
