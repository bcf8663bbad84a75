//! The one way a request leaves for an upstream: [`Gateway::forward_with`] retries it
//! within its time budget when that is safe, drives `input_required` rounds for legacy
//! clients, and [`Gateway::forward`] sends one attempt (progress relay, caller tracking,
//! cancellation, result-shape bridging).

use baton_core::config::{RetrySettings, Timeouts};
use baton_resilience::{GaveUp, Outcome, Permit, RetryPolicy, retry};
use rmcp::{
    RoleClient, ServiceError,
    model::{ClientRequest, InputResponses, ServerResult},
    service::{PeerRequestOptions, RequestHandle},
};

use std::sync::Arc;

use tracing::Instrument;

use super::{CallContext, Gateway, SessionScope, Topology};
use crate::{
    bridge,
    error::{CallError, GatewayError},
    lines::direct,
    upstream::{Connection, Upstream},
};

/// How one request is sent: its time budget and whether it may be retried.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub timeouts: Timeouts,
    /// `None`: never retried (the tool is not known to be safe to repeat).
    pub retry: Option<RetrySettings>,
    /// Results with `isError: true` are retried too (`retry_on_error`).
    pub retry_tool_errors: bool,
    /// A `tools/call` the upstream runs as a task (`upstream_task_support`): sent as an
    /// upstream task and polled to its end (`upstream_task.rs`).
    pub upstream_task: bool,
}

/// One request on its way: where it goes, for each attempt.
pub(super) struct Outgoing<'r> {
    pub(super) topology: &'r Topology,
    pub(super) plan: Plan,
    pub(super) label: &'r str,
    pub(super) server: &'r str,
    pub(super) scope: &'r SessionScope,
    pub(super) call: &'r CallContext,
}

impl Gateway {
    /// Sends `request` to `server` following `plan`, on a replica of the request's
    /// `topology`. Every attempt sends the same request, borrowed (a stdio server's line is
    /// written from it; only rmcp's way, and input rounds, take a copy).
    #[allow(clippy::too_many_arguments)] // the request's parts; a struct would only rename them
    pub(super) async fn forward_with(
        &self,
        topology: &Topology,
        plan: Plan,
        label: &str,
        server: &str,
        scope: &SessionScope,
        call: &CallContext,
        request: &ClientRequest,
    ) -> Result<ServerResult, CallError> {
        let out = Outgoing {
            topology,
            plan,
            label,
            server,
            scope,
            call,
        };
        let Some(settings) = plan
            .retry
            .filter(|settings| settings.attempts > 1 && !call.single_attempt)
        else {
            // Boxed (here and below): the attempt's future is large, and every level that
            // holds it inline is copied whole as the call moves through the layers.
            return Box::pin(self.attempt(&out, 1, request)).await;
        };
        let policy = RetryPolicy {
            max_attempts: settings.attempts,
            initial_delay: settings.initial_delay,
            max_delay: settings.max_delay,
        };
        let deadline = tokio::time::Instant::now() + plan.timeouts.total;
        let outcome = retry(policy, deadline, CallError::retryable, |number| {
            if number > 1 {
                tracing::info!(server, attempt = number, "retrying a request");
            }
            let attempt = Box::pin(self.attempt(&out, number, request));
            async move {
                match attempt.await {
                    Ok(ServerResult::CallToolResult(result))
                        if plan.retry_tool_errors && result.is_error == Some(true) =>
                    {
                        Err(CallError::ToolError(Box::new(
                            ServerResult::CallToolResult(result),
                        )))
                    }
                    other => other,
                }
            }
        })
        .await;
        outcome.or_else(|exhausted| gave_up(server, exhausted))
    }

    /// One attempt, on the replica the balancer picks (or the session's owner), within the
    /// server's concurrency limit and breakers, timed and counted for that replica.
    async fn attempt(
        &self,
        out: &Outgoing<'_>,
        number: u32,
        request: &ClientRequest,
    ) -> Result<ServerResult, CallError> {
        let (server, label) = (out.server, out.label);
        // A client's own session stays on the replica that holds it.
        let owner = out.scope.owner(server).await;
        let upstream = owner.as_ref().or_else(|| self.pick(out.topology, server));
        // A slot among the server's calls in flight, held for the attempt.
        let _slot = match upstream {
            Some(upstream) => Some(upstream.acquire_slot().await.map_err(|overloaded| {
                CallError::Gateway(GatewayError::Overloaded {
                    server: server.to_owned(),
                    in_flight: overloaded.in_flight,
                    queued: overloaded.queued,
                })
            })?),
            None => None,
        };
        let permit = match upstream {
            Some(upstream) => Some(admit(upstream, server, label)?),
            None => None,
        };
        let started = std::time::Instant::now();
        let span = if crate::trace::tracing_here() {
            let method = crate::trace::method_of(request);
            crate::trace::client_span(method, server, label, number)
        } else {
            tracing::Span::none()
        };
        let outcome =
            Box::pin(self.forward_rounds(out, upstream, request, permit.unwrap_or(Permit::Normal)))
                .instrument(span.clone())
                .await;
        match &outcome {
            Err(error) => crate::trace::record_error(&span, error.kind()),
            Ok(ServerResult::CallToolResult(result)) if result.is_error == Some(true) => {
                crate::trace::record_error(&span, "tool_error");
            }
            Ok(_) => {}
        }
        if let Some(upstream) = upstream {
            // The server's own errors are answers: only failures to get one count.
            let answered = !outcome.as_ref().is_err_and(CallError::retryable);
            upstream.breaker_record(answered);
            upstream.tool_breaker_record(label, answered);
            let kind = match &outcome {
                Err(CallError::Gateway(GatewayError::Timeout { .. })) => Outcome::Timeout,
                Err(error) if error.server_failed() => Outcome::Error,
                _ => Outcome::Success,
            };
            upstream.record_call(label, started.elapsed(), kind, number > 1);
        }
        outcome
    }

    /// [`Self::forward`], after a cheap probe when `permit` is a half-open breaker trial,
    /// driving `input_required` rounds itself when the client is legacy (modern clients get
    /// the `input_required` result and drive the rounds themselves).
    async fn forward_rounds(
        &self,
        out: &Outgoing<'_>,
        upstream: Option<&Arc<Upstream>>,
        request: &ClientRequest,
        permit: Permit,
    ) -> Result<ServerResult, CallError> {
        let (server, call) = (out.server, out.call);
        let connection = self
            .connection_via(server, upstream, out.scope)
            .await
            .map_err(CallError::Gateway)?;
        if permit == Permit::Trial
            && let Some(upstream) = upstream
            && !Box::pin(upstream.probe(&connection)).await
        {
            return Err(CallError::Gateway(GatewayError::Unavailable {
                server: server.to_owned(),
                reason: "it did not answer the circuit breaker's probe".to_owned(),
            }));
        }
        // Only a modern server asks for input, and Baton answers it for a legacy client
        // and for a call with an input source (a task's step): everything else is one
        // round (a modern client gets the `input_required` result and drives the rounds).
        if !((call.legacy || call.input.is_some()) && connection.is_modern()) {
            return self.forward_call(out, &connection, request).await;
        }
        // The next round's request, once the server asked for input (boxed: held across
        // each round, it would enlarge every call's future).
        let mut answered: Option<Box<ClientRequest>> = None;
        for round in 0..bridge::MAX_INPUT_ROUNDS {
            let sending = answered.as_deref().unwrap_or(request);
            match self.forward_call(out, &connection, sending).await? {
                ServerResult::InputRequiredResult(input) => {
                    let (responses, state) =
                        Box::pin(answer_input(server, call, round, input)).await?;
                    let next = answered.get_or_insert_with(|| Box::new(request.clone()));
                    with_input(next, responses, state);
                }
                other => return Ok(other),
            }
        }
        Err(CallError::Server(
            GatewayError::Upstream {
                server: server.to_owned(),
                reason: format!(
                    "it still needed input after {} rounds",
                    bridge::MAX_INPUT_ROUNDS
                ),
            }
            .into(),
        ))
    }

    /// Sends one request to `server` on behalf of a downstream caller: relays the caller's
    /// progress, makes the caller the target of server-initiated requests meanwhile, and
    /// cancels the upstream request (`notifications/cancelled`) when the caller cancels.
    /// `tasks`: a 2026-07-28 server is told Baton takes a task for it (the extension is
    /// declared in the request's client capabilities).
    pub(super) async fn forward(
        &self,
        server: &str,
        connection: &Connection,
        request: &ClientRequest,
        call: &CallContext,
        timeouts: Timeouts,
        tasks: bool,
    ) -> Result<ServerResult, CallError> {
        let mut guard = connection
            .relay
            .begin_call(call.peer.clone(), call.input.clone());
        let peer = connection.session.peer();
        let meta = outgoing_meta(connection, call, tasks);
        // A stdio server's request is written beside rmcp's service loop (`lines::direct`),
        // with the client metadata rmcp would add for a 2026-07-28 server.
        let sent = match &connection.direct {
            Some(direct) => direct.send(request, meta).await.map(Sent::Direct),
            // Boxed (here and in the other ways through rmcp below): rmcp's futures are
            // kilobytes, and held inline they would grow every future around this one, which
            // is copied whole as it is boxed and moved on each call.
            None => {
                let mut options = PeerRequestOptions::no_options();
                options.meta = meta.map(direct::Meta::into_object);
                Box::pin(peer.send_request_with_option(request.clone(), options))
                    .await
                    .map(Sent::Rmcp)
            }
        }
        .map_err(|error| GatewayError::from_service(server, error))?;
        let (request_id, progress_token) = sent.ids();
        let progress = guard.watch_progress(progress_token, call.progress.clone());
        // The time budget: `idle` without a progress notification, `total` in all. One
        // timer; when it fires after progress was seen, the idle budget starts again.
        let started = tokio::time::Instant::now();
        let total_deadline = started + timeouts.total;
        let mut idle_deadline = started + timeouts.idle;
        let mut progress_seen = 0;
        let timer = tokio::time::sleep_until(idle_deadline.min(total_deadline));
        tokio::pin!(timer);
        let response = sent.response();
        tokio::pin!(response);
        let result = loop {
            tokio::select! {
                result = &mut response => break result,
                _ = &mut timer => {
                    let now = tokio::time::Instant::now();
                    let count = progress.load(std::sync::atomic::Ordering::Acquire);
                    if count != progress_seen && now < total_deadline {
                        progress_seen = count;
                        idle_deadline = now + timeouts.idle;
                        timer.as_mut().reset(idle_deadline.min(total_deadline));
                        continue;
                    }
                    let after = if now >= total_deadline { timeouts.total } else { timeouts.idle };
                    let cancelled = rmcp::model::CancelledNotificationParam::new(
                        Some(request_id),
                        Some("request timeout".to_owned()),
                    );
                    let _ = Box::pin(peer.notify_cancelled(cancelled)).await;
                    return Err(CallError::Gateway(GatewayError::Timeout {
                        server: server.to_owned(),
                        after,
                    }));
                }
                _ = call.cancel.cancelled() => {
                    let cancelled = rmcp::model::CancelledNotificationParam::new(
                        Some(request_id),
                        Some("the client cancelled the request".to_owned()),
                    );
                    let _ = Box::pin(peer.notify_cancelled(cancelled)).await;
                    tracing::info!(server, "the client cancelled a request; cancelled upstream too");
                    return Err(CallError::Gateway(GatewayError::Cancelled));
                }
            }
        };
        drop(guard);
        let mut result = result.map_err(|error| GatewayError::from_service(server, error))?;
        bridge::normalize_result(&mut result);
        Ok(result)
    }
}

/// `request` with the input a server asked for (`input_required`) and the state it gave:
/// the requests that take input rounds (a tool call, a prompt, a resource); any other is
/// sent again as it was.
fn with_input(
    request: &mut ClientRequest,
    responses: Option<InputResponses>,
    state: Option<String>,
) {
    match request {
        ClientRequest::CallToolRequest(call) => {
            call.params.input_responses = responses;
            call.params.request_state = state;
        }
        ClientRequest::GetPromptRequest(get) => {
            get.params.input_responses = responses;
            get.params.request_state = state;
        }
        ClientRequest::ReadResourceRequest(read) => {
            read.params.input_responses = responses;
            read.params.request_state = state;
        }
        _ => {}
    }
}

/// The `_meta` Baton adds to a request for `call`: for a 2026-07-28 server what it relays
/// of the caller (for a stdio server with the client context rmcp would add, shared by the
/// connection's calls while it stays the same), and the attempt's trace context (W3C keys).
fn outgoing_meta(connection: &Connection, call: &CallContext, tasks: bool) -> Option<direct::Meta> {
    let mut meta = None;
    if connection.is_modern() {
        let wanted = bridge::MetaFor::new(call.capabilities.as_ref(), call.log_level, tasks);
        meta = Some(match &connection.direct {
            Some(_) => direct::Meta::Shared(connection.direct_meta(wanted)),
            None => direct::Meta::Built(wanted.meta()),
        });
    }
    let mut context = crate::trace::current_context();
    if context.is_empty() {
        context = call.trace_passthrough.clone();
    }
    if context.is_empty() {
        return meta;
    }
    let mut built = meta.map(direct::Meta::into_object).unwrap_or_default();
    for (key, value) in context {
        built.0.0.insert(key, serde_json::Value::String(value));
    }
    Some(direct::Meta::Built(built))
}

/// A request on its way to a server: through rmcp's peer, or written directly.
enum Sent {
    Rmcp(RequestHandle<RoleClient>),
    Direct(direct::Sent),
}

impl Sent {
    /// The request's id and progress token.
    fn ids(&self) -> (rmcp::model::RequestId, rmcp::model::ProgressToken) {
        match self {
            Sent::Rmcp(handle) => (handle.id.clone(), handle.progress_token.clone()),
            Sent::Direct(sent) => (sent.id.clone(), sent.progress_token.clone()),
        }
    }

    /// The server's answer (for a direct request, its entry is forgotten when this ends
    /// or is dropped). Not an `async fn`: the direct way's future holds only its request.
    fn response(self) -> impl Future<Output = Result<ServerResult, ServiceError>> + Send {
        use futures::future::Either;
        match self {
            Sent::Rmcp(handle) => Either::Left(Box::pin(handle.await_response())),
            Sent::Direct(mut sent) => Either::Right(async move { sent.response().await }),
        }
    }
}

/// The tool's own breaker (if configured), then the replica's: open means fail now;
/// half-open means a trial (the server's permit is returned).
fn admit(upstream: &Arc<Upstream>, server: &str, label: &str) -> Result<Permit, CallError> {
    let tool_permit = upstream.tool_breaker_check(label).map_err(|rejected| {
        CallError::Gateway(GatewayError::ToolCircuitOpen {
            server: server.to_owned(),
            tool: label.to_owned(),
            failures: rejected.failures,
            retry_in: rejected.retry_in,
        })
    })?;
    upstream.breaker_check().map_err(|rejected| {
        upstream.tool_breaker_release(label, tool_permit);
        CallError::Gateway(GatewayError::CircuitOpen {
            server: server.to_owned(),
            failures: rejected.failures,
            retry_in: rejected.retry_in,
        })
    })
}

/// The answer when the retries ran out: a last tool error is the answer again; one error
/// is itself; several are listed with why Baton stopped.
fn gave_up(
    server: &str,
    mut exhausted: baton_resilience::Exhausted<CallError>,
) -> Result<ServerResult, CallError> {
    if let Some(CallError::ToolError(_)) = exhausted.errors.last()
        && let Some(CallError::ToolError(result)) = exhausted.errors.pop()
    {
        return Ok(*result);
    }
    if exhausted.errors.len() == 1 {
        return Err(exhausted.errors.remove(0));
    }
    let why = match exhausted.gave_up {
        GaveUp::NotRetryable => "the last error cannot be retried",
        GaveUp::Attempts => "no attempts left",
        GaveUp::Budget => "the time budget would run out before another try",
    };
    let attempts = exhausted
        .errors
        .iter()
        .enumerate()
        .map(|(index, error)| format!("{}) {}", index + 1, error.message()))
        .collect::<Vec<_>>()
        .join("; ");
    Err(CallError::Gateway(GatewayError::Upstream {
        server: server.to_owned(),
        reason: format!(
            "{} attempts failed ({why}): {attempts}",
            exhausted.errors.len()
        ),
    }))
}

/// Answers an upstream's `input_required` round for `call`: through its input source (a
/// task's step) when it has one, else by asking its (legacy) client.
pub(super) async fn answer_input(
    server: &str,
    call: &CallContext,
    round: usize,
    input: rmcp::model::InputRequiredResult,
) -> Result<crate::tasks::InputAnswer, CallError> {
    match &call.input {
        Some(source) => source.fulfil(server, round, input).await,
        None => bridge::fulfil_input(server, call.peer.as_ref(), input)
            .await
            .map_err(CallError::Server),
    }
}
