//! Schedules as written ([`ScheduleSpec`]: the same fields in `baton.yaml`, in the store,
//! on the command line and over MCP) and as compiled ([`Schedule`]: timing, target and
//! policies checked). Also the [`Target`] that schedules and triggers share.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Timetable, Timing, parse_cron, parse_time, parse_timezone, parse_weekday};
use crate::config::parse_duration;

/// One schedule as written. Exactly one of `every`, `cron`, `at`; exactly one target:
/// `workflow` (+ `inputs`), `tool` (+ `args`) or `mode` + `task`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// An interval (`10m`), anchored to `start` (else to the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    /// A cron pattern (5 or 6 fields, croner syntax) in `timezone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// One shot at this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// IANA time zone of `cron`, `days` and local times (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// `skip` (default), `buffer_one`, `buffer_all`, `cancel_other`, `allow_all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap: Option<String>,
    /// `none`, `latest` (default), `all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_up: Option<String>,
    /// Missed slots older than this are not caught up (default 7d).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_up_window: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_on_failure: Option<bool>,
    /// Declared paused (config) / created paused (CLI, MCP, import).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    /// The runs' place in the run queue (higher first; default: the workflow's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
}

/// What a schedule or trigger starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Workflow {
        name: String,
        inputs: Map<String, Value>,
    },
    Tool {
        tool: String,
        args: Map<String, Value>,
    },
    /// A task for a mode: delegated through `baton__delegate_task`.
    Mode { mode: String, task: String },
}

impl Target {
    /// `workflow repo-report`, `tool git__git_status`, `mode architect`.
    pub fn label(&self) -> String {
        match self {
            Target::Workflow { name, .. } => format!("workflow {name}"),
            Target::Tool { tool, .. } => format!("tool {tool}"),
            Target::Mode { mode, .. } => format!("mode {mode}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    /// The new slot is skipped (and recorded as skipped).
    Skip,
    /// One slot waits for the running one; later ones are skipped while it waits.
    BufferOne,
    /// Every slot waits, and they run one after another.
    BufferAll,
    /// The running one is cancelled and the new one starts.
    CancelOther,
    /// They run side by side.
    AllowAll,
}

impl Overlap {
    pub const NAMES: [&str; 5] = [
        "skip",
        "buffer_one",
        "buffer_all",
        "cancel_other",
        "allow_all",
    ];

    pub fn parse(text: &str) -> Option<Overlap> {
        Some(match text {
            "skip" => Overlap::Skip,
            "buffer_one" => Overlap::BufferOne,
            "buffer_all" => Overlap::BufferAll,
            "cancel_other" => Overlap::CancelOther,
            "allow_all" => Overlap::AllowAll,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Overlap::Skip => "skip",
            Overlap::BufferOne => "buffer_one",
            Overlap::BufferAll => "buffer_all",
            Overlap::CancelOther => "cancel_other",
            Overlap::AllowAll => "allow_all",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// Slots missed while Baton was down are recorded as missed, none runs.
    None,
    /// One run for the most recent missed slot (within the window).
    Latest,
    /// A run for every missed slot within the window (through the overlap policy).
    All,
}

impl CatchUp {
    pub fn parse(text: &str) -> Option<CatchUp> {
        Some(match text {
            "none" => CatchUp::None,
            "latest" => CatchUp::Latest,
            "all" => CatchUp::All,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CatchUp::None => "none",
            CatchUp::Latest => "latest",
            CatchUp::All => "all",
        }
    }
}

/// Default `catch_up_window`.
pub const DEFAULT_CATCH_UP_WINDOW: Duration = Duration::from_secs(7 * 86_400);
/// `catch_up: all` runs at most this many missed slots.
pub const MAX_CATCH_UP: usize = 1000;
/// The shortest `every:`.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// A checked schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub name: String,
    pub timetable: Timetable,
    pub target: Target,
    pub overlap: Overlap,
    pub catch_up: CatchUp,
    pub catch_up_window: Duration,
    pub pause_on_failure: bool,
    /// The spec it came from (what the store keeps).
    pub spec: ScheduleSpec,
    /// Where baton.yaml declares it (0: added at run time).
    pub line: u64,
    pub column: u64,
}

/// `field: message` problems of a spec, every one found.
pub type Problems = Vec<(String, String)>;

/// Schedule and trigger names: 1 to 64 of `a-z A-Z 0-9 _ - .`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl ScheduleSpec {
    /// Checks every field; all problems at once.
    pub fn compile(&self, name: &str) -> Result<Schedule, Problems> {
        let mut problems = Problems::new();
        let mut problem = |field: &str, message: String| problems.push((field.to_owned(), message));
        if !valid_name(name) {
            problem(
                "name",
                format!("\"{name}\" is not a schedule name: use 1 to 64 of a-z A-Z 0-9 _ - ."),
            );
        }
        let timezone = match self.timezone.as_deref().map(parse_timezone) {
            None => chrono_tz::UTC,
            Some(Ok(tz)) => tz,
            Some(Err(error)) => {
                problem("timezone", error);
                chrono_tz::UTC
            }
        };
        let time = |field: &str, text: &Option<String>, problem: &mut dyn FnMut(&str, String)| {
            text.as_deref()
                .and_then(|text| match parse_time(text, timezone) {
                    Ok(time) => Some(time),
                    Err(error) => {
                        problem(field, error);
                        None
                    }
                })
        };
        let start = time("start", &self.start, &mut problem);
        let until = time("until", &self.until, &mut problem);
        if let (Some(start), Some(until)) = (start, until)
            && until <= start
        {
            problem(
                "until",
                "is not after start: the schedule would never fire".into(),
            );
        }
        let timing = match (&self.every, &self.cron, &self.at) {
            (Some(every), None, None) => match parse_duration(every) {
                Some(interval) if interval >= MIN_INTERVAL => Some(Timing::Every(interval)),
                Some(_) => {
                    problem("every", format!("\"{every}\" is shorter than 1s"));
                    None
                }
                None => {
                    problem(
                        "every",
                        format!("\"{every}\" is not a duration: write e.g. 30s, 10m, 1h or 1d"),
                    );
                    None
                }
            },
            (None, Some(cron), None) => match parse_cron(cron) {
                Ok(cron) => Some(Timing::Cron(Box::new(cron))),
                Err(error) => {
                    problem(
                        "cron",
                        format!(
                            "\"{cron}\" is not a cron pattern: {error} (e.g. \"*/10 8-18 * * 1-5\")"
                        ),
                    );
                    None
                }
            },
            (None, None, Some(_)) => time("at", &self.at, &mut problem).map(Timing::At),
            (None, None, None) => {
                problem(
                    "every",
                    "a schedule needs one of every: (10m), cron: (\"0 9 * * 1-5\") or at: (a time)"
                        .into(),
                );
                None
            }
            _ => {
                problem("every", "give only one of every:, cron: and at:".into());
                None
            }
        };
        let mut days = None;
        if let Some(names) = &self.days {
            let mut parsed = Vec::new();
            for (index, day) in names.iter().enumerate() {
                match parse_weekday(day) {
                    Some(day) => parsed.push(day),
                    None => problem(
                        &format!("days[{index}]"),
                        format!(
                            "\"{day}\" is not a weekday: write mon, tue, wed, thu, fri, sat or sun"
                        ),
                    ),
                }
            }
            if names.is_empty() {
                problem(
                    "days",
                    "is empty: the schedule would never fire (omit days: for every day)".into(),
                );
            }
            days = Some(parsed);
        }
        let jitter = duration_or(
            self.jitter.as_deref(),
            "jitter",
            Duration::ZERO,
            &mut problem,
        );
        let target = target_of(
            &self.workflow,
            &self.inputs,
            &self.tool,
            &self.args,
            &self.mode,
            &self.task,
            &mut problem,
        );
        let overlap = match self.overlap.as_deref() {
            None => Overlap::Skip,
            Some(text) => Overlap::parse(text).unwrap_or_else(|| {
                problem(
                    "overlap",
                    format!(
                        "\"{text}\" is not an overlap policy: use one of {}",
                        Overlap::NAMES.join(", ")
                    ),
                );
                Overlap::Skip
            }),
        };
        let catch_up = match self.catch_up.as_deref() {
            None => CatchUp::Latest,
            Some(text) => CatchUp::parse(text).unwrap_or_else(|| {
                problem(
                    "catch_up",
                    format!("\"{text}\" is not a catch-up policy: use none, latest or all"),
                );
                CatchUp::Latest
            }),
        };
        let catch_up_window = match self.catch_up_window.as_deref() {
            None => DEFAULT_CATCH_UP_WINDOW,
            Some(text) => match parse_duration(text) {
                Some(window) if !window.is_zero() => window,
                _ => {
                    problem(
                        "catch_up_window",
                        format!("\"{text}\" is not a duration: write e.g. 1h or 2d"),
                    );
                    DEFAULT_CATCH_UP_WINDOW
                }
            },
        };
        match (timing, target) {
            (Some(timing), Some(target)) if problems.is_empty() => Ok(Schedule {
                name: name.to_owned(),
                timetable: Timetable {
                    timing,
                    timezone,
                    days,
                    start,
                    until,
                    jitter,
                },
                target,
                overlap,
                catch_up,
                catch_up_window,
                pause_on_failure: self.pause_on_failure.unwrap_or(false),
                spec: self.clone(),
                line: 0,
                column: 0,
            }),
            _ => Err(problems),
        }
    }
}

/// An optional duration field: `default` when absent, a problem (and `default`) when it
/// does not parse.
pub(crate) fn duration_or(
    text: Option<&str>,
    field: &str,
    default: Duration,
    problem: &mut dyn FnMut(&str, String),
) -> Duration {
    match text {
        None => default,
        Some(text) => parse_duration(text).unwrap_or_else(|| {
            problem(
                field,
                format!("\"{text}\" is not a duration: write e.g. 500ms, 30s or 5m"),
            );
            default
        }),
    }
}

/// The one target of a schedule or trigger, or the problems with it.
pub(crate) fn target_of(
    workflow: &Option<String>,
    inputs: &Option<Map<String, Value>>,
    tool: &Option<String>,
    args: &Option<Map<String, Value>>,
    mode: &Option<String>,
    task: &Option<String>,
    problem: &mut dyn FnMut(&str, String),
) -> Option<Target> {
    if inputs.is_some() && workflow.is_none() {
        problem("inputs", "inputs: goes with workflow:".into());
    }
    if args.is_some() && tool.is_none() {
        problem("args", "args: goes with tool:".into());
    }
    if task.is_some() && mode.is_none() {
        problem("task", "task: goes with mode:".into());
    }
    match (workflow, tool, mode) {
        (Some(name), None, None) => Some(Target::Workflow {
            name: name.clone(),
            inputs: inputs.clone().unwrap_or_default(),
        }),
        (None, Some(tool), None) => Some(Target::Tool {
            tool: tool.clone(),
            args: args.clone().unwrap_or_default(),
        }),
        (None, None, Some(mode)) => match task {
            Some(task) if !task.trim().is_empty() => Some(Target::Mode {
                mode: mode.clone(),
                task: task.clone(),
            }),
            _ => {
                problem(
                    "task",
                    "a mode target needs task: (the instructions)".into(),
                );
                None
            }
        },
        (None, None, None) => {
            problem(
                "workflow",
                "nothing to start: give workflow: (with inputs:), tool: (with args:) or mode: with task:"
                    .into(),
            );
            None
        }
        _ => {
            problem(
                "workflow",
                "give only one of workflow:, tool: and mode:".into(),
            );
            None
        }
    }
}
