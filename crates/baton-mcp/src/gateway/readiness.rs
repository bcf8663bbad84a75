//! Serving while servers connect: lists answer with the servers that are ready, and a
//! request naming something not (yet) in the catalog waits only for the server it may
//! belong to, at most that server's `connect_wait`.

use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use super::{Gateway, Topology};
use crate::{
    catalog::Catalog,
    upstream::{Upstream, UpstreamState},
};

/// Lists sent in the first moments after start wait for the servers still connecting, at
/// most until this long after start: a client that connects with Baton (Claude Desktop
/// launching `baton serve`) sees the servers that start quickly in its first list, and
/// never waits longer than this for one that does not.
pub const STARTUP_GRACE: Duration = Duration::from_secs(1);

/// How often a waiting request looks again, besides being woken by catalog changes.
const RECHECK: Duration = Duration::from_millis(100);

impl Gateway {
    /// What a list request waits for: nothing, except within [`STARTUP_GRACE`] of start.
    pub async fn list_grace(&self) {
        if self.pending.load(Ordering::Acquire) == 0 {
            return;
        }
        let left = (self.started + STARTUP_GRACE).saturating_duration_since(Instant::now());
        if !left.is_zero() {
            self.wait_settled(left).await;
        }
    }

    /// A request names something the catalog does not have (a tool or prompt `name`, or
    /// a resource when `None`): while a server it may belong to is coming up, waits for
    /// the catalog to gain it, at most that server's `connect_wait`. Returns the catalog
    /// that has it, or `None`.
    pub(crate) async fn wait_for_name(
        &self,
        name: Option<&str>,
        found: impl Fn(&Catalog) -> bool,
    ) -> Option<Arc<Catalog>> {
        let mut changes = self.catalog_changes.subscribe();
        let started = Instant::now();
        loop {
            changes.borrow_and_update();
            let catalog = self.catalog();
            if found(&catalog) {
                return Some(catalog);
            }
            let topology = self.topology();
            let limit = self
                .may_serve(&topology, name)
                .filter(|upstream| coming_up(upstream, &catalog))
                .map(|upstream| upstream.config.resilience.connect_wait)
                .max()?;
            let left = limit.saturating_sub(started.elapsed());
            if left.is_zero() {
                return None;
            }
            let _ = tokio::time::timeout(left.min(RECHECK), changes.changed()).await;
        }
    }

    /// The upstreams that may serve `name`: those of the server its prefix names; with no
    /// such prefix (or a resource), the servers still on their first connection.
    fn may_serve<'t>(
        &self,
        topology: &'t Topology,
        name: Option<&str>,
    ) -> Box<dyn Iterator<Item = &'t Arc<Upstream>> + 't> {
        if let Some(owner) = name.and_then(|name| owner_of(topology, name)) {
            return Box::new(topology.replicas(owner));
        }
        if self.pending.load(Ordering::Acquire) == 0 {
            return Box::new(std::iter::empty());
        }
        Box::new(topology.upstreams().iter().filter(|upstream| {
            matches!(upstream.state(), UpstreamState::Connecting) && upstream.restarts() == 0
        }))
    }

    /// The configured server whose prefix `name` (a tool or prompt) carries.
    pub fn server_named_by(&self, name: &str) -> Option<String> {
        owner_of(&self.topology(), name).map(str::to_owned)
    }

    /// The servers `names` need are ready or failed, at most `limit` (one-shot commands).
    pub async fn wait_for_servers(&self, names: &[String], limit: Duration) {
        let topology = self.topology();
        let waits = names
            .iter()
            .flat_map(|name| topology.replicas(name))
            .map(|upstream| upstream.wait_ready(limit));
        futures::future::join_all(waits).await;
        // Their items are in the catalog once it is rebuilt after their start.
        let deadline = Instant::now() + limit;
        let mut changes = self.catalog_changes.subscribe();
        loop {
            changes.borrow_and_update();
            let catalog = self.catalog();
            let behind = names.iter().any(|name| {
                topology
                    .replicas(name)
                    .any(|upstream| coming_up(upstream, &catalog))
            });
            let left = deadline.saturating_duration_since(Instant::now());
            if !behind || left.is_zero() {
                return;
            }
            let _ = tokio::time::timeout(left.min(RECHECK), changes.changed()).await;
        }
    }
}

/// The server whose prefix `name` carries (`<server><separator>…`).
pub(super) fn owner_of<'t>(topology: &'t Topology, name: &str) -> Option<&'t str> {
    topology.config.server_named_by(name)
}

/// Coming up, or up with its items not yet in `catalog`.
fn coming_up(upstream: &Upstream, catalog: &Catalog) -> bool {
    upstream.is_coming_up()
        || (matches!(upstream.state(), UpstreamState::Ready { .. })
            && !catalog.listed.contains(upstream.name()))
}
