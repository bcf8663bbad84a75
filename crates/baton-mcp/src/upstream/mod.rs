//! Upstreams: Baton as an MCP client. One [`Upstream`] per configured server owns its
//! shared session, its state and its catalog. Transports are a closed set with one file
//! each ([`stdio`], [`streamable`], [`sse`]); the protocol era (legacy `initialize` or
//! stateless 2026-07-28 `server/discover`) is detected per connection by rmcp.

mod breaker;
mod connect;
mod oauth;
mod readiness;
pub mod relay;
mod shared_http;
pub mod sse;
mod state;
pub mod stdio;
pub mod streamable;
mod supervise;

pub use connect::Connection;
pub use shared_http::SharedHttp;

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use baton_core::config::ServerConfig;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use rmcp::{
    RoleClient,
    model::{Prompt, Resource, ResourceTemplate, Tool},
    service::RunningService,
};
use tokio::sync::mpsc;

pub use relay::{CallGuard, ListChanged, Relay, UpstreamClient, UpstreamEvent};

pub type Session = RunningService<RoleClient, UpstreamClient>;

pub use state::{UpstreamError, UpstreamState};

/// One server's lists, after its allow/deny filter.
#[derive(Debug, Clone, Default)]
pub struct ServerCatalog {
    pub tools: Vec<Tool>,
    pub prompts: Vec<Prompt>,
    pub resources: Vec<Resource>,
    pub templates: Vec<ResourceTemplate>,
}

pub struct Upstream {
    pub config: ServerConfig,
    /// Which of the server's `replicas` this is (0-based).
    pub(crate) replica: u32,
    /// Watched by calls waiting for the server to come up ([`Upstream::wait_ready`]).
    state: tokio::sync::watch::Sender<UpstreamState>,
    shared: tokio::sync::RwLock<Option<Arc<Connection>>>,
    catalog: RwLock<ServerCatalog>,
    stderr_tail: stdio::StderrTail,
    http: SharedHttp,
    events: mpsc::UnboundedSender<UpstreamEvent>,
    stopping: AtomicBool,
    /// When the shared session last came up.
    up_since: Mutex<Option<std::time::Instant>>,
    restart_requested: tokio::sync::Notify,
    /// A call is waiting for a remote server between reconnect attempts: try now.
    reconnect_now: tokio::sync::Notify,
    breaker: Option<Mutex<baton_resilience::Breaker>>,
    /// Per-tool breakers, by upstream tool name (only the configured tools).
    tool_breakers: std::collections::BTreeMap<String, Mutex<baton_resilience::Breaker>>,
    /// All requests to this server, and per tool (or method) name.
    stats: Mutex<ServerStats>,
    restarts: std::sync::atomic::AtomicU64,
    /// Lost sessions (or dropped streams) of a remote server that Baton re-established.
    recoveries: Arc<std::sync::atomic::AtomicU64>,
    /// This replica's limit on calls in flight (the server's own when it has one replica).
    pub(crate) limit: Arc<baton_resilience::ConcurrencyLimit>,
    /// The server's limit, shared by its replicas.
    pub(crate) server_limit: Arc<baton_resilience::ConcurrencyLimit>,
    /// Renewed whenever the server's tools may have changed: cached results of an older
    /// generation are never served. Unique across upstreams ([`next_generation`]).
    generation: std::sync::atomic::AtomicU64,
    /// The per-client sessions opened on this upstream, closed by [`Upstream::shutdown`].
    private: Mutex<Vec<std::sync::Weak<Connection>>>,
    /// Calls in flight on this replica (the limit may be the server's, shared by all).
    here: Arc<std::sync::atomic::AtomicUsize>,
}

/// Held while a call is in flight (see [`Upstream::acquire_slot`]).
pub struct Slot {
    _server: tokio::sync::OwnedSemaphorePermit,
    _replica: Option<tokio::sync::OwnedSemaphorePermit>,
    _here: InFlight,
}

/// One call in flight on this replica, counted while it lives.
#[derive(Debug)]
struct InFlight(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Debug)]
struct ServerStats {
    total: baton_resilience::CallStats,
    /// The balancer's latency estimate for this replica.
    peak: baton_resilience::PeakEwma,
    by_name: std::collections::BTreeMap<String, baton_resilience::CallStats>,
}

impl Upstream {
    /// `server_limit` is the server's concurrency limit, shared by all its replicas (see
    /// [`Upstream::server_limit_for`]).
    pub fn new(
        config: ServerConfig,
        replica: u32,
        server_limit: Arc<baton_resilience::ConcurrencyLimit>,
        http: SharedHttp,
        events: mpsc::UnboundedSender<UpstreamEvent>,
    ) -> Arc<Self> {
        let state = if config.disabled {
            UpstreamState::Disabled
        } else {
            UpstreamState::Connecting
        };
        let breaker = breaker::new_breaker(config.resilience.breaker.as_ref());
        let tool_breakers = breaker::tool_breakers(&config.resilience.tool_breakers);
        Arc::new(Upstream {
            replica,
            breaker,
            tool_breakers,
            stats: Mutex::new(ServerStats {
                total: Default::default(),
                peak: baton_resilience::PeakEwma::new(std::time::Instant::now()),
                by_name: Default::default(),
            }),
            generation: std::sync::atomic::AtomicU64::new(next_generation()),
            limit: match config.resilience.concurrency.per_replica {
                Some(max) => Arc::new(baton_resilience::ConcurrencyLimit::new(
                    max as usize,
                    config.resilience.concurrency.max_queued as usize,
                )),
                None => server_limit.clone(),
            },
            server_limit,
            restarts: std::sync::atomic::AtomicU64::new(0),
            recoveries: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            config,
            state: tokio::sync::watch::Sender::new(state),
            shared: tokio::sync::RwLock::new(None),
            catalog: RwLock::new(ServerCatalog::default()),
            stderr_tail: Arc::new(Mutex::new(VecDeque::new())),
            http,
            events,
            stopping: AtomicBool::new(false),
            up_since: Mutex::new(None),
            restart_requested: tokio::sync::Notify::new(),
            reconnect_now: tokio::sync::Notify::new(),
            private: Mutex::new(Vec::new()),
            here: Arc::default(),
        })
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// A new server-wide concurrency limit per `config`.
    pub fn server_limit_for(config: &ServerConfig) -> Arc<baton_resilience::ConcurrencyLimit> {
        Arc::new(baton_resilience::ConcurrencyLimit::new(
            config.resilience.concurrency.max_in_flight as usize,
            config.resilience.concurrency.max_queued as usize,
        ))
    }

    /// A slot among the server's calls in flight, then one among this replica's (when it
    /// has its own limit); both are freed when the returned guard drops.
    pub async fn acquire_slot(&self) -> Result<Slot, baton_resilience::Overloaded> {
        let server = self.server_limit.acquire().await?;
        let replica = if Arc::ptr_eq(&self.limit, &self.server_limit) {
            None
        } else {
            Some(self.limit.acquire().await?)
        };
        self.here.fetch_add(1, Ordering::AcqRel);
        Ok(Slot {
            _here: InFlight(self.here.clone()),
            _server: server,
            _replica: replica,
        })
    }

    /// The server's name, with `#N` for the second and later replicas of a pool.
    pub fn label(&self) -> String {
        if self.config.replicas > 1 || self.config.autoscale.is_some() {
            format!("{}#{}", self.config.name, self.replica + 1)
        } else {
            self.config.name.clone()
        }
    }

    /// The load estimate the balancer compares: peak-EWMA latency × (calls in flight + 1).
    pub fn load(&self) -> f64 {
        let in_flight = self.in_flight();
        self.stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .peak
            .load(in_flight)
    }

    pub fn state(&self) -> UpstreamState {
        self.state.borrow().clone()
    }

    fn set_state(&self, state: UpstreamState) {
        self.state.send_replace(state);
    }

    pub fn catalog(&self) -> ServerCatalog {
        self.catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn stderr_tail(&self) -> Vec<String> {
        self.stderr_tail
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Connects the shared session and loads the catalog; returns whether it is ready.
    /// Failure is recorded in the state (and logged); it never affects other servers.
    pub async fn start(self: &Arc<Self>) -> bool {
        if self.config.disabled || self.stopping.load(Ordering::Acquire) {
            return false;
        }
        self.set_state(UpstreamState::Connecting);
        match self.open_session().await {
            Ok(connection) => {
                let connection = Arc::new(connection);
                let state = UpstreamState::Ready {
                    protocol: connection.protocol(),
                    transport: connection.transport.to_owned(),
                };
                *self.shared.write().await = Some(connection.clone());
                // Shut down while connecting (a reload replaced it): close what just opened.
                if self.stopping.load(Ordering::Acquire) {
                    self.shared.write().await.take();
                    return false;
                }
                // A 2026-07-28 server's list changes come on a listen stream: opened before
                // the lists are read, so that a change between the two is not missed.
                if connection.is_modern() {
                    listen_for_changes(&connection).await;
                }
                for list in [
                    ListChanged::Tools,
                    ListChanged::Prompts,
                    ListChanged::Resources,
                ] {
                    self.refresh(&connection, list).await;
                }
                tracing::info!(server = %self.name(), ?state, tools = self.catalog().tools.len(), "upstream ready");
                self.set_state(state);
                *self.up_since.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(std::time::Instant::now());
                true
            }
            Err(UpstreamError::NeedsLogin(error)) => {
                tracing::warn!(server = %self.name(), %error, "upstream needs an OAuth sign-in");
                self.set_state(UpstreamState::NeedsLogin { error });
                false
            }
            Err(error) => {
                tracing::error!(server = %self.name(), %error, "upstream failed to start");
                self.set_state(UpstreamState::Failed {
                    error: error.to_string(),
                });
                false
            }
        }
    }

    /// Records one attempt of a request named `name` (a tool, or a method).
    pub fn record_call(
        &self,
        name: &str,
        latency: Duration,
        outcome: baton_resilience::Outcome,
        retry: bool,
    ) {
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats.total.record(latency, outcome, retry);
        // Fast failures would make a broken replica look fast: only answers and timeouts
        // (which make a hung one look as slow as it is) feed the balancer.
        if outcome != baton_resilience::Outcome::Error {
            stats.peak.observe(std::time::Instant::now(), latency);
        }
        match stats.by_name.get_mut(name) {
            Some(entry) => entry.record(latency, outcome, retry),
            None => {
                let mut entry = baton_resilience::CallStats::default();
                entry.record(latency, outcome, retry);
                stats.by_name.insert(name.to_owned(), entry);
            }
        }
    }

    /// What this replica learned per name: (name, calls, errors, timeouts, the most recent
    /// `samples` latencies in ms) — what the store keeps across restarts.
    pub fn learned(&self, samples: usize) -> Vec<(String, u64, u64, u64, Vec<f64>)> {
        let stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats
            .by_name
            .iter()
            .map(|(name, entry)| {
                let summary = entry.summary();
                (
                    name.clone(),
                    summary.calls,
                    summary.errors,
                    summary.timeouts,
                    entry.samples_ms(samples),
                )
            })
            .collect()
    }

    /// Starts `name`'s statistics from what an earlier process learned.
    pub fn seed_learned(
        &self,
        name: &str,
        calls: u64,
        errors: u64,
        timeouts: u64,
        samples: &[f64],
    ) {
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats
            .by_name
            .entry(name.to_owned())
            .or_default()
            .seed(calls, errors, timeouts, samples);
    }

    /// Calls of `name` seen and their p99 latency (ms): what `timeout: auto` learns from.
    pub fn latency_of(&self, name: &str) -> (u64, Option<f64>) {
        let stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        match stats.by_name.get(name) {
            Some(entry) => {
                let summary = entry.summary();
                (summary.calls, summary.p99_ms)
            }
            None => (0, None),
        }
    }

    /// Totals and per-name statistics.
    pub fn stats(
        &self,
    ) -> (
        baton_resilience::StatsSummary,
        Vec<(String, baton_resilience::StatsSummary)>,
    ) {
        let stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        (
            stats.total.summary(),
            stats
                .by_name
                .iter()
                .map(|(name, entry)| (name.clone(), entry.summary()))
                .collect(),
        )
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Calls in flight on this replica now.
    /// Calls in flight on this replica.
    pub fn in_flight(&self) -> usize {
        self.here.load(Ordering::Acquire)
    }

    /// Calls waiting for a place under its `concurrency` limit now.
    pub fn queued(&self) -> usize {
        self.limit.queued()
    }

    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }

    /// How many times a remote server's lost session (or dropped stream) was re-established.
    pub fn session_recoveries(&self) -> u64 {
        self.recoveries.load(Ordering::Relaxed)
    }

    /// Ready, and its circuit (if any) not open.
    pub fn is_available(&self) -> bool {
        matches!(self.state(), UpstreamState::Ready { .. })
            && !matches!(
                self.breaker_state(),
                Some(baton_resilience::BreakerState::Open { .. })
            )
    }

    /// Asks a restarting or quarantined server to be tried again now.
    pub fn request_restart(&self) {
        self.restart_requested.notify_one();
    }

    /// The shared session, when the server is ready.
    pub async fn shared_connection(&self) -> Option<Arc<Connection>> {
        self.shared.read().await.clone()
    }

    /// Re-reads one list from the server after it announced a change.
    pub async fn refresh(&self, connection: &Connection, list: ListChanged) {
        let peer = connection.session.peer();
        let capabilities = peer
            .peer_info()
            .map(|info| info.capabilities.clone())
            .unwrap_or_default();
        let filter = &self.config.tools;
        let result: Result<(), rmcp::ServiceError> = async {
            match list {
                ListChanged::Tools => {
                    self.generation.store(next_generation(), Ordering::Release);
                    let tools = if capabilities.tools.is_some() {
                        peer.list_all_tools().await?
                    } else {
                        Vec::new()
                    };
                    let tools = tools
                        .into_iter()
                        .filter(|tool| filter.permits(&tool.name))
                        .collect();
                    self.catalog
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .tools = tools;
                }
                ListChanged::Prompts => {
                    let prompts = if capabilities.prompts.is_some() {
                        peer.list_all_prompts().await?
                    } else {
                        Vec::new()
                    };
                    self.catalog
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .prompts = prompts;
                }
                ListChanged::Resources => {
                    let (resources, templates) = if capabilities.resources.is_some() {
                        (
                            peer.list_all_resources().await?,
                            peer.list_all_resource_templates().await?,
                        )
                    } else {
                        (Vec::new(), Vec::new())
                    };
                    let mut catalog = self.catalog.write().unwrap_or_else(|p| p.into_inner());
                    catalog.resources = resources;
                    catalog.templates = templates;
                }
            }
            Ok(())
        }
        .await;
        if let Err(error) = result {
            tracing::warn!(server = %self.name(), ?list, %error, "could not list from upstream");
        }
    }

    /// Remembers a per-client session opened on this upstream, to close it on shutdown.
    pub(crate) fn track_private(&self, connection: &Arc<Connection>) {
        if self.stopping.load(Ordering::Acquire) {
            connection.session.cancellation_token().cancel();
            return;
        }
        let mut private = self.private.lock().unwrap_or_else(|p| p.into_inner());
        private.retain(|session| session.strong_count() > 0);
        private.push(Arc::downgrade(connection));
    }

    /// Stops the shared session (and with it a stdio server's whole process group) and
    /// closes the per-client sessions opened on it. Calls in flight on the shared session
    /// keep it until they end. Final: a stopped upstream never starts again.
    pub async fn shutdown(&self) {
        self.stopping.store(true, Ordering::Release);
        // A supervisor waiting to restart the server ends now.
        self.restart_requested.notify_one();
        let private = std::mem::take(&mut *self.private.lock().unwrap_or_else(|p| p.into_inner()));
        for session in private.iter().filter_map(std::sync::Weak::upgrade) {
            session.session.cancellation_token().cancel();
        }
        let connection = self.shared.write().await.take();
        if let Some(connection) = connection
            && let Ok(mut connection) = Arc::try_unwrap(connection)
        {
            let _ = connection
                .session
                .close_with_timeout(Duration::from_secs(5))
                .await;
        }
    }
}

/// A catalog generation no upstream had before: the upstream a reload puts in place of a
/// changed server never serves the old one's cached results.
fn next_generation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// How long opening the lists waits for a 2026-07-28 server to acknowledge the listen
/// stream (a server that never does is listed anyway, its changes seen once it does).
const LISTEN_ACKNOWLEDGED_WITHIN: Duration = Duration::from_secs(5);

/// 2026-07-28 servers announce list changes only on a `subscriptions/listen` stream: open
/// one for the lists the server says can change, and turn its notifications into events.
/// Returns once the server acknowledged it (or refused it, or after
/// [`LISTEN_ACKNOWLEDGED_WITHIN`]): a change after that is announced on the stream, one
/// before it is in the lists read next (`limits::an_oversized_answer_from_an_http_upstream_*`
/// lost the tools of a server that came up between the two while the stream was opened
/// after the lists were read).
async fn listen_for_changes(connection: &Connection) {
    let capabilities = match connection.session.peer().peer_info() {
        Some(info) => info.capabilities.clone(),
        None => return,
    };
    let mut filter = rmcp::model::SubscriptionFilter::default();
    let changes = |listed: Option<bool>| listed.unwrap_or(false).then_some(true);
    filter.tools_list_changed = capabilities
        .tools
        .as_ref()
        .and_then(|c| changes(c.list_changed));
    filter.prompts_list_changed = capabilities
        .prompts
        .as_ref()
        .and_then(|c| changes(c.list_changed));
    filter.resources_list_changed = capabilities
        .resources
        .as_ref()
        .and_then(|c| changes(c.list_changed));
    if filter.tools_list_changed.is_none()
        && filter.prompts_list_changed.is_none()
        && filter.resources_list_changed.is_none()
    {
        return;
    }
    let peer = connection.session.peer().clone();
    let relay = connection.relay.clone();
    let (acknowledged, listening) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut subscription = match peer.listen(filter).await {
            Ok(subscription) => subscription,
            Err(error) => {
                tracing::info!(%error, "upstream did not accept subscriptions/listen; its list changes will not be seen");
                return;
            }
        };
        let _ = acknowledged.send(());
        while let Ok(Some(notification)) = subscription.next().await {
            use rmcp::model::ServerNotification as N;
            let list = match notification {
                N::ToolListChangedNotification(_) => ListChanged::Tools,
                N::PromptListChangedNotification(_) => ListChanged::Prompts,
                N::ResourceListChangedNotification(_) => ListChanged::Resources,
                _ => continue,
            };
            relay.announce(list);
        }
    });
    if tokio::time::timeout(LISTEN_ACKNOWLEDGED_WITHIN, listening)
        .await
        .is_err()
    {
        tracing::info!(
            "upstream has not acknowledged subscriptions/listen yet; reading its lists anyway"
        );
    }
}

/// Configured headers as a reqwest map; invalid names or values are skipped with a warning.
pub(crate) fn header_map(headers: &BTreeMap<String, String>) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        match (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            (Ok(name), Ok(value)) => {
                map.insert(name, value);
            }
            _ => tracing::warn!(header = %name, "skipping a header that is not valid HTTP"),
        }
    }
    map
}
