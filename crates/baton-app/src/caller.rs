//! How the engine calls tools: through the gateway, with every resilience layer, the step's
//! idempotency key in the request `_meta`, and the failure typed for the engine's retry
//! decision.
//!
//! The engine exists before the gateway (the gateway lists the engine's workflows as
//! tools), so its [`ToolCaller`] is the sending end of a queue ([`queue`]); the lifecycle
//! serves the queue with the gateway once it is built ([`Calls::serve`]). A run resumed at
//! start-up simply waits in the queue until then: nothing is bound late.

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, Mutex, Weak},
};

use baton_engine::{CallOptions, ToolCaller, ToolFailure, ToolOutput};
use baton_mcp::{
    CallContext, Gateway, SessionScope,
    error::{CallError, GatewayError},
    gateway::IDEMPOTENCY_KEY,
};
use futures::future::BoxFuture;
use rmcp::{
    Peer, RoleServer,
    model::{
        CallToolRequestParams, CallToolResponse, ClientCapabilities, JsonObject, MetaObject,
        RequestMetaObject,
    },
};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use baton_engine::baton_store::Store;

use crate::{sets::workflows::output_of, task_input::StepInput};

/// The clients waiting for runs they started (a workflow tool, `baton__run_workflow` with
/// `wait`), by run id: their runs' steps reach them for what only a client can answer — a
/// mode whose executor is `sampling` asks that client. Runs nobody waits for (schedules,
/// triggers, `wait: false`) have none.
static WAITING_CLIENTS: LazyLock<Mutex<HashMap<String, WaitingClient>>> =
    LazyLock::new(Default::default);

#[derive(Clone)]
struct WaitingClient {
    peer: Peer<RoleServer>,
    capabilities: Option<ClientCapabilities>,
    legacy: bool,
}

/// While this lives, run `run`'s steps can reach the client of `call` (see
/// [`WAITING_CLIENTS`]); `None` when the call has no client session.
pub fn attach_waiting_client(run: &str, call: &CallContext) -> Option<WaitingClientGuard> {
    let peer = call.peer.clone()?;
    WAITING_CLIENTS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(
            run.to_owned(),
            WaitingClient {
                peer,
                capabilities: call.capabilities.clone(),
                legacy: call.legacy,
            },
        );
    Some(WaitingClientGuard(run.to_owned()))
}

/// Detaches the waiting client when dropped.
#[derive(Debug)]
pub struct WaitingClientGuard(String);

impl Drop for WaitingClientGuard {
    fn drop(&mut self) {
        WAITING_CLIENTS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.0);
    }
}

/// The client waiting for the run a step's idempotency key (`RUN/STEP/ITEM`) belongs to.
fn waiting_client(key: &str) -> Option<WaitingClient> {
    let run = key.split('/').next()?;
    WAITING_CLIENTS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(run)
        .cloned()
}

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
    /// Answers queued calls through `gateway` for as long as it lives; with `store`, a
    /// step of an MCP task whose server asks for input waits for it in the store
    /// ([`crate::task_input`]).
    pub fn serve(mut self, gateway: Weak<Gateway>, store: Option<Store>) {
        tokio::spawn(async move {
            while let Some(call) = self.0.recv().await {
                let Some(gateway) = gateway.upgrade() else {
                    let _ = call.reply.send(Err(ToolFailure::Cancelled));
                    continue;
                };
                let span = call.span.clone();
                let store = store.clone();
                tokio::spawn(tracing::Instrument::instrument(
                    async move {
                        let result =
                            call_through(&gateway, store, &call.tool, call.args, call.options)
                                .await;
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
    store: Option<Store>,
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
    let whole = options.whole;
    let client = waiting_client(&options.idempotency_key);
    let (peer, capabilities, legacy) = match client {
        Some(client) => (Some(client.peer), client.capabilities, client.legacy),
        None => (None, None, false),
    };
    // A task's step parks the input its server asks for; other runs ask their waiting
    // legacy client, if any.
    let input = store.map(|store| {
        Arc::new(StepInput {
            store,
            key: options.idempotency_key.clone(),
            cancel: options.cancel.clone(),
            client: peer.clone().filter(|_| legacy),
        }) as Arc<dyn baton_mcp::tasks::InputSource>
    });
    let mut meta = JsonObject::new();
    meta.insert(
        IDEMPOTENCY_KEY.to_owned(),
        Value::String(options.idempotency_key),
    );
    params.meta = Some(RequestMetaObject(MetaObject(meta)));
    let call = CallContext {
        // The client waiting for this run, if any: a mode delegating by sampling asks it.
        peer,
        progress: None,
        cancel: options.cancel,
        legacy,
        capabilities,
        log_level: None,
        mode: None,
        single_attempt: options.step_retries,
        // The engine's steps: whoever started the run was checked when it started.
        principal: None,
        trace_passthrough: Vec::new(),
        input,
    };
    match gateway
        .call_tool_typed(&SessionScope::default(), params, call)
        .await
    {
        Ok(CallToolResponse::Complete(result)) if whole => Ok(ToolOutput {
            is_error: result.is_error == Some(true),
            value: serde_json::to_value(&result).unwrap_or(Value::Null),
        }),
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
