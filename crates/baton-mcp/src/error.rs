//! Gateway errors and their one mapping to JSON-RPC error objects ([`From<GatewayError>
//! for ErrorData`]), and the one builder of JSON-RPC errors sent as HTTP responses
//! ([`http_error`]). Nothing else in Baton builds a JSON-RPC error. Messages name the tool,
//! prompt, resource or server and say what to do.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use rmcp::{ErrorData, model::ErrorCode};
use serde_json::json;

/// JSON-RPC "Parse error".
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC "Invalid Request".
pub const INVALID_REQUEST: i64 = -32600;

/// A JSON-RPC error object as an HTTP response (the request id is unknown here).
pub fn http_error(status: StatusCode, code: i64, message: impl Into<String>) -> Response {
    let body = json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": code, "message": message.into() }
    });
    (status, axum::Json(body)).into_response()
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(
        "unknown tool \"{0}\": no configured server provides it (list them with tools/list or `baton tools`)"
    )]
    UnknownTool(String),
    #[error("unknown prompt \"{0}\": no configured server provides it (see prompts/list)")]
    UnknownPrompt(String),
    #[error("resource \"{0}\" not found: no configured server lists it or a template matching it")]
    UnknownResource(String),
    #[error("server \"{server}\" is unavailable: {reason}")]
    Unavailable { server: String, reason: String },
    #[error("server \"{server}\" failed: {reason}")]
    Upstream { server: String, reason: String },
    #[error("the request was cancelled by the client")]
    Cancelled,
    #[error(
        "server \"{server}\" is unavailable: circuit open after {failures} failures; next probe in {}s",
        retry_in.as_secs_f64().ceil()
    )]
    CircuitOpen {
        server: String,
        failures: u32,
        retry_in: std::time::Duration,
    },
    #[error(
        "tool \"{tool}\" of server \"{server}\" is unavailable: circuit open after {failures} failures; next probe in {}s",
        retry_in.as_secs_f64().ceil()
    )]
    ToolCircuitOpen {
        server: String,
        tool: String,
        failures: u32,
        retry_in: std::time::Duration,
    },
    #[error(
        "server \"{server}\" is overloaded: {in_flight} calls in flight and {queued} waiting; try again later or raise resilience.concurrency"
    )]
    Overloaded {
        server: String,
        in_flight: usize,
        queued: usize,
    },
    /// A message over `max_message_bytes` (`peer`: who sent it, or `None` for an answer
    /// Baton would have sent).
    #[error("{}", too_large_message(peer.as_deref(), *size, *max))]
    MessageTooLarge {
        peer: Option<String>,
        size: usize,
        max: usize,
    },
    /// A remote server's answer was over `max_message_bytes` (its size is unknown: Baton
    /// stopped reading at the limit).
    #[error(
        "server \"{server}\" sent an answer over max_message_bytes ({max} bytes); raise max_message_bytes (globally or for this server) to accept it"
    )]
    AnswerTooLarge { server: String, max: usize },
    /// A server asked for something Baton cannot relay, or relaying it failed (the message
    /// names the server).
    #[error("{0}")]
    Relay(String),
    /// Arguments or a reference Baton cannot accept.
    #[error("{0}")]
    InvalidParams(String),
    /// Baton's own tool failed (the message says why).
    #[error("{0}")]
    Internal(String),
    #[error(
        "server \"{server}\" did not answer within {after:?} and the call was cancelled there (progress notifications extend the wait; raise resilience.timeout or max_timeout for it)"
    )]
    Timeout {
        server: String,
        after: std::time::Duration,
    },
    /// A task id that is unknown, expired or someone else's (one answer for all three).
    #[error("no task \"{0}\" (unknown, expired, or created by another client)")]
    UnknownTask(String),
    /// A tool that runs only as a task, called by a client without the tasks extension.
    #[error(
        "tool \"{0}\" runs only as a task: declare the io.modelcontextprotocol/tasks extension in the client's capabilities (2026-07-28), or call it with params.task (2025-11-25)"
    )]
    TaskRequired(String),
    /// A 2025-11-25 task-augmented call of a tool that does not run as a task.
    #[error(
        "tool \"{0}\" does not run as a task (its execution.taskSupport is neither optional nor required): call it without params.task, or set task_support for it in baton.yaml"
    )]
    NotATaskTool(String),
    /// `tasks/cancel` of a task that already ended.
    #[error(
        "task \"{id}\" is already {status}: only a task still working or waiting for input can be cancelled"
    )]
    TaskFinished { id: String, status: String },
    /// A method Baton does not serve.
    #[error("method \"{0}\" is not served")]
    UnknownMethod(String),
    /// `tasks/result` of a cancelled task.
    #[error("task \"{0}\" was cancelled and has no result")]
    TaskCancelled(String),
    /// A call Baton ran as an upstream task that ended without a result (cancelled there,
    /// or answered in a shape Baton cannot read).
    #[error("server \"{server}\" ran tool \"{tool}\" as task {task}, and {reason}")]
    UpstreamTask {
        server: String,
        tool: String,
        task: String,
        reason: String,
    },
    /// Baton keeps no tasks here (a one-shot command, or no store).
    #[error("tasks are not served here")]
    NoTasks,
}

/// A failed request: the server's own answer (never retried), or Baton's (retried when
/// it is a transport failure, an unavailable server, a timeout or overload).
#[derive(Debug)]
pub enum CallError {
    Server(ErrorData),
    Gateway(GatewayError),
    /// A tool result with `isError: true`, made a failure only where it is configured to
    /// be retried (`retry_on_error`); when the retries run out it is the answer again.
    ToolError(Box<rmcp::model::ServerResult>),
}

impl CallError {
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            CallError::ToolError(_)
                | CallError::Gateway(
                    GatewayError::Unavailable { .. }
                        | GatewayError::Upstream { .. }
                        | GatewayError::Timeout { .. }
                        | GatewayError::Overloaded { .. }
                )
        )
    }

    /// The failure's class, for a span's `error.type`.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Server(_) => "server_error",
            CallError::ToolError(_) => "tool_error",
            CallError::Gateway(GatewayError::Timeout { .. }) => "timeout",
            CallError::Gateway(
                GatewayError::Unavailable { .. }
                | GatewayError::CircuitOpen { .. }
                | GatewayError::ToolCircuitOpen { .. },
            ) => "unavailable",
            CallError::Gateway(GatewayError::Overloaded { .. }) => "overloaded",
            CallError::Gateway(GatewayError::Cancelled) => "cancelled",
            CallError::Gateway(_) => "error",
        }
    }

    /// Failed for want of a working server (fallbacks apply), not by the server's answer.
    pub fn server_failed(&self) -> bool {
        self.retryable()
            || matches!(
                self,
                CallError::Gateway(
                    GatewayError::CircuitOpen { .. } | GatewayError::ToolCircuitOpen { .. }
                )
            )
    }

    pub fn message(&self) -> String {
        match self {
            CallError::Server(error) => error.message.to_string(),
            CallError::Gateway(error) => error.to_string(),
            CallError::ToolError(result) => {
                let text = match result.as_ref() {
                    rmcp::model::ServerResult::CallToolResult(result) => result
                        .content
                        .iter()
                        .filter_map(|block| block.as_text().map(|text| text.text.as_str()))
                        .collect::<Vec<_>>()
                        .join(" "),
                    _ => String::new(),
                };
                format!("the tool answered with an error: {text}")
            }
        }
    }
}

impl From<GatewayError> for CallError {
    fn from(error: GatewayError) -> Self {
        CallError::Gateway(error)
    }
}

impl From<CallError> for ErrorData {
    fn from(error: CallError) -> Self {
        match error {
            CallError::Server(error) => error,
            CallError::Gateway(error) => error.into(),
            error @ CallError::ToolError(_) => GatewayError::Internal(error.message()).into(),
        }
    }
}

impl GatewayError {
    /// The error an upstream task of `tool` ended with (its code and data kept), its
    /// message saying where it came from.
    pub fn task_failed(server: &str, tool: &str, task: &str, mut error: ErrorData) -> ErrorData {
        error.message = format!(
            "server \"{server}\" ran tool \"{tool}\" as task {task}, which failed: {}",
            error.message
        )
        .into();
        error
    }

    /// What rmcp's dispatch answers when a handler returns input-required to a session
    /// of a revision before 2026-07-28 (the direct path's copy of its steps).
    pub fn input_required_before_2026() -> ErrorData {
        ErrorData::invalid_request(
            "InputRequiredResult requires negotiated protocol version 2026-07-28 or newer",
            None,
        )
    }

    /// A JSON-RPC error object as a server sent it (a failed task's `error`), or an
    /// internal error quoting it when it is not one.
    pub fn readable_error(error: serde_json::Map<String, serde_json::Value>) -> ErrorData {
        let error = serde_json::Value::Object(error);
        serde_json::from_value(error.clone()).unwrap_or_else(|_| {
            ErrorData::internal_error(format!("an error Baton cannot read: {error}"), None)
        })
    }

    /// Classifies a failed upstream call, keeping the server's own JSON-RPC errors.
    pub fn from_service(server: &str, error: rmcp::ServiceError) -> CallError {
        let error = match error {
            rmcp::ServiceError::McpError(error) => return CallError::Server(error),
            rmcp::ServiceError::Cancelled { .. } => GatewayError::Cancelled,
            rmcp::ServiceError::Timeout { timeout } => GatewayError::Timeout {
                server: server.to_owned(),
                after: timeout,
            },
            rmcp::ServiceError::TransportSend(_)
                if let Some(reason) = auth_refusal(server, &error) =>
            {
                GatewayError::Unavailable {
                    server: server.to_owned(),
                    reason,
                }
            }
            rmcp::ServiceError::TransportClosed | rmcp::ServiceError::TransportSend(_) => {
                GatewayError::Unavailable {
                    server: server.to_owned(),
                    reason: format!("its connection closed during the call ({error})"),
                }
            }
            other => GatewayError::Upstream {
                server: server.to_owned(),
                reason: other.to_string(),
            },
        };
        CallError::Gateway(error)
    }
}

/// A request the server refused for Baton's OAuth token (401, or 403 for a missing scope),
/// in words with the command that fixes it.
fn auth_refusal(server: &str, error: &rmcp::ServiceError) -> Option<String> {
    use rmcp::transport::streamable_http_client::{AuthRequiredError, InsufficientScopeError};
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(refused) = current.downcast_ref::<InsufficientScopeError>() {
            let scope = refused
                .get_required_scope()
                .unwrap_or("a scope it did not name");
            return Some(format!(
                "it refused Baton's token for this: it wants the scope \"{scope}\"; sign in for it with `baton auth login {server} --scope {scope}`"
            ));
        }
        if current.downcast_ref::<AuthRequiredError>().is_some() {
            return Some(crate::oauth::needs_login_message(
                server,
                "it no longer accepts Baton's token",
            ));
        }
        source = current.source();
    }
    None
}

impl From<GatewayError> for ErrorData {
    fn from(error: GatewayError) -> Self {
        let message = error.to_string();
        match &error {
            GatewayError::UnknownTool(name) => {
                ErrorData::invalid_params(message, Some(json!({ "tool": name })))
            }
            GatewayError::UnknownPrompt(name) => {
                ErrorData::invalid_params(message, Some(json!({ "prompt": name })))
            }
            GatewayError::UnknownResource(uri) => ErrorData::new(
                ErrorCode::RESOURCE_NOT_FOUND,
                message,
                Some(json!({ "uri": uri })),
            ),
            GatewayError::Unavailable { server, .. }
            | GatewayError::Upstream { server, .. }
            | GatewayError::CircuitOpen { server, .. }
            | GatewayError::ToolCircuitOpen { server, .. }
            | GatewayError::Overloaded { server, .. }
            | GatewayError::Timeout { server, .. } => {
                ErrorData::internal_error(message, Some(json!({ "server": server })))
            }
            GatewayError::Cancelled => ErrorData::new(ErrorCode::INTERNAL_ERROR, message, None),
            GatewayError::InvalidParams(_) => ErrorData::invalid_params(message, None),
            GatewayError::Relay(_) | GatewayError::Internal(_) => {
                ErrorData::internal_error(message, None)
            }
            GatewayError::MessageTooLarge { size, max, .. } => ErrorData::internal_error(
                message,
                Some(json!({ "size": size, "max_message_bytes": max })),
            ),
            GatewayError::AnswerTooLarge { server, max } => ErrorData::internal_error(
                message,
                Some(json!({ "server": server, "max_message_bytes": max })),
            ),
            GatewayError::UnknownTask(id) => {
                ErrorData::invalid_params(message, Some(json!({ "taskId": id })))
            }
            GatewayError::UpstreamTask {
                server, tool, task, ..
            } => ErrorData::internal_error(
                message,
                Some(json!({ "server": server, "tool": tool, "taskId": task })),
            ),
            GatewayError::TaskRequired(_) => {
                let mut error = ErrorData::missing_required_client_capability(
                    rmcp::model::ClientCapabilities::builder()
                        .enable_tasks()
                        .build(),
                );
                error.message = message.into();
                error
            }
            GatewayError::NoTasks => ErrorData::method_not_found::<rmcp::model::GetTaskMethod>(),
            GatewayError::UnknownMethod(method) => ErrorData::new(
                ErrorCode::METHOD_NOT_FOUND,
                message,
                Some(json!({ "method": method })),
            ),
            GatewayError::NotATaskTool(tool) => ErrorData::new(
                ErrorCode::METHOD_NOT_FOUND,
                message,
                Some(json!({ "tool": tool })),
            ),
            GatewayError::TaskFinished { id, status } => {
                ErrorData::invalid_params(message, Some(json!({ "taskId": id, "status": status })))
            }
            GatewayError::TaskCancelled(id) => {
                ErrorData::internal_error(message, Some(json!({ "taskId": id })))
            }
        }
    }
}

fn too_large_message(peer: Option<&str>, size: usize, max: usize) -> String {
    match peer {
        Some(peer) => format!(
            "{peer} sent a message of {size} bytes, over max_message_bytes ({max} bytes); raise max_message_bytes (globally or for this server) to accept it"
        ),
        None => format!(
            "the answer is {size} bytes, over max_message_bytes ({max} bytes); raise max_message_bytes to receive it"
        ),
    }
}

#[cfg(test)]
mod tests {
    use rmcp::transport::{
        DynamicTransportError,
        streamable_http_client::{AuthRequiredError, InsufficientScopeError, StreamableHttpError},
    };

    use super::*;

    fn refused(error: StreamableHttpError<std::io::Error>) -> rmcp::ServiceError {
        rmcp::ServiceError::TransportSend(DynamicTransportError::from_parts(
            "streamable-http",
            std::any::TypeId::of::<()>(),
            Box::new(error),
        ))
    }

    #[test]
    fn a_refused_token_says_which_sign_in_fixes_it() {
        let scope = refused(StreamableHttpError::InsufficientScope(
            InsufficientScopeError::new(
                "Bearer error=\"insufficient_scope\", scope=\"issues:write\"".into(),
                Some("issues:write".into()),
            ),
        ));
        let message = GatewayError::from_service("tracker", scope).message();
        assert!(
            message.contains("baton auth login tracker --scope issues:write"),
            "{message}"
        );
        let expired = refused(StreamableHttpError::AuthRequired(AuthRequiredError::new(
            "Bearer".into(),
        )));
        let message = GatewayError::from_service("tracker", expired).message();
        assert!(
            message.contains("run `baton auth login tracker`"),
            "{message}"
        );
        let closed = GatewayError::from_service("tracker", rmcp::ServiceError::TransportClosed);
        assert!(
            closed.message().contains("connection closed"),
            "{}",
            closed.message()
        );
    }
}
