//! Idle streamable HTTP sessions, parked. A live rmcp session is a worker task, a service
//! task and seven channels (~100 KB, whatever the session does); a session left alone
//! needs none of it. [`Parking`] is the session manager `/mcp` runs on: it wraps rmcp's
//! [`LocalSessionManager`] and, once a session has been idle for [`PARK_AFTER`], closes its
//! worker and service and keeps only a [`Record`] (the client's `initialize` parameters as
//! JSON, its place under the caps, what it has seen): well under a kilobyte. The session's
//! next request (POST, GET or DELETE) finds no live session and asks the store: rmcp then
//! restores it (a new worker and service, the `initialize` handshake replayed from the
//! record), and the request is served as if nothing happened.
//!
//! Only a session whose state is all in the record is parked: one that has sent nothing
//! but `initialize`, `notifications/initialized`, `ping`, the four lists, cancellations
//! and roots changes (a call, a prompt, a read, a subscription, a completion, a log level
//! may leave state in the session's handler; such a session lives until `idle_timeout`,
//! as before), with no stream open, no request stream the client dropped before its end
//! (rmcp keeps it for a resume for a minute), and no message sent while it had no
//! GET stream (rmcp keeps those for its next GET). What a parked session would have been
//! told meanwhile is told when it comes back: each list (tools, prompts, resources) that
//! changed since the client last had a GET stream gets its `list_changed`.
//!
//! Expiry stays `serve.sessions.idle_timeout` from the last activity, parked or not; a
//! session whose client sent `initialize` but never `notifications/initialized` ends after
//! `serve.sessions.init_timeout` (the same sweep). The end of a session (expiry, DELETE,
//! `init_timeout`, shutdown) frees its record and place.

use std::{
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use futures::Stream;
use rmcp::{
    RoleServer,
    model::{
        ClientJsonRpcMessage, ClientNotification, ClientRequest, JsonRpcMessage,
        NotificationNoParam, ServerJsonRpcMessage, ServerNotification,
    },
    transport::{
        Transport,
        streamable_http_server::session::{
            RestoreOutcome, ServerSseMessage, SessionId, SessionManager, SessionState,
            SessionStore, SessionStoreError,
            local::{
                LocalSessionManager, LocalSessionManagerError, LocalSessionWorkerError,
                SessionTransport,
            },
        },
    },
};
use tokio_util::sync::CancellationToken;

use super::sessions::SessionSlot;
use crate::gateway::Gateway;

/// How long a session is left idle before it is parked.
pub const PARK_AFTER: Duration = Duration::from_secs(10);

/// How long rmcp keeps a request stream the client dropped before its end, for a resume
/// (`SessionConfig::completed_cache_ttl`): such a session is not parked before.
pub(super) const RESUMABLE_FOR: Duration =
    rmcp::transport::streamable_http_server::session::local::SessionConfig::DEFAULT_COMPLETED_CACHE_TTL;

/// How often sessions are looked at for parking and parked ones for expiry.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The session manager of `/mcp`: rmcp's local one, with idle sessions parked.
pub struct Parking {
    inner: LocalSessionManager,
    /// Itself, for the streams and transports it hands out.
    this: std::sync::Weak<Parking>,
    /// Keyed by ids Baton generated (a client only looks them up), so a fast hash will do.
    records: Mutex<crate::FastMap<SessionId, Record>>,
    gateway: Arc<Gateway>,
    idle_timeout: Duration,
    init_timeout: Duration,
    park_after: Duration,
    /// Told when a session finishes parking (a restore waits for it).
    parked: tokio::sync::Notify,
    /// When sessions were last parked or ended (their memory freed), until the allocator
    /// was nudged to give it back ([`nudge_allocator`]); and how many records there were.
    freed: Mutex<(Option<Instant>, usize)>,
    /// The 2025-11-25 tasks shim's outbound half (its inbound half is in `http.rs`).
    legacy_tasks: Arc<super::legacy_tasks::LegacyTasks>,
}

/// How long after sessions were freed the allocator is nudged: mimalloc gives freed memory
/// back to the system (purges it) only once it has been free for its purge delay (1 s).
const PURGE_AFTER: Duration = Duration::from_millis(1500);

/// Makes mimalloc purge what has been free for its purge delay: it looks for such memory
/// only when it frees a whole page, so a process that went quiet right after closing many
/// sessions would keep their memory committed (~95 KB each; BENCHMARKS.md, "Start-up and
/// idle memory"). Freeing one large block is such a page free.
fn nudge_allocator() {
    let block: Vec<u8> = Vec::with_capacity(4 << 20);
    drop(std::hint::black_box(block));
}

/// What is kept of a session while it lives, and all that is kept while it is parked.
#[derive(Default)]
struct Record {
    /// Its place under the session caps (freed with the record).
    slot: Option<SessionSlot>,
    /// The client's `initialize` parameters, as JSON (replayed when it comes back).
    params: Option<Box<[u8]>>,
    state: State,
    /// When `initialize` created it.
    opened: Option<Instant>,
    /// `notifications/initialized` arrived.
    initialized: bool,
    /// It used a method that may leave state in its handler: never parked.
    pinned: bool,
    /// A message was sent while it had no GET stream (kept by rmcp for the next GET).
    undelivered: bool,
    /// Streams open on it (request answers, GET streams, resumes); GET streams among them.
    streams: u32,
    get_streams: u32,
    last_active: Option<Instant>,
    /// A request stream was dropped before its end: rmcp keeps it for a resume until then.
    resumable_until: Option<Instant>,
    /// The list generations the client has been told of (tools, prompts, resources).
    seen: [u64; 3],
    /// Closes of parked services still to come (each ends with one `close_session`).
    stale_closes: u32,
    /// Its handler and calls for the direct path ([`super::direct`]).
    direct: Arc<super::direct::DirectSession>,
}

#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    #[default]
    Live,
    /// Its worker is being closed.
    Parking,
    Parked,
}

impl Record {
    fn parkable(&self, now: Instant, park_after: Duration) -> bool {
        self.state == State::Live
            && self.initialized
            && !self.pinned
            && !self.undelivered
            && self.streams == 0
            && self.params.is_some()
            && self.resumable_until.is_none_or(|until| now >= until)
            && self
                .last_active
                .is_some_and(|at| now.duration_since(at) >= park_after)
    }
}

impl Parking {
    /// A manager whose sessions expire after `idle_timeout` (rmcp's own keep-alive ends a
    /// live idle session, the sweep — [`Parking::run`] — a parked one), and whose sessions
    /// that never sent `notifications/initialized` end after `init_timeout`.
    pub fn new(
        gateway: Arc<Gateway>,
        idle_timeout: Duration,
        init_timeout: Duration,
    ) -> Arc<Parking> {
        let mut inner = LocalSessionManager::default();
        // Live sessions expire by the sweep too: calls on the direct path do not pass
        // through rmcp's worker, whose own keep-alive would not see them.
        inner.session_config.keep_alive = None;
        let legacy_tasks = super::legacy_tasks::LegacyTasks::new(&gateway);
        Arc::new_cyclic(|this| Parking {
            inner,
            this: this.clone(),
            records: Mutex::default(),
            gateway,
            idle_timeout,
            init_timeout,
            park_after: PARK_AFTER,
            parked: tokio::sync::Notify::new(),
            freed: Mutex::new((None, 0)),
            legacy_tasks,
        })
    }

    /// The 2025-11-25 tasks shim of `/mcp`.
    pub fn legacy_tasks(&self) -> &super::legacy_tasks::LegacyTasks {
        &self.legacy_tasks
    }

    fn records(&self) -> std::sync::MutexGuard<'_, crate::FastMap<SessionId, Record>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sessions known (live and parked): (all, parked).
    pub fn counts(&self) -> (usize, usize) {
        let records = self.records();
        let parked = records
            .values()
            .filter(|record| record.state != State::Live)
            .count();
        (records.len(), parked)
    }

    /// Session `id` (just created for an `initialize`) keeps `slot` for as long as it lives.
    pub fn adopt(&self, id: &str, slot: SessionSlot) {
        if let Some(record) = self.records().get_mut(id) {
            record.slot = Some(slot);
        }
    }

    /// Ends session `id` for good: its record and place freed, its worker closed.
    pub async fn end(&self, id: &SessionId) {
        if let Some(record) = self.records().remove(id) {
            record.direct.withdraw(true);
        }
        let _ = self.inner.close_session(id).await;
    }

    /// Parks idle sessions and expires parked ones, every [`SWEEP_EVERY`], until `stop`.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => self.sweep().await,
            }
        }
    }

    async fn sweep(&self) {
        let now = Instant::now();
        {
            let mut freed = self.freed.lock().unwrap_or_else(|p| p.into_inner());
            if freed
                .0
                .is_some_and(|at| now.duration_since(at) >= PURGE_AFTER)
            {
                nudge_allocator();
                freed.0 = None;
            }
        }
        let (to_park, unfinished, expired) = {
            let mut records = self.records();
            records.retain(|_, record| {
                record.state != State::Parked
                    || record
                        .last_active
                        .is_none_or(|at| now.duration_since(at) < self.idle_timeout)
            });
            // A live session idle for `idle_timeout` with no request in flight ends.
            let expired: Vec<SessionId> = records
                .iter()
                .filter(|(_, record)| {
                    record.direct.sweep(now);
                    record.state == State::Live
                        && record.streams == record.get_streams
                        && record
                            .last_active
                            .is_some_and(|at| now.duration_since(at) >= self.idle_timeout)
                })
                .map(|(id, _)| id.clone())
                .collect();
            let unfinished: Vec<SessionId> = records
                .iter()
                .filter(|(_, record)| {
                    !record.initialized
                        && record
                            .opened
                            .is_some_and(|at| now.duration_since(at) >= self.init_timeout)
                })
                .map(|(id, _)| id.clone())
                .collect();
            let to_park: Vec<SessionId> = records
                .iter_mut()
                .filter(|(_, record)| record.parkable(now, self.park_after))
                .map(|(id, record)| {
                    record.state = State::Parking;
                    record.stale_closes += 1;
                    record.direct.withdraw(false);
                    id.clone()
                })
                .collect();
            (to_park, unfinished, expired)
        };
        let any_freed = !to_park.is_empty() || !unfinished.is_empty() || !expired.is_empty();
        for id in expired {
            tracing::debug!(session = %id, "closing a session idle for serve.sessions.idle_timeout");
            self.end(&id).await;
        }
        for id in unfinished {
            tracing::info!(session = %id, "closing a session that never sent notifications/initialized");
            self.end(&id).await;
        }
        for id in to_park {
            let _ = self.inner.close_session(&id).await;
            if let Some(record) = self.records().get_mut(&id)
                && record.state == State::Parking
            {
                record.state = State::Parked;
            }
            self.parked.notify_waiters();
        }
        let (count, parked) = self.counts();
        let mut freed = self.freed.lock().unwrap_or_else(|p| p.into_inner());
        if any_freed || count < freed.1 {
            freed.0 = Some(Instant::now());
        }
        freed.1 = count;
        drop(freed);
        crate::metrics::sessions_parked(parked);
    }

    /// Notes a client message on `id`: activity, the handshake's end, state it may leave.
    fn note_message(&self, id: &SessionId, message: &ClientJsonRpcMessage) {
        if let Some(record) = self.records().get_mut(id) {
            record.last_active = Some(Instant::now());
            match message {
                JsonRpcMessage::Notification(notification) => match &notification.notification {
                    ClientNotification::InitializedNotification(_) => record.initialized = true,
                    ClientNotification::CancelledNotification(_)
                    | ClientNotification::RootsListChangedNotification(_) => {}
                    _ => record.pinned = true,
                },
                JsonRpcMessage::Request(request) => {
                    record.pinned |= !match &request.request {
                        ClientRequest::PingRequest(_)
                        | ClientRequest::ListToolsRequest(_)
                        | ClientRequest::ListPromptsRequest(_)
                        | ClientRequest::ListResourcesRequest(_)
                        | ClientRequest::ListResourceTemplatesRequest(_) => true,
                        // A legacy client's tools/list, renamed by the tasks shim.
                        ClientRequest::CustomRequest(custom) => {
                            custom.method == super::legacy_tasks::TOOLS_LIST
                        }
                        _ => false,
                    };
                }
                _ => record.pinned = true,
            }
        }
    }

    /// A stream opens on `id`.
    fn stream_opened(&self, id: &SessionId, kind: StreamKind) -> Option<StreamGuard> {
        let mut records = self.records();
        let record = records.get_mut(id)?;
        record.streams += 1;
        record.last_active = Some(Instant::now());
        if kind == StreamKind::Get {
            record.get_streams += 1;
            // rmcp replays what it kept for the common stream to a new GET stream.
            record.undelivered = false;
        }
        Some(StreamGuard {
            parking: self.this(),
            id: id.clone(),
            kind,
            finished: false,
        })
    }

    fn stream_closed(&self, guard: &StreamGuard) {
        let lists = self.gateway.list_generations();
        let mut records = self.records();
        let Some(record) = records.get_mut(&guard.id) else {
            return;
        };
        let now = Instant::now();
        record.streams = record.streams.saturating_sub(1);
        record.last_active = Some(now);
        match guard.kind {
            StreamKind::Get => {
                record.get_streams = record.get_streams.saturating_sub(1);
                if record.get_streams == 0 {
                    // Everything announced until now went out on a GET stream.
                    record.seen = lists;
                }
            }
            StreamKind::Request if !guard.finished => {
                record.resumable_until = Some(now + RESUMABLE_FOR);
            }
            StreamKind::Request => {}
        }
    }

    /// The service of `id` sends `message`.
    fn note_sent(&self, id: &SessionId, message: &ServerJsonRpcMessage) {
        let announcement = match message {
            JsonRpcMessage::Notification(notification) => !matches!(
                notification.notification,
                ServerNotification::ToolListChangedNotification(_)
                    | ServerNotification::PromptListChangedNotification(_)
                    | ServerNotification::ResourceListChangedNotification(_)
            ),
            JsonRpcMessage::Request(_) => true,
            _ => false,
        };
        if let Some(record) = self.records().get_mut(id) {
            // What the session sends is activity, as it was for rmcp's keep-alive.
            record.last_active = Some(Instant::now());
            if announcement && record.get_streams == 0 {
                record.undelivered = true;
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum StreamKind {
    /// A request's answer (or a resume of one).
    Request,
    /// A GET stream (or a resume of the common stream).
    Get,
}

/// Counts a stream as open on its session until it is dropped.
struct StreamGuard {
    parking: Arc<Parking>,
    id: SessionId,
    kind: StreamKind,
    /// The stream was read to its end (the answer was sent whole).
    finished: bool,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.parking.stream_closed(self);
    }
}

/// A session's stream, counted while open.
pub struct Counted<S> {
    stream: Pin<Box<S>>,
    guard: Option<StreamGuard>,
}

impl<S: Stream<Item = ServerSseMessage>> Stream for Counted<S> {
    type Item = ServerSseMessage;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.stream.as_mut().poll_next(cx);
        if let Poll::Ready(None) = polled
            && let Some(guard) = self.guard.as_mut()
        {
            guard.finished = true;
        }
        polled
    }
}

fn counted<S>(stream: S, guard: Option<StreamGuard>) -> Counted<S> {
    Counted {
        stream: Box::pin(stream),
        guard,
    }
}

/// A session's transport: rmcp's, watched for what the service sends; for a session back
/// from parking, the list changes it missed are announced once its handshake is replayed.
pub struct Watched {
    inner: SessionTransport,
    parking: Arc<Parking>,
    id: SessionId,
    missed: Vec<ServerNotification>,
    /// What belongs to a direct call goes to it, not to rmcp's worker.
    direct: Arc<super::direct::DirectSession>,
}

impl Transport<RoleServer> for Watched {
    type Error = LocalSessionWorkerError;

    fn send(
        &mut self,
        mut item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.parking.note_sent(&self.id, &item);
        self.parking.legacy_tasks.outbound(&mut item);
        match self.direct.route(item) {
            None => futures::future::Either::Left(std::future::ready(Ok(()))),
            Some(item) => futures::future::Either::Right(self.inner.send(item)),
        }
    }

    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        let message = self.inner.receive().await?;
        let initialized = matches!(
            &message,
            JsonRpcMessage::Notification(n)
                if matches!(n.notification, ClientNotification::InitializedNotification(_))
        );
        if initialized {
            for notification in std::mem::take(&mut self.missed) {
                let _ = self
                    .inner
                    .send(ServerJsonRpcMessage::notification(notification))
                    .await;
            }
        }
        Some(message)
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.inner.close().await
    }
}

/// The `list_changed` notifications of the lists (tools, prompts, resources) whose
/// generation moved past `seen`.
fn missed_lists(seen: [u64; 3], now: [u64; 3]) -> Vec<ServerNotification> {
    let changed = |list: usize| now[list] > seen[list];
    let mut missed = Vec::new();
    if changed(0) {
        missed.push(ServerNotification::ToolListChangedNotification(
            NotificationNoParam {
                method: Default::default(),
                extensions: Default::default(),
            },
        ));
    }
    if changed(1) {
        missed.push(ServerNotification::PromptListChangedNotification(
            NotificationNoParam {
                method: Default::default(),
                extensions: Default::default(),
            },
        ));
    }
    if changed(2) {
        missed.push(ServerNotification::ResourceListChangedNotification(
            NotificationNoParam {
                method: Default::default(),
                extensions: Default::default(),
            },
        ));
    }
    missed
}

impl Parking {
    fn this(&self) -> Arc<Parking> {
        self.this
            .upgrade()
            .expect("a Parking is only used through its Arc")
    }

    fn watch(
        &self,
        id: SessionId,
        inner: SessionTransport,
        missed: Vec<ServerNotification>,
        direct: Arc<super::direct::DirectSession>,
    ) -> Watched {
        Watched {
            inner,
            parking: self.this(),
            id,
            missed,
            direct,
        }
    }

    /// Whether session `id` is live (not parked, not being parked).
    fn live(&self, id: &SessionId) -> Result<(), LocalSessionManagerError> {
        match self.records().get(id) {
            Some(record) if record.state == State::Live => Ok(()),
            _ => Err(LocalSessionManagerError::SessionNotFound(id.clone())),
        }
    }

    /// Waits until session `id` is not being parked; its state then (`None`: it ended).
    async fn settled(&self, id: &SessionId) -> Option<State> {
        loop {
            let notified = self.parked.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.records().get(id).map(|record| record.state) {
                Some(State::Parking) => {}
                state => return state,
            }
            notified.await;
        }
    }
}

impl SessionManager for Parking {
    type Error = LocalSessionManagerError;
    type Transport = Watched;

    async fn create_session(&self) -> Result<(SessionId, Watched), Self::Error> {
        let (id, transport) = self.inner.create_session().await?;
        let now = Instant::now();
        let record = Record {
            seen: self.gateway.list_generations(),
            opened: Some(now),
            last_active: Some(now),
            ..Record::default()
        };
        let direct = record.direct.clone();
        self.records().insert(id.clone(), record);
        Ok((id.clone(), self.watch(id, transport, Vec::new(), direct)))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.inner.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        let live = match self.records().get_mut(id) {
            Some(record) if record.state == State::Live => {
                // A request is on its way: not parked under it.
                record.last_active = Some(Instant::now());
                true
            }
            _ => false,
        };
        Ok(live && self.inner.has_session(id).await?)
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        {
            let mut records = self.records();
            if let Some(record) = records.get_mut(id)
                && record.stale_closes > 0
            {
                // The end of a service this manager parked: the session lives on.
                record.stale_closes -= 1;
                return Ok(());
            }
            if let Some(record) = records.remove(id) {
                record.direct.withdraw(true);
            }
        }
        self.inner.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.live(id)?;
        self.note_message(id, &message);
        let mut guard = self.stream_opened(id, StreamKind::Request);
        match self.inner.create_stream(id, message).await {
            Ok(stream) => Ok(counted(stream, guard)),
            Err(error) => {
                if let Some(guard) = guard.as_mut() {
                    guard.finished = true;
                }
                Err(error)
            }
        }
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.live(id)?;
        self.note_message(id, &message);
        self.direct_cancelled(id, &message);
        self.inner.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.live(id)?;
        let guard = self.stream_opened(id, StreamKind::Get);
        Ok(counted(
            self.inner.create_standalone_stream(id).await?,
            guard,
        ))
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.live(id)?;
        // `<index>/<request>` resumes a request's stream, `<index>` the common one.
        let kind = if last_event_id.contains('/') {
            StreamKind::Request
        } else {
            StreamKind::Get
        };
        if let Some(stream) = self.direct_resume(id, &last_event_id) {
            let guard = self.stream_opened(id, kind);
            return Ok(futures::future::Either::Left(counted(stream, guard)));
        }
        let guard = self.stream_opened(id, kind);
        Ok(futures::future::Either::Right(counted(
            self.inner.resume(id, last_event_id).await?,
            guard,
        )))
    }

    async fn restore_session(&self, id: SessionId) -> Result<RestoreOutcome<Watched>, Self::Error> {
        if self.settled(&id).await != Some(State::Parked) {
            return Ok(RestoreOutcome::NotSupported);
        }
        let transport = match self.inner.restore_session(id.clone()).await? {
            RestoreOutcome::Restored(transport) => transport,
            RestoreOutcome::AlreadyPresent => return Ok(RestoreOutcome::AlreadyPresent),
            _ => return Ok(RestoreOutcome::NotSupported),
        };
        let lists = self.gateway.list_generations();
        let (missed, direct) = match self.records().get_mut(&id) {
            Some(record) => {
                record.state = State::Live;
                record.last_active = Some(Instant::now());
                let missed = missed_lists(record.seen, lists);
                record.seen = lists;
                (missed, record.direct.clone())
            }
            None => (Vec::new(), Arc::default()),
        };
        tracing::debug!(session = %id, "a parked session is back");
        Ok(RestoreOutcome::Restored(
            self.watch(id, transport, missed, direct),
        ))
    }
}

/// The parked sessions' `initialize` parameters, for rmcp to replay when one comes back.
#[async_trait::async_trait]
impl SessionStore for Parking {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        let params = match self.records().get(session_id) {
            Some(record) if record.state != State::Live => record.params.clone(),
            _ => None,
        };
        let Some(params) = params else {
            return Ok(None);
        };
        Ok(Some(SessionState::new(serde_json::from_slice(&params)?)))
    }

    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        let params = serde_json::to_vec(&state.initialize_params)?.into_boxed_slice();
        if let Some(record) = self.records().get_mut(session_id) {
            record.params = Some(params);
        }
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        self.end(&SessionId::from(session_id)).await;
        Ok(())
    }
}

mod direct_calls;
#[cfg(test)]
mod tests;
