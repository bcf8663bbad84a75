//! The audit trail's seam: every tool call, prompt get and resource read a downstream
//! client makes (allowed or refused) is described as an [`AuditRecord`] and handed to the
//! [`AuditSink`] the application installed ([`crate::Gateway::set_audit`]); the
//! application keeps them in the store. Arguments are kept only as a SHA-256 of their
//! canonical JSON (never the values: they may hold secrets), and errors only as their
//! class, never their message.

use std::time::Instant;

use rmcp::ErrorData;
use serde_json::Value;

/// What was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    Tool,
    Prompt,
    Resource,
}

impl AuditKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Tool => "tool",
            AuditKind::Prompt => "prompt",
            AuditKind::Resource => "resource",
        }
    }
}

/// One use of a tool, prompt or resource by a downstream client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// When it started (ms since the Unix epoch).
    pub at_ms: i64,
    /// The authenticated caller; `None` over stdio or unauthenticated HTTP.
    pub principal: Option<String>,
    pub kind: AuditKind,
    /// The tool or prompt name, or the resource URI.
    pub name: String,
    /// `ok`, `tool_error`, `denied` (outside the caller's `access:` view), `rate_limited`
    /// (over `serve.auth.limits.calls_per_minute`), `not_found`, `timeout`, `cancelled`,
    /// `unavailable`, `overloaded` or `error`.
    pub outcome: &'static str,
    pub duration_ms: i64,
    /// SHA-256 (hex) of the arguments' canonical JSON; `None` without arguments.
    pub arguments_sha256: Option<String>,
}

/// Where audit records go. `record` must not block: it is called on the request path.
pub trait AuditSink: Send + Sync {
    fn record(&self, record: AuditRecord);
}

/// The start of an audited use: call [`AuditStart::finish`] with its outcome.
pub struct AuditStart {
    at_ms: i64,
    started: Instant,
    principal: Option<String>,
    kind: AuditKind,
    name: String,
    arguments_sha256: Option<String>,
}

impl AuditStart {
    pub fn new(
        principal: Option<&str>,
        kind: AuditKind,
        name: &str,
        arguments: Option<&serde_json::Map<String, Value>>,
    ) -> Self {
        AuditStart {
            at_ms: now_ms(),
            started: Instant::now(),
            principal: principal.map(str::to_owned),
            kind,
            name: name.to_owned(),
            arguments_sha256: arguments.map(arguments_hash),
        }
    }

    pub fn finish(self, outcome: &'static str) -> AuditRecord {
        AuditRecord {
            at_ms: self.at_ms,
            principal: self.principal,
            kind: self.kind,
            name: self.name,
            outcome,
            duration_ms: i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX),
            arguments_sha256: self.arguments_sha256,
        }
    }
}

/// The outcome class of a request that failed with `error` (by the gateway's messages,
/// see [`crate::error::GatewayError`]).
pub fn outcome_of_error(error: &ErrorData) -> &'static str {
    let message = error.message.as_ref();
    if message.starts_with("unknown tool \"")
        || message.starts_with("unknown prompt \"")
        || (message.starts_with("resource \"") && message.contains("\" not found"))
    {
        "not_found"
    } else if message.contains("did not answer within") {
        "timeout"
    } else if message.contains("\" is unavailable") {
        "unavailable"
    } else if message.contains("\" is overloaded") {
        "overloaded"
    } else if message == "the request was cancelled by the client" {
        "cancelled"
    } else {
        "error"
    }
}

/// SHA-256 (hex) of the canonical JSON of `arguments` (keys sorted at every level).
pub fn arguments_hash(arguments: &serde_json::Map<String, Value>) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    canonical(&Value::Object(arguments.clone()), &mut hasher);
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn canonical(value: &Value, hasher: &mut sha2::Sha256) {
    use sha2::Digest;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<_> = map.keys().collect();
            keys.sort();
            hasher.update(b"{");
            for key in keys {
                hasher.update(serde_json::to_string(key).unwrap_or_default().as_bytes());
                hasher.update(b":");
                canonical(&map[key], hasher);
                hasher.update(b",");
            }
            hasher.update(b"}");
        }
        Value::Array(items) => {
            hasher.update(b"[");
            for item in items {
                canonical(item, hasher);
                hasher.update(b",");
            }
            hasher.update(b"]");
        }
        other => hasher.update(other.to_string().as_bytes()),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_arguments_hash_ignores_key_order_and_hides_the_values() {
        let a = json!({"b": 1, "a": {"y": [1, 2], "x": "secret"}});
        let b = json!({"a": {"x": "secret", "y": [1, 2]}, "b": 1});
        let c = json!({"a": {"x": "other", "y": [1, 2]}, "b": 1});
        let hash = |v: &Value| arguments_hash(v.as_object().unwrap());
        assert_eq!(hash(&a), hash(&b));
        assert_ne!(hash(&a), hash(&c));
        assert_eq!(hash(&a).len(), 64);
        assert!(!hash(&a).contains("secret"));
    }
}
