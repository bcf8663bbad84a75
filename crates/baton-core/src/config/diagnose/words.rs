//! serde's and the YAML parser's words turned into plain ones, with the form to write.

use serde_json::Value;

use super::ConfigError;

/// `message` (serde's) about the field `field` whose value is `value`, in plain words.
pub(super) fn plain(message: &str, field: &str, value: &Value) -> String {
    let message = message.trim();
    let wrote = match value {
        Value::Null | Value::Object(_) | Value::Array(_) => None,
        other => Some(flow(other)),
    };
    if message.contains("expected a sequence") || message.contains("sequence start") {
        let example = wrote.unwrap_or_else(|| "first, second".to_owned());
        return format!("expected a list, e.g. {field}: [{example}]");
    }
    if message.contains("expected a map")
        || message.contains("expected struct")
        || message.contains("mapping start")
        || message.contains("expected map")
    {
        return format!(
            "expected a map (indented `key: value` lines, or {field}: {{ key: value }})"
        );
    }
    if message.contains("expected a boolean") {
        return "expected true or false".to_owned();
    }
    let numeric = [
        "expected u",
        "expected i",
        "expected f",
        "an integer",
        "a number",
    ];
    if message.starts_with("invalid type") && numeric.iter().any(|n| message.contains(n)) {
        return format!(
            "expected a number{}",
            wrote.map(|w| format!(", not {w}")).unwrap_or_default()
        );
    }
    if message.starts_with("invalid type") && message.contains("expected a string") {
        return format!(
            "expected text{}",
            wrote
                .map(|w| format!(" (write it in quotes: \"{}\")", w.trim_matches('"')))
                .unwrap_or_default()
        );
    }
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((name, known)) = rest.split_once('`')
    {
        let known = known
            .trim_start_matches(',')
            .trim()
            .trim_start_matches("expected one of ")
            .trim_start_matches("expected ")
            .replace('`', "");
        return format!("unknown field \"{name}\" (known here: {known})");
    }
    if let Some(rest) = message.strip_prefix("missing field `")
        && let Some((name, _)) = rest.split_once('`')
    {
        return format!("missing `{name}:`");
    }
    message.to_owned()
}

/// serde's first error, in plain words when it is one of the shapes [`plain`] knows.
pub(super) fn humanize_first(first: ConfigError) -> ConfigError {
    let field = first.path.rsplit('.').next().unwrap_or("").to_owned();
    let field = if field.is_empty() {
        "field".to_owned()
    } else {
        field
    };
    ConfigError {
        message: plain(&first.message, &field, &Value::Null),
        ..first
    }
}

/// A section written as a list of items with `name:` where a map keyed by name is
/// expected: the map to write.
pub(super) fn list_for_map(section: &str, items: &[Value]) -> String {
    let mut entries = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let mut item = item.clone();
        let name = item
            .as_object_mut()
            .and_then(|map| map.remove("name"))
            .and_then(|name| name.as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("name{}", index + 1));
        entries.push(format!("    {name}: {}", flow(&item)));
    }
    format!(
        "expected a map keyed by name, not a list; write it as:\n  {section}:\n{}",
        entries.join("\n")
    )
}

/// `value` as YAML flow text (`{ every: 1h, tool: baton__status }`).
pub(super) fn flow(value: &Value) -> String {
    match value {
        Value::Object(map) if map.is_empty() => "{}".to_owned(),
        Value::Object(map) => format!(
            "{{ {} }}",
            map.iter()
                .map(|(key, value)| format!("{key}: {}", flow(value)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(flow).collect::<Vec<_>>().join(", ")
        ),
        Value::String(text) if is_plain(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Whether `text` can be written unquoted in YAML flow style and read back as the same
/// string.
fn is_plain(text: &str) -> bool {
    let reserved = ["true", "false", "null", "yes", "no", "on", "off", "~"];
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || "_-./@$".contains(c))
        && !text.starts_with(['-', '.', '@', '$'])
        && text.parse::<f64>().is_err()
        && !reserved.contains(&text.to_lowercase().as_str())
}
