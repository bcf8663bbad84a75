//! `schedules:`, `triggers:`, `events:`, and the built-in tools' sections (`project:`,
//! `memory:`, `validation:`, `modes:`).

use super::*;

impl Compiler<'_> {
    /// `schedules:`, `triggers:` and `events:` (targets are checked once the workflows of
    /// the folder are known: [`crate::schedule::check_targets`]).
    pub(super) fn automation(
        &mut self,
        schedules: &Option<IndexMap<String, Spanned<crate::schedule::ScheduleSpec>>>,
        triggers: &Option<IndexMap<String, Spanned<crate::schedule::TriggerSpec>>>,
        events: &Option<crate::config::raw::RawEvents>,
        config: &mut Config,
    ) {
        for (name, spec) in schedules.iter().flatten() {
            match spec.value.compile(name) {
                Ok(mut schedule) => {
                    (schedule.line, schedule.column) =
                        (spec.referenced.line(), spec.referenced.column());
                    config.schedules.push(schedule);
                }
                Err(problems) => {
                    for (field, message) in problems {
                        self.sink.push(
                            spec.referenced,
                            format!("schedules.{name}.{field}"),
                            message,
                        );
                    }
                }
            }
        }
        for (name, spec) in triggers.iter().flatten() {
            match spec.value.compile(name, &self.base_dir, self.lookup) {
                Ok(mut trigger) => {
                    (trigger.line, trigger.column) =
                        (spec.referenced.line(), spec.referenced.column());
                    config.triggers.push(trigger);
                }
                Err(problems) => {
                    for (field, message) in problems {
                        self.sink.push(
                            spec.referenced,
                            format!("triggers.{name}.{field}"),
                            message,
                        );
                    }
                }
            }
        }
        if let Some(events) = events {
            if let Some(keep) = &events.keep {
                config.events.keep = keep.value;
            }
            if let Some(keep_for) = &events.keep_for
                && let Some(duration) = self.duration(keep_for, "events.keep_for")
            {
                config.events.keep_for = duration;
            }
            if let Some(derive) = &events.derive {
                self.derive(derive, &mut config.events.derive);
            }
        }
    }

    /// `events.derive:`.
    fn derive(
        &mut self,
        raw: &crate::config::raw::RawDerive,
        settings: &mut crate::config::DeriveSettings,
    ) {
        if let Some(enabled) = &raw.enabled {
            settings.enabled = enabled.value;
        }
        if let Some(every) = &raw.every
            && let Some(duration) = self.duration(every, "events.derive.every")
        {
            settings.every = duration;
        }
        if let Some(latency) = &raw.latency {
            if let Some(factor) = &latency.factor {
                if factor.value > 1.0 && factor.value.is_finite() {
                    settings.factor = factor.value;
                } else {
                    self.sink.push(
                        factor.referenced,
                        "events.derive.latency.factor",
                        "must be a number above 1 (e.g. 3: three times its usual p95)",
                    );
                }
            }
            if let Some(above) = &latency.above {
                settings.above = self.duration(above, "events.derive.latency.above");
            }
            if let Some(sustained) = &latency.sustained
                && let Some(duration) =
                    self.duration_or_zero(sustained, "events.derive.latency.for")
            {
                settings.sustained = duration;
            }
            if let Some(min) = &latency.min_calls {
                settings.latency_min_calls = min.value.max(1);
            }
        }
        if let Some(errors) = &raw.errors {
            if let Some(rate) = &errors.rate {
                if rate.value > 0.0 && rate.value <= 1.0 {
                    settings.rate = rate.value;
                } else {
                    self.sink.push(
                        rate.referenced,
                        "events.derive.errors.rate",
                        "must be a share between 0 and 1 (e.g. 0.5: half the calls failed)",
                    );
                }
            }
            if let Some(window) = &errors.window
                && let Some(duration) = self.duration(window, "events.derive.errors.window")
            {
                settings.window = duration;
            }
            if let Some(min) = &errors.min_calls {
                settings.errors_min_calls = min.value.max(1);
            }
        }
    }

    /// `project:`, `memory:`, `validation:` and `modes:`.
    pub(super) fn builtins(
        &mut self,
        project: Option<&crate::config::raw::RawProject>,
        memory: Option<&crate::config::raw::RawMemory>,
        validation: Option<&crate::config::raw::RawValidation>,
        modes: Option<&crate::config::raw::RawModes>,
        config: &mut Config,
    ) {
        config.project.root = self.base_dir.clone();
        if self.base_dir.as_os_str().is_empty() {
            config.project.root = PathBuf::from(".");
        }
        if let Some(project) = project {
            if let Some(root) = &project.root
                && let Some(text) = self.string(root, "project.root")
            {
                config.project.root = self.base_dir.join(text);
            }
            if let Some(limit) = &project.max_read_bytes {
                config.project.max_read_bytes = limit.value;
            }
            if let Some(limit) = &project.max_write_bytes {
                config.project.max_write_bytes = limit.value;
            }
            if let Some(limit) = &project.max_entries {
                config.project.max_entries = limit.value;
            }
        }
        if let Some(memory) = memory {
            if let Some(name) = &memory.default
                && let Some(text) = self.string(name, "memory.default")
            {
                config.memory.default = text;
            }
            if let Some(lines) = &memory.max_lines {
                if lines.value < 10 {
                    self.sink
                        .push(lines.referenced, "memory.max_lines", "must be at least 10");
                } else {
                    config.memory.max_lines = lines.value;
                }
            }
            if let Some(sections) = &memory.sections {
                let mut list = Vec::new();
                for (index, section) in sections.iter().enumerate() {
                    if let Some(text) = self.string(section, &format!("memory.sections[{index}]")) {
                        list.push(text);
                    }
                }
                config.memory.sections = list;
            }
            if let Some(log) = &memory.log_section
                && let Some(text) = self.string(log, "memory.log_section")
            {
                config.memory.log_section = text;
            }
            for (name, shape) in &memory.memories {
                let path = format!("memory.memories.{name}");
                let mut own = config.memory.shape(name);
                if let Some(lines) = &shape.value.max_lines {
                    own.max_lines = lines.value.max(10);
                }
                if let Some(sections) = &shape.value.sections {
                    own.sections = sections
                        .iter()
                        .enumerate()
                        .filter_map(|(i, s)| self.string(s, &format!("{path}.sections[{i}]")))
                        .collect();
                }
                if let Some(log) = &shape.value.log_section
                    && let Some(text) = self.string(log, &format!("{path}.log_section"))
                {
                    own.log_section = text;
                }
                if !own.sections.contains(&own.log_section) {
                    self.sink.push(
                        shape.referenced,
                        format!("{path}.log_section"),
                        format!(
                            "\"{}\" is not one of its sections ({})",
                            own.log_section,
                            own.sections.join(", ")
                        ),
                    );
                }
                config.memory.memories.insert(name.clone(), own);
            }
            if !config.memory.sections.contains(&config.memory.log_section) {
                let at = memory
                    .log_section
                    .as_ref()
                    .map(|s| s.referenced)
                    .or(memory
                        .sections
                        .as_ref()
                        .and_then(|s| s.first())
                        .map(|s| s.referenced))
                    .unwrap_or(Location::UNKNOWN);
                self.sink.push(
                    at,
                    "memory.log_section",
                    format!(
                        "\"{}\" is not one of memory.sections ({})",
                        config.memory.log_section,
                        config.memory.sections.join(", ")
                    ),
                );
            }
        }
        for (name, command) in validation.iter().flat_map(|v| &v.commands) {
            let path = format!("validation.commands.{name}");
            let Some(run) = self.string(&command.value.run, &format!("{path}.run")) else {
                continue;
            };
            let cwd = match &command.value.cwd {
                Some(cwd) => self
                    .string(cwd, &format!("{path}.cwd"))
                    .map(|text| config.project.root.join(text)),
                None => Some(config.project.root.clone()),
            };
            let timeout = match &command.value.timeout {
                Some(timeout) => self.duration(timeout, &format!("{path}.timeout")),
                None => Some(Duration::from_secs(600)),
            };
            let description = command
                .value
                .description
                .as_ref()
                .and_then(|d| self.string(d, &format!("{path}.description")));
            if let (Some(cwd), Some(timeout)) = (cwd, timeout) {
                config.validation.push(ValidationCommand {
                    name: name.clone(),
                    description,
                    run,
                    cwd,
                    timeout,
                    max_output: command.value.max_output.as_ref().map_or(64 * 1024, |m| {
                        usize::try_from(m.value).unwrap_or(usize::MAX)
                    }),
                });
            }
        }
        match modes {
            Some(modes) => self.modes(modes, config),
            // Roo Code keeps its modes in `.roomodes` next to the project: used as is.
            None if self.base_dir.join(".roomodes").is_file() => {
                let implicit = crate::config::raw::RawModes {
                    import: Some(serde_saphyr::Spanned {
                        value: ".roomodes".to_owned(),
                        referenced: Location::UNKNOWN,
                        defined: Location::UNKNOWN,
                    }),
                    definitions: IndexMap::new(),
                };
                self.modes(&implicit, config);
            }
            None => {}
        }
    }

    fn modes(&mut self, raw: &crate::config::raw::RawModes, config: &mut Config) {
        let mut modes: Vec<crate::modes::Mode> = Vec::new();
        if let Some(import) = &raw.import
            && let Some(text) = self.string(import, "modes.import")
        {
            let file = self.base_dir.join(&text);
            match std::fs::read_to_string(&file)
                .map_err(|error| format!("cannot read {}: {error}", file.display()))
                .and_then(|content| crate::modes::parse_roomodes(&file, &content))
            {
                Ok(specs) => {
                    for (slug, spec) in specs {
                        match spec.compile(&slug, &text) {
                            Ok(mode) => modes.push(mode),
                            Err(problems) => {
                                for (field, message) in problems {
                                    self.sink.push(
                                        import.referenced,
                                        "modes.import",
                                        format!("{text}: mode {slug}: {field}: {message}"),
                                    );
                                }
                            }
                        }
                    }
                }
                Err(message) => self.sink.push(import.referenced, "modes.import", message),
            }
        }
        for (slug, spec) in &raw.definitions {
            match spec.value.compile(slug, "baton.yaml") {
                Ok(mode) => {
                    modes.retain(|existing| existing.slug != mode.slug);
                    modes.push(mode);
                }
                Err(problems) => {
                    for (field, message) in problems {
                        self.sink.push(
                            spec.referenced,
                            format!("modes.definitions.{slug}.{field}"),
                            message,
                        );
                    }
                }
            }
        }
        config.modes = modes;
    }
}
