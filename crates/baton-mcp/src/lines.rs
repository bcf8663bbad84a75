//! Newline-delimited JSON-RPC over a byte stream (stdio, both ways), bounded by
//! `max_message_bytes`. A message over the limit is never dropped silently: an incoming
//! answer becomes an error answer to the request it belongs to (the call fails at once,
//! naming the peer, the size and the setting); an incoming request is answered with that
//! error; an outgoing answer is replaced by it; an outgoing request fails to send.
//! A client's transport also carries requests written beside rmcp's service loop, whose
//! answers it hands straight to their callers ([`direct`]).

pub(crate) mod decode;
pub mod direct;

use std::{marker::PhantomData, sync::Arc};

pub use decode::Decode;

use crate::error::GatewayError;
use rmcp::{
    ErrorData, RoleClient,
    model::{JsonRpcError, JsonRpcMessage, JsonRpcResponse, RequestId, ServerJsonRpcMessage},
    service::{RxJsonRpcMessage, ServiceRole, TxJsonRpcMessage},
    transport::Transport,
};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

/// How much of an oversized message's beginning and end is kept to find its `id`.
const KEEP: usize = 1024;

pub struct LineTransport<Role: ServiceRole, R, W> {
    read: BufReader<R>,
    line: Vec<u8>,
    /// Set while skipping the rest of a message over the limit.
    skipping: Option<Oversized>,
    max: usize,
    /// Who is at the other end, for messages: `server "git"`, `the client`.
    peer: Arc<str>,
    write: Arc<tokio::sync::Mutex<Option<W>>>,
    /// What rewrites messages between the wire and rmcp, when anything does.
    adapter: Option<Arc<dyn WireAdapter<Role>>>,
    /// rmcp's `server/discover` probe while it is unanswered.
    probe: Option<RequestId>,
    /// A probe rmcp gave up on (it timed out and `initialize` followed): its late answer
    /// is dropped, as rmcp would take it for the answer to `initialize` and fail the
    /// handshake ("conflict initialized response id") — a server slower than rmcp's
    /// ten-second probe could then never be started.
    abandoned: Option<RequestId>,
    /// Requests written beside rmcp, whose answers go straight to their callers.
    direct: Option<Arc<direct::DirectRequests<RxJsonRpcMessage<Role>>>>,
    _role: PhantomData<fn() -> Role>,
}

/// Rewrites what rmcp cannot parse or say: the 2025-11-25 task methods a legacy client
/// sends, and the parts of Baton's answers they need (see `downstream::legacy_tasks`).
pub trait WireAdapter<Role: ServiceRole>: Send + Sync {
    /// The message to parse instead of `message`, if it must change.
    fn inbound(&self, message: &[u8]) -> Option<Vec<u8>>;
    /// Adjusts a message before it is written.
    fn outbound(&self, message: &mut TxJsonRpcMessage<Role>);
}

/// What is known of a message over the limit: its size, beginning and end.
#[derive(Default)]
struct Oversized {
    size: usize,
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl Oversized {
    fn push(&mut self, bytes: &[u8]) {
        self.size += bytes.len();
        if self.head.len() < KEEP {
            let take = (KEEP - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
        }
        self.tail
            .extend_from_slice(&bytes[bytes.len().saturating_sub(KEEP)..]);
        let excess = self.tail.len().saturating_sub(KEEP);
        self.tail.drain(..excess);
    }
}

enum Read {
    Line,
    Oversized(Oversized),
    Eof,
}

impl<Role, R, W> LineTransport<Role, R, W>
where
    Role: Decode,
    R: AsyncRead + Send + Unpin,
    W: AsyncWrite + Send + Unpin + 'static,
{
    pub fn new(read: R, write: W, max: usize, peer: impl Into<Arc<str>>) -> Self {
        LineTransport {
            read: BufReader::with_capacity(64 * 1024, read),
            line: Vec::new(),
            skipping: None,
            max,
            peer: peer.into(),
            write: Arc::new(tokio::sync::Mutex::new(Some(write))),
            adapter: None,
            probe: None,
            abandoned: None,
            direct: None,
            _role: PhantomData,
        }
    }

    /// Messages go through `adapter` both ways.
    pub fn with_adapter(mut self, adapter: Arc<dyn WireAdapter<Role>>) -> Self {
        self.adapter = Some(adapter);
        self
    }

    /// Reads one line into `self.line`, never holding more than `max` bytes of it.
    /// Cancellation-safe: partial state lives in `self`, and each copy is followed by its
    /// `consume` with no await between them.
    async fn read_line(&mut self) -> std::io::Result<Read> {
        loop {
            let available = self.read.fill_buf().await?;
            if available.is_empty() {
                return Ok(Read::Eof);
            }
            let newline = memchr::memchr(b'\n', available);
            let take = newline.map_or(available.len(), |at| at + 1);
            let chunk = &available[..take];
            if let Some(skipping) = &mut self.skipping {
                skipping.push(chunk);
            } else if self.line.len() + take > self.max + 1 {
                let mut skipping = Oversized::default();
                skipping.push(&self.line);
                skipping.push(chunk);
                self.line.clear();
                self.skipping = Some(skipping);
            } else {
                self.line.extend_from_slice(chunk);
            }
            self.read.consume(take);
            if newline.is_some() {
                return Ok(match self.skipping.take() {
                    Some(oversized) => Read::Oversized(oversized),
                    None => Read::Line,
                });
            }
        }
    }

    fn too_large(&self, size: usize) -> ErrorData {
        too_large(&self.peer, size, self.max)
    }
}

impl<Role: ServiceRole, R, W> LineTransport<Role, R, W> {
    fn close_direct(&self) {
        if let Some(direct) = &self.direct {
            direct.close();
        }
    }
}

impl<Role: ServiceRole, R, W> Drop for LineTransport<Role, R, W> {
    fn drop(&mut self) {
        self.close_direct();
    }
}

impl<R, W> LineTransport<RoleClient, R, W>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    /// Requests to the server on the other end that skip rmcp's service loop
    /// ([`direct`]); this transport hands their answers back.
    pub fn direct_requests(&mut self) -> Arc<direct::DirectRequests<ServerJsonRpcMessage>> {
        if let Some(direct) = &self.direct {
            return direct.clone();
        }
        let write = self.write.clone();
        let direct = Arc::new(direct::DirectRequests::new(
            Box::new(move |bytes| {
                let write = write.clone();
                Box::pin(async move { write_line(&write, &bytes).await })
            }),
            |error| {
                rmcp::ServiceError::TransportSend(rmcp::transport::DynamicTransportError::new::<
                    Self,
                    RoleClient,
                >(error))
            },
            self.max,
            self.peer.clone(),
        ));
        self.direct = Some(direct.clone());
        direct
    }
}

/// An outgoing request over `max`: it is not sent.
fn request_too_large(size: usize, peer: &str, max: usize) -> std::io::Error {
    std::io::Error::other(format!(
        "a message of {size} bytes for {peer} is over max_message_bytes ({max} bytes)"
    ))
}

fn too_large(peer: &str, size: usize, max: usize) -> ErrorData {
    GatewayError::MessageTooLarge {
        peer: Some(peer.to_owned()),
        size,
        max,
    }
    .into()
}

/// An incoming message over `max` that arrived whole (an SSE event): the error answer to
/// deliver in its place when it answers a request; `None` (logged) otherwise.
pub(crate) fn answer_for_oversized<Role: ServiceRole>(
    message: &[u8],
    max: usize,
    peer: &str,
) -> Option<RxJsonRpcMessage<Role>> {
    let head = &message[..message.len().min(KEEP)];
    let tail = &message[message.len().saturating_sub(KEEP)..];
    let shape = Shape::of(head, tail);
    tracing::warn!(%peer, size = message.len(), max, ?shape, "a message is over max_message_bytes");
    match shape {
        Shape::Answer(id) => Some(RxJsonRpcMessage::<Role>::error(
            too_large(peer, message.len(), max),
            Some(id),
        )),
        _ => None,
    }
}

impl<Role, R, W> Transport<Role> for LineTransport<Role, R, W>
where
    Role: Decode,
    R: AsyncRead + Send + Unpin,
    W: AsyncWrite + Send + Unpin + 'static,
{
    type Error = std::io::Error;

    fn send(
        &mut self,
        mut item: TxJsonRpcMessage<Role>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        if let Some(adapter) = &self.adapter {
            adapter.outbound(&mut item);
        }
        match Role::handshake(&item) {
            decode::Handshake::Probe(id) => self.probe = Some(id),
            decode::Handshake::Initialize => self.abandoned = self.probe.take(),
            decode::Handshake::Other => {}
        }
        let write = self.write.clone();
        let (max, peer) = (self.max, self.peer.clone());
        async move {
            let mut bytes = Role::encode(&item).map_err(std::io::Error::other)?;
            if bytes.len() > max {
                let size = bytes.len();
                let id = match &item {
                    JsonRpcMessage::Response(response) => Some(response.id.clone()),
                    _ => None,
                };
                let Some(id) = id else {
                    return Err(request_too_large(size, &peer, max));
                };
                tracing::warn!(%peer, size, max, "an answer is over max_message_bytes; sending an error instead");
                let error = GatewayError::MessageTooLarge {
                    peer: None,
                    size,
                    max,
                }
                .into();
                let replaced = TxJsonRpcMessage::<Role>::error(error, Some(id));
                bytes = serde_json::to_vec(&replaced).map_err(std::io::Error::other)?;
            }
            bytes.push(b'\n');
            write_line(&write, &bytes).await
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<Role>> {
        loop {
            let oversized = match self.read_line().await {
                Ok(Read::Line) => None,
                Ok(Read::Oversized(oversized)) => Some(oversized),
                Ok(Read::Eof) => {
                    self.close_direct();
                    return None;
                }
                Err(error) => {
                    tracing::warn!(peer = %self.peer, %error, "reading from the stream failed");
                    self.close_direct();
                    return None;
                }
            };
            if let Some(oversized) = oversized {
                let shape = Shape::of(&oversized.head, &oversized.tail);
                let error = self.too_large(oversized.size);
                tracing::warn!(peer = %self.peer, size = oversized.size, max = self.max, ?shape, "a message is over max_message_bytes");
                match shape {
                    // An answer: fails the request it answers, at once.
                    Shape::Answer(id) => {
                        let answer = RxJsonRpcMessage::<Role>::error(error, Some(id.clone()));
                        let Some(direct) = &self.direct else {
                            return Some(answer);
                        };
                        match direct.deliver(&id, answer) {
                            Ok(()) => continue,
                            Err(answer) => return Some(answer),
                        }
                    }
                    // A request: answered with the error.
                    Shape::Request(id) => {
                        let reply = TxJsonRpcMessage::<Role>::error(error, Some(id));
                        let mut bytes = serde_json::to_vec(&reply).ok()?;
                        bytes.push(b'\n');
                        if write_line(&self.write, &bytes).await.is_err() {
                            return None;
                        }
                    }
                    Shape::Unknown => {}
                }
                continue;
            }
            let line = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
            if line.iter().all(u8::is_ascii_whitespace) {
                self.line.clear();
                continue;
            }
            let rewritten = self.adapter.as_ref().and_then(|a| a.inbound(line));
            let parsed = Role::decode(rewritten.as_deref().unwrap_or(line));
            match parsed {
                Ok(message) => {
                    self.line.clear();
                    let answers = match &message {
                        JsonRpcMessage::Response(JsonRpcResponse { id, .. }) => Some(id),
                        JsonRpcMessage::Error(JsonRpcError { id, .. }) => id.as_ref(),
                        _ => None,
                    };
                    if let Some(id) = answers {
                        if self.abandoned.as_ref() == Some(id) {
                            tracing::debug!(peer = %self.peer, "dropping the late answer to an abandoned server/discover probe");
                            self.abandoned = None;
                            continue;
                        }
                        if self.probe.as_ref() == Some(id) {
                            self.probe = None;
                        }
                        if let Some(direct) = &self.direct {
                            let id = id.clone();
                            match direct.deliver(&id, message) {
                                Ok(()) => continue,
                                Err(message) => return Some(message),
                            }
                        }
                    }
                    return Some(message);
                }
                Err(error) => {
                    // Not JSON-RPC (or a message type Baton does not know): skipped, as the
                    // official SDKs do, so that a stray line cannot stop the session.
                    tracing::debug!(peer = %self.peer, %error, "ignoring a line that is not a JSON-RPC message");
                    self.line.clear();
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.close_direct();
        let mut write = self.write.lock().await;
        if let Some(mut write) = write.take() {
            let _ = write.shutdown().await;
        }
        Ok(())
    }
}

async fn write_line<W: AsyncWrite + Unpin>(
    write: &tokio::sync::Mutex<Option<W>>,
    bytes: &[u8],
) -> std::io::Result<()> {
    let mut write = write.lock().await;
    let Some(write) = write.as_mut() else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotConnected,
            "the transport is closed",
        ));
    };
    write.write_all(bytes).await?;
    write.flush().await
}

/// What an oversized message is, from its beginning and end.
#[derive(Debug, PartialEq)]
enum Shape {
    Answer(RequestId),
    Request(RequestId),
    Unknown,
}

impl Shape {
    fn of(head: &[u8], tail: &[u8]) -> Shape {
        let keys = top_level_keys(head);
        let id = keys
            .iter()
            .find(|(key, _)| key == "id")
            .and_then(|(_, value)| value.clone())
            .or_else(|| trailing_id(tail));
        let is_request = keys.iter().any(|(key, _)| key == "method");
        match id {
            Some(id) if is_request => Shape::Request(id),
            Some(id) => Shape::Answer(id),
            None => Shape::Unknown,
        }
    }
}

/// The keys of the outermost object seen in `head`, with the value of scalar `id`s.
fn top_level_keys(head: &[u8]) -> Vec<(String, Option<RequestId>)> {
    let mut keys = Vec::new();
    let (mut depth, mut index) = (0usize, 0usize);
    let mut expect_key = false;
    while index < head.len() {
        match head[index] {
            b'{' | b'[' => {
                depth += 1;
                expect_key = depth == 1 && head[index] == b'{';
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' if depth == 1 => expect_key = true,
            b'"' => {
                let Some(end) = string_end(head, index) else {
                    break;
                };
                if depth == 1 && expect_key {
                    let key = String::from_utf8_lossy(&head[index + 1..end]).into_owned();
                    let value = scalar_after_colon(&head[end + 1..]);
                    keys.push((key, value));
                    expect_key = false;
                }
                index = end;
            }
            _ => {}
        }
        index += 1;
    }
    keys
}

/// The index of the quote closing the string that starts at `start`.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut index = start + 1;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' => index += 2,
            b'"' => return Some(index),
            _ => index += 1,
        }
    }
    None
}

/// A number or string after `:` (an `id`'s value), if complete.
fn scalar_after_colon(rest: &[u8]) -> Option<RequestId> {
    let text = std::str::from_utf8(rest).ok().or_else(|| {
        // A cut in the middle of a character: the valid prefix is enough.
        let valid = std::str::from_utf8(rest).err()?.valid_up_to();
        std::str::from_utf8(&rest[..valid]).ok()
    })?;
    let value = text.trim_start().strip_prefix(':')?.trim_start();
    if let Some(quoted) = value.strip_prefix('"') {
        let end = quoted.find('"')?;
        return Some(RequestId::String(quoted[..end].into()));
    }
    let digits: String = value
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    let after = value[digits.len()..].trim_start();
    if after.starts_with(',') || after.starts_with('}') {
        digits.parse().ok().map(RequestId::Number)
    } else {
        None
    }
}

/// An `"id": …` that closes the message (`…,"id":5}`), as the TypeScript SDK writes it.
fn trailing_id(tail: &[u8]) -> Option<RequestId> {
    let text = String::from_utf8_lossy(tail);
    let body = text.trim_end().strip_suffix('}')?.trim_end();
    let at = body.rfind("\"id\"")?;
    let value = body[at + 4..].trim_start().strip_prefix(':')?.trim();
    if let Some(quoted) = value.strip_prefix('"') {
        let inner = quoted.strip_suffix('"')?;
        return (!inner.contains('"')).then(|| RequestId::String(inner.into()));
    }
    value.parse().ok().map(RequestId::Number)
}

#[cfg(test)]
mod tests;
