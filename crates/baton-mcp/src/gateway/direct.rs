//! Tool calls made through Baton's HTTP API rather than an MCP session (the dashboard's
//! console and actions): the same `access:` check, metrics and audit record as a call over
//! `/mcp`, under the caller's principal.

use rmcp::model::{CallToolRequestParams, CallToolResponse, JsonObject};
use tokio_util::sync::CancellationToken;

use super::{CallContext, Gateway, SessionScope};
use crate::{
    audit::{AuditKind, AuditStart},
    downstream::auth::Principal,
    error::GatewayError,
};

impl Gateway {
    /// Calls `name` for `principal` (`None`: a trusted caller, as over unauthenticated HTTP).
    /// A name outside the caller's view is answered like one that does not exist.
    pub async fn call_as(
        &self,
        principal: Option<Principal>,
        name: &str,
        arguments: JsonObject,
    ) -> Result<CallToolResponse, rmcp::ErrorData> {
        self.call_directly(principal, name, arguments, true).await
    }

    /// [`Gateway::call_as`] for a read-only tool the dashboard reads to draw a page (the
    /// schedules, the events): checked the same way, but neither counted as a client's call
    /// nor audited, so an open page does not fill the audit trail.
    pub async fn read_as(
        &self,
        principal: Option<Principal>,
        name: &str,
        arguments: JsonObject,
    ) -> Result<CallToolResponse, rmcp::ErrorData> {
        self.call_directly(principal, name, arguments, false).await
    }

    async fn call_directly(
        &self,
        principal: Option<Principal>,
        name: &str,
        arguments: JsonObject,
        counted: bool,
    ) -> Result<CallToolResponse, rmcp::ErrorData> {
        let started = std::time::Instant::now();
        let audit = self.audit().filter(|_| counted).map(|_| {
            AuditStart::new(
                principal.as_ref().map(|p| p.name.as_str()),
                AuditKind::Tool,
                name,
                Some(&arguments),
            )
        });
        let call = CallContext {
            peer: None,
            progress: None,
            cancel: CancellationToken::new(),
            legacy: false,
            capabilities: None,
            log_level: None,
            mode: None,
            single_attempt: false,
            principal,
            trace_passthrough: Vec::new(),
            input: None,
        };
        let (result, outcome) = if call.may_use(&self.config(), name) {
            let params = CallToolRequestParams::new(name.to_owned()).with_arguments(arguments);
            let result = self.call_tool(&SessionScope::default(), params, call).await;
            let outcome = match &result {
                Ok(CallToolResponse::Complete(done)) if done.is_error == Some(true) => "tool_error",
                Ok(_) => "ok",
                Err(error) => crate::audit::outcome_of_error(error),
            };
            (result, outcome)
        } else {
            let error = GatewayError::UnknownTool(name.to_owned()).into();
            (Err(error), "denied")
        };
        if counted {
            let catalog = self.catalog();
            let (server, tool) = crate::metrics::tool_labels(&catalog, name);
            crate::metrics::tool_call(server, tool, outcome, started.elapsed());
        }
        if let (Some(start), Some(sink)) = (audit, self.audit()) {
            sink.record(start.finish(outcome));
        }
        result
    }
}
