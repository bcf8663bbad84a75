//! `tasks:` and `servers.NAME.task_support` / `upstream_task_support`.

use super::*;
use crate::config::tasks::{
    RawTaskSupport, RawTasks, SpannedTaskSupport, TaskSettings, TaskSupport, TaskSupportRules,
};

impl Compiler<'_> {
    pub(super) fn tasks(&mut self, raw: &RawTasks, settings: &mut TaskSettings) {
        for (value, field, slot) in [
            (&raw.ttl, "tasks.ttl", &mut settings.ttl),
            (&raw.max_ttl, "tasks.max_ttl", &mut settings.max_ttl),
            (
                &raw.poll_interval,
                "tasks.poll_interval",
                &mut settings.poll_interval,
            ),
        ] {
            if let Some(value) = value
                && let Some(duration) = self.duration(value, field)
            {
                *slot = duration;
            }
        }
        if settings.ttl > settings.max_ttl
            && let Some(ttl) = &raw.ttl
        {
            self.sink.push(
                ttl.referenced,
                "tasks.ttl",
                "is longer than tasks.max_ttl: shorten it or raise max_ttl",
            );
        }
    }

    pub(super) fn task_support(
        &mut self,
        path: &str,
        name: &str,
        raw: Option<&SpannedTaskSupport>,
    ) -> TaskSupportRules {
        let mut rules = TaskSupportRules::default();
        let Some(raw) = raw else {
            return rules;
        };
        let field = format!("{path}.{name}");
        let upstream = name == "upstream_task_support";
        let parse = |text: &str, field: &str, sink: &mut ErrorSink| {
            let support = TaskSupport::parse(text);
            if support.is_none() {
                sink.push(
                    raw.referenced,
                    field,
                    format!(
                        "\"{text}\" is not a task support: write {}",
                        TaskSupport::NAMES.join(", ")
                    ),
                );
            }
            if upstream && support == Some(TaskSupport::AfterInput) {
                sink.push(
                    raw.referenced,
                    field,
                    "after_input is what Baton offers its clients (task_support), not how the upstream runs a tool: write optional or required",
                );
                return None;
            }
            support
        };
        match &raw.value {
            RawTaskSupport::All(text) => rules.all = parse(text, &field, self.sink),
            RawTaskSupport::Tools(tools) => {
                for (tool, text) in tools {
                    let support = parse(text, &format!("{field}.{tool}"), self.sink);
                    match (tool.as_str(), support) {
                        ("*", support) => rules.all = support,
                        (_, Some(support)) => {
                            rules.tools.insert(tool.clone(), support);
                        }
                        (_, None) => {}
                    }
                }
            }
        }
        rules
    }
}
