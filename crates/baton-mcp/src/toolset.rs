//! The seam for tools that are not an upstream server's: Baton's own tool sets (status,
//! state, files, system, modes, workflows, schedules) implement [`ToolSet`] and are handed
//! to [`Gateway::start`]. The catalog is built from the upstreams plus these sets; the
//! router knows no set by name: it calls the set that listed the tool. Every call, to a set
//! or upstream, first passes the mode check ([`crate::gateway::guard`]).

use std::sync::Arc;

use baton_core::modes::ToolGroup;
use futures::future::BoxFuture;
use rmcp::{
    ErrorData,
    model::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations},
};
use serde_json::Value;

use crate::gateway::{CallContext, Gateway, SessionScope};

/// The `_meta` key a request names the caller's mode with.
pub const MODE_META: &str = "io.baton/mode";

/// A set of tools Baton answers itself.
pub trait ToolSet: Send + Sync + 'static {
    /// The set's tools, each named `<namespace><separator><name>` (e.g. `baton__status`).
    fn tools(&self, separator: &str) -> Vec<Tool>;

    /// The mode tool group of the tool `name` (without namespace); `None`: any mode may
    /// call it (a mode's own bookkeeping).
    fn group(&self, name: &str) -> Option<ToolGroup>;

    /// A reload put `config` in force; called before the catalog is rebuilt.
    fn reconfigure(&self, _config: &baton_core::Config) {}

    /// Whether the tool `name` (without namespace) runs as an MCP task for a client that
    /// can take one (`None`: never).
    fn task_support(&self, _name: &str) -> Option<baton_core::config::TaskSupport> {
        None
    }

    /// Calls the tool `name` (without namespace).
    fn call<'a>(
        &'a self,
        name: &'a str,
        arguments: JsonObject,
        context: ToolContext<'a>,
    ) -> BoxFuture<'a, Result<CallToolResult, ErrorData>>;
}

/// Who calls a set's tool, and through what.
pub struct ToolContext<'a> {
    /// The gateway the call came through (to reach upstreams, the catalog, statistics).
    pub gateway: &'a Arc<Gateway>,
    /// The caller's session (its mode set by `switch_mode`, its private upstream sessions).
    pub scope: &'a SessionScope,
    /// The request: the caller's peer, progress token, cancellation.
    pub call: &'a CallContext,
    /// The caller's mode, already checked against the tool.
    pub mode: Option<String>,
}

/// What a tool does to the world, for its annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Reads only.
    Read,
    /// Adds or changes state; `idempotent` when repeating it changes nothing more.
    Write { idempotent: bool },
    /// May overwrite or remove something.
    Destructive { idempotent: bool },
}

/// A tool named `<namespace><separator><name>` with its schema (a JSON object; anything
/// else becomes an empty object schema) and the annotations of `effect`.
pub fn tool(
    namespace: &str,
    separator: &str,
    name: &str,
    description: &str,
    schema: Value,
    effect: Effect,
) -> Tool {
    let schema = match schema {
        Value::Object(schema) => schema,
        _ => JsonObject::new(),
    };
    let mut tool = Tool::new(
        format!("{namespace}{separator}{name}"),
        description.to_owned(),
        Arc::new(schema),
    );
    let hints = match effect {
        Effect::Read => ToolAnnotations::new()
            .read_only(true)
            .destructive(false)
            .idempotent(true),
        Effect::Write { idempotent } => ToolAnnotations::new()
            .read_only(false)
            .destructive(false)
            .idempotent(idempotent),
        Effect::Destructive { idempotent } => ToolAnnotations::new()
            .read_only(false)
            .destructive(true)
            .idempotent(idempotent),
    };
    tool.annotations = Some(hints.open_world(false));
    tool
}

/// A tool's answer: the value as `structuredContent` and as pretty JSON text; an error as
/// an `isError` result with the message.
pub fn answer(result: Result<Value, String>) -> CallToolResult {
    match result {
        Ok(value) => {
            let text = serde_json::to_string_pretty(&value).unwrap_or_default();
            let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
            result.structured_content = Some(value);
            result
        }
        Err(error) => CallToolResult::error(vec![ContentBlock::text(error)]),
    }
}
