//! Protocol-era bridging between a downstream client and an upstream server that negotiated
//! different revisions: result shapes, per-request metadata, and `input_required` rounds
//! for clients that predate them.

// Sampling, roots and logging are deprecated by SEP-2577; bridging them is this module's job.
#![allow(deprecated)]

use crate::error::GatewayError;

use rmcp::{
    ErrorData, RoleServer,
    model::{
        ClientCapabilities, InputRequest, InputRequiredResult, InputResponses, LoggingLevel,
        RequestMetaObject, ResultType, ServerResult,
    },
    service::Peer,
};

/// How many `input_required` rounds Baton drives for a legacy client before giving up.
pub const MAX_INPUT_ROUNDS: usize = 8;

/// Results from a legacy server lack the 2026-07-28 `resultType` discriminator, which
/// modern clients require; absent means "complete" (rmcp strips it again for legacy
/// clients). The upstream's own `serverInfo` metadata is dropped: to the client, the
/// server is Baton.
pub fn normalize_result(result: &mut ServerResult) {
    let (result_type, meta) = match result {
        ServerResult::CompleteResult(r) => (&mut r.result_type, &mut r.meta),
        ServerResult::GetPromptResult(r) => (&mut r.result_type, &mut r.meta),
        ServerResult::ReadResourceResult(r) => (&mut r.result_type, &mut r.meta),
        ServerResult::CallToolResult(r) => (&mut r.result_type, &mut r.meta),
        _ => return,
    };
    result_type.get_or_insert(ResultType::COMPLETE);
    if let Some(meta) = meta {
        meta.0.remove("io.modelcontextprotocol/serverInfo");
        if meta.0.is_empty() {
            *meta = Default::default();
        }
    }
}

/// Per-request metadata for a 2026-07-28 upstream: the downstream client's own
/// capabilities (only those Baton relays) and log level, so the server sees what the real
/// client can do rather than what Baton can.
pub fn upstream_meta(
    capabilities: Option<&ClientCapabilities>,
    log_level: Option<LoggingLevel>,
) -> RequestMetaObject {
    MetaFor::new(capabilities, log_level, false).meta()
}

/// What [`upstream_meta`] is built from: the caller's relayed capabilities, its log level,
/// and whether Baton takes a task for the request ([`declare_tasks`]).
#[derive(Debug, Clone, PartialEq)]
pub struct MetaFor {
    relayed: ClientCapabilities,
    log_level: Option<LoggingLevel>,
    tasks: bool,
}

impl MetaFor {
    pub fn new(
        capabilities: Option<&ClientCapabilities>,
        log_level: Option<LoggingLevel>,
        tasks: bool,
    ) -> Self {
        let mut relayed = ClientCapabilities::default();
        if let Some(capabilities) = capabilities {
            relayed.roots = capabilities.roots.clone();
            relayed.sampling = capabilities.sampling.clone();
            relayed.elicitation = capabilities.elicitation.clone();
        }
        MetaFor {
            relayed,
            log_level,
            tasks,
        }
    }

    pub fn meta(&self) -> RequestMetaObject {
        let mut meta = RequestMetaObject::default();
        meta.set_client_capabilities(self.relayed.clone());
        if let Some(level) = self.log_level {
            meta.set_log_level(level);
        }
        if self.tasks {
            declare_tasks(&mut meta);
        }
        meta
    }
}

/// Adds the tasks extension (SEP-2663) to the client capabilities in `meta`: Baton itself
/// takes a task for this request (it polls it; the downstream caller sees the result).
pub fn declare_tasks(meta: &mut RequestMetaObject) {
    let mut capabilities = meta.client_capabilities().unwrap_or_default();
    capabilities
        .extensions
        .get_or_insert_with(Default::default)
        .insert(
            rmcp::model::TASKS_EXTENSION_ID.to_owned(),
            Default::default(),
        );
    meta.set_client_capabilities(capabilities);
}

/// Fulfils an upstream's `input_required` result by asking the legacy downstream client
/// (sampling, elicitation, roots), returning the responses and state for the retry.
pub async fn fulfil_input(
    server: &str,
    client: Option<&Peer<RoleServer>>,
    result: InputRequiredResult,
) -> Result<(Option<InputResponses>, Option<String>), ErrorData> {
    let requests = result.input_requests.unwrap_or_default();
    if requests.is_empty() && result.request_state.is_none() {
        return Err(GatewayError::Relay(format!(
            "server \"{server}\" asked for input without saying what it needs"
        ))
        .into());
    }
    let Some(client) = client else {
        return Err(GatewayError::Relay(format!(
            "server \"{server}\" needs input from the client (sampling, elicitation or roots), and there is no client to ask"
        ))
        .into());
    };
    let who = format!("server \"{server}\"");
    let mut responses = InputResponses::new();
    for (key, request) in requests {
        responses.insert(key, ask_client(&who, client, request).await?);
    }
    Ok((
        (!responses.is_empty()).then_some(responses),
        result.request_state,
    ))
}

/// Puts one input `request` a server (`who`: `server "git"`, `task 1f…`) needs to the
/// legacy `client`, returning its answer as JSON.
pub async fn ask_client(
    who: &str,
    client: &Peer<RoleServer>,
    request: InputRequest,
) -> Result<serde_json::Value, ErrorData> {
    let answer = match request {
        InputRequest::CreateMessage(request) => {
            to_json(client.create_message(request.params).await)
        }
        InputRequest::Elicitation(request) => {
            to_json(client.create_elicitation(request.params).await)
        }
        InputRequest::ListRoots(_) => to_json(client.list_roots().await),
        _ => Err(rmcp::ServiceError::McpError(
            GatewayError::InvalidParams(format!(
                "{who} asked for a kind of input Baton cannot relay"
            ))
            .into(),
        )),
    };
    answer.map_err(|error| match error {
        rmcp::ServiceError::McpError(error) => error,
        other => GatewayError::Relay(format!(
            "asking the client for input that {who} needs failed: {other}"
        ))
        .into(),
    })
}

fn to_json<T: serde::Serialize>(
    answer: Result<T, rmcp::ServiceError>,
) -> Result<serde_json::Value, rmcp::ServiceError> {
    answer.and_then(|answer| {
        serde_json::to_value(answer).map_err(|error| {
            rmcp::ServiceError::McpError(GatewayError::Internal(error.to_string()).into())
        })
    })
}
