//! The gateway's swappable part: the configuration in force and the upstreams built from
//! it. A [`Topology`] is immutable; a hot reload ([`super::reload`]) builds a new one and
//! swaps it whole. Requests take one snapshot ([`Gateway::topology`]) and route with it.

use std::sync::{Arc, atomic::Ordering};

use baton_core::config::{Config, ServerConfig};
use tokio::sync::mpsc;

use super::Gateway;
use crate::upstream::{Upstream, UpstreamEvent};

/// The configuration in force and one [`Upstream`] per replica of each configured server.
pub struct Topology {
    pub config: Arc<Config>,
    upstreams: Vec<Arc<Upstream>>,
    /// Server name → indexes of its replicas in `upstreams`.
    replica_sets: crate::FastMap<String, Vec<usize>>,
}

impl Topology {
    pub(crate) fn new(config: Arc<Config>, upstreams: Vec<Arc<Upstream>>) -> Topology {
        let mut replica_sets: crate::FastMap<String, Vec<usize>> = Default::default();
        for (index, upstream) in upstreams.iter().enumerate() {
            replica_sets
                .entry(upstream.name().to_owned())
                .or_default()
                .push(index);
        }
        Topology {
            config,
            upstreams,
            replica_sets,
        }
    }

    pub fn upstreams(&self) -> &[Arc<Upstream>] {
        &self.upstreams
    }

    /// The server's first replica (for its configuration and catalog).
    pub fn upstream(&self, name: &str) -> Option<&Arc<Upstream>> {
        let index = *self.replica_sets.get(name)?.first()?;
        self.upstreams.get(index)
    }

    /// Every replica of the server.
    pub fn replicas<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a Arc<Upstream>> + 'a {
        self.replica_sets
            .get(name)
            .into_iter()
            .flatten()
            .filter_map(|&index| self.upstreams.get(index))
    }
}

/// One new [`Upstream`] per replica of `server` (not started).
pub(crate) fn new_replicas(
    server: &ServerConfig,
    http: &crate::upstream::SharedHttp,
    events: &mpsc::UnboundedSender<UpstreamEvent>,
) -> Vec<Arc<Upstream>> {
    let server_limit = Upstream::server_limit_for(server);
    (0..server.replicas)
        .map(|replica| {
            Upstream::new(
                server.for_replica(replica as usize),
                replica,
                server_limit.clone(),
                http.clone(),
                events.clone(),
            )
        })
        .collect()
}

impl Gateway {
    /// The topology in force: one read lock and one `Arc` clone. A request takes it once
    /// and routes with it, so a reload in the middle does not split it across two.
    pub fn topology(&self) -> Arc<Topology> {
        self.topology
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The configuration in force (the newest applied by [`Gateway::reload`]).
    pub fn config(&self) -> Arc<Config> {
        self.topology().config.clone()
    }

    /// Every upstream (one per replica) in force now.
    pub fn upstreams(&self) -> Vec<Arc<Upstream>> {
        self.topology().upstreams.clone()
    }

    /// The server's first replica (for its configuration and catalog).
    pub fn upstream(&self, name: &str) -> Option<Arc<Upstream>> {
        self.topology().upstream(name).cloned()
    }

    /// Every replica of the server.
    pub fn replicas(&self, name: &str) -> Vec<Arc<Upstream>> {
        self.topology().replicas(name).cloned().collect()
    }

    /// The replica a request should go to: power of two choices over the available
    /// replicas, the one with the lower latency EWMA × (in flight + 1); unavailable
    /// replicas (down, restarting, circuit open) are left out while any other is up.
    pub(crate) fn pick<'a>(&self, topology: &'a Topology, name: &str) -> Option<&'a Arc<Upstream>> {
        let indexes = topology.replica_sets.get(name)?;
        if indexes.len() == 1 {
            return topology.upstreams.get(indexes[0]);
        }
        let available: Vec<&Arc<Upstream>> = indexes
            .iter()
            .filter_map(|&index| topology.upstreams.get(index))
            .filter(|upstream| upstream.is_available())
            .collect();
        match available.len() {
            0 => topology.upstream(name),
            1 => Some(available[0]),
            count => {
                let (first, second) = baton_resilience::two_choices(self.next_random(), count);
                let (a, b) = (available[first], available[second]);
                Some(if b.load() < a.load() { b } else { a })
            }
        }
    }

    /// xorshift64: cheap, good enough to spread the balancer's two choices.
    fn next_random(&self) -> u64 {
        let mut x = self.balancer_seed.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.balancer_seed.store(x, Ordering::Relaxed);
        x
    }
}
