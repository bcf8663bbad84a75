//! The direct path of streamable HTTP: a legacy session's `tools/call` served beside rmcp's
//! session worker and service instead of through them.
//!
//! Through rmcp, a request on a session crosses five tasks (the HTTP connection, the
//! session worker, the service loop, a spawned handler, the worker again) over four
//! channels, is parsed by rmcp's untagged unions, and answers on an SSE stream with its
//! own keep-alive timer. On the direct path the HTTP task decodes the call
//! ([`crate::lines::decode`]), runs the session's own handler (the same
//! [`DownstreamSession`], with the session's peer, through the steps of rmcp's
//! `handle_request` for such a call: [`dispatch`]) inside the answer's body — spawned to
//! finish on its own only if the client leaves first — and reads the answer from the
//! call's [`Call`] log. What the handler sends the
//! client meanwhile through the session's peer — progress under the call's token, requests
//! issued for the call — is routed to the same log by the session's transport
//! ([`super::parking::Watched`]), as rmcp's worker would route it to the request's stream.
//!
//! Nothing a client can see changes: the answer is the same SSE stream (a priming event
//! with an event id and `retry`, then the messages, ids `<index>/<stream>`), a dropped
//! stream is resumed with `Last-Event-ID` ([`DirectSession::resume`]), a
//! `notifications/cancelled` cancels the call. Only its timing does: an answer that comes
//! first and within [`WHOLE_WITHIN`] is sent with the headers as one body (one write
//! instead of two, with a length instead of chunks); the priming event of any other call
//! goes out when its first message does, or when that time has passed.
//!
//! Only the plainest requests take it: a session that is live and initialized, a
//! legacy-era request (no 2026-07-28 `_meta`), no `MCP-Protocol-Version` header of
//! 2026-07-28 or later (its standard headers are rmcp's to check), the usual `Accept` and
//! `Content-Type`. Anything else goes to rmcp.

use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::Stream;
use rmcp::{
    Peer, RoleServer,
    model::{
        ClientJsonRpcMessage, ClientRequest, GetExtensions, GetMeta, JsonRpcMessage,
        JsonRpcNotification, ProgressToken, RequestId, ServerJsonRpcMessage, ServerNotification,
        ServerResult,
    },
    service::{OriginatingRequestId, RequestContext},
    transport::streamable_http_server::session::ServerSseMessage,
};
use tokio_util::sync::CancellationToken;

use super::DownstreamSession;

/// Direct calls' stream numbers start here (rmcp numbers a session's request streams from
/// 0), so a `Last-Event-ID` tells whose stream it resumes.
pub(super) const FIRST_STREAM: u64 = 1 << 48;

/// rmcp's `retry` hint on a request stream's priming event (`SessionConfig::sse_retry`).
const RETRY: Duration =
    rmcp::transport::streamable_http_server::session::local::SessionConfig::DEFAULT_SSE_RETRY;

/// A comment sent on a quiet stream, as rmcp does (`sse_keep_alive`), so that proxies keep
/// the connection of a long call open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The direct path's side of one live session: who serves it, and its calls in flight (or
/// done, until their answer was read or the time to resume it passed).
#[derive(Default)]
pub(super) struct DirectSession {
    served_by: Mutex<Option<(DownstreamSession, Peer<RoleServer>)>>,
    calls: Mutex<Vec<Arc<Call>>>,
}

impl DirectSession {
    /// The session's handler and peer, once it is initialized.
    pub(super) fn offer(&self, handler: DownstreamSession, peer: Peer<RoleServer>) {
        *lock(&self.served_by) = Some((handler, peer));
    }

    /// Forgets the handler (the session is parked or ends); ends the calls when `ending`.
    pub(super) fn withdraw(&self, ending: bool) {
        lock(&self.served_by).take();
        if ending {
            for call in lock(&self.calls).drain(..) {
                call.cancel.cancel();
            }
        }
    }

    pub(super) fn served_by(&self) -> Option<(DownstreamSession, Peer<RoleServer>)> {
        lock(&self.served_by).clone()
    }

    /// Takes `message` (the session's service sends it) when it belongs to a direct call;
    /// else hands it back.
    pub(super) fn route(&self, message: ServerJsonRpcMessage) -> Option<ServerJsonRpcMessage> {
        let calls = lock(&self.calls);
        if calls.is_empty() {
            return Some(message);
        }
        let call = match &message {
            JsonRpcMessage::Notification(JsonRpcNotification {
                notification: ServerNotification::ProgressNotification(progress),
                ..
            }) => calls
                .iter()
                .find(|call| call.progress.as_ref() == Some(&progress.params.progress_token)),
            JsonRpcMessage::Notification(JsonRpcNotification {
                notification: ServerNotification::CancelledNotification(cancelled),
                ..
            }) => calls
                .iter()
                .find(|call| cancelled.params.request_id.as_ref() == Some(&call.id)),
            JsonRpcMessage::Request(request) => request
                .request
                .extensions()
                .get::<OriginatingRequestId>()
                .and_then(|origin| calls.iter().find(|call| call.id == origin.0)),
            _ => None,
        };
        match call {
            Some(call) => call.push(message, false),
            None => Some(message),
        }
    }

    /// The client cancelled request `id`.
    pub(super) fn cancelled(&self, id: &RequestId) {
        if let Some(call) = lock(&self.calls).iter().find(|call| &call.id == id) {
            call.cancel.cancel();
        }
    }

    /// A direct call's stream `stream`, to resume after event `index`.
    pub(super) fn resume(
        &self,
        stream: u64,
        index: usize,
    ) -> Option<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static + use<>> {
        let call = lock(&self.calls)
            .iter()
            .find(|call| call.stream == stream)?
            .clone();
        lock(&call.log).keep_until = None;
        Some(futures::StreamExt::filter_map(
            events(call, index + 1, None, false),
            std::future::ready,
        ))
    }

    /// Forgets calls whose answer was read, or could have been resumed until before `now`.
    pub(super) fn sweep(&self, now: Instant) {
        lock(&self.calls).retain(|call| {
            let log = lock(&call.log);
            !(log.done && (log.read || log.keep_until.is_some_and(|until| now >= until)))
        });
    }

    fn finished(&self, call: &Arc<Call>) {
        lock(&self.calls).retain(|other| !Arc::ptr_eq(other, call));
    }
}

/// One direct call: its messages as SSE events, kept until read.
pub(super) struct Call {
    id: RequestId,
    stream: u64,
    progress: Option<ProgressToken>,
    cancel: CancellationToken,
    log: Mutex<Log>,
    changed: tokio::sync::Notify,
}

#[derive(Default)]
struct Log {
    events: Vec<ServerSseMessage>,
    /// The answer is in.
    done: bool,
    /// A reader reached the answer.
    read: bool,
    /// The reader left early: kept for a resume until then.
    keep_until: Option<Instant>,
    /// Events handed to a reader so far (those before are fixed: their ids are known).
    taken: usize,
}

impl Call {
    /// Adds `message` (the answer when `done`). The answer comes straight from the handler
    /// while what the handler sent before it (progress) crosses the session's service, so a
    /// message that arrives after the answer goes before it while no reader has taken the
    /// answer yet; after that it is handed back (rmcp sends it on the GET stream).
    fn push(&self, message: ServerJsonRpcMessage, done: bool) -> Option<ServerJsonRpcMessage> {
        let mut log = lock(&self.log);
        let at = log.events.len();
        if log.done {
            if log.taken >= at {
                return Some(message);
            }
            let mut answer = log.events.pop()?;
            log.events.push(ServerSseMessage::new(
                event_id(at - 1, self.stream),
                message,
            ));
            answer.event_id = Some(event_id(at, self.stream));
            log.events.push(answer);
        } else {
            let id = event_id(at, self.stream);
            log.events.push(ServerSseMessage::new(id, message));
            log.done = done;
        }
        drop(log);
        self.changed.notify_waiters();
        None
    }
}

/// The SSE event id of a stream's event `index`: `<index>/<stream>`.
fn event_id(index: usize, stream: u64) -> String {
    let mut id = String::with_capacity(24);
    id.push_str(itoa::Buffer::new().format(index));
    id.push('/');
    id.push_str(itoa::Buffer::new().format(stream));
    id
}

/// What a direct call needs from the session manager: the session, its stream number, the
/// guard counting the stream open, and how to end the call's answer on shutdown.
pub(super) struct Start {
    pub session: Arc<DirectSession>,
    pub handler: DownstreamSession,
    pub peer: Peer<RoleServer>,
    pub stream: u64,
    pub on_end: Box<dyn FnOnce(bool) + Send + Sync>,
    pub shutdown: CancellationToken,
    pub answering: crate::gateway::RequestInFlight,
    pub outbound: Arc<super::legacy_tasks::LegacyTasks>,
}

/// A request body decoded once as a `tools/call` (its id and request), when it is one; the
/// direct paths take it from here when they serve the call.
pub(super) type Decoded = Option<(RequestId, ClientRequest)>;

/// `body` as a `tools/call` request, when it is one (the general decoding's outcome).
pub(super) fn decode_call(body: &[u8]) -> Decoded {
    match crate::lines::decode::call_tool_request(body)? {
        ClientJsonRpcMessage::Request(request) => Some((request.id, request.request)),
        _ => None,
    }
}

/// The `tools/call` in `body`, when the direct path can take it (see the module's doc):
/// its id and request.
#[cfg(test)]
pub(super) fn plain_call(
    headers: &http::HeaderMap,
    body: &[u8],
) -> Option<(RequestId, ClientRequest)> {
    let mut decoded = decode_call(body);
    takes(headers, &decoded).then(|| decoded.take()).flatten()
}

/// Whether the direct path can take the decoded call sent with `headers` (see the module's
/// doc).
pub(super) fn takes(headers: &http::HeaderMap, decoded: &Decoded) -> bool {
    let Some((_, request)) = decoded else {
        return false;
    };
    if !usual_media(headers) {
        return false;
    }
    // A known revision before 2026-07-28 (whose standard headers rmcp checks).
    if let Some(version) = headers.get(super::MCP_PROTOCOL_VERSION) {
        use rmcp::model::ProtocolVersion;
        let modern = ProtocolVersion::V_2026_07_28;
        if !ProtocolVersion::KNOWN_VERSIONS
            .iter()
            .any(|known| known.as_str() < modern.as_str() && version == known.as_str())
        {
            return false;
        }
    }
    request.get_meta().protocol_version().is_none()
}

/// Whether the request's `Accept` names JSON and SSE plainly and its body is JSON: media
/// types with parameters (`q=`) are left to rmcp's full negotiation.
pub(super) fn usual_media(headers: &http::HeaderMap) -> bool {
    let header = |name: http::header::HeaderName| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    };
    let accept = header(http::header::ACCEPT);
    // What the SDKs send, seen first.
    if matches!(
        accept,
        "application/json, text/event-stream" | "text/event-stream, application/json"
    ) && header(http::header::CONTENT_TYPE) == "application/json"
    {
        return true;
    }
    let types = accept.split(',').map(str::trim);
    let accepted = |wanted: &str| types.clone().any(|t| t.eq_ignore_ascii_case(wanted));
    !accept.contains(';')
        && accepted("application/json")
        && accepted("text/event-stream")
        && header(http::header::CONTENT_TYPE)
            .split(';')
            .next()
            .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// Serves the call `id` directly. The handler runs while this waits for the call's first
/// message: when it is the answer and comes within [`WHOLE_WITHIN`], the whole SSE stream
/// (priming event, answer) is the response's one body, written with the headers in one
/// write; else — progress, a request to the client, a long call, shutdown — the response
/// starts then, and its body runs the handler on, sending each event as it comes.
///
/// Not an `async fn`: what comes before the first wait is done here, so the future holds
/// only the answer's body (an `async fn` would hold its arguments twice as well).
pub(super) fn serve(
    (id, mut request): (RequestId, ClientRequest),
    parts: http::request::Parts,
    start: Start,
) -> impl Future<Output = axum::response::Response> + Send + use<> {
    // As rmcp's service loop does: the request's `_meta` and extensions become the context's.
    let mut meta = std::mem::take(request.get_meta_mut());
    let mut context = RequestContext::new(id.clone(), start.peer);
    let call = Arc::new(Call {
        id: id.clone(),
        stream: start.stream,
        progress: meta.get_progress_token(),
        // The context's own token: a cancellation reaches the handler through it.
        cancel: context.ct.clone(),
        log: Mutex::default(),
        changed: tokio::sync::Notify::new(),
    });
    lock(&call.log)
        .events
        .push(ServerSseMessage::priming(event_id(0, start.stream), RETRY));
    lock(&start.session.calls).push(call.clone());

    std::mem::swap(&mut context.meta, &mut meta);
    std::mem::swap(&mut context.extensions, request.extensions_mut());
    context.extensions.insert(parts);
    let (handler, answered, outbound) = (start.handler, call.clone(), start.outbound);
    // Run here, then by the answer's body while the client reads it; spawned to finish on
    // its own if the client goes away first (as rmcp's handler task would).
    let work: Work = Box::pin(async move {
        let result = dispatch(&handler, request, context).await;
        let mut message = match result {
            Ok(result) => ServerJsonRpcMessage::response(result, id),
            Err(error) => ServerJsonRpcMessage::error(error, Some(id)),
        };
        outbound.outbound(&mut message);
        let _ = answered.push(message, true);
    });

    let shutdown = start.shutdown.clone();
    let events = events(call.clone(), 0, Some(start.shutdown), true);
    let mut body = Answer {
        work: Some(work),
        events: Box::pin(events),
        call,
        session: start.session,
        on_end: Some(start.on_end),
        _answering: start.answering,
    };
    async move {
        let body = match body.answered_alone(&shutdown).await {
            Some(whole) => axum::body::Body::from(whole),
            None => axum::body::Body::from_stream(body),
        };
        sse_response(body)
    }
}

/// What rmcp's `handle_request` does with a direct call, without its dispatch over every
/// method (a future as large as all of theirs together, moved at each call).
///
/// A `tools/call` on a session that `initialize` opened (rmcp's session manager opens
/// none otherwise, so the request never needs inline `_meta`) at a revision before
/// 2026-07-28, naming none in its `_meta` — what [`takes`] lets through — goes through
/// exactly the steps rmcp's dispatch takes for it: the handler's `call_tool`, a task
/// refused to a client that did not declare tasks, input-required refused before
/// 2026-07-28, the result shaped for a legacy peer. Anything else goes to rmcp (boxed).
/// `direct_http::direct_dispatch_is_rmcps` (crates/baton/tests/it) compares the two paths'
/// answers: results, errors, object and non-object `structuredContent` (the task branch
/// is not reached from Baton's handler, which refuses a task to such a client first).
fn dispatch(
    handler: &DownstreamSession,
    request: ClientRequest,
    context: RequestContext<RoleServer>,
) -> impl Future<Output = Result<ServerResult, rmcp::ErrorData>> + Send + '_ {
    use futures::future::Either;
    use rmcp::{ServerHandler, model::CallToolResponse};
    let info = context.peer.peer_info();
    let legacy = |version: &rmcp::model::ProtocolVersion| {
        version.as_str() < rmcp::model::ProtocolVersion::V_2026_07_28.as_str()
    };
    let plain = context.meta.protocol_version().is_none()
        && info
            .as_ref()
            .is_some_and(|info| legacy(&info.protocol_version));
    let call = match request {
        ClientRequest::CallToolRequest(call) if plain => call,
        request => {
            // Boxed: as large as every method's future together.
            return Either::Right(Box::pin(rmcp::Service::<RoleServer>::handle_request(
                handler, request, context,
            )));
        }
    };
    // rmcp's `RequestContext::client_capabilities` for a session with peer info, read
    // before the context moves into the call.
    let in_meta = context.meta.client_capabilities();
    let call = handler.call_tool(call.params, context);
    Either::Left(crate::future::then(call, move |response| {
        if matches!(response, Ok(CallToolResponse::Task(_))) {
            let declared = in_meta
                .or_else(|| info.map(|info| info.capabilities.clone()))
                .is_some_and(|capabilities| capabilities.supports_tasks());
            if !declared {
                return Err(rmcp::ErrorData::missing_required_client_capability(
                    rmcp::model::ClientCapabilities::builder()
                        .enable_tasks()
                        .build(),
                ));
            }
        }
        let mut result = ServerResult::from(response?);
        if matches!(result, ServerResult::InputRequiredResult(_)) {
            return Err(crate::error::GatewayError::input_required_before_2026());
        }
        result.strip_result_type_for_legacy_peer();
        result.strip_non_object_output_for_legacy_peer();
        Ok(result)
    }))
}

/// An SSE answer with the headers rmcp sends with one (set as known names and values, not
/// parsed from strings as a response builder would).
pub(super) fn sse_response(body: axum::body::Body) -> axum::response::Response {
    use http::{HeaderValue, header};
    let mut response = axum::response::Response::new(body);
    let headers = response.headers_mut();
    headers.reserve(4);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    response
}

/// How long a direct call's answer may take to be sent with the response's headers, as one
/// body; a call still running then gets its stream started (the priming event, then
/// keep-alive comments), so that a client never waits long for the headers.
pub(super) const WHOLE_WITHIN: Duration = Duration::from_secs(1);

type Work = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// A direct call's answer as an HTTP body: its events rendered; when it ends, the call is
/// forgotten (read to its end) or kept for a resume (left early).
struct Answer<S> {
    /// The handler's call, until it is done.
    work: Option<Work>,
    events: std::pin::Pin<Box<S>>,
    call: Arc<Call>,
    session: Arc<DirectSession>,
    on_end: Option<Box<dyn FnOnce(bool) + Send + Sync>>,
    _answering: crate::gateway::RequestInFlight,
}

impl<S> Answer<S> {
    /// Runs the handler until the call's first message, for at most [`WHOLE_WITHIN`]: when
    /// it is the answer, the call is done and read, and this is its whole stream rendered.
    /// `None` (something came before the answer, the time passed, shutdown) leaves the call
    /// to its stream, from its first event.
    async fn answered_alone(&mut self, shutdown: &CancellationToken) -> Option<Bytes> {
        enum Woken {
            Worked,
            Changed,
            Stop,
        }
        let deadline = tokio::time::sleep(WHOLE_WITHIN);
        tokio::pin!(deadline);
        let call = self.call.clone();
        loop {
            let changed = call.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut log = lock(&call.log);
                match log.events.as_slice() {
                    [_priming] => {}
                    [priming, answer] if log.done => {
                        let mut whole = Vec::with_capacity(256);
                        render_into(&mut whole, priming);
                        render_into(&mut whole, answer);
                        log.read = true;
                        log.taken = 2;
                        drop(log);
                        self.session.finished(&call);
                        if let Some(on_end) = self.on_end.take() {
                            on_end(true);
                        }
                        return Some(Bytes::from(whole));
                    }
                    _ => return None,
                }
            }
            let work = async {
                match self.work.as_mut() {
                    Some(work) => work.as_mut().await,
                    None => std::future::pending().await,
                }
            };
            let woken = tokio::select! {
                biased;
                () = work => Woken::Worked,
                _ = changed => Woken::Changed,
                _ = shutdown.cancelled() => Woken::Stop,
                _ = &mut deadline => Woken::Stop,
            };
            match woken {
                Woken::Worked => self.work = None,
                Woken::Changed => {}
                Woken::Stop => return None,
            }
        }
    }
}

impl<S: Stream<Item = Option<ServerSseMessage>>> Stream for Answer<S> {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if let Some(work) = self.work.as_mut()
            && work.as_mut().poll(cx).is_ready()
        {
            self.work = None;
        }
        match self.events.as_mut().poll_next(cx) {
            Poll::Ready(Some(Some(event))) => Poll::Ready(Some(Ok(render(&event)))),
            Poll::Ready(Some(None)) => Poll::Ready(Some(Ok(Bytes::from_static(b":\n\n")))),
            Poll::Ready(None) => {
                if lock(&self.call.log).read {
                    self.session.finished(&self.call);
                    if let Some(on_end) = self.on_end.take() {
                        on_end(true);
                    }
                }
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S> Drop for Answer<S> {
    fn drop(&mut self) {
        if let Some(work) = self.work.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(work);
        }
        if let Some(on_end) = self.on_end.take() {
            lock(&self.call.log).keep_until = Some(Instant::now() + super::parking::RESUMABLE_FOR);
            on_end(false);
        }
    }
}

/// A stream of `call`'s events from `from` on, ending after the answer (or when `shutdown`
/// is cancelled); with `keep_alive`, a `None` (a comment) every [`KEEP_ALIVE`] while it is
/// quiet.
fn events(
    call: Arc<Call>,
    from: usize,
    shutdown: Option<CancellationToken>,
    keep_alive: bool,
) -> impl Stream<Item = Option<ServerSseMessage>> + Send + Sync + 'static {
    futures::stream::unfold((call, from), move |(call, next)| {
        let shutdown = shutdown.clone();
        async move {
            loop {
                let changed = call.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                {
                    let mut log = lock(&call.log);
                    if let Some(event) = log.events.get(next) {
                        let event = event.clone();
                        log.taken = log.taken.max(next + 1);
                        return Some((Some(event), (call.clone(), next + 1)));
                    }
                    if log.done {
                        log.read = true;
                        return None;
                    }
                }
                let quiet = async {
                    if keep_alive {
                        tokio::time::sleep(KEEP_ALIVE).await
                    } else {
                        std::future::pending().await
                    }
                };
                let stopped = async {
                    match &shutdown {
                        Some(token) => token.cancelled().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = changed => {}
                    _ = stopped => return None,
                    _ = quiet => {
                        return Some((None, (call.clone(), next)));
                    }
                }
            }
        }
    })
}

/// An event as rmcp writes it: `data`, `id`, `retry` lines (a priming event's data empty).
fn render(event: &ServerSseMessage) -> Bytes {
    let mut bytes = Vec::with_capacity(128);
    render_into(&mut bytes, event);
    Bytes::from(bytes)
}

pub(super) fn render_into(bytes: &mut Vec<u8>, event: &ServerSseMessage) {
    let start = bytes.len();
    bytes.extend_from_slice(b"data: ");
    if let Some(message) = &event.message
        && serde_json::to_writer(&mut *bytes, message.as_ref()).is_err()
    {
        bytes.truncate(start + 6);
    }
    bytes.push(b'\n');
    if let Some(id) = &event.event_id {
        bytes.extend_from_slice(b"id: ");
        bytes.extend_from_slice(id.as_bytes());
        bytes.push(b'\n');
    }
    if let Some(retry) = event.retry {
        bytes.extend_from_slice(b"retry: ");
        bytes.extend_from_slice(itoa::Buffer::new().format(retry.as_millis()).as_bytes());
        bytes.push(b'\n');
    }
    bytes.push(b'\n');
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests;
