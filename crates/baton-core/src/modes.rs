//! Modes: named roles (slug, role definition, when to use) with the tool groups they may
//! use — Roo Code's custom modes. Declared under `modes:` in baton.yaml, or imported from a
//! `.roomodes` file (YAML or JSON, `customModes: [...]`), including Roo's restricted groups
//! (`[edit, { fileRegex: '\.md$', description: … }]`). A mode also says how a task is
//! delegated to it: `executor: sampling` (ask the calling client's model) or
//! `executor: { tool: server__agent, prompt_argument: prompt }` (an agent exposed as a tool).

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Tool groups, as Roo names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolGroup {
    /// Reading: files, status, memory, history.
    Read,
    /// Changing files (optionally only those matching `file_regex`).
    Edit,
    Browser,
    /// Running things: validation commands, workflows, recovery actions, schedules.
    Command,
    /// The upstream servers' tools.
    Mcp,
}

impl ToolGroup {
    pub fn parse(text: &str) -> Option<ToolGroup> {
        Some(match text {
            "read" => ToolGroup::Read,
            "edit" => ToolGroup::Edit,
            "browser" => ToolGroup::Browser,
            "command" => ToolGroup::Command,
            "mcp" => ToolGroup::Mcp,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ToolGroup::Read => "read",
            ToolGroup::Edit => "edit",
            ToolGroup::Browser => "browser",
            ToolGroup::Command => "command",
            ToolGroup::Mcp => "mcp",
        }
    }
}

/// One mode as written (Roo's camelCase names accepted).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModeSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(
        default,
        alias = "roleDefinition",
        alias = "role",
        skip_serializing_if = "Option::is_none"
    )]
    pub role_definition: Option<String>,
    #[serde(default, alias = "whenToUse", skip_serializing_if = "Option::is_none")]
    pub when_to_use: Option<String>,
    #[serde(
        default,
        alias = "customInstructions",
        skip_serializing_if = "Option::is_none"
    )]
    pub custom_instructions: Option<String>,
    #[serde(default)]
    pub groups: Vec<Value>,
    /// Roo's `source` (project, global): kept for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<Value>,
}

/// A group a mode may use, perhaps only for some files.
#[derive(Debug, Clone)]
pub struct GroupRule {
    pub group: ToolGroup,
    /// Only paths matching this (Roo's `fileRegex`).
    pub file_regex: Option<regex::Regex>,
    pub description: Option<String>,
}

impl PartialEq for GroupRule {
    fn eq(&self, other: &Self) -> bool {
        self.group == other.group
            && self.file_regex.as_ref().map(regex::Regex::as_str)
                == other.file_regex.as_ref().map(regex::Regex::as_str)
            && self.description == other.description
    }
}

/// How a task delegated to the mode runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Executor {
    /// An MCP sampling request to the client that delegated.
    Sampling { max_tokens: u32 },
    /// An agent exposed as a tool: the prompt goes in `prompt_argument`, with `args`.
    Mcp {
        tool: String,
        prompt_argument: String,
        args: Map<String, Value>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Mode {
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    pub role_definition: String,
    pub when_to_use: Option<String>,
    pub custom_instructions: Option<String>,
    pub groups: Vec<GroupRule>,
    pub executor: Executor,
    /// `baton.yaml`, or the `.roomodes` file it came from.
    pub origin: String,
}

/// Default `max_tokens` of a sampling executor.
pub const DEFAULT_MAX_TOKENS: u32 = 2000;

impl ModeSpec {
    /// Checks the spec; every problem as `(field, message)`.
    pub fn compile(&self, slug: &str, origin: &str) -> Result<Mode, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let valid_slug = !slug.is_empty()
            && slug.len() <= 64
            && slug
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_slug {
            problems.push((
                "slug".to_owned(),
                format!("\"{slug}\" is not a mode slug: use 1 to 64 of a-z A-Z 0-9 - _"),
            ));
        }
        let role_definition = match &self.role_definition {
            Some(role) if !role.trim().is_empty() => role.clone(),
            _ => {
                problems.push((
                    "role_definition".to_owned(),
                    "is missing: say who the mode is (\"You are …\")".to_owned(),
                ));
                String::new()
            }
        };
        let mut groups = Vec::new();
        for (index, group) in self.groups.iter().enumerate() {
            match group_rule(group) {
                Ok(rule) => groups.push(rule),
                Err(message) => problems.push((format!("groups[{index}]"), message)),
            }
        }
        let executor = match executor(self.executor.as_ref()) {
            Ok(executor) => executor,
            Err(message) => {
                problems.push(("executor".to_owned(), message));
                Executor::Sampling {
                    max_tokens: DEFAULT_MAX_TOKENS,
                }
            }
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Mode {
            slug: slug.to_owned(),
            name: self.name.clone().unwrap_or_else(|| slug.to_owned()),
            description: self.description.clone(),
            role_definition,
            when_to_use: self.when_to_use.clone(),
            custom_instructions: self.custom_instructions.clone(),
            groups,
            executor,
            origin: origin.to_owned(),
        })
    }
}

fn group_rule(value: &Value) -> Result<GroupRule, String> {
    let named = |name: &str| {
        ToolGroup::parse(name).ok_or_else(|| {
            format!("unknown tool group \"{name}\": use read, edit, browser, command or mcp")
        })
    };
    match value {
        Value::String(name) => Ok(GroupRule {
            group: named(name)?,
            file_regex: None,
            description: None,
        }),
        // Roo: [edit, { fileRegex: '\.md$', description: … }]
        Value::Array(pair) => {
            let name = pair
                .first()
                .and_then(Value::as_str)
                .ok_or("a restricted group is [name, { fileRegex: …, description: … }]")?;
            let options = pair.get(1).and_then(Value::as_object);
            let pattern = options
                .and_then(|o| o.get("fileRegex").or_else(|| o.get("file_regex")))
                .and_then(Value::as_str);
            let file_regex = pattern
                .map(|pattern| {
                    regex::Regex::new(pattern)
                        .map_err(|error| format!("fileRegex \"{pattern}\" is not a regex: {error}"))
                })
                .transpose()?;
            Ok(GroupRule {
                group: named(name)?,
                file_regex,
                description: options
                    .and_then(|o| o.get("description"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            })
        }
        other => Err(format!(
            "{other} is not a tool group: write read, edit, … or [edit, {{fileRegex: …}}]"
        )),
    }
}

fn executor(value: Option<&Value>) -> Result<Executor, String> {
    let sampling = |max: Option<u64>| Executor::Sampling {
        max_tokens: max
            .and_then(|m| u32::try_from(m).ok())
            .unwrap_or(DEFAULT_MAX_TOKENS),
    };
    match value {
        None => Ok(sampling(None)),
        Some(Value::String(kind)) if kind == "sampling" => Ok(sampling(None)),
        Some(Value::Object(map)) if map.contains_key("sampling") => Ok(sampling(
            map.get("sampling")
                .and_then(|s| s.get("max_tokens"))
                .and_then(Value::as_u64),
        )),
        Some(Value::Object(map)) => {
            let tool = map.get("tool").and_then(Value::as_str).ok_or(
                "an mcp executor names its tool: { tool: server__agent, prompt_argument: prompt }",
            )?;
            Ok(Executor::Mcp {
                tool: tool.to_owned(),
                prompt_argument: map
                    .get("prompt_argument")
                    .and_then(Value::as_str)
                    .unwrap_or("prompt")
                    .to_owned(),
                args: map
                    .get("args")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
            })
        }
        Some(other) => Err(format!(
            "{other} is not an executor: write sampling, or {{ tool: server__agent, prompt_argument: prompt }}"
        )),
    }
}

impl Mode {
    /// Whether the mode may use `group` (for a file, `path` relative to the project root):
    /// `Err` says why not, naming the mode and what it allows.
    pub fn allows(&self, group: ToolGroup, path: Option<&str>) -> Result<(), String> {
        let rules: Vec<&GroupRule> = self.groups.iter().filter(|r| r.group == group).collect();
        if rules.is_empty() {
            let allowed: Vec<&str> = self.groups.iter().map(|r| r.group.as_str()).collect();
            return Err(format!(
                "mode \"{}\" may not use {} tools (its groups: {})",
                self.slug,
                group.as_str(),
                if allowed.is_empty() {
                    "none".to_owned()
                } else {
                    allowed.join(", ")
                }
            ));
        }
        if rules.iter().any(|r| r.file_regex.is_none()) {
            return Ok(());
        }
        let Some(path) = path else {
            return Ok(());
        };
        if rules
            .iter()
            .any(|r| r.file_regex.as_ref().is_some_and(|re| re.is_match(path)))
        {
            return Ok(());
        }
        let limits: Vec<String> = rules
            .iter()
            .map(|r| {
                let pattern = r
                    .file_regex
                    .as_ref()
                    .map(regex::Regex::as_str)
                    .unwrap_or("");
                match &r.description {
                    Some(description) => format!("{pattern} ({description})"),
                    None => pattern.to_owned(),
                }
            })
            .collect();
        Err(format!(
            "mode \"{}\" may {} only files matching {}: \"{path}\" does not",
            self.slug,
            group.as_str(),
            limits.join(" or ")
        ))
    }

    /// The prompt a delegated task starts from: role, custom instructions, the task, and
    /// its context.
    pub fn prompt(&self, instructions: &str, context: Option<&str>) -> String {
        let mut prompt = self.role_definition.trim().to_owned();
        if let Some(custom) = &self.custom_instructions {
            prompt.push_str("\n\n");
            prompt.push_str(custom.trim());
        }
        prompt.push_str("\n\nTask:\n");
        prompt.push_str(instructions.trim());
        if let Some(context) = context.filter(|c| !c.trim().is_empty()) {
            prompt.push_str("\n\nContext:\n");
            prompt.push_str(context.trim());
        }
        prompt
    }

    /// The description shown by `get_mode_capabilities`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "slug": self.slug,
            "name": self.name,
            "description": self.description,
            "role_definition": self.role_definition,
            "when_to_use": self.when_to_use,
            "groups": self.groups.iter().map(|rule| serde_json::json!({
                "group": rule.group.as_str(),
                "file_regex": rule.file_regex.as_ref().map(regex::Regex::as_str),
                "description": rule.description,
            })).collect::<Vec<_>>(),
            "executor": match &self.executor {
                Executor::Sampling { max_tokens } => serde_json::json!({"sampling": {"max_tokens": max_tokens}}),
                Executor::Mcp { tool, prompt_argument, .. } => serde_json::json!({"tool": tool, "prompt_argument": prompt_argument}),
            },
            "origin": self.origin,
        })
    }
}

/// The modes of a `.roomodes` file (YAML or JSON, `customModes: [...]`), by slug.
pub fn parse_roomodes(file: &Path, text: &str) -> Result<Vec<(String, ModeSpec)>, String> {
    let value: Value = serde_json::from_str(text)
        .or_else(|_| serde_saphyr::from_str::<Value>(text))
        .map_err(|error| {
            format!(
                "{}: not a .roomodes file (YAML or JSON): {}",
                file.display(),
                crate::config::first_line(&error.to_string())
            )
        })?;
    let modes = value
        .get("customModes")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{}: expected customModes: [...]", file.display()))?;
    modes
        .iter()
        .enumerate()
        .map(|(index, mode)| {
            let spec: ModeSpec = serde_json::from_value(mode.clone())
                .map_err(|error| format!("{}: customModes[{index}]: {error}", file.display()))?;
            let slug = spec.slug.clone().ok_or_else(|| {
                format!("{}: customModes[{index}]: slug is missing", file.display())
            })?;
            Ok((slug, spec))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Vec<Mode> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/roo/.roomodes");
        let text = std::fs::read_to_string(&path).unwrap();
        parse_roomodes(&path, &text)
            .unwrap()
            .into_iter()
            .map(|(slug, spec)| spec.compile(&slug, ".roomodes").unwrap())
            .collect()
    }

    #[test]
    fn the_sample_roomodes_imports_with_restricted_groups() {
        let modes = fixture();
        let slugs: Vec<&str> = modes.iter().map(|m| m.slug.as_str()).collect();
        assert_eq!(
            slugs,
            [
                "implementation-core",
                "validation-static",
                "planning-analysis"
            ]
        );
        let core = &modes[0];
        assert_eq!(core.name, "🔧 Core Implementation");
        assert!(
            core.role_definition
                .starts_with("You are the core implementation")
        );
        assert!(
            core.custom_instructions
                .as_deref()
                .unwrap()
                .contains("persistent memory")
        );
        assert_eq!(core.groups.len(), 4);
        assert!(core.allows(ToolGroup::Edit, Some("src/main.rs")).is_ok());
        let validation = &modes[1];
        assert!(
            validation
                .allows(ToolGroup::Edit, Some("docs/notes.md"))
                .is_ok()
        );
        let refused = validation
            .allows(ToolGroup::Edit, Some("src/main.rs"))
            .unwrap_err();
        assert!(
            refused.contains("only files matching \\.md$ (Markdown files only)"),
            "{refused}"
        );
        let planning = &modes[2];
        let refused = planning.allows(ToolGroup::Edit, Some("x.md")).unwrap_err();
        assert_eq!(
            refused,
            "mode \"planning-analysis\" may not use edit tools (its groups: read)"
        );
        assert!(planning.allows(ToolGroup::Read, Some("x.md")).is_ok());
        assert_eq!(
            planning.executor,
            Executor::Sampling {
                max_tokens: DEFAULT_MAX_TOKENS
            }
        );
    }

    #[test]
    fn json_roomodes_and_bad_specs() {
        let json = r#"{"customModes": [{"slug": "a", "roleDefinition": "You are A.", "groups": ["read", ["edit", {"fileRegex": "\\.txt$"}]], "executor": {"tool": "agents__run", "prompt_argument": "message"}}]}"#;
        let modes = parse_roomodes(Path::new("m.json"), json).unwrap();
        let mode = modes[0].1.compile("a", "m.json").unwrap();
        assert_eq!(
            mode.executor,
            Executor::Mcp {
                tool: "agents__run".into(),
                prompt_argument: "message".into(),
                args: Map::new()
            }
        );
        assert!(
            mode.prompt("Do it", Some("ctx"))
                .contains("You are A.\n\nTask:\nDo it\n\nContext:\nctx")
        );
        let bad = ModeSpec {
            groups: vec![
                Value::from("fly"),
                serde_json::json!(["edit", {"fileRegex": "("}]),
            ],
            executor: Some(Value::from(7)),
            ..Default::default()
        }
        .compile("bad slug", "x")
        .unwrap_err();
        let all: Vec<String> = bad
            .iter()
            .map(|(field, message)| format!("{field}: {message}"))
            .collect();
        let all = all.join("\n");
        for expected in [
            "not a mode slug",
            "role_definition",
            "unknown tool group \"fly\"",
            "is not a regex",
            "not an executor",
        ] {
            assert!(all.contains(expected), "{expected}: {all}");
        }
        assert!(
            parse_roomodes(Path::new("x"), "[")
                .unwrap_err()
                .contains("not a .roomodes file")
        );
    }
}
