//! When the file does not even deserialize (an unknown field, a wrong type), serde stops
//! at the first problem. This second, looser pass finds the problems in every server
//! entry and section, so the user sees them all at once.

use std::path::Path;

use indexmap::IndexMap;
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::Value;
use serde_saphyr::Spanned;

use super::{
    error::{ConfigError, ConfigErrors},
    raw::{RawNamespace, RawServe, RawServer},
};

/// Every section as untyped values, each with its position.
#[derive(Deserialize)]
struct LooseConfig {
    #[serde(default)]
    servers: Option<IndexMap<String, Spanned<Value>>>,
    #[serde(default, rename = "mcpServers")]
    mcp_servers: Option<IndexMap<String, Spanned<Value>>>,
    #[serde(default)]
    namespace: Option<Spanned<Value>>,
    #[serde(default)]
    serve: Option<Spanned<Value>>,
}

/// All structural errors in `text`, or `first` (serde's own error) when this pass cannot
/// do better.
pub(super) fn all_errors(path: &Path, text: &str, first: ConfigError) -> ConfigErrors {
    let Ok(loose) = serde_saphyr::from_str::<LooseConfig>(text) else {
        return ConfigErrors(vec![first]);
    };
    let mut errors = Vec::new();
    let mut check =
        |section: String, value: &Spanned<Value>, parse: &dyn Fn(Value) -> Result<(), String>| {
            if let Err(message) = parse(value.value.clone()) {
                errors.push(ConfigError {
                    file: path.to_owned(),
                    line: value.referenced.line(),
                    column: value.referenced.column(),
                    path: section,
                    message,
                });
            }
        };
    for (section, servers) in [
        ("servers", &loose.servers),
        ("mcpServers", &loose.mcp_servers),
    ] {
        for (name, server) in servers.iter().flatten() {
            check(format!("{section}.{name}"), server, &typed::<RawServer>);
        }
    }
    if let Some(namespace) = &loose.namespace {
        check("namespace".to_owned(), namespace, &typed::<RawNamespace>);
    }
    if let Some(serve) = &loose.serve {
        check("serve".to_owned(), serve, &typed::<RawServe>);
    }
    errors.sort_by_key(|error| (error.line, error.column));
    // serde's own error points at the exact field: it replaces this pass's error for the
    // section it falls in (the last one starting at or before it), and stands alone when
    // it falls outside every section (an unknown top-level key).
    let owner = errors
        .iter()
        .rposition(|error| (error.line, error.column) <= (first.line, first.column));
    match owner {
        Some(index) if first.line > 0 => {
            let section = std::mem::take(&mut errors[index].path);
            errors[index] = ConfigError {
                path: section,
                ..first
            };
        }
        _ => errors.insert(0, first),
    }
    ConfigErrors(errors)
}

/// Deserializes one section, naming the field that failed.
fn typed<T: DeserializeOwned>(value: Value) -> Result<(), String> {
    serde_path_to_error::deserialize::<_, T>(value)
        .map(drop)
        .map_err(|error| {
            let field = error.path().to_string();
            let message = error.inner().to_string();
            if field == "." {
                message
            } else {
                format!("{field}: {message}")
            }
        })
}
