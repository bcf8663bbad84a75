//! Requests to a stdio upstream sent beside rmcp's service loop.
//!
//! Through rmcp, a request to an upstream crosses its client's service task twice: the
//! peer hands the request to the task over a channel, the task numbers it, writes it and
//! keeps a responder; the transport's answer goes back through the task to that responder.
//! [`DirectRequests`] writes the request line itself (under the transport's own write lock,
//! so lines never interleave) and the transport hands the answer straight to the waiting
//! call ([`LineTransport`](super::LineTransport)'s `receive`), so rmcp's task sees neither.
//!
//! Everything else still goes through rmcp on the same transport: the handshake, the
//! server's notifications (progress under the request's token reaches the relay as before)
//! and its requests to Baton, and `notifications/cancelled` for a direct request. (rmcp
//! takes a 2026-07-28 server's sampling, elicitation or roots request only while one of
//! its own requests is in flight, SEP-2260; that revision has `input_required` instead.)
//! Direct requests are numbered from [`FIRST_ID`] and carry the same number as their
//! progress token: rmcp numbers its own requests and tokens from 0 as `u32`s, so the two
//! never meet.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicI64, Ordering},
};

use futures::future::BoxFuture;
use rmcp::{
    RoleClient, ServiceError,
    model::{
        ClientJsonRpcMessage, ClientRequest, GetMeta, JsonRpcMessage, NumberOrString,
        ProgressToken, RequestId, RequestMetaObject, ServerJsonRpcMessage, ServerResult,
    },
};
use tokio::sync::oneshot;

use super::Decode;

/// The first direct request's number (above every `u32` rmcp may use).
pub const FIRST_ID: i64 = 1 << 40;

type WriteLine = Box<dyn Fn(Vec<u8>) -> BoxFuture<'static, std::io::Result<()>> + Send + Sync>;

/// A transport's direct requests in flight, and how to write one.
pub struct DirectRequests<M> {
    next: AtomicI64,
    /// `None` once the transport has ended: its answers can no longer come.
    pending: Mutex<Option<crate::FastMap<i64, oneshot::Sender<M>>>>,
    write: WriteLine,
    /// The error rmcp reports when the transport fails to send (the same words).
    send_error: fn(std::io::Error) -> ServiceError,
    max: usize,
    peer: Arc<str>,
}

impl<M> DirectRequests<M> {
    pub(super) fn new(
        write: WriteLine,
        send_error: fn(std::io::Error) -> ServiceError,
        max: usize,
        peer: Arc<str>,
    ) -> Self {
        DirectRequests {
            next: AtomicI64::new(FIRST_ID),
            pending: Mutex::new(Some(crate::FastMap::default())),
            write,
            send_error,
            max,
            peer,
        }
    }

    /// Takes `message`, the answer to request `id`, when that is a direct request: hands it
    /// to the call waiting for it (if it still waits). `Err` gives back anything else.
    pub(super) fn deliver(&self, id: &RequestId, message: M) -> Result<(), M> {
        let RequestId::Number(number) = id else {
            return Err(message);
        };
        if *number < FIRST_ID {
            return Err(message);
        }
        let waiting = lock(&self.pending)
            .as_mut()
            .and_then(|pending| pending.remove(number));
        match waiting {
            Some(waiting) => {
                let _ = waiting.send(message);
            }
            None => {
                tracing::debug!(peer = %self.peer, id = number, "dropping the answer to a request no one waits for any more")
            }
        }
        Ok(())
    }

    /// The transport ended: every call waiting fails (its connection closed), and so does
    /// any later one.
    pub(super) fn close(&self) {
        lock(&self.pending).take();
    }

    fn forget(&self, number: i64) {
        if let Some(pending) = lock(&self.pending).as_mut() {
            pending.remove(&number);
        }
    }
}

impl DirectRequests<ServerJsonRpcMessage> {
    /// Sends `request` as rmcp's `Peer::send_request_with_option` would: `meta` (for a
    /// 2026-07-28 server, the client metadata rmcp adds, then Baton's) merged into its
    /// `_meta`, and a progress token; the answer is awaited on the result. A plain call
    /// (no `_meta` of its own) with no `meta` or a shared one is written from the borrowed
    /// request; any other request is copied to have the object merged into its own.
    pub async fn send(
        self: &Arc<Self>,
        request: &ClientRequest,
        meta: Option<Meta>,
    ) -> Result<Sent, ServiceError> {
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        let progress_token = ProgressToken(NumberOrString::Number(number));
        let members = match &meta {
            None => Some(""),
            Some(Meta::Shared(shared)) => Some(shared.members.as_str()),
            Some(Meta::Built(_)) => None,
        };
        let bytes = match (request, members) {
            (ClientRequest::CallToolRequest(call), Some(members))
                if super::decode::writes_plainly(request) =>
            {
                super::decode::call_tool_line_with(number, call, members)
            }
            _ => {
                let mut request = request.clone();
                let own = request.get_meta_mut();
                match meta.map(Meta::into_object) {
                    Some(meta) if own.is_empty() => *own = meta,
                    Some(meta) => own.extend(meta),
                    None => {}
                }
                own.set_progress_token(progress_token.clone());
                RoleClient::encode(&ClientJsonRpcMessage::request(
                    request,
                    RequestId::Number(number),
                ))
            }
        };
        let mut bytes = bytes.map_err(|error| (self.send_error)(std::io::Error::other(error)))?;
        if bytes.len() > self.max {
            return Err((self.send_error)(super::request_too_large(
                bytes.len(),
                &self.peer,
                self.max,
            )));
        }
        let (sender, answer) = oneshot::channel();
        match lock(&self.pending).as_mut() {
            Some(pending) => pending.insert(number, sender),
            None => return Err(ServiceError::TransportClosed),
        };
        // From here the entry is removed when `sent` is dropped, however the call ends.
        let sent = Sent {
            id: RequestId::Number(number),
            progress_token,
            answer,
            owner: self.clone(),
        };
        bytes.push(b'\n');
        (self.write)(bytes).await.map_err(self.send_error)?;
        Ok(sent)
    }
}

/// What a direct request carries in its `_meta` besides its progress token.
pub enum Meta {
    /// Built for this request.
    Built(RequestMetaObject),
    /// The same for a connection's requests, written once.
    Shared(Arc<SharedMeta>),
}

impl Meta {
    /// The object itself (a shared one cloned).
    pub fn into_object(self) -> RequestMetaObject {
        match self {
            Meta::Built(object) => object,
            Meta::Shared(shared) => shared.object.clone(),
        }
    }
}

/// A `_meta` many requests carry, with its members already written as JSON.
pub struct SharedMeta {
    pub object: RequestMetaObject,
    /// The object's members as JSON, without the braces.
    pub members: String,
}

impl SharedMeta {
    pub fn new(object: RequestMetaObject) -> Self {
        let written = serde_json::to_string(&object.0.0).unwrap_or_else(|_| "{}".to_owned());
        let members = written
            .strip_prefix('{')
            .and_then(|inner| inner.strip_suffix('}'))
            .unwrap_or_default()
            .to_owned();
        SharedMeta { object, members }
    }
}

/// A direct request written, waiting for its answer.
pub struct Sent {
    pub id: RequestId,
    pub progress_token: ProgressToken,
    answer: oneshot::Receiver<ServerJsonRpcMessage>,
    owner: Arc<DirectRequests<ServerJsonRpcMessage>>,
}

impl Sent {
    /// The server's answer, as rmcp's `RequestHandle::await_response` gives it.
    pub async fn response(&mut self) -> Result<ServerResult, ServiceError> {
        match (&mut self.answer).await {
            Ok(JsonRpcMessage::Response(response)) => Ok(response.result),
            Ok(JsonRpcMessage::Error(error)) => Err(ServiceError::McpError(error.error)),
            Ok(_) => Err(ServiceError::UnexpectedResponse),
            Err(_) => Err(ServiceError::TransportClosed),
        }
    }
}

impl Drop for Sent {
    fn drop(&mut self) {
        if let RequestId::Number(number) = self.id {
            self.owner.forget(number);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
