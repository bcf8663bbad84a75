//! Project files as tools, confined to `project.root`: `read_project_file`,
//! `write_project_file`, `list_project_structure`, `search_in_files`, `backup_file`,
//! `restore_file` (the sandbox itself is `baton_builtins::files`).

use baton_builtins::files::{
    Limits, ListOptions, ReadOptions, Sandbox, SearchOptions, WriteOptions,
};
use rmcp::model::{JsonObject, Tool};
use serde_json::{Value, json};

use baton_core::modes::ToolGroup;
use baton_mcp::{Gateway, ToolContext, ToolSet};
use futures::future::BoxFuture;
use rmcp::{ErrorData, model::CallToolResult};

use super::{Effect, boxed, tool};

/// The project's files, confined to `project.root`.
#[derive(Debug)]
pub struct FilesSet;

impl ToolSet for FilesSet {
    fn tools(&self, separator: &str) -> Vec<Tool> {
        tools(separator)
    }

    fn group(&self, name: &str) -> Option<ToolGroup> {
        Some(if is_edit_tool(name) {
            ToolGroup::Edit
        } else {
            ToolGroup::Read
        })
    }

    fn call<'a>(
        &'a self,
        name: &'a str,
        arguments: JsonObject,
        context: ToolContext<'a>,
    ) -> BoxFuture<'a, Result<CallToolResult, ErrorData>> {
        boxed(call(context.gateway, name, arguments))
    }
}

pub const READ_PROJECT_FILE: &str = "read_project_file";
pub const WRITE_PROJECT_FILE: &str = "write_project_file";
pub const LIST_PROJECT_STRUCTURE: &str = "list_project_structure";
pub const SEARCH_IN_FILES: &str = "search_in_files";
pub const BACKUP_FILE: &str = "backup_file";
pub const RESTORE_FILE: &str = "restore_file";

/// The tools that change files (a mode needs the `edit` group, and its `fileRegex` must
/// match `path`).
pub fn is_edit_tool(name: &str) -> bool {
    matches!(name, WRITE_PROJECT_FILE | BACKUP_FILE | RESTORE_FILE)
}

/// The configured sandbox.
pub fn sandbox(gateway: &Gateway) -> Result<Sandbox, String> {
    let config = gateway.config();
    let project = &config.project;
    let limits = Limits {
        max_read_bytes: project.max_read_bytes,
        max_write_bytes: project.max_write_bytes,
        max_entries: project.max_entries as usize,
        ..Limits::default()
    };
    Sandbox::new(&project.root, limits).map_err(|error| {
        format!("{error} (set project.root in baton.yaml to the project's folder)")
    })
}

pub fn tools(separator: &str) -> Vec<Tool> {
    let path = json!({"type": "string", "description": "Relative to the project root."});
    vec![
        tool(
            separator,
            READ_PROJECT_FILE,
            "Reads a file of the project (no path leaves the project root): utf8 text or base64, optionally a byte range (offset, length); with its size, modification time and sha256 (pass it to write_project_file as expected_sha256 to refuse overwriting a newer version).",
            json!({
                "type": "object",
                "properties": {
                    "path": path,
                    "encoding": {"type": "string", "enum": ["utf8", "base64"]},
                    "offset": {"type": "integer", "minimum": 0},
                    "length": {"type": "integer", "minimum": 0}
                },
                "required": ["path"],
                "additionalProperties": false
            }),
            Effect::Read,
        ),
        tool(
            separator,
            WRITE_PROJECT_FILE,
            "Writes a file of the project atomically (temporary file, then rename). The previous version is backed up first (restore it with restore_file). expected_sha256 refuses the write when the file changed since it was read; create_dirs makes missing folders.",
            json!({
                "type": "object",
                "properties": {
                    "path": path,
                    "content": {"type": "string"},
                    "encoding": {"type": "string", "enum": ["utf8", "base64"]},
                    "create_dirs": {"type": "boolean"},
                    "expected_sha256": {"type": "string"},
                    "backup": {"type": "boolean", "description": "Back up the previous version (default true)."}
                },
                "required": ["path", "content"],
                "additionalProperties": false
            }),
            Effect::Destructive { idempotent: true },
        ),
        tool(
            separator,
            LIST_PROJECT_STRUCTURE,
            "Lists the project's files and folders recursively (honouring .gitignore), with globs, excludes, a depth and an entry limit.",
            json!({
                "type": "object",
                "properties": {
                    "path": path,
                    "globs": {"type": "array", "items": {"type": "string"}},
                    "exclude": {"type": "array", "items": {"type": "string"}},
                    "max_depth": {"type": "integer", "minimum": 0},
                    "max_entries": {"type": "integer", "minimum": 1},
                    "include_hidden": {"type": "boolean"},
                    "respect_gitignore": {"type": "boolean"}
                },
                "additionalProperties": false
            }),
            Effect::Read,
        ),
        tool(
            separator,
            SEARCH_IN_FILES,
            "Searches the project's files for a regular expression (or a fixed string), with globs, excludes, context lines and a match limit; honours .gitignore, skips binary files.",
            json!({
                "type": "object",
                "properties": {
                    "pattern": {"type": "string", "minLength": 1},
                    "path": path,
                    "globs": {"type": "array", "items": {"type": "string"}},
                    "exclude": {"type": "array", "items": {"type": "string"}},
                    "case_insensitive": {"type": "boolean"},
                    "fixed_strings": {"type": "boolean"},
                    "context_lines": {"type": "integer", "minimum": 0, "maximum": 20},
                    "max_matches": {"type": "integer", "minimum": 1}
                },
                "required": ["pattern"],
                "additionalProperties": false
            }),
            Effect::Read,
        ),
        tool(
            separator,
            BACKUP_FILE,
            "Backs up a project file now (kept under .baton/backups; the newest 20 per file). Without `list`, makes a backup; with `list: true`, lists the file's backups, newest first.",
            json!({
                "type": "object",
                "properties": {"path": path, "list": {"type": "boolean"}},
                "required": ["path"],
                "additionalProperties": false
            }),
            Effect::Write { idempotent: false },
        ),
        tool(
            separator,
            RESTORE_FILE,
            "Restores a project file from a backup (the newest, or backup_id); `list: true` lists the file's backups (newest first) instead. The current version is backed up first, so a restore can be undone.",
            json!({
                "type": "object",
                "properties": {"path": path, "backup_id": {"type": "string"}, "list": {"type": "boolean"}},
                "required": ["path"],
                "additionalProperties": false
            }),
            Effect::Destructive { idempotent: false },
        ),
    ]
}

fn options<T: serde::de::DeserializeOwned>(
    arguments: &JsonObject,
    skip: &[&str],
) -> Result<T, String> {
    let mut map = arguments.clone();
    for key in skip {
        map.remove(*key);
    }
    serde_json::from_value(Value::Object(map))
        .map_err(|error| format!("invalid arguments: {error}"))
}

fn text(arguments: &JsonObject, key: &str) -> Result<String, String> {
    arguments
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("{key} is required"))
}

fn to_json<T: serde::Serialize>(value: T) -> Result<Value, String> {
    serde_json::to_value(value).map_err(|error| error.to_string())
}

/// Runs one of these tools (on a blocking thread: the sandbox uses std::fs).
pub async fn call(gateway: &Gateway, name: &str, arguments: JsonObject) -> Result<Value, String> {
    let sandbox = sandbox(gateway)?;
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || run(&sandbox, &name, &arguments))
        .await
        .map_err(|error| error.to_string())?
}

fn run(sandbox: &Sandbox, name: &str, arguments: &JsonObject) -> Result<Value, String> {
    let error = |error: baton_builtins::files::FileError| error.to_string();
    match name {
        READ_PROJECT_FILE => {
            let path = text(arguments, "path")?;
            let options: ReadOptions = options(arguments, &["path"])?;
            to_json(sandbox.read(&path, &options).map_err(error)?)
        }
        WRITE_PROJECT_FILE => {
            let path = text(arguments, "path")?;
            let content = text(arguments, "content")?;
            let options: WriteOptions = options(arguments, &["path", "content"])?;
            to_json(sandbox.write(&path, &content, &options).map_err(error)?)
        }
        LIST_PROJECT_STRUCTURE => {
            let path = arguments
                .get("path")
                .and_then(Value::as_str)
                .unwrap_or(".")
                .to_owned();
            let options: ListOptions = options(arguments, &["path"])?;
            to_json(sandbox.list(&path, &options).map_err(error)?)
        }
        SEARCH_IN_FILES => {
            let pattern = text(arguments, "pattern")?;
            let options: SearchOptions = options(arguments, &["pattern"])?;
            to_json(sandbox.search(&pattern, &options).map_err(error)?)
        }
        BACKUP_FILE | RESTORE_FILE
            if arguments.get("list").and_then(Value::as_bool) == Some(true) =>
        {
            let path = text(arguments, "path")?;
            let backups = sandbox.backups(&path).map_err(error)?;
            Ok(json!({ "path": path, "backups": to_json(backups)? }))
        }
        BACKUP_FILE => {
            let path = text(arguments, "path")?;
            to_json(sandbox.backup(&path).map_err(error)?)
        }
        RESTORE_FILE => {
            let path = text(arguments, "path")?;
            let id = arguments.get("backup_id").and_then(Value::as_str);
            to_json(sandbox.restore(&path, id).map_err(error)?)
        }
        other => Err(format!("unknown tool {other}")),
    }
}
