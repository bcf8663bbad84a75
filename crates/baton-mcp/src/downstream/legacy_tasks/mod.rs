//! The 2025-11-25 task methods (SEP-1686) for legacy clients, served from the same store as
//! the 2026-07-28 extension. rmcp 3.11 speaks only the extension: it drops a `tools/call`'s
//! `params.task`, knows no `tasks/result` or `tasks/list`, refuses `tasks/get` and
//! `tasks/cancel` to a client that did not declare the extension, and its types have no
//! `capabilities.tasks` and no tool `execution`. So every downstream transport passes its
//! messages through this shim ([`LegacyTasks`]):
//! - **inbound**, a request of the legacy era (no 2026-07-28 `protocolVersion` in its
//!   `_meta`) that is a task-augmented `tools/call`, one of the four `tasks/*` methods, or
//!   `tools/list` is renamed `baton/legacy/<method>`, which rmcp hands to the session's
//!   handler as a custom request; the handler answers it in the legacy shapes
//!   ([`methods`]);
//! - **outbound**, the `initialize` answer of a 2025-11-25 (or later) session gains
//!   `capabilities.tasks` (list, cancel, task-augmented `tools/call`).
//!
//! Only when the gateway keeps tasks: without a backend nothing is rewritten. The check of a
//! message that is none of these is two substring searches.

pub(super) mod methods;

use std::sync::{Arc, Weak};

use rmcp::{
    RoleServer,
    model::{CustomResult, JsonRpcMessage, ServerJsonRpcMessage, ServerResult},
};
use serde_json::{Value, json};

use crate::{gateway::Gateway, lines::WireAdapter};

/// The prefix of the methods a legacy task request is renamed to.
pub(crate) const PREFIX: &str = "baton/legacy/";

/// A legacy client's `tools/list`, renamed.
pub(crate) const TOOLS_LIST: &str = "baton/legacy/tools/list";

/// The first protocol version with tasks.
const TASKS_SINCE: &str = "2025-11-25";

/// The request `_meta` key a 2026-07-28 request names its version under.
const PROTOCOL_VERSION_META: &str = "io.modelcontextprotocol/protocolVersion";

/// The shim of one downstream transport (see the module's documentation).
pub struct LegacyTasks {
    gateway: Weak<Gateway>,
}

impl LegacyTasks {
    pub fn new(gateway: &Arc<Gateway>) -> Arc<LegacyTasks> {
        Arc::new(LegacyTasks {
            gateway: Arc::downgrade(gateway),
        })
    }

    fn serving(&self) -> bool {
        self.gateway
            .upgrade()
            .is_some_and(|gateway| gateway.tasks().is_some())
    }

    /// The request to hand to rmcp instead of `message`, if it is a legacy task request.
    pub fn inbound(&self, message: &[u8]) -> Option<Vec<u8>> {
        if !self.serving() {
            return None;
        }
        rename(message)
    }

    /// Adds `capabilities.tasks` to a 2025-11-25 session's `initialize` answer.
    pub fn outbound(&self, message: &mut ServerJsonRpcMessage) {
        if self.serving() {
            advertise(message);
        }
    }
}

impl WireAdapter<RoleServer> for LegacyTasks {
    fn inbound(&self, message: &[u8]) -> Option<Vec<u8>> {
        LegacyTasks::inbound(self, message)
    }

    fn outbound(&self, message: &mut ServerJsonRpcMessage) {
        LegacyTasks::outbound(self, message);
    }
}

/// `message` with its method renamed `baton/legacy/<method>` when it is a legacy-era
/// task-augmented `tools/call`, `tasks/get|result|list|cancel` or `tools/list`.
fn rename(message: &[u8]) -> Option<Vec<u8>> {
    use memchr::memmem::Finder;
    use std::sync::LazyLock;
    // Built once: building a searcher costs more than searching a small message.
    static TASK: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"task"));
    static LIST: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"tools/list"));
    if TASK.find(message).is_none() && LIST.find(message).is_none() {
        return None;
    }
    let mut value: Value = serde_json::from_slice(message).ok()?;
    let object = value.as_object_mut()?;
    let method = object.get("method")?.as_str()?;
    let params = object.get("params");
    let modern = params
        .and_then(|params| params.get("_meta"))
        .and_then(|meta| meta.get(PROTOCOL_VERSION_META))
        .and_then(Value::as_str)
        .is_some_and(|version| version >= "2026-07-28");
    let legacy_task = match method {
        "tools/call" => params
            .and_then(|params| params.get("task"))
            .is_some_and(Value::is_object),
        "tools/list" | "tasks/get" | "tasks/result" | "tasks/list" | "tasks/cancel" => true,
        _ => false,
    };
    if modern || !legacy_task {
        return None;
    }
    let renamed = format!("{PREFIX}{method}");
    object.insert("method".to_owned(), Value::String(renamed));
    serde_json::to_vec(&value).ok()
}

/// Adds the 2025-11-25 `capabilities.tasks` to an `initialize` answer of that version or
/// later (rmcp's `ServerCapabilities` cannot hold it, so the answer goes out as JSON).
fn advertise(message: &mut ServerJsonRpcMessage) {
    let JsonRpcMessage::Response(response) = message else {
        return;
    };
    let ServerResult::InitializeResult(result) = &response.result else {
        return;
    };
    if result.protocol_version.as_str() < TASKS_SINCE {
        return;
    }
    let Ok(mut value) = serde_json::to_value(result) else {
        return;
    };
    let Some(capabilities) = value.get_mut("capabilities").and_then(Value::as_object_mut) else {
        return;
    };
    capabilities.insert(
        "tasks".to_owned(),
        json!({ "list": {}, "cancel": {}, "requests": { "tools": { "call": {} } } }),
    );
    response.result = ServerResult::CustomResult(CustomResult::new(value));
}

#[cfg(test)]
mod tests;
