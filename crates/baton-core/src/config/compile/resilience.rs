//! The `resilience:` sections (top level, per server, per tool).

use super::*;
use crate::config::raw::RawAutoTimeout;

impl Compiler<'_> {
    /// `base` with the overrides in `raw` applied.
    pub(super) fn resilience(
        &mut self,
        base: &Resilience,
        raw: Option<&RawResilience>,
        path: &str,
        tools_allowed: bool,
    ) -> Resilience {
        let mut resilience = base.clone();
        let Some(raw) = raw else {
            return resilience;
        };
        resilience.timeouts = self.timeouts(
            base.timeouts,
            raw.timeout.as_ref(),
            raw.max_timeout.as_ref(),
            path,
        );
        if let Some(auto) = &raw.auto_timeout {
            self.auto_timeout(auto, &mut resilience.auto_timeout, path);
        }
        if let Some(restart) = &raw.restart {
            let settings = &mut resilience.restart;
            let field = |name: &str| format!("{path}.restart.{name}");
            for (name, value, target) in [
                (
                    "initial_delay",
                    &restart.initial_delay,
                    &mut settings.initial_delay,
                ),
                ("max_delay", &restart.max_delay, &mut settings.max_delay),
                (
                    "crash_window",
                    &restart.crash_window,
                    &mut settings.crash_window,
                ),
                (
                    "quarantine_retry",
                    &restart.quarantine_retry,
                    &mut settings.quarantine_retry,
                ),
            ] {
                if let Some(value) = value
                    && let Some(duration) = self.duration(value, &field(name))
                {
                    *target = duration;
                }
            }
            if let Some(max_crashes) = &restart.max_crashes {
                if max_crashes.value == 0 {
                    self.sink.push(
                        max_crashes.referenced,
                        field("max_crashes"),
                        "must be at least 1",
                    );
                } else {
                    settings.max_crashes = max_crashes.value;
                }
            }
        }
        if let Some(retry) = &raw.retry {
            let field = |name: &str| format!("{path}.retry.{name}");
            if let Some(attempts) = &retry.attempts {
                if attempts.value == 0 {
                    self.sink.push(
                        attempts.referenced,
                        field("attempts"),
                        "must be at least 1 (1 means no retry)",
                    );
                } else {
                    resilience.retry.attempts = attempts.value;
                }
            }
            if let Some(value) = &retry.initial_delay
                && let Some(duration) = self.duration(value, &field("initial_delay"))
            {
                resilience.retry.initial_delay = duration;
            }
            if let Some(value) = &retry.max_delay
                && let Some(duration) = self.duration(value, &field("max_delay"))
            {
                resilience.retry.max_delay = duration;
            }
            if let Some(on_tool_error) = retry.on_tool_error {
                resilience.retry.on_tool_error = on_tool_error;
            }
        }
        if let Some(breaker) = &raw.breaker {
            resilience.breaker =
                self.breaker(resilience.breaker, breaker, &format!("{path}.breaker"));
        }
        if let Some(concurrency) = &raw.concurrency {
            if let Some(max) = &concurrency.max {
                if max.value == 0 {
                    self.sink.push(
                        max.referenced,
                        format!("{path}.concurrency.max"),
                        "must be at least 1",
                    );
                } else {
                    resilience.concurrency.max_in_flight = max.value;
                }
            }
            if let Some(queue) = &concurrency.queue {
                resilience.concurrency.max_queued = queue.value;
            }
            if let Some(per_replica) = &concurrency.per_replica {
                if per_replica.value == 0 {
                    self.sink.push(
                        per_replica.referenced,
                        format!("{path}.concurrency.per_replica"),
                        "must be at least 1",
                    );
                } else {
                    resilience.concurrency.per_replica = Some(per_replica.value);
                }
            }
        }
        if let Some(ttl) = &raw.cache
            && let Some(duration) = self.duration(ttl, &format!("{path}.cache"))
        {
            resilience.cache_ttl = Some(duration);
        }
        for (name, value, target) in [
            (
                "connect_wait",
                &raw.connect_wait,
                &mut resilience.connect_wait,
            ),
            (
                "connect_timeout",
                &raw.connect_timeout,
                &mut resilience.connect_timeout,
            ),
            ("ping_every", &raw.ping_every, &mut resilience.ping_every),
        ] {
            if let Some(value) = value
                && let Some(duration) = self.duration(value, &format!("{path}.{name}"))
            {
                *target = duration;
            }
        }
        if let Some(size) = &raw.max_message_bytes
            && let Some(bytes) = self.size(size, &format!("{path}.max_message_bytes"))
        {
            resilience.max_message_bytes = bytes;
        }
        if let Some(degrade) = &raw.degrade {
            match degrade.value.as_str() {
                "fail_fast" | "fail-fast" => resilience.degrade = Degrade::FailFast,
                "hide" => resilience.degrade = Degrade::Hide,
                other => self.sink.push(
                    degrade.referenced,
                    format!("{path}.degrade"),
                    format!("unknown degrade \"{other}\": use fail_fast or hide"),
                ),
            }
        }
        for (tool, overrides) in &raw.tools {
            let tool_path = format!("{path}.tools.{tool}");
            if !tools_allowed {
                self.sink.push(
                    Location::UNKNOWN,
                    tool_path,
                    "per-tool settings belong under a server's `resilience:`, not the top-level one",
                );
                continue;
            }
            let timeouts = self.timeouts(
                resilience.timeouts,
                overrides.timeout.as_ref(),
                overrides.max_timeout.as_ref(),
                &tool_path,
            );
            resilience.tool_timeouts.insert(tool.clone(), timeouts);
            if !overrides.fallback.is_empty() {
                let names: Vec<String> = overrides
                    .fallback
                    .iter()
                    .enumerate()
                    .filter_map(|(index, name)| {
                        let field = format!("{tool_path}.fallback[{index}]");
                        let name = self.string(name, &field)?;
                        Some(name)
                    })
                    .collect();
                resilience.tool_fallbacks.insert(tool.clone(), names);
            }
            if let Some(ttl) = &overrides.cache
                && let Some(duration) = self.duration(ttl, &format!("{tool_path}.cache"))
            {
                resilience.tool_cache_ttl.insert(tool.clone(), duration);
            }
            if let Some(breaker) = &overrides.breaker
                && let Some(settings) =
                    self.breaker(resilience.breaker, breaker, &format!("{tool_path}.breaker"))
            {
                resilience.tool_breakers.insert(tool.clone(), settings);
            }
            if let Some(on_error) = overrides.retry_on_error {
                resilience
                    .tool_retry_on_error
                    .insert(tool.clone(), on_error);
            }
            if let Some(mode) = &overrides.retry {
                let mode = match mode.value.as_str() {
                    "auto" => Some(RetryMode::Auto),
                    "always" => Some(RetryMode::Always),
                    "never" => Some(RetryMode::Never),
                    other => {
                        self.sink.push(
                            mode.referenced,
                            format!("{tool_path}.retry"),
                            format!("unknown retry \"{other}\": use auto, always or never"),
                        );
                        None
                    }
                };
                if let Some(mode) = mode {
                    resilience.tool_retry.insert(tool.clone(), mode);
                }
            }
        }
        resilience
    }

    /// `base` (or the defaults) with the overrides in `raw`; `None` when it turns it off.
    fn breaker(
        &mut self,
        base: Option<BreakerSettings>,
        raw: &RawBreaker,
        path: &str,
    ) -> Option<BreakerSettings> {
        let field = |name: &str| format!("{path}.{name}");
        if raw.enabled == Some(false) {
            return None;
        }
        let mut settings = base.unwrap_or_default();
        if let Some(failures) = &raw.failures {
            if failures.value == 0 {
                self.sink
                    .push(failures.referenced, field("failures"), "must be at least 1");
            } else {
                settings.failures = failures.value;
            }
        }
        if let Some(rate) = &raw.failure_rate {
            if rate.value > 0.0 && rate.value <= 1.0 {
                settings.failure_rate = rate.value;
            } else {
                self.sink.push(
                    rate.referenced,
                    field("failure_rate"),
                    "must be a share above 0 and at most 1, e.g. 0.5",
                );
            }
        }
        if let Some(min_calls) = &raw.min_calls {
            settings.min_calls = min_calls.value.max(1);
        }
        if let Some(value) = &raw.window
            && let Some(duration) = self.duration(value, &field("window"))
        {
            settings.window = duration;
        }
        if let Some(value) = &raw.open_for
            && let Some(duration) = self.duration(value, &field("open_for"))
        {
            settings.open_for = duration;
        }
        Some(settings)
    }

    fn auto_timeout(&mut self, raw: &RawAutoTimeout, into: &mut AutoTimeout, path: &str) {
        if let Some(factor) = &raw.factor {
            if factor.value >= 1.0 && factor.value.is_finite() {
                into.factor = factor.value;
            } else {
                self.sink.push(
                    factor.referenced,
                    format!("{path}.auto_timeout.factor"),
                    "must be at least 1 (the budget is the p99 latency times it)",
                );
            }
        }
        if let Some(min) = &raw.min
            && let Some(duration) = self.duration(min, &format!("{path}.auto_timeout.min"))
        {
            into.min = duration;
        }
        if let Some(calls) = &raw.min_calls {
            into.min_calls = calls.value;
        }
    }

    fn timeouts(
        &mut self,
        base: Timeouts,
        idle: Option<&SpannedString>,
        total: Option<&SpannedString>,
        path: &str,
    ) -> Timeouts {
        let mut timeouts = base;
        if let Some(idle) = idle
            && idle.value == "auto"
        {
            // Learned from the latency seen; the inherited timeout until then.
            timeouts.auto = true;
        } else if let Some(idle) = idle
            && let Some(duration) = self.duration(idle, &format!("{path}.timeout"))
        {
            timeouts.auto = false;
            timeouts.idle = duration;
            timeouts.total = timeouts.total.max(duration);
        }
        if let Some(total) = total
            && let Some(duration) = self.duration(total, &format!("{path}.max_timeout"))
        {
            if duration < timeouts.idle {
                self.sink.push(
                    total.referenced,
                    format!("{path}.max_timeout"),
                    "max_timeout must not be shorter than timeout",
                );
            } else {
                timeouts.total = duration;
            }
        }
        timeouts
    }
}
