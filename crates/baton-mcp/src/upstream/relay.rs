//! Relaying between one upstream session and the downstream clients whose calls it is
//! serving: progress notifications go back to the caller under the caller's own progress
//! token, and server-initiated requests (sampling, elicitation, roots) go to the caller.
//!
//! A shared upstream may serve several clients at once. Legacy servers do not say which
//! call a sampling request belongs to, so it goes to the caller of the most recent call
//! still in flight; with `isolation: per_client` there is only ever one caller.

// Sampling, roots and logging are deprecated by SEP-2577 but legacy-era servers still
// use them, and relaying them is this module's job.
#![allow(deprecated)]

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};

use rmcp::{
    ClientHandler, ErrorData, RoleClient, RoleServer,
    model::{
        ClientCapabilities, ClientConfig, CreateMessageRequestParams, CreateMessageResult,
        ElicitRequestParams, ElicitResult, Implementation, InputRequest, InputRequests,
        InputRequiredResult, ListRootsResult, LoggingMessageNotificationParam,
        ProgressNotificationParam, ProgressToken, ProtocolVersion, Request,
        ResourceUpdatedNotificationParam,
    },
    service::{NotificationContext, Peer, RequestContext},
};
use tokio::sync::mpsc;

use crate::tasks::InputSource;

/// A catalog change announced by an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListChanged {
    Tools,
    Prompts,
    Resources,
}

/// Sent to the gateway when an upstream's catalog changed or its connection ended.
#[derive(Debug, Clone)]
pub enum UpstreamEvent {
    ListChanged {
        server: String,
        list: ListChanged,
    },
    Closed {
        server: String,
    },
    /// A server came (back) up after a restart.
    Up {
        server: String,
    },
    /// A stdio server will be restarted after `after`.
    Restarting {
        server: String,
        attempt: u32,
        after: std::time::Duration,
    },
    /// A remote server had lost Baton's session (or its event stream dropped): Baton
    /// re-initialized it.
    SessionRecovered {
        server: String,
    },
    /// A stdio server kept crashing and is left down.
    Quarantined {
        server: String,
        crashes: u32,
    },
    /// Its circuit breaker changed state.
    Breaker {
        server: String,
        /// `Some` for a per-tool breaker (the upstream tool name).
        tool: Option<String>,
        transition: baton_resilience::Transition,
    },
    /// A log message sent while no client call was in flight: it goes to every client.
    Log {
        server: String,
        message: LoggingMessageNotificationParam,
    },
}

/// Who answers the server-initiated requests of a call in flight.
#[derive(Clone)]
enum Caller {
    /// The downstream client waiting on the call.
    Client(Peer<RoleServer>),
    /// No client on the line (a step of a Baton task): each request becomes an
    /// `input_required` round of its own for the call's input source, which parks it until
    /// the task's client answers (`tasks/update`).
    Input {
        source: Arc<dyn InputSource>,
        rounds: Arc<AtomicUsize>,
    },
}

#[derive(Default)]
struct Callers {
    /// In-flight calls, oldest first: (call id, who answers for it).
    calls: Vec<(u64, Caller)>,
    /// Upstream progress token → the call's progress watch.
    progress: crate::FastMap<ProgressToken, ProgressWatch>,
    /// Resource URI → clients subscribed to its updates.
    subscribers: HashMap<String, Vec<Peer<RoleServer>>>,
    /// Resource URI → the `subscriptions/listen` stream watching it on a 2026-07-28 server.
    resource_listens: HashMap<String, tokio::task::AbortHandle>,
}

/// Per-upstream-session relay state, shared by the client handler and the gateway.
pub struct Relay {
    server: String,
    next_call: AtomicU64,
    callers: Mutex<Callers>,
    events: mpsc::UnboundedSender<UpstreamEvent>,
}

impl Relay {
    pub fn new(server: &str, events: mpsc::UnboundedSender<UpstreamEvent>) -> Arc<Self> {
        Arc::new(Relay {
            server: server.to_owned(),
            next_call: AtomicU64::new(1),
            callers: Mutex::new(Callers::default()),
            events,
        })
    }

    /// Registers a call from `peer` (the caller of sampling/elicitation/roots requests the
    /// server may send meanwhile), or, without a peer, its `input` source. The registration
    /// ends when the guard drops.
    pub fn begin_call(
        self: &Arc<Self>,
        peer: Option<Peer<RoleServer>>,
        input: Option<Arc<dyn InputSource>>,
    ) -> CallGuard {
        let id = self.next_call.fetch_add(1, Ordering::Relaxed);
        let caller = match (peer, input) {
            (Some(peer), _) => Some(Caller::Client(peer)),
            (None, Some(source)) => Some(Caller::Input {
                source,
                rounds: Default::default(),
            }),
            (None, None) => None,
        };
        let registered = caller.is_some();
        if let Some(caller) = caller {
            self.lock().calls.push((id, caller));
        }
        CallGuard {
            relay: self.clone(),
            id,
            registered,
            upstream_progress: None,
        }
    }

    pub fn add_subscriber(&self, uri: &str, peer: Peer<RoleServer>) {
        self.lock()
            .subscribers
            .entry(uri.to_owned())
            .or_default()
            .push(peer);
    }

    /// Removes `peer`'s subscription; returns whether anyone still watches `uri`.
    pub fn remove_subscriber(&self, uri: &str, peer: &Peer<RoleServer>) -> bool {
        let mut callers = self.lock();
        let remaining = match callers.subscribers.get_mut(uri) {
            Some(peers) => {
                // Peers have no identity of their own; the closed or matching-by-info ones go.
                peers.retain(|p| !p.is_transport_closed() && p.peer_info() != peer.peer_info());
                !peers.is_empty()
            }
            None => false,
        };
        if !remaining && let Some(listen) = callers.resource_listens.remove(uri) {
            listen.abort();
        }
        remaining
    }

    /// The resources some client still watches (a recovered session subscribes them again).
    pub fn subscribed(&self) -> Vec<String> {
        let mut callers = self.lock();
        callers.subscribers.retain(|_, peers| {
            peers.retain(|peer| !peer.is_transport_closed());
            !peers.is_empty()
        });
        callers.subscribers.keys().cloned().collect()
    }

    /// Whether a `subscriptions/listen` stream already watches `uri`.
    pub fn is_watching(&self, uri: &str) -> bool {
        self.lock().resource_listens.contains_key(uri)
    }

    pub fn set_watch(&self, uri: &str, listen: tokio::task::AbortHandle) {
        if let Some(previous) = self.lock().resource_listens.insert(uri.to_owned(), listen) {
            previous.abort();
        }
    }

    /// Relays a resource update to the clients subscribed to it.
    pub async fn resource_updated(&self, params: ResourceUpdatedNotificationParam) {
        let peers = self
            .lock()
            .subscribers
            .get(&params.uri)
            .cloned()
            .unwrap_or_default();
        for peer in peers {
            let _ = peer.notify_resource_updated(params.clone()).await;
        }
    }

    /// Tells an upstream's catalog listeners that a list changed.
    pub fn announce(&self, list: ListChanged) {
        tracing::debug!(server = %self.server, ?list, "upstream list changed");
        let _ = self.events.send(UpstreamEvent::ListChanged {
            server: self.server.clone(),
            list,
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Callers> {
        self.callers
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn current_caller(&self) -> Option<Caller> {
        self.lock().calls.last().map(|(_, caller)| caller.clone())
    }

    /// Puts one server-initiated request (`key`: what it is) to a call's input source and
    /// reads the answer as the result the server expects.
    async fn ask_input<T: serde::de::DeserializeOwned>(
        &self,
        source: &Arc<dyn InputSource>,
        rounds: &AtomicUsize,
        key: &str,
        request: InputRequest,
    ) -> Result<T, ErrorData> {
        let round = rounds.fetch_add(1, Ordering::Relaxed);
        let requests = InputRequests::from([(key.to_owned(), request)]);
        let input = InputRequiredResult::from_input_requests(requests);
        let (responses, _) = source.fulfil(&self.server, round, input).await?;
        let answer = responses
            .and_then(|mut responses| responses.remove(key))
            .ok_or_else(|| self.unanswered(key, "no answer"))?;
        serde_json::from_value(answer).map_err(|error| self.unanswered(key, &error.to_string()))
    }

    fn unanswered(&self, key: &str, why: &str) -> ErrorData {
        crate::error::GatewayError::Relay(format!(
            "the {key} request of server \"{}\" got no usable answer from the task's client: {why}",
            self.server
        ))
        .into()
    }

    fn no_caller(&self, what: &str) -> ErrorData {
        crate::error::GatewayError::Relay(format!(
            "server \"{}\" sent a {what} request while no client call was in flight; Baton forwards these only to the client whose call caused them",
            self.server
        ))
        .into()
    }
}

/// What happens to one call's progress notifications: they are counted (a progress
/// notification resets the call's idle budget) and, when the caller asked for progress,
/// relayed to it under its own token.
#[derive(Clone)]
struct ProgressWatch {
    seen: Arc<AtomicU64>,
    forward: Option<(Peer<RoleServer>, ProgressToken)>,
}

/// Ends a call's registration with the relay.
pub struct CallGuard {
    relay: Arc<Relay>,
    id: u64,
    registered: bool,
    upstream_progress: Option<ProgressToken>,
}

impl CallGuard {
    /// Watches the progress the server reports under `upstream` (the token rmcp put on
    /// the request): the returned counter grows with each notification, and when the caller
    /// gave its own token (`downstream`) the notifications are relayed to it.
    pub fn watch_progress(
        &mut self,
        upstream: ProgressToken,
        downstream: Option<ProgressToken>,
    ) -> Arc<AtomicU64> {
        let seen = Arc::new(AtomicU64::new(0));
        let mut callers = self.relay.lock();
        // The caller's own token; for a task's step (no client on the line), the task's
        // client's token, while that client is connected.
        let forward = callers
            .calls
            .iter()
            .find(|(id, _)| *id == self.id)
            .and_then(|(_, caller)| match caller {
                Caller::Client(peer) => downstream.map(|token| (peer.clone(), token)),
                Caller::Input { source, .. } => source.progress(),
            });
        callers.progress.insert(
            upstream.clone(),
            ProgressWatch {
                seen: seen.clone(),
                forward,
            },
        );
        self.upstream_progress = Some(upstream);
        seen
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if !self.registered && self.upstream_progress.is_none() {
            return;
        }
        let mut callers = self.relay.lock();
        callers.calls.retain(|(id, _)| *id != self.id);
        if let Some(token) = &self.upstream_progress {
            callers.progress.remove(token);
        }
    }
}

/// The rmcp client handler of one upstream session.
#[derive(Clone)]
pub struct UpstreamClient {
    relay: Arc<Relay>,
}

impl UpstreamClient {
    pub fn new(relay: Arc<Relay>) -> Self {
        UpstreamClient { relay }
    }
}

fn forwarded(server: &str, what: &str, error: rmcp::ServiceError) -> ErrorData {
    match error {
        rmcp::ServiceError::McpError(error) => error,
        other => crate::error::GatewayError::Relay(format!(
            "forwarding {what} from server \"{server}\" to the client failed: {other}"
        ))
        .into(),
    }
}

impl ClientHandler for UpstreamClient {
    fn get_info(&self) -> ClientConfig {
        let mut capabilities = ClientCapabilities::default();
        capabilities.roots = Some(Default::default());
        capabilities.sampling = Some(Default::default());
        capabilities.elicitation = Some(Default::default());
        // The version offered by a plain `initialize` handshake (the discover probe
        // chooses its own): the newest revision that has one.
        let mut config = ClientConfig::new(
            capabilities,
            Implementation::new("baton", env!("CARGO_PKG_VERSION")),
        );
        config.protocol_version = ProtocolVersion::LATEST_WITH_INITIALIZE;
        config
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        match self.relay.current_caller() {
            Some(Caller::Client(peer)) => peer
                .create_message(params)
                .await
                .map_err(|error| forwarded(&self.relay.server, "sampling/createMessage", error)),
            Some(Caller::Input { source, rounds }) => {
                let request = InputRequest::CreateMessage(Request::new(params));
                self.relay
                    .ask_input(&source, &rounds, "sampling", request)
                    .await
            }
            None => Err(self.relay.no_caller("sampling")),
        }
    }

    async fn create_elicitation(
        &self,
        params: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        match self.relay.current_caller() {
            Some(Caller::Client(peer)) => peer
                .create_elicitation(params)
                .await
                .map_err(|error| forwarded(&self.relay.server, "elicitation/create", error)),
            Some(Caller::Input { source, rounds }) => {
                let request = InputRequest::Elicitation(Request::new(params));
                self.relay
                    .ask_input(&source, &rounds, "elicitation", request)
                    .await
            }
            None => Err(self.relay.no_caller("elicitation")),
        }
    }

    async fn list_roots(
        &self,
        _context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        match self.relay.current_caller() {
            Some(Caller::Client(peer)) => peer
                .list_roots()
                .await
                .map_err(|error| forwarded(&self.relay.server, "roots/list", error)),
            // Not put to a task's client: a 2025-11-25 server asks for roots on its own
            // (server-everything does around every call), and a task would wait for an
            // answer its client never thinks to give. No roots, as for a call without a
            // client.
            Some(Caller::Input { .. }) => Ok(ListRootsResult::default()),
            None => Ok(ListRootsResult::default()),
        }
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let watch = self
            .relay
            .lock()
            .progress
            .get(&params.progress_token)
            .cloned();
        let Some(watch) = watch else { return };
        watch.seen.fetch_add(1, Ordering::Release);
        if let Some((peer, token)) = watch.forward {
            let mut relayed = params;
            relayed.progress_token = token;
            if let Err(error) = peer.notify_progress(relayed).await {
                tracing::debug!(server = %self.relay.server, %error, "client went away before a progress notification");
            }
        }
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        tracing::debug!(server = %self.relay.server, level = ?params.level, data = %params.data, "upstream log message");
        match self.relay.current_caller() {
            Some(Caller::Client(peer)) => {
                let _ = peer.notify_logging_message(params).await;
            }
            // Nobody on the line (a task's step): as when no call is in flight.
            Some(Caller::Input { .. }) | None => {
                let _ = self.relay.events.send(UpstreamEvent::Log {
                    server: self.relay.server.clone(),
                    message: params,
                });
            }
        }
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.relay.announce(ListChanged::Tools);
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.relay.announce(ListChanged::Prompts);
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.relay.announce(ListChanged::Resources);
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.relay.resource_updated(params).await;
    }
}
