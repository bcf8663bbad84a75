//! How the engine calls tools: through the gateway, with every resilience layer, the step's
//! idempotency key in the request `_meta`, and the failure typed for the engine's retry
//! decision.
//!
//! The engine exists before the gateway (the gateway lists the engine's workflows as
//! tools), so its [`ToolCaller`] is the sending end of a queue ([`queue`]); the lifecycle
//! serves the queue with the gateway once it is built ([`Calls::serve`]). A run resumed at
//! start-up simply waits in the queue until then: nothing is bound late.

use std::sync::{Arc, Weak};

use baton_engine::{CallOptions, ToolCaller, ToolFailure, ToolOutput};
use baton_mcp::{
    CallContext, Gateway, SessionScope,
    error::{CallError, GatewayError},
    gateway::IDEMPOTENCY_KEY,
};
use futures::future::BoxFuture;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, JsonObject, MetaObject, RequestMetaObject,
};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::sets::workflows::output_of;

/// How long a workflow step waits for the servers to finish connecting.
pub const SETTLE_FOR_STEPS: std::time::Duration = std::time::Duration::from_secs(75);

struct Call {
    tool: String,
    args: Value,
    options: CallOptions,
    reply: oneshot::Sender<Result<ToolOutput, ToolFailure>>,
    /// The step's trace span, so the call's attempts are its children.
    span: tracing::Span,
}

/// The engine's end of the queue.
#[derive(Debug, Clone)]
pub struct QueuedTools(mpsc::UnboundedSender<Call>);

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call").field("tool", &self.tool).finish()
    }
}

/// The gateway's end of the queue.
#[derive(Debug)]
pub struct Calls(mpsc::UnboundedReceiver<Call>);

/// A tool-call queue: the engine sends, the gateway answers.
pub fn queue() -> (QueuedTools, Calls) {
    let (sender, receiver) = mpsc::unbounded_channel();
    (QueuedTools(sender), Calls(receiver))
}

impl ToolCaller for QueuedTools {
    fn call<'a>(
        &'a self,
        tool: &'a str,
        args: Value,
        options: CallOptions,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolFailure>> {
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            let call = Call {
                tool: tool.to_owned(),
                args,
                options,
                reply,
                span: tracing::Span::current(),
            };
            // No gateway any more: Baton is stopping, and the run stays resumable.
            if self.0.send(call).is_err() {
                return Err(ToolFailure::Cancelled);
            }
            answer.await.unwrap_or(Err(ToolFailure::Cancelled))
        })
    }
}

impl Calls {
    /// Answers queued calls through `gateway` for as long as it lives.
    pub fn serve(mut self, gateway: Weak<Gateway>) {
        tokio::spawn(async move {
            while let Some(call) = self.0.recv().await {
                let Some(gateway) = gateway.upgrade() else {
                    let _ = call.reply.send(Err(ToolFailure::Cancelled));
                    continue;
                };
                let span = call.span.clone();
                tokio::spawn(tracing::Instrument::instrument(
                    async move {
                        let result =
                            call_through(&gateway, &call.tool, call.args, call.options).await;
                        let _ = call.reply.send(result);
                    },
                    span,
                ));
            }
        });
    }
}

async fn call_through(
    gateway: &Arc<Gateway>,
    tool: &str,
    args: Value,
    options: CallOptions,
) -> Result<ToolOutput, ToolFailure> {
    // A run resumed at start-up must not fail for a server still connecting (a tool
    // already routable goes at once).
    if gateway.catalog().tool(tool).is_none() {
        gateway.wait_settled(SETTLE_FOR_STEPS).await;
    }
    let mut params = CallToolRequestParams::new(tool.to_owned());
    params.arguments = match args {
        Value::Object(map) => Some(map),
        Value::Null => None,
        other => {
            return Err(ToolFailure::Permanent(format!(
                "the arguments of {tool} must be an object, got {other}"
            )));
        }
    };
    let mut meta = JsonObject::new();
    meta.insert(
        IDEMPOTENCY_KEY.to_owned(),
        Value::String(options.idempotency_key),
    );
    params.meta = Some(RequestMetaObject(MetaObject(meta)));
    let call = CallContext {
        peer: None,
        progress: None,
        cancel: options.cancel,
        legacy: false,
        capabilities: None,
        log_level: None,
        mode: None,
        single_attempt: options.step_retries,
        // The engine's steps: whoever started the run was checked when it started.
        principal: None,
        trace_passthrough: Vec::new(),
    };
    match gateway
        .call_tool_typed(&SessionScope::default(), params, call)
        .await
    {
        Ok(CallToolResponse::Complete(result)) => Ok(output_of(&result)),
        Ok(_) => Err(ToolFailure::Permanent(format!(
            "{tool} did not complete (it asked for input or started a task)"
        ))),
        Err(error) => Err(classify(error)),
    }
}

/// Transient: Baton could not get an answer (unavailable, overloaded, timed out, circuit
/// open, transport failure). Permanent: the name is unknown, or the server (or Baton's own
/// tool) answered with a JSON-RPC error such as invalid arguments.
pub fn classify(error: CallError) -> ToolFailure {
    match error {
        CallError::Gateway(GatewayError::Cancelled) => ToolFailure::Cancelled,
        CallError::Gateway(
            error @ (GatewayError::UnknownTool(_)
            | GatewayError::UnknownPrompt(_)
            | GatewayError::UnknownResource(_)),
        ) => ToolFailure::Permanent(error.to_string()),
        CallError::Server(error) => ToolFailure::Permanent(error.message.to_string()),
        other => ToolFailure::Transient(other.message()),
    }
}
