//! The session manager's part in the direct path ([`super::super::direct`]): which
//! sessions may take it, their calls counted like rmcp's request streams, cancellations
//! and resumes of direct calls.

use std::{
    pin::Pin,
    sync::atomic::{AtomicU64, Ordering},
};

use futures::Stream;
use rmcp::{
    Peer, RoleServer,
    model::{ClientJsonRpcMessage, ClientNotification, JsonRpcMessage},
    transport::streamable_http_server::session::{ServerSseMessage, SessionId},
};
use tokio_util::sync::CancellationToken;

use super::{Parking, State, StreamGuard, StreamKind};

use crate::downstream::{DownstreamSession, MCP_SESSION_ID, direct};

/// The next direct call's stream number (unique in the process).
static NEXT_STREAM: AtomicU64 = AtomicU64::new(direct::FIRST_STREAM);

impl Parking {
    /// Session `id` is served by `handler` with `peer` (told once it is initialized);
    /// `false` when the session is not live.
    pub(crate) fn offer_direct(
        &self,
        id: &str,
        handler: DownstreamSession,
        peer: Peer<RoleServer>,
    ) -> bool {
        match self.records().get(id) {
            Some(record) if record.state == State::Live => {
                record.direct.offer(handler, peer);
                true
            }
            _ => false,
        }
    }

    /// Serves the POST (`parts`, `body`) on the direct path when it can take it (taking
    /// `parts`): the answer to await; else `None`, for rmcp. The call counts as one of
    /// `gateway`'s requests in flight until its answer has been sent.
    pub(crate) fn direct_call(
        &self,
        parts: &mut Option<http::request::Parts>,
        decoded: &mut direct::Decoded,
        shutdown: &CancellationToken,
        gateway: &std::sync::Arc<crate::gateway::Gateway>,
    ) -> Option<Pin<Box<impl Future<Output = axum::response::Response> + Send + use<>>>> {
        let headers = &parts.as_ref()?.headers;
        let id = headers.get(MCP_SESSION_ID)?.to_str().ok()?;
        if !direct::takes(headers, decoded) {
            return None;
        }
        let id = SessionId::from(id);
        let (session, handler, peer) = {
            let mut records = self.records();
            let record = records.get_mut(&id)?;
            let (handler, peer) = (record.state == State::Live && record.initialized)
                .then(|| record.direct.served_by())
                .flatten()?;
            // As `note_message` and `stream_opened` would: a call pins the session.
            record.last_active = Some(std::time::Instant::now());
            record.pinned = true;
            record.streams += 1;
            (record.direct.clone(), handler, peer)
        };
        let mut guard = StreamGuard {
            parking: self.this(),
            id,
            kind: StreamKind::Request,
            finished: false,
        };
        let start = direct::Start {
            session,
            handler,
            peer,
            stream: NEXT_STREAM.fetch_add(1, Ordering::Relaxed),
            on_end: Box::new(move |finished| {
                guard.finished = finished;
                drop(guard);
            }),
            shutdown: shutdown.clone(),
            answering: gateway.request_started(),
            outbound: self.legacy_tasks.clone(),
        };
        // Boxed here: an `Option` of the call's future held by the caller would enlarge
        // the caller's future by the whole call's.
        Some(Box::pin(direct::serve(
            decoded.take()?,
            parts.take()?,
            start,
        )))
    }

    /// A client's `notifications/cancelled` for a direct call of session `id` cancels it.
    pub(super) fn direct_cancelled(&self, id: &SessionId, message: &ClientJsonRpcMessage) {
        let JsonRpcMessage::Notification(notification) = message else {
            return;
        };
        let ClientNotification::CancelledNotification(cancelled) = &notification.notification
        else {
            return;
        };
        let Some(request) = cancelled.params.request_id.as_ref() else {
            return;
        };
        if let Some(record) = self.records().get(id) {
            record.direct.cancelled(request);
        }
    }

    /// A resume of a direct call's stream (`Last-Event-ID` `<index>/<stream>`, the stream
    /// a direct one), if it is still kept.
    pub(super) fn direct_resume(
        &self,
        id: &SessionId,
        last_event_id: &str,
    ) -> Option<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static + use<>> {
        let (index, stream) = last_event_id.split_once('/')?;
        let (index, stream) = (index.parse::<usize>().ok()?, stream.parse::<u64>().ok()?);
        if stream < direct::FIRST_STREAM {
            return None;
        }
        let session = self.records().get(id)?.direct.clone();
        session.resume(stream, index)
    }
}
