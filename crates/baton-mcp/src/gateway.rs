//! The gateway: owns every upstream, the aggregated catalog and the list of connected
//! downstream clients; routes each request to the owning server under its original name.
//! Transport-free: the downstream facade ([`crate::downstream`]) calls into it.

// The log level (`LoggingLevel`) is deprecated by SEP-2577 but still relayed.
#![allow(deprecated)]

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use baton_core::config::{Config, Degrade, Isolation, RetryMode};
use rmcp::{
    RoleServer,
    model::{ClientCapabilities, LoggingLevel, ProgressToken, ServerNotification},
    service::{Peer, SubscriptionSink},
};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

mod direct;
mod events;
mod forward;
pub mod guard;
mod pool;
mod readiness;
mod reload;
mod requests;
mod services;
mod topology;
mod upstream_task;

pub use forward::Plan;
pub use reload::ReloadReport;
pub use requests::IDEMPOTENCY_KEY;
pub use services::RequestInFlight;
pub use topology::Topology;

use crate::{
    catalog::{Catalog, Source},
    error::GatewayError,
    toolset::ToolSet,
    upstream::{Connection, ListChanged, ServerCatalog, Upstream, UpstreamEvent, UpstreamState},
};

/// One connected downstream client, for list-changed broadcasts: a legacy session, or a
/// 2026-07-28 `subscriptions/listen` stream.
struct DownstreamEntry {
    id: u64,
    target: ListTarget,
}

pub enum ListTarget {
    Session(Peer<RoleServer>),
    Subscription(SubscriptionSink),
}

pub struct Gateway {
    /// The configuration and upstreams in force, swapped whole by [`Gateway::reload`].
    topology: RwLock<Arc<Topology>>,
    /// Held while a reload applies: reloads happen one at a time.
    reloading: tokio::sync::Mutex<()>,
    started: std::time::Instant,
    /// Itself, for the tool sets that need an owned handle (restarting a server).
    this: std::sync::Weak<Gateway>,
    /// The tool sets Baton answers itself, fixed at start; a catalog route names its set
    /// by index.
    sets: Vec<Arc<dyn ToolSet>>,
    /// What new upstreams (at start and on reload) are built with.
    http: crate::upstream::SharedHttp,
    events: mpsc::UnboundedSender<UpstreamEvent>,
    balancer_seed: AtomicU64,
    health: tokio::sync::broadcast::Sender<GatewayEvent>,
    pub(crate) cache: crate::cache::ResultCache,
    catalog: RwLock<Arc<Catalog>>,
    /// Held while the catalog is rebuilt, so the last one written is built from the newest
    /// topology.
    catalog_build: Mutex<()>,
    downstreams: Mutex<Vec<DownstreamEntry>>,
    next_downstream: AtomicU64,
    /// Bumped by each list change announced to the clients: tools, prompts, resources.
    list_generations: [AtomicU64; 3],
    settled: Notify,
    /// Bumped whenever the catalog is rebuilt (requests waiting for a name watch it).
    catalog_changes: tokio::sync::watch::Sender<u64>,
    pending: AtomicU64,
    /// Tool calls in flight, for a shutdown that lets them finish ([`Gateway::drain`]).
    calls_in_flight: std::sync::atomic::AtomicUsize,
    /// Told when the last tool call in flight ends.
    calls_done: Notify,
    /// Where downstream clients' uses are recorded (set once by the application).
    audit: std::sync::OnceLock<Arc<dyn crate::audit::AuditSink>>,
    /// Where MCP tasks are kept (set once by the application; without it, no tasks).
    tasks: std::sync::OnceLock<Arc<dyn crate::tasks::TaskBackend>>,
}

/// A change in a server's health, for anything in the process that reacts to it (the
/// schedules and triggers, the dashboard). Subscribe with [`Gateway::subscribe_events`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayEvent {
    ServerUp {
        server: String,
    },
    /// An autoscaling pool added (`added`) or removed a replica; `replicas` is its size now.
    PoolScaled {
        server: String,
        replica: String,
        replicas: usize,
        added: bool,
    },
    ServerDown {
        server: String,
        error: String,
    },
    Restarting {
        server: String,
        attempt: u32,
    },
    Quarantined {
        server: String,
        crashes: u32,
    },
    /// A remote server had lost Baton's session; Baton re-initialized it.
    SessionRecovered {
        server: String,
    },
    /// `tool` is set for a per-tool breaker (the server's own tool name).
    BreakerOpened {
        server: String,
        tool: Option<String>,
        failures: u32,
    },
    BreakerHalfOpen {
        server: String,
        tool: Option<String>,
    },
    BreakerClosed {
        server: String,
        tool: Option<String>,
    },
}

/// What a downstream request brings along for relaying.
pub struct CallContext {
    pub peer: Option<Peer<RoleServer>>,
    pub progress: Option<ProgressToken>,
    pub cancel: CancellationToken,
    /// The client negotiated a revision before 2026-07-28: Baton drives upstream
    /// `input_required` rounds for it through its sampling/elicitation/roots.
    pub legacy: bool,
    pub capabilities: Option<ClientCapabilities>,
    pub log_level: Option<LoggingLevel>,
    /// The caller's mode named in the request's `_meta["io.baton/mode"]`.
    pub mode: Option<String>,
    /// One attempt only: the caller retries itself (a workflow step with a `retry:`
    /// policy), so the gateway's retry layer stands aside and attempts never multiply.
    pub single_attempt: bool,
    /// Who is calling, when `serve.auth` authenticated it (`None`: a trusted caller — stdio,
    /// unauthenticated HTTP, or Baton's own engine).
    pub principal: Option<crate::downstream::auth::Principal>,
    /// The client's trace context (`traceparent`, `tracestate`) to pass upstream as it came
    /// when Baton does not trace the request (its parent was not sampled).
    pub trace_passthrough: Vec<(String, String)>,
    /// Who answers an upstream's `input_required` rounds when no client is on the line
    /// (a step of a Baton task: the input waits in the store for `tasks/update`).
    pub input: Option<Arc<dyn crate::tasks::InputSource>>,
}

impl CallContext {
    /// Whether this caller may use `name` under `config`'s `access:` rules (always without
    /// such a section or an authenticated caller; never for a caller that should have been
    /// authenticated and was not).
    pub fn may_use(&self, config: &Config, name: &str) -> bool {
        let Some(access) = &config.access else {
            return true;
        };
        match &self.principal {
            Some(who) => access.allows(&who.name, &who.roles, &who.scopes, name),
            None => config.serve.auth.is_none(),
        }
    }
}

impl Gateway {
    /// Creates every upstream and starts connecting them all concurrently; `sets` are the
    /// tool sets Baton answers itself (their tools join the catalog before the upstreams').
    pub fn start(config: Config, sets: Vec<Arc<dyn ToolSet>>) -> Arc<Gateway> {
        let (events, mut event_rx) = mpsc::unbounded_channel();
        let http = crate::upstream::SharedHttp::default();
        let upstreams: Vec<_> = config
            .servers
            .iter()
            .flat_map(|server| topology::new_replicas(server, &http, &events))
            .collect();
        let gateway = Arc::new_cyclic(|this| Gateway {
            this: this.clone(),
            sets,
            balancer_seed: AtomicU64::new(0x9e37_79b9_7f4a_7c15),
            health: tokio::sync::broadcast::channel(256).0,
            cache: crate::cache::ResultCache::default(),
            pending: AtomicU64::new(upstreams.len() as u64),
            topology: RwLock::new(Arc::new(Topology::new(Arc::new(config), upstreams))),
            reloading: tokio::sync::Mutex::new(()),
            started: std::time::Instant::now(),
            http,
            events,
            catalog: RwLock::new(Arc::new(Catalog::default())),
            catalog_build: Mutex::new(()),
            downstreams: Mutex::new(Vec::new()),
            next_downstream: AtomicU64::new(1),
            list_generations: Default::default(),
            settled: Notify::new(),
            catalog_changes: tokio::sync::watch::Sender::new(0),
            calls_in_flight: std::sync::atomic::AtomicUsize::new(0),
            calls_done: Notify::new(),
            audit: std::sync::OnceLock::new(),
            tasks: std::sync::OnceLock::new(),
        });
        gateway.rebuild_catalog();
        for upstream in gateway.upstreams() {
            gateway.launch(upstream, None);
        }
        Gateway::watch_pools(Arc::downgrade(&gateway));
        let weak = Arc::downgrade(&gateway);
        tokio::spawn(async move {
            while let Some(event) = event_rx.recv().await {
                let Some(gateway) = weak.upgrade() else {
                    return;
                };
                gateway.handle_event(event).await;
            }
        });
        gateway
    }

    /// Waits until every upstream is ready or failed, at most `limit`.
    pub async fn wait_settled(&self, limit: Duration) {
        // The hot path: every request calls this long after start-up.
        if self.pending.load(Ordering::Acquire) == 0 {
            return;
        }
        let wait = async {
            loop {
                let notified = self.settled.notified();
                if self.pending.load(Ordering::Acquire) == 0 {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
    }

    /// Connects `upstream` in its own task, then supervises it for as long as it is in
    /// use. `reload`: a reload waits for this start and rebuilds the catalog itself (when
    /// it gave up waiting, the task does it); `None`: one of the servers Baton started
    /// with, counted by [`Gateway::wait_settled`].
    fn launch(self: &Arc<Self>, upstream: Arc<Upstream>, reload: Option<oneshot::Sender<()>>) {
        let gateway = Arc::downgrade(self);
        tokio::spawn(async move {
            let ready = upstream.start().await;
            if let Some(gateway) = gateway.upgrade() {
                gateway.publish_start(&upstream, ready);
                let initial = reload.is_none();
                let reported = match reload {
                    Some(started) => started.send(()).is_ok(),
                    None => false,
                };
                if !reported {
                    gateway.rebuild_catalog();
                }
                if initial && gateway.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
                    gateway.settled.notify_waiters();
                }
                // Clients that listed before this server came up learn of its items.
                if ready && !reported {
                    gateway.broadcast_all().await;
                }
            }
            upstream.supervise(ready).await;
        });
    }

    /// Installs the audit trail's sink (once; later calls are ignored).
    pub fn set_audit(&self, sink: Arc<dyn crate::audit::AuditSink>) {
        let _ = self.audit.set(sink);
    }

    /// Installs where MCP tasks are kept (once; later calls are ignored).
    pub fn set_tasks(&self, backend: Arc<dyn crate::tasks::TaskBackend>) {
        let _ = self.tasks.set(backend);
    }

    /// Where MCP tasks are kept, when the application keeps them.
    pub fn tasks(&self) -> Option<&Arc<dyn crate::tasks::TaskBackend>> {
        self.tasks.get()
    }

    /// Whether the exposed tool `name` runs as a task for a client that can take one: its
    /// tool set's answer, or its server's `task_support` — unset there, `optional` for a
    /// tool the upstream runs as a task (`upstream_task_support`: Baton polls it, so a
    /// client without the extension still gets its answer). With `wait`, a name not listed
    /// yet (its server still coming up) is waited for, within the server's `connect_wait`;
    /// without, it is `None` (the call's own routing waits for it, once).
    pub async fn task_support(
        &self,
        name: &str,
        wait: bool,
    ) -> Option<baton_core::config::TaskSupport> {
        let mut catalog = self.catalog();
        if wait && !catalog.tool_routes.contains_key(name) {
            catalog = self
                .wait_for_name(Some(name), |catalog| catalog.tool_routes.contains_key(name))
                .await?;
        }
        let route = catalog.tool_routes.get(name)?;
        if let Some(set) = route.set {
            return self.sets.get(set)?.task_support(&route.original);
        }
        let config = self.config();
        let server = config
            .servers
            .iter()
            .find(|server| server.name == route.server)?;
        server.task_support.of(&route.original).or_else(|| {
            server
                .upstream_task_support
                .takes_tasks(&route.original)
                .then_some(baton_core::config::TaskSupport::Optional)
        })
    }

    /// The audit trail's sink, when one is installed.
    pub fn audit(&self) -> Option<&Arc<dyn crate::audit::AuditSink>> {
        self.audit.get()
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn rebuild_catalog(&self) {
        self.rebuild_catalog_diff();
    }

    /// Rebuilds the catalog from the topology in force; returns the lists that changed.
    fn rebuild_catalog_diff(&self) -> Vec<ListChanged> {
        let _building = self.catalog_build.lock().unwrap_or_else(|p| p.into_inner());
        let topology = self.topology();
        // `degrade: hide`: an unavailable server's items leave the catalog until it recovers.
        let primaries: Vec<&Arc<Upstream>> = topology
            .config
            .servers
            .iter()
            .filter_map(|server| {
                topology
                    .replicas(&server.name)
                    .find(|replica| replica.is_available())
                    .or_else(|| topology.upstream(&server.name))
            })
            .collect();
        let catalogs: Vec<_> = primaries
            .iter()
            .map(|upstream| {
                if upstream.config.resilience.degrade == Degrade::Hide && !upstream.is_available() {
                    ServerCatalog::default()
                } else {
                    upstream.catalog()
                }
            })
            .collect();
        let sources = primaries
            .iter()
            .zip(catalogs)
            .map(|(upstream, catalog)| Source {
                server: upstream.name(),
                rename: &upstream.config.rename,
                namespaced: upstream.config.namespaced,
                catalog,
            })
            .collect();
        let separator = &topology.config.namespace.separator;
        let own = self
            .sets
            .iter()
            .enumerate()
            .flat_map(|(index, set)| set.tools(separator).into_iter().map(move |t| (index, t)))
            .collect();
        let mut catalog = Catalog::build(separator, own, sources);
        catalog.listed = primaries
            .iter()
            .filter(|upstream| matches!(upstream.state(), UpstreamState::Ready { .. }))
            .map(|upstream| upstream.name().to_owned())
            .collect();
        let catalog = Arc::new(catalog);
        let before = std::mem::replace(
            &mut *self.catalog.write().unwrap_or_else(|p| p.into_inner()),
            catalog.clone(),
        );
        self.catalog_changes.send_modify(|version| *version += 1);
        catalog.changes_from(&before)
    }

    /// Subscribes `peer` to updates of `uri` at the owning server (legacy
    /// `resources/subscribe`); updates are relayed back to it. The request leaves through
    /// [`Gateway::forward_with`] (time budget, breaker, statistics, cancellation); a
    /// 2026-07-28 server's listen stream is opened within the same budget.
    pub async fn subscribe(
        &self,
        scope: &SessionScope,
        uri: String,
        peer: Peer<RoleServer>,
        subscribe: bool,
        call: CallContext,
    ) -> Result<(), rmcp::ErrorData> {
        let server = self
            .catalog()
            .resource_owner(&uri)
            .map(str::to_owned)
            .ok_or_else(|| GatewayError::UnknownResource(uri.clone()))?;
        let topology = self.topology();
        let connection = self.connection(&topology, &server, scope).await?;
        let relay = &connection.relay;
        let plan = self.plan(&topology, &server, None);
        let (on, to, by) = (&topology, &server, &call);
        let send = |request: rmcp::model::ClientRequest, label: &'static str| async move {
            self.forward_with(on, plan, label, to, scope, by, &request)
                .await
        };
        if !subscribe {
            let still_watched = relay.remove_subscriber(&uri, &peer);
            if still_watched || connection.is_modern() {
                // 2026-07-28: dropping the last watcher closed its listen stream.
                return Ok(());
            }
            let request = rmcp::model::ClientRequest::UnsubscribeRequest(
                rmcp::model::Request::new(rmcp::model::UnsubscribeRequestParams::new(uri)),
            );
            send(request, "resources/unsubscribe").await?;
            return Ok(());
        }
        relay.add_subscriber(&uri, peer);
        if !connection.is_modern() {
            let request = rmcp::model::ClientRequest::SubscribeRequest(rmcp::model::Request::new(
                rmcp::model::SubscribeRequestParams::new(uri),
            ));
            send(request, "resources/subscribe").await?;
            return Ok(());
        }
        if relay.is_watching(&uri) {
            return Ok(());
        }
        // 2026-07-28 has no resources/subscribe: watch the URI on a listen stream.
        let mut filter = rmcp::model::SubscriptionFilter::default();
        filter.resource_subscriptions = Some(vec![uri.clone()]);
        let listen = connection.session.peer().listen(filter);
        let mut subscription = tokio::select! {
            opened = tokio::time::timeout(plan.timeouts.total, listen) => match opened {
                Ok(opened) => opened.map_err(|error| -> rmcp::ErrorData {
                    GatewayError::from_service(&server, error).into()
                })?,
                Err(_) => {
                    return Err(GatewayError::Timeout {
                        server: server.clone(),
                        after: plan.timeouts.total,
                    }
                    .into());
                }
            },
            _ = call.cancel.cancelled() => return Err(GatewayError::Cancelled.into()),
        };
        let watcher = relay.clone();
        let task = tokio::spawn(async move {
            while let Ok(Some(notification)) = subscription.next().await {
                if let ServerNotification::ResourceUpdatedNotification(update) = notification {
                    watcher.resource_updated(update.params).await;
                }
            }
        });
        relay.set_watch(&uri, task.abort_handle());
        Ok(())
    }

    /// How a request to `server` is sent: for a tool call (`tool`: its upstream name and
    /// definition), its own time budget, and retries only when the tool is safe to repeat
    /// (annotated read-only or idempotent, or forced by `retry: always`); prompts and
    /// resources are reads and always safe.
    fn plan(
        &self,
        topology: &Topology,
        server: &str,
        tool: Option<(&str, Option<&rmcp::model::Tool>)>,
    ) -> Plan {
        let resilience = topology
            .upstream(server)
            .map(|upstream| &upstream.config.resilience)
            .unwrap_or(&topology.config.resilience);
        let Some((name, definition)) = tool else {
            return Plan {
                timeouts: resilience.timeouts,
                retry: Some(resilience.retry),
                retry_tool_errors: false,
                upstream_task: false,
            };
        };
        let annotated_safe = definition
            .and_then(|tool| tool.annotations.as_ref())
            .is_some_and(|hints| {
                hints.read_only_hint == Some(true) || hints.idempotent_hint == Some(true)
            });
        let retry_tool_errors = resilience.retry_on_error_for(name);
        // `retry_on_error: true` on the tool itself says it is safe to repeat.
        let explicit = resilience.tool_retry_on_error.get(name) == Some(&true);
        let safe = match resilience.retry_mode_for(name) {
            RetryMode::Always => true,
            RetryMode::Never => false,
            RetryMode::Auto => annotated_safe || explicit,
        };
        let upstream_task = topology
            .upstream(server)
            .is_some_and(|upstream| upstream.config.upstream_task_support.takes_tasks(name));
        Plan {
            timeouts: learned_timeouts(topology, server, name, resilience),
            retry: safe.then_some(resilience.retry),
            retry_tool_errors,
            upstream_task,
        }
    }

    /// Why `name` is not in the catalog: its server is down, or no server has it.
    fn missing_tool(&self, name: &str) -> GatewayError {
        let topology = self.topology();
        let owner = readiness::owner_of(&topology, name).and_then(|owner| topology.upstream(owner));
        match owner.map(|upstream| (upstream, upstream.state())) {
            Some((upstream, state)) if !matches!(state, UpstreamState::Ready { .. }) => {
                GatewayError::Unavailable {
                    server: upstream.name().to_owned(),
                    reason: upstream.unavailable_reason(),
                }
            }
            _ => GatewayError::UnknownTool(name.to_owned()),
        }
    }

    /// The connection a request from `scope` should use for `server`.
    async fn connection(
        &self,
        topology: &Topology,
        server: &str,
        scope: &SessionScope,
    ) -> Result<Arc<Connection>, GatewayError> {
        let owner = scope.owner(server).await;
        let upstream = owner.as_ref().or_else(|| self.pick(topology, server));
        self.connection_via(server, upstream, scope).await
    }

    /// The connection to use on `upstream` (a replica of `server`).
    async fn connection_via(
        &self,
        server: &str,
        upstream: Option<&Arc<Upstream>>,
        scope: &SessionScope,
    ) -> Result<Arc<Connection>, GatewayError> {
        let upstream = upstream.ok_or_else(|| GatewayError::Unavailable {
            server: server.to_owned(),
            reason: "it is not configured".to_owned(),
        })?;
        if upstream.config.isolation == Isolation::PerClient {
            // Boxed: it may open a session, a future far larger than the usual answer here.
            return Box::pin(scope.connection(upstream)).await;
        }
        if let Some(connection) = upstream.shared_connection().await {
            return Ok(connection);
        }
        // Still connecting, or about to restart: worth a short wait.
        let wait = upstream.config.resilience.connect_wait;
        if upstream.is_coming_up()
            && upstream.wait_ready(wait).await
            && let Some(connection) = upstream.shared_connection().await
        {
            return Ok(connection);
        }
        Err(GatewayError::Unavailable {
            server: server.to_owned(),
            reason: upstream.unavailable_reason(),
        })
    }

    /// Stops every upstream (and every stdio server's process group).
    pub async fn shutdown(&self) {
        let topology = self.topology();
        futures::future::join_all(topology.upstreams().iter().map(|u| u.shutdown())).await;
    }
}

/// One downstream session's private upstream sessions (`isolation: per_client`). They
/// close when the downstream session ends and this scope drops.
#[derive(Default)]
pub struct SessionScope {
    /// The mode set by `switch_mode`: the session's tool calls are limited to its groups.
    mode: std::sync::Mutex<Option<String>>,
    /// Distinguishes sessions in time tracking.
    id: SessionId,
    /// Server name → the replica that holds this client's session, and the session.
    connections: tokio::sync::Mutex<HashMap<String, OwnedSession>>,
}

/// A private session and the replica that holds it.
type OwnedSession = (Arc<Upstream>, Arc<Connection>);

/// A process-unique session number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionId(pub u64);

impl Default for SessionId {
    fn default() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        SessionId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl SessionScope {
    /// The session's current mode (`switch_mode`).
    pub fn mode(&self) -> Option<String> {
        self.mode.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sets the current mode; returns the previous one.
    pub fn set_mode(&self, mode: Option<String>) -> Option<String> {
        std::mem::replace(
            &mut *self.mode.lock().unwrap_or_else(|p| p.into_inner()),
            mode,
        )
    }

    pub fn id(&self) -> u64 {
        self.id.0
    }

    async fn connection(&self, upstream: &Arc<Upstream>) -> Result<Arc<Connection>, GatewayError> {
        let mut connections = self.connections.lock().await;
        if let Some((owner, connection)) = connections.get(upstream.name())
            && Arc::ptr_eq(owner, upstream)
            && !connection.session.is_transport_closed()
        {
            return Ok(connection.clone());
        }
        let connection =
            upstream
                .open_session()
                .await
                .map_err(|error| GatewayError::Unavailable {
                    server: upstream.name().to_owned(),
                    reason: error.to_string(),
                })?;
        tracing::info!(server = %upstream.label(), "opened a per-client upstream session");
        let connection = Arc::new(connection);
        // Closed with the upstream when a reload removes or changes its server.
        upstream.track_private(&connection);
        connections.insert(
            upstream.name().to_owned(),
            (upstream.clone(), connection.clone()),
        );
        Ok(connection)
    }

    /// The replica of `server` that holds this client's live session: its stateful
    /// session stays there, and its calls count on that replica's statistics and breaker.
    pub(crate) async fn owner(&self, server: &str) -> Option<Arc<Upstream>> {
        let connections = self.connections.lock().await;
        let (owner, connection) = connections.get(server)?;
        // A replica a reload replaced or removed holds nothing any more.
        (!connection.session.is_transport_closed() && !owner.is_stopping()).then(|| owner.clone())
    }
}

/// `tool`'s timeouts, with a `timeout: auto` budget learned from the latency its server's
/// replicas saw (the slowest replica's p99 × factor, within `min` and `max_timeout`; the
/// configured timeout until enough calls were seen).
pub(crate) fn learned_timeouts(
    topology: &Topology,
    server: &str,
    tool: &str,
    resilience: &baton_core::config::Resilience,
) -> baton_core::config::Timeouts {
    let mut timeouts = resilience.timeouts_for(tool);
    if !timeouts.auto {
        return timeouts;
    }
    let (calls, p99) = topology
        .replicas(server)
        .map(|upstream| upstream.latency_of(tool))
        .fold((0, None::<f64>), |(calls, worst), (more, p99)| {
            (
                calls + more,
                match (worst, p99) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                },
            )
        });
    if let Some(budget) = resilience.auto_timeout.budget(calls, p99, timeouts.total) {
        timeouts.idle = budget;
    }
    timeouts
}

impl Gateway {
    /// The `timeout: auto` budgets of `server`'s tools now: (tool, budget, learned yet).
    pub fn auto_timeouts(&self, server: &str) -> Vec<(String, std::time::Duration, bool)> {
        let topology = self.topology();
        let Some(upstream) = topology.upstream(server) else {
            return Vec::new();
        };
        let resilience = &upstream.config.resilience;
        upstream
            .catalog()
            .tools
            .iter()
            .map(|tool| tool.name.to_string())
            .filter(|tool| resilience.timeouts_for(tool).auto)
            .map(|tool| {
                let timeouts = learned_timeouts(&topology, server, &tool, resilience);
                let learned = timeouts.idle != resilience.timeouts_for(&tool).idle;
                (tool, timeouts.idle, learned)
            })
            .collect()
    }
}
