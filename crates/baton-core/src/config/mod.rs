//! Configuration: read a file (`baton.yaml` or a client's `mcpServers` JSON), parse it into
//! [`raw`] structs, then [`compile`] it into the validated [`Config`], reporting every
//! problem at once with file, line, column and field path.

mod compile;
mod diagnose;
pub(crate) mod error;
mod events;
pub mod interpolate;
mod model;
pub(crate) mod oauth;
pub(crate) mod pool;
pub mod raw;
mod resilience;
pub(crate) mod tasks;

use std::path::{Path, PathBuf};

pub use compile::{STORE_URL_ENV, check_store_url, compile, parse_duration, sha256_hex};
pub use error::{ConfigError, ConfigErrors};
pub use events::{DeriveSettings, EventSettings};
pub use model::*;
pub use oauth::{OAuthConfig, OAuthGrant, loopback_redirect};
pub use pool::Autoscale;
pub use resilience::*;
pub use tasks::{TaskSettings, TaskSupport, TaskSupportRules};

/// The file Baton reads when `--config` is not given.
pub const DEFAULT_CONFIG_FILE: &str = "baton.yaml";

/// Where the configuration comes from: the explicit path, else `./baton.yaml` when it
/// exists, else nothing (built-in server only).
pub fn resolve_path(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_owned());
    }
    let default = PathBuf::from(DEFAULT_CONFIG_FILE);
    default.exists().then_some(default)
}

/// Reads and validates `path` and the workflow files of its `workflows.dir`, taking
/// `${VAR}` values from `lookup`. Every error of every file is reported.
pub fn load(path: &Path, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigErrors> {
    let mut config = load_file(path, lookup)?;
    load_workflow_dir(&mut config)?;
    Ok(config)
}

/// Adds the workflows of `config.workflows.dir` (if the folder exists) and checks them
/// all together (unique names, known sub-workflows, no cycles between workflows).
pub fn load_workflow_dir(config: &mut Config) -> Result<(), ConfigErrors> {
    let servers = config.server_names();
    let context = config.workflow_context(&servers);
    let (mut found, mut errors) = crate::workflow::load_workflows(&config.workflows.dir, context);
    config.workflows.definitions.append(&mut found);
    errors.extend(crate::workflow::check_set(&config.workflows.definitions));
    if errors.is_empty() {
        errors.extend(crate::schedule::check_targets(config));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Reads and validates the one file `path` (inline workflows included).
pub fn load_file(
    path: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        ConfigErrors(vec![ConfigError {
            file: path.to_owned(),
            line: 0,
            column: 0,
            path: String::new(),
            message: format!("cannot read the file: {error}"),
        }])
    })?;
    parse(path, &text, lookup)
}

/// Parses and validates configuration text that came from `path`.
pub fn parse(
    path: &Path,
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let raw: raw::RawConfig = if text.trim().is_empty() {
        raw::RawConfig::default()
    } else {
        serde_saphyr::from_str(text).map_err(|error| {
            let (line, column) = error
                .location()
                .map(|at| (at.line(), at.column()))
                .unwrap_or((0, 0));
            let first = ConfigError {
                file: path.to_owned(),
                line,
                column,
                path: String::new(),
                message: first_line(&error.to_string()),
            };
            diagnose::all_errors(path, text, first, lookup)
        })?
    };
    compile(path, raw, lookup)
}

/// serde-saphyr renders a source snippet under the message; the CLI prints its own
/// location, so keep the headline only.
pub(crate) fn first_line(message: &str) -> String {
    let line = message
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or(message)
        .trim();
    // "error: line 4 column 5: unknown field …": the position is reported separately.
    let line = line.strip_prefix("error: ").unwrap_or(line);
    match line.split_once(": ") {
        Some((position, rest))
            if position.starts_with("line ") && position.contains(" column ") =>
        {
            rest.to_owned()
        }
        _ => line.to_owned(),
    }
}

/// `logging.format` of the file at `path`, read on its own before anything else: logging
/// starts before the configuration is loaded. `None` when the file, the key or a valid value
/// is missing; the full load then reports any error with its position.
pub fn peek_log_format(path: &Path, lookup: &dyn Fn(&str) -> Option<String>) -> Option<LogFormat> {
    #[derive(serde::Deserialize)]
    struct Peek {
        logging: Option<PeekLogging>,
    }
    #[derive(serde::Deserialize)]
    struct PeekLogging {
        format: Option<String>,
    }
    let text = std::fs::read_to_string(path).ok()?;
    let peek: Peek = serde_saphyr::from_str(&text).ok()?;
    let format = peek.logging?.format?;
    LogFormat::parse(&interpolate::interpolate(&format, lookup).ok()?)
}

/// The process environment, for [`load`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[cfg(test)]
mod tests;
