//! The check every tool call passes before it is routed, to a tool set or an upstream
//! alike: a caller in a mode (`switch_mode`, or `_meta["io.baton/mode"]`) may use only the
//! mode's tool groups. The authentication work adds its access rules here.

use baton_core::{Config, modes::ToolGroup};
use rmcp::model::JsonObject;
use serde_json::Value;

/// Whether `mode` may call a tool of `group` (`None`: any mode may) with `arguments`.
pub fn check_mode(
    config: &Config,
    mode: &str,
    group: Option<ToolGroup>,
    arguments: Option<&JsonObject>,
) -> Result<(), String> {
    let Some(mode) = config.mode(mode) else {
        return Err(unknown_mode(config, mode));
    };
    let Some(group) = group else {
        return Ok(());
    };
    let path = arguments
        .and_then(|args| args.get("path"))
        .and_then(Value::as_str);
    mode.allows(group, path)
}

/// The refusal for a mode that is not declared.
pub fn unknown_mode(config: &Config, mode: &str) -> String {
    let known: Vec<&str> = config.modes.iter().map(|m| m.slug.as_str()).collect();
    format!(
        "unknown mode \"{mode}\" (modes: {}; declare them under modes: in baton.yaml)",
        if known.is_empty() {
            "none".to_owned()
        } else {
            known.join(", ")
        }
    )
}
