//! The direct path of a stateless 2026-07-28 `tools/call`: served beside rmcp instead of
//! through a service rmcp builds for each such request.
//!
//! rmcp serves a stateless request by parsing the body into its untagged message unions,
//! serializing it again to check the SEP-2243 headers, then starting a service of its own
//! for the one request (a spawned loop, channels both ways). Here a plain call is decoded
//! once ([`crate::lines::decode`]) and a fresh [`DownstreamSession`] — as rmcp's factory
//! would make — is called through rmcp's own `handle_request` dispatch, with a peer shared
//! by these calls whose peer information is what rmcp gives a stateless request (the
//! revision from the header, default capabilities and client).
//!
//! Only calls whose checks and answer are plain take it: no session id; the usual `Accept`
//! and `Content-Type`; exactly one `MCP-Protocol-Version: 2026-07-28`, one
//! `Mcp-Method: tools/call` and one `Mcp-Name` equal to the tool's name; no `Mcp-Param-*`
//! header and a tool whose schema maps no argument to a header; `_meta` with the revision
//! and every key it requires, without a log level or the tasks extension. Whatever rmcp
//! would refuse fails one of these and goes to rmcp, which answers it as before.
//!
//! The answer is what rmcp sends: the headers once the call's first message is there; an
//! answer alone as one SSE event (`data:` only), or as JSON for an error rmcp maps to another
//! HTTP status; progress first, an SSE stream of the messages as they come. The handler
//! relays progress under a token unique among these calls (clients choose their own, and
//! two may choose the same), which the shared peer's sink turns back into the client's and
//! hands to the call's stream. Progress that reaches the sink after the answer went out is
//! dropped (rmcp's stream for the request has ended by then too). A client that leaves
//! before the answer cancels the call (its upstream request too), as on rmcp's path.

use std::{
    collections::HashMap,
    convert::Infallible,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use futures::Stream;
use rmcp::{
    Peer, RoleServer,
    model::{
        ClientJsonRpcMessage, ClientRequest, ErrorCode, GetExtensions, GetMeta,
        InitializeRequestParams, JsonRpcMessage, JsonRpcNotification, NumberOrString,
        ProgressToken, ProtocolVersion, RequestId, ServerJsonRpcMessage, ServerNotification,
    },
    service::{RequestContext, RunningService},
    transport::streamable_http_server::session::ServerSseMessage,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::DownstreamSession;
use crate::gateway::Gateway;

/// A comment sent on a quiet stream, as rmcp does (`sse_keep_alive`).
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// What the direct stateless calls share: the peer their handlers get (kept by a service
/// that is never sent a request), and where each call's progress goes.
pub(super) struct Stateless {
    peer: Peer<RoleServer>,
    routes: Arc<Routes>,
    gateway: Arc<Gateway>,
    parking: Arc<super::parking::Parking>,
    _service: RunningService<RoleServer, DownstreamSession>,
}

/// The calls in flight by the progress token their handler was given (unique among them:
/// clients choose their own tokens, and two clients may well choose the same one), each
/// with the client's own token and the call's stream.
#[derive(Default)]
struct Routes {
    next: AtomicI64,
    calls: Mutex<HashMap<i64, (ProgressToken, mpsc::UnboundedSender<ServerJsonRpcMessage>)>>,
}

impl Routes {
    /// Hands a progress notification to its call under the client's token; anything else
    /// sent to the shared peer (an upstream's log message, which no call asked for) has no
    /// stream to go to.
    fn route(&self, mut message: ServerJsonRpcMessage) {
        if let JsonRpcMessage::Notification(JsonRpcNotification {
            notification: ServerNotification::ProgressNotification(progress),
            ..
        }) = &mut message
            && let ProgressToken(NumberOrString::Number(ours)) = progress.params.progress_token
            && let Some((theirs, stream)) = lock(&self.calls).get(&ours)
        {
            progress.params.progress_token = theirs.clone();
            let _ = stream.send(message);
            return;
        }
        tracing::debug!(
            ?message,
            "a message for a stateless call had no stream to go to"
        );
    }
}

/// Forgets a call's route when the call ends.
struct Route {
    routes: Arc<Routes>,
    token: i64,
}

impl Drop for Route {
    fn drop(&mut self) {
        lock(&self.routes.calls).remove(&self.token);
    }
}

impl Stateless {
    /// Must run inside the runtime (the shared peer's service is spawned).
    pub(super) fn new(gateway: Arc<Gateway>, parking: Arc<super::parking::Parking>) -> Self {
        let routes = Arc::new(Routes::default());
        let sink = futures::sink::unfold(
            routes.clone(),
            |routes, message: ServerJsonRpcMessage| async move {
                routes.route(message);
                Ok::<_, Infallible>(routes)
            },
        );
        let never = futures::stream::pending::<ClientJsonRpcMessage>();
        let info = InitializeRequestParams::new(
            Default::default(),
            rmcp::model::Implementation::default(),
        )
        .with_protocol_version(ProtocolVersion::V_2026_07_28);
        let service = rmcp::service::serve_directly(
            DownstreamSession::for_http(gateway.clone(), &parking),
            (Box::pin(sink), never),
            Some(info),
        );
        Stateless {
            peer: service.peer().clone(),
            routes,
            gateway,
            parking,
            _service: service,
        }
    }

    /// The answer to the POST (`parts`, `body`) when the direct path can take it (taking
    /// `parts`); else `None`, for rmcp.
    pub(super) fn call(
        &self,
        parts: &mut Option<http::request::Parts>,
        decoded: &mut super::direct::Decoded,
    ) -> Option<std::pin::Pin<Box<impl Future<Output = axum::response::Response> + Send + use<>>>>
    {
        if !takes(&parts.as_ref()?.headers, decoded) {
            return None;
        }
        if let Some((_, ClientRequest::CallToolRequest(call))) = decoded
            && let Some(tool) = self.gateway.catalog().tool(&call.params.name)
            && maps_headers(&tool.input_schema)
        {
            return None;
        }
        let (id, mut request) = decoded.take()?;
        // The handler relays progress under a token of ours, routed back to this call.
        let (sender, progress) = mpsc::unbounded_channel();
        let meta = request.get_meta_mut();
        let route = meta.get_progress_token().map(|theirs| {
            let token = self.routes.next.fetch_add(1, Ordering::Relaxed);
            meta.set_progress_token(ProgressToken(NumberOrString::Number(token)));
            lock(&self.routes.calls).insert(token, (theirs, sender));
            Route {
                routes: self.routes.clone(),
                token,
            }
        });
        let handler = DownstreamSession::for_http(self.gateway.clone(), &self.parking);
        let context = context(&id, request, parts.take()?, self.peer.clone());
        let call = Call {
            running: Running::new(handler, id, context),
            progress,
            _route: route,
            _answering: self.gateway.request_started(),
        };
        // Boxed here, as a direct call is (`Parking::direct_call`).
        Some(Box::pin(call.answer()))
    }
}

/// The call's context, as rmcp's service loop makes it: the request's `_meta` and
/// extensions (the HTTP parts among them) become the context's.
fn context(
    id: &RequestId,
    mut request: ClientRequest,
    parts: http::request::Parts,
    peer: Peer<RoleServer>,
) -> (ClientRequest, RequestContext<RoleServer>) {
    let mut context = RequestContext::new(id.clone(), peer);
    context.meta = std::mem::take(request.get_meta_mut());
    context.extensions = std::mem::take(request.extensions_mut());
    context.extensions.insert(parts);
    (request, context)
}

type Work = Pin<Box<dyn Future<Output = ServerJsonRpcMessage> + Send>>;

/// The handler's call, run by the response; when that is dropped first (the client left),
/// the call is cancelled and finished on its own.
struct Running {
    work: Option<Work>,
    cancel: CancellationToken,
}

impl Running {
    fn new(
        handler: DownstreamSession,
        id: RequestId,
        (request, mut context): (ClientRequest, RequestContext<RoleServer>),
    ) -> Running {
        let cancel = CancellationToken::new();
        context.ct = cancel.clone();
        let work: Work = Box::pin(async move {
            // rmcp's own dispatch; boxed, as it is as large as every method's future together.
            let result = Box::pin(rmcp::Service::<RoleServer>::handle_request(
                &handler, request, context,
            ))
            .await;
            match result {
                Ok(result) => ServerJsonRpcMessage::response(result, id),
                Err(error) => ServerJsonRpcMessage::error(error, Some(id)),
            }
        });
        Running {
            work: Some(work),
            cancel,
        }
    }

    /// The answer, once the handler gave it (pending after that).
    fn poll_answer(&mut self, cx: &mut Context<'_>) -> Poll<ServerJsonRpcMessage> {
        let Some(work) = self.work.as_mut() else {
            return Poll::Pending;
        };
        let answer = std::task::ready!(work.as_mut().poll(cx));
        self.work = None;
        Poll::Ready(answer)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(work) = self.work.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            self.cancel.cancel();
            runtime.spawn(work);
        }
    }
}

/// A direct stateless call: its handler's work, its progress, and its place among the
/// requests in flight until its answer was sent.
struct Call {
    running: Running,
    progress: mpsc::UnboundedReceiver<ServerJsonRpcMessage>,
    _route: Option<Route>,
    _answering: crate::gateway::RequestInFlight,
}

/// What woke a call waiting for its first message.
enum First {
    Answer(ServerJsonRpcMessage),
    Progress(ServerJsonRpcMessage),
}

impl Call {
    /// As rmcp answers a stateless request: the headers once the call's first message is
    /// there; an answer alone as one body, else an SSE stream of the messages as they come.
    async fn answer(mut self) -> axum::response::Response {
        let first = std::future::poll_fn(|cx| {
            if let Poll::Ready(Some(message)) = self.progress.poll_recv(cx) {
                return Poll::Ready(First::Progress(message));
            }
            self.running.poll_answer(cx).map(First::Answer)
        })
        .await;
        match first {
            First::Answer(answer) if self.progress.is_empty() => respond(answer),
            First::Answer(answer) => {
                super::direct::sse_response(last_events(&mut self.progress, answer).into())
            }
            First::Progress(message) => {
                let mut head = Vec::with_capacity(256);
                render(&mut head, message);
                let stream = Streamed {
                    head: Some(Bytes::from(head)),
                    call: Some(self),
                    quiet: Box::pin(tokio::time::sleep(KEEP_ALIVE)),
                };
                super::direct::sse_response(axum::body::Body::from_stream(stream))
            }
        }
    }
}

/// A call's SSE stream once something came before its answer: events as they come, the
/// answer last (with any progress that came with it before it).
struct Streamed {
    head: Option<Bytes>,
    call: Option<Call>,
    quiet: Pin<Box<tokio::time::Sleep>>,
}

impl Stream for Streamed {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(head) = self.head.take() {
            return Poll::Ready(Some(Ok(head)));
        }
        let Some(call) = self.call.as_mut() else {
            return Poll::Ready(None);
        };
        if let Poll::Ready(Some(message)) = call.progress.poll_recv(cx) {
            return Poll::Ready(Some(Ok(self.event(message))));
        }
        if let Poll::Ready(answer) = call.running.poll_answer(cx) {
            let body = last_events(&mut call.progress, answer);
            self.call = None;
            return Poll::Ready(Some(Ok(body)));
        }
        if self.quiet.as_mut().poll(cx).is_ready() {
            self.quiet
                .as_mut()
                .reset(tokio::time::Instant::now() + KEEP_ALIVE);
            return Poll::Ready(Some(Ok(Bytes::from_static(b":\n\n"))));
        }
        Poll::Pending
    }
}

impl Streamed {
    fn event(&mut self, message: ServerJsonRpcMessage) -> Bytes {
        self.quiet
            .as_mut()
            .reset(tokio::time::Instant::now() + KEEP_ALIVE);
        let mut body = Vec::with_capacity(256);
        render(&mut body, message);
        Bytes::from(body)
    }
}

/// One SSE event as rmcp writes a stateless request's message (`data:` only).
fn render(body: &mut Vec<u8>, message: ServerJsonRpcMessage) {
    super::direct::render_into(body, &ServerSseMessage::from_message(message));
}

/// The progress that came with the answer, then the answer, as SSE events.
fn last_events(
    progress: &mut mpsc::UnboundedReceiver<ServerJsonRpcMessage>,
    answer: ServerJsonRpcMessage,
) -> Bytes {
    let mut body = Vec::with_capacity(256);
    while let Ok(message) = progress.try_recv() {
        render(&mut body, message);
    }
    render(&mut body, answer);
    Bytes::from(body)
}

/// rmcp's answer to a stateless request whose first message is its answer: an error it maps
/// to another HTTP status as a JSON body, anything else as one SSE event.
fn respond(message: ServerJsonRpcMessage) -> axum::response::Response {
    let status = match &message {
        ServerJsonRpcMessage::Error(error) => match error.error.code {
            ErrorCode::UNSUPPORTED_PROTOCOL_VERSION
            | ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY
            | ErrorCode::HEADER_MISMATCH => http::StatusCode::BAD_REQUEST,
            ErrorCode::METHOD_NOT_FOUND => http::StatusCode::NOT_FOUND,
            _ => http::StatusCode::OK,
        },
        _ => http::StatusCode::OK,
    };
    if status == http::StatusCode::OK {
        let mut body = Vec::with_capacity(256);
        render(&mut body, message);
        return super::direct::sse_response(body.into());
    }
    axum::response::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from(
            serde_json::to_vec(&message).unwrap_or_default(),
        ))
        .unwrap_or_default()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The `tools/call` in `body` when the direct path can take it (see the module's doc).
#[cfg(test)]
fn plain_call(headers: &http::HeaderMap, body: &[u8]) -> Option<(RequestId, ClientRequest)> {
    let mut decoded = super::direct::decode_call(body);
    takes(headers, &decoded).then(|| decoded.take()).flatten()
}

/// The 2026-07-28 standard headers this path reads, as names known ahead.
const MCP_METHOD: http::HeaderName = http::HeaderName::from_static("mcp-method");
const MCP_NAME: http::HeaderName = http::HeaderName::from_static("mcp-name");

/// Whether this path takes the decoded call sent with `headers` (see the module's doc).
fn takes(headers: &http::HeaderMap, decoded: &super::direct::Decoded) -> bool {
    let modern = ProtocolVersion::V_2026_07_28;
    let Some((_, request @ ClientRequest::CallToolRequest(call))) = decoded else {
        return false;
    };
    if headers.contains_key(super::MCP_SESSION_ID)
        || !super::direct::usual_media(headers)
        || sole(headers, super::MCP_PROTOCOL_VERSION) != Some(modern.as_str())
        || sole(headers, MCP_METHOD) != Some("tools/call")
        || headers
            .keys()
            .any(|name| name.as_str().starts_with("mcp-param-"))
    {
        return false;
    }
    let meta = request.get_meta();
    meta.protocol_version().as_ref() == Some(&modern)
        && meta.missing_required_keys(&modern).is_empty()
        && meta.log_level().is_none()
        && !meta
            .client_capabilities()
            .is_some_and(|capabilities| capabilities.supports_tasks())
        && sole(headers, MCP_NAME) == Some(call.params.name.as_ref())
}

/// The one value of header `name` (`None` when absent, repeated or not text).
fn sole(headers: &http::HeaderMap, name: http::HeaderName) -> Option<&str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    values.next().is_none().then(|| value.to_str().ok())?
}

/// Whether a tool's input schema maps an argument to a header (`x-mcp-header` on a
/// property, at any depth along `properties`): rmcp checks those headers against the body.
fn maps_headers(schema: &serde_json::Map<String, serde_json::Value>) -> bool {
    fn any(properties: Option<&serde_json::Value>) -> bool {
        let Some(serde_json::Value::Object(properties)) = properties else {
            return false;
        };
        properties.values().any(|property| {
            property.get("x-mcp-header").is_some() || any(property.get("properties"))
        })
    }
    any(schema.get("properties"))
}

#[cfg(test)]
mod tests;
