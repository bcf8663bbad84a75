//! `baton init [--from FILE]`: a starter `baton.yaml`, importing the servers of a client's
//! MCP config (Claude Desktop's `mcpServers`, VS Code's `servers` with `inputs`, Cursor's
//! `mcpServers`) found in the usual places or named by `--from`, and the `.roomodes` and
//! `.roo/schedules.json` next to it. The values are written as they are (Baton reads every
//! client's `${…}` dialect), so the result validates wherever the client's config did.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use serde_json::{Map, Value};

use crate::cli::InitArgs;

/// Where clients keep their MCP configs, in the order they are looked at (relative ones
/// from the current folder).
fn candidates() -> Vec<PathBuf> {
    let mut found = vec![
        PathBuf::from(".vscode/mcp.json"),
        PathBuf::from(".cursor/mcp.json"),
        PathBuf::from(".mcp.json"),
    ];
    if let Some(home) = std::env::var_os("HOME").map(PathBuf::from) {
        found.push(home.join(".cursor/mcp.json"));
        found.push(home.join(".config/Claude/claude_desktop_config.json"));
        found.push(home.join("Library/Application Support/Claude/claude_desktop_config.json"));
    }
    found
}

pub fn run(args: InitArgs) -> ExitCode {
    let target = args.output.unwrap_or_else(|| PathBuf::from("baton.yaml"));
    if target.exists() {
        eprintln!(
            "error: {} exists; baton init does not overwrite it (remove it, or write elsewhere with --output)",
            target.display()
        );
        return ExitCode::from(2);
    }
    let source = match args.from {
        Some(from) if !from.exists() => {
            eprintln!("error: --from {}: no such file", from.display());
            return ExitCode::from(2);
        }
        Some(from) => Some(from),
        None => candidates().into_iter().find(|path| path.is_file()),
    };
    let text = match &source {
        Some(source) => match write_from(source, &target) {
            Ok(text) => text,
            Err(message) => {
                eprintln!("error: {}: {message}", source.display());
                return ExitCode::from(2);
            }
        },
        None => STARTER.to_owned(),
    };
    if let Err(error) = std::fs::write(&target, text) {
        eprintln!("error: cannot write {}: {error}", target.display());
        return ExitCode::FAILURE;
    }
    match &source {
        Some(source) => println!(
            "wrote {} from {}; check it with `baton validate`",
            target.display(),
            source.display()
        ),
        None => println!(
            "wrote {} (no client config found in {}; add servers under `servers:`, or run baton init --from FILE)",
            target.display(),
            candidates()
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
    ExitCode::SUCCESS
}

const STARTER: &str = "# baton.yaml: the servers Baton aggregates. `baton validate` checks it; `baton serve` runs it.\n\
servers:\n\
\x20 everything:\n\
\x20   command: npx\n\
\x20   args: [\"-y\", \"@modelcontextprotocol/server-everything\"]\n";

/// The `baton.yaml` for the client config at `source` (written to `target`).
fn write_from(source: &Path, target: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(source).map_err(|error| error.to_string())?;
    let document: Value = serde_json::from_str(&text)
        .map_err(|error| format!("not a client MCP config (JSON): {error}"))?;
    let servers = document
        .get("mcpServers")
        .or_else(|| document.get("servers"))
        .and_then(Value::as_object)
        .ok_or("no `mcpServers` (Claude Desktop, Cursor) or `servers` (VS Code) in it")?;
    let mut out = format!(
        "# baton.yaml, written by `baton init` from {}.\n# Values are as the client had them: ${{env:X}}, ${{userHome}}, ${{workspaceFolder}} and\n# ${{input:ID}} (set BATON_INPUT_<ID>) work as they do there.\nservers:\n",
        source.display()
    );
    for (name, server) in servers {
        let Some(server) = server.as_object() else {
            return Err(format!("server \"{name}\" is not an object"));
        };
        out.push_str(&format!("  {}:\n", json(&Value::String(name.clone()))));
        out.push_str(&server_fields(name, server));
    }
    if let Some(inputs) = document.get("inputs").filter(|inputs| inputs.is_array()) {
        out.push_str(&format!("inputs: {}\n", json(inputs)));
    }
    // A `${workspaceFolder}` means the client's workspace: the folder above `.vscode/`.
    let home = source
        .parent()
        .map(|dir| match dir.file_name().and_then(|n| n.to_str()) {
            Some(".vscode" | ".cursor") => dir.parent().unwrap_or(dir),
            _ => dir,
        })
        .unwrap_or(Path::new("."));
    let roomodes = home.join(".roomodes");
    let mut modes = Vec::new();
    if roomodes.is_file() {
        let text = std::fs::read_to_string(&roomodes).map_err(|error| error.to_string())?;
        modes = baton_core::modes::parse_roomodes(&roomodes, &text)?
            .into_iter()
            .map(|(slug, _)| slug)
            .collect();
        out.push_str(&format!(
            "modes:\n  import: {}\n",
            json(&Value::String(relative_to(&roomodes, target)))
        ));
    }
    let schedules = home.join(".roo/schedules.json");
    if schedules.is_file() {
        out.push_str(&roo_schedules(&schedules, &modes)?);
    }
    Ok(out)
}

/// A server's fields in Baton's terms (`type` → `transport`; the rest as they are).
fn server_fields(name: &str, server: &Map<String, Value>) -> String {
    let mut out = String::new();
    for (key, value) in server {
        let line = match key.as_str() {
            "type" => match value.as_str() {
                Some("stdio") | None => continue,
                Some("http" | "streamable-http" | "streamableHttp") => {
                    "transport: streamable-http".to_owned()
                }
                Some("sse") => "transport: sse".to_owned(),
                Some(other) => {
                    eprintln!("warning: server \"{name}\": type \"{other}\" left out");
                    continue;
                }
            },
            "command" | "args" | "env" | "url" | "headers" | "cwd" | "envFile" | "disabled" => {
                format!("{key}: {}", json(value))
            }
            "autoApprove" | "alwaysAllow" | "timeout" => continue,
            other => {
                eprintln!(
                    "warning: server \"{name}\": `{other}` has no Baton equivalent; left out"
                );
                continue;
            }
        };
        out.push_str(&format!("    {line}\n"));
    }
    out
}

/// Roo's schedules as Baton schedules (those whose mode exists; the others reported).
fn roo_schedules(file: &Path, modes: &[String]) -> Result<String, String> {
    let text = std::fs::read_to_string(file).map_err(|error| error.to_string())?;
    let imported = baton_core::schedule::roo::import(&text)?;
    let mut out = String::new();
    for schedule in &imported {
        let Some((name, spec)) = schedule.spec() else {
            eprintln!(
                "warning: Roo schedule \"{}\" has no time to fire at; left out",
                schedule.name
            );
            continue;
        };
        if let Some(mode) = &spec.mode
            && !modes.contains(mode)
        {
            eprintln!(
                "warning: Roo schedule \"{}\" is for mode \"{mode}\", which no .roomodes defines; left out",
                schedule.name
            );
            continue;
        }
        let spec = serde_json::to_value(&spec).map_err(|error| error.to_string())?;
        out.push_str(&format!(
            "  {}: {}\n",
            json(&Value::String(name)),
            json(&spec)
        ));
    }
    Ok(if out.is_empty() {
        String::new()
    } else {
        format!("schedules:\n{out}")
    })
}

/// JSON is YAML: a value written as JSON reads back the same.
fn json(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// `path` as seen from the folder of `target` (absolute when they share nothing).
fn relative_to(path: &Path, target: &Path) -> String {
    let base = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let (Ok(path), Ok(base)) = (path.canonicalize(), base.canonicalize()) else {
        return path.display().to_string();
    };
    match path.strip_prefix(&base) {
        Ok(inside) => inside.display().to_string(),
        Err(_) => path.display().to_string(),
    }
}
