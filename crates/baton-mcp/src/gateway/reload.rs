//! Hot reload: [`Gateway::reload`] applies a new, already validated configuration to the
//! running gateway.
//!
//! - **Servers** are compared by name and by their whole [`ServerConfig`] (but `required`,
//!   which only `/readyz` reads, from the configuration in force). An unchanged
//!   server keeps its [`Upstream`]s: same process, same session, same breaker and
//!   statistics. An added or changed server gets new upstreams, which connect (with
//!   supervision, as at start) while the old ones still serve; once they are up (or after
//!   [`CONNECT_WAIT`]) the new topology is swapped in, then the old upstreams of removed and
//!   changed servers are shut down. Calls already in flight on an old shared session finish
//!   on it; it closes when the last one ends.
//! - **Per-client sessions** (`isolation: per_client`) of a removed or changed server are
//!   closed when the reload applies. A client's next call to a changed server opens a new
//!   private session with the new settings (its upstream session state starts over); a
//!   removed server's tools are gone from the catalog.
//! - **Everything else read per request** comes from the new configuration at once: the
//!   namespace separator, resilience settings (merged into each server's config, so a
//!   changed default reconnects the servers it changes), workflow definitions (the engine
//!   gets them; runs in flight keep their pinned definition).
//! - **Not live** (a warning is logged, and they are listed in
//!   [`ReloadReport::needs_restart`]): `serve:` (listen address, allowed hosts and origins,
//!   body limit), `store.path`, and the `workflows:` settings read when the engine opens
//!   (`env`, `inline_output_limit`, `keep_for`, `keep_runs`).
//!
//! After the swap the catalog is rebuilt and clients get list_changed for each list that
//! changed.

use std::{collections::HashMap, sync::Arc, time::Duration};

use baton_core::config::Config;
use tokio::sync::oneshot;

use super::{Gateway, Topology, topology};
use crate::upstream::Upstream;

/// How long a reload waits for added and changed servers to connect before it swaps them
/// in anyway (a server still connecting then announces its items when it is up).
pub const CONNECT_WAIT: Duration = Duration::from_secs(15);

/// What a reload did. Server names are in configuration order (`removed`: the old one).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReloadReport {
    /// Servers new in the configuration: connected.
    pub added: Vec<String>,
    /// Servers no longer configured: shut down.
    pub removed: Vec<String>,
    /// Servers whose settings changed: connected anew, the old connection shut down.
    pub changed: Vec<String>,
    /// Servers left as they were: not reconnected.
    pub unchanged: Vec<String>,
    /// Whether the tool, prompt or resource lists changed (clients were sent list_changed).
    pub catalog_changed: bool,
    /// Whether any workflow definition was added, removed or edited.
    pub workflows_changed: bool,
    /// Settings that changed but apply only after a restart (e.g. `serve.http`).
    pub needs_restart: Vec<String>,
}

impl Gateway {
    /// Applies `new` to the running gateway (see the module documentation): only added
    /// and changed servers connect, removed and changed ones are shut down, unchanged ones
    /// are untouched. Reloads run one at a time; this returns when the new configuration
    /// is in force.
    pub async fn reload(self: &Arc<Self>, new: Config) -> ReloadReport {
        let _one_at_a_time = self.reloading.lock().await;
        let old = self.topology();
        let mut report = diff(&old.config, &new);
        report.needs_restart = restart_only_changes(&old.config, &new);
        report.workflows_changed = old.config.workflows.definitions != new.workflows.definitions;
        for setting in &report.needs_restart {
            tracing::warn!(
                setting = %setting,
                "changed in the configuration, but takes effect only when Baton restarts"
            );
        }
        // New upstreams connect while the old ones still serve.
        let mut fresh: HashMap<String, Vec<Arc<Upstream>>> = HashMap::new();
        let mut started = Vec::new();
        for server in &new.servers {
            if report.unchanged.contains(&server.name) {
                continue;
            }
            let replicas = topology::new_replicas(server, &self.http, &self.events);
            for upstream in &replicas {
                let (sender, receiver) = oneshot::channel();
                self.launch(upstream.clone(), Some(sender));
                started.push(receiver);
            }
            fresh.insert(server.name.clone(), replicas);
        }
        if tokio::time::timeout(CONNECT_WAIT, futures::future::join_all(started))
            .await
            .is_err()
        {
            tracing::info!(
                wait = ?CONNECT_WAIT,
                "some reloaded servers are still connecting; they join the catalog when up"
            );
        }
        let upstreams = new
            .servers
            .iter()
            .flat_map(|server| match fresh.remove(&server.name) {
                Some(replicas) => replicas,
                None => old.replicas(&server.name).cloned().collect(),
            })
            .collect();
        let new = Arc::new(new);
        *self.topology.write().unwrap_or_else(|p| p.into_inner()) =
            Arc::new(Topology::new(new.clone(), upstreams));
        // The tool sets follow the new configuration before their tools are listed again.
        for set in &self.sets {
            set.reconfigure(&new);
        }
        let changes = self.rebuild_catalog_diff();
        report.catalog_changed = !changes.is_empty();
        for list in changes {
            self.broadcast(list).await;
        }
        let retired = old
            .upstreams()
            .iter()
            .filter(|upstream| !report.unchanged.iter().any(|name| name == upstream.name()));
        futures::future::join_all(retired.map(|upstream| upstream.shutdown())).await;
        tracing::info!(
            added = ?report.added,
            removed = ?report.removed,
            changed = ?report.changed,
            unchanged = report.unchanged.len(),
            catalog_changed = report.catalog_changed,
            workflows_changed = report.workflows_changed,
            "configuration reloaded"
        );
        report
    }
}

impl Gateway {
    /// Restarts one server (`error_recovery` restart_server): new replicas connect while
    /// the old ones still serve, then replace them. `Err` names an unknown server.
    pub async fn restart_server(self: &Arc<Self>, name: &str) -> Result<bool, String> {
        let _one_at_a_time = self.reloading.lock().await;
        let old = self.topology();
        let server = old
            .config
            .server(name)
            .cloned()
            .ok_or_else(|| format!("no server named \"{name}\" is configured"))?;
        let replicas = topology::new_replicas(&server, &self.http, &self.events);
        let mut started = Vec::new();
        for upstream in &replicas {
            let (sender, receiver) = oneshot::channel();
            self.launch(upstream.clone(), Some(sender));
            started.push(receiver);
        }
        let _ = tokio::time::timeout(CONNECT_WAIT, futures::future::join_all(started)).await;
        let ready = replicas.iter().all(|upstream| upstream.is_available());
        let upstreams = old
            .config
            .servers
            .iter()
            .flat_map(|each| {
                if each.name == name {
                    replicas.clone()
                } else {
                    old.replicas(&each.name).cloned().collect()
                }
            })
            .collect();
        *self.topology.write().unwrap_or_else(|p| p.into_inner()) =
            Arc::new(Topology::new(old.config.clone(), upstreams));
        for list in self.rebuild_catalog_diff() {
            self.broadcast(list).await;
        }
        futures::future::join_all(old.replicas(name).map(|upstream| upstream.shutdown())).await;
        tracing::info!(server = name, ready, "server restarted by request");
        Ok(ready)
    }
}

/// Which servers were added, removed, changed or left as they were.
fn diff(old: &Config, new: &Config) -> ReloadReport {
    let mut report = ReloadReport::default();
    for server in &new.servers {
        let list = match old.server(&server.name) {
            None => &mut report.added,
            Some(before) if before.connects_like(server) => &mut report.unchanged,
            Some(_) => &mut report.changed,
        };
        list.push(server.name.clone());
    }
    report.removed = old
        .servers
        .iter()
        .filter(|server| new.server(&server.name).is_none())
        .map(|server| server.name.clone())
        .collect();
    report
}

/// The settings that differ between `old` and `new` but are read only at start-up.
fn restart_only_changes(old: &Config, new: &Config) -> Vec<String> {
    let (a, b) = (&old.serve, &new.serve);
    let (wa, wb) = (&old.workflows, &new.workflows);
    [
        ("serve.http", a.http != b.http),
        ("serve.allowed_hosts", a.allowed_hosts != b.allowed_hosts),
        (
            "serve.allowed_origins",
            a.allowed_origins != b.allowed_origins,
        ),
        ("serve.max_body_bytes", a.max_body_bytes != b.max_body_bytes),
        ("store.path", old.store.path != new.store.path),
        ("logging.format", old.logging != new.logging),
        ("workflows.env", wa.env_allow != wb.env_allow),
        (
            "workflows.inline_output_limit",
            wa.inline_output_limit != wb.inline_output_limit,
        ),
        ("workflows.keep_for", wa.keep_for != wb.keep_for),
        ("workflows.keep_runs", wa.keep_runs != wb.keep_runs),
    ]
    .into_iter()
    .filter(|(_, changed)| *changed)
    .map(|(setting, _)| setting.to_owned())
    .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn config(text: &str) -> Config {
        baton_core::config::parse(Path::new("baton.yaml"), text, &|_| None).expect("valid")
    }

    #[test]
    fn servers_are_sorted_into_added_removed_changed_and_unchanged() {
        let old = config(
            "servers:\n  a: { command: a }\n  b: { command: b }\n  c: { command: c, tools: { allow: [x] } }\n  d: { command: d }\n",
        );
        let new = config(
            "serve: { http: \"127.0.0.1:9999\" }\nservers:\n  e: { command: e }\n  a: { command: a }\n  b: { command: b, args: [\"--v2\"] }\n  c: { command: c, tools: { allow: [y] } }\n",
        );
        let report = diff(&old, &new);
        assert_eq!(report.added, ["e"]);
        assert_eq!(report.unchanged, ["a"]);
        assert_eq!(report.changed, ["b", "c"]);
        assert_eq!(report.removed, ["d"]);
        assert_eq!(restart_only_changes(&old, &new), ["serve.http"]);
        assert!(restart_only_changes(&old, &old).is_empty());
        // The same file twice compiles to equal servers (tool filters included).
        assert!(diff(&new, &new).changed.is_empty());
    }
}
