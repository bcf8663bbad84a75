//! The aggregated catalog: every server's tools, prompts, resources and templates under
//! exposed names, with routes back to the owning server and the original name. Built as
//! an immutable snapshot and swapped whole when any server's lists change.
//!
//! Naming is deterministic: servers in configuration order (built-ins first), items in the
//! order the server lists them. A name that is already taken gets a hash suffix of its
//! `(server, original name)` identity and the conflict is reported.

use crate::FastMap as HashMap;

use baton_core::names::{fit_tool_name, namespaced_prompt_name, server_prefix, with_hash_suffix};
use rmcp::model::{Prompt, Resource, ResourceTemplate, Tool};

use crate::upstream::ServerCatalog;

/// Where an exposed name leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The upstream server, or a tool set's namespace (`baton`, `workflow`).
    pub server: String,
    pub original: String,
    /// The tool set that answers it (its index in the gateway's sets); `None`: upstream.
    pub set: Option<usize>,
}

#[derive(Debug, Default)]
pub struct Catalog {
    pub tools: Vec<Tool>,
    pub tool_routes: HashMap<String, Route>,
    /// Exposed tool name → its index in `tools`.
    tool_positions: HashMap<String, usize>,
    pub prompts: Vec<Prompt>,
    pub prompt_routes: HashMap<String, Route>,
    pub resources: Vec<Resource>,
    /// Resource URI → server. URIs are exposed unchanged.
    pub resource_routes: HashMap<String, String>,
    pub templates: Vec<ResourceTemplate>,
    /// (static prefix of the URI template, server), longest prefix first.
    pub template_routes: Vec<(String, String)>,
    /// Human-readable reports of names that collided and how they were resolved.
    pub conflicts: Vec<String>,
    /// The servers that were ready when this catalog was built (their items are in it).
    pub listed: std::collections::HashSet<String>,
}

/// One server's contribution.
pub struct Source<'a> {
    pub server: &'a str,
    pub rename: &'a std::collections::BTreeMap<String, String>,
    /// `false` (`namespace: false`): names without the server's prefix.
    pub namespaced: bool,
    pub catalog: ServerCatalog,
}

impl Catalog {
    /// `own`: the tool sets' tools, each with its set's index.
    pub fn build(separator: &str, own: Vec<(usize, Tool)>, sources: Vec<Source<'_>>) -> Catalog {
        let mut catalog = Catalog::default();
        for (set, tool) in own {
            // `baton__…` and `workflow__…`: the namespace is the route's server.
            let name = tool.name.to_string();
            let (server, local) = name
                .split_once(separator)
                .unwrap_or((baton_core::config::BUILTIN_SERVER, name.as_str()));
            catalog.tool_routes.insert(
                name.clone(),
                Route {
                    server: server.to_owned(),
                    original: local.to_owned(),
                    set: Some(set),
                },
            );
            catalog.tools.push(tool);
        }
        for source in sources {
            let prefix = server_prefix(source.server);
            for mut tool in source.catalog.tools {
                let original = tool.name.to_string();
                let local = source.rename.get(&original).unwrap_or(&original);
                let wanted = if source.namespaced {
                    fit_tool_name(&format!("{prefix}{separator}{local}"))
                } else {
                    fit_tool_name(local)
                };
                let exposed = catalog.unique_tool_name(wanted, source.server, &original);
                tool.name = exposed.clone().into();
                catalog.tool_routes.insert(
                    exposed,
                    Route {
                        server: source.server.to_owned(),
                        original,
                        set: None,
                    },
                );
                catalog.tools.push(tool);
            }
            for mut prompt in source.catalog.prompts {
                let original = prompt.name.clone();
                let mut exposed = if source.namespaced {
                    namespaced_prompt_name(&prefix, separator, &original)
                } else {
                    original.clone()
                };
                if catalog.prompt_routes.contains_key(&exposed) {
                    let resolved =
                        with_hash_suffix(&exposed, &format!("{}\0{original}", source.server));
                    catalog.conflicts.push(format!(
                        "prompt \"{exposed}\" of server \"{}\" is exposed as \"{resolved}\": the name was taken",
                        source.server
                    ));
                    exposed = resolved;
                }
                prompt.name = exposed.clone();
                catalog.prompt_routes.insert(
                    exposed,
                    Route {
                        server: source.server.to_owned(),
                        original,
                        set: None,
                    },
                );
                catalog.prompts.push(prompt);
            }
            for resource in source.catalog.resources {
                let uri = resource.uri.clone();
                if let Some(owner) = catalog.resource_routes.get(&uri) {
                    catalog.conflicts.push(format!(
                        "resource \"{uri}\" is offered by \"{owner}\" and \"{}\"; reads go to \"{owner}\"",
                        source.server
                    ));
                    continue;
                }
                catalog
                    .resource_routes
                    .insert(uri, source.server.to_owned());
                catalog.resources.push(resource);
            }
            for template in source.catalog.templates {
                let pattern = &template.uri_template;
                let prefix = pattern.split('{').next().unwrap_or(pattern).to_owned();
                catalog
                    .template_routes
                    .push((prefix, source.server.to_owned()));
                catalog.templates.push(template);
            }
        }
        catalog.tool_positions = catalog
            .tools
            .iter()
            .enumerate()
            .map(|(index, tool)| (tool.name.to_string(), index))
            .collect();
        catalog
            .template_routes
            .sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        for conflict in &catalog.conflicts {
            tracing::warn!("{conflict}");
        }
        catalog
    }

    fn unique_tool_name(&mut self, wanted: String, server: &str, original: &str) -> String {
        if !self.tool_routes.contains_key(&wanted) {
            return wanted;
        }
        let resolved = with_hash_suffix(&wanted, &format!("{server}\0{original}"));
        self.conflicts.push(format!(
            "tool \"{original}\" of server \"{server}\" is exposed as \"{resolved}\": \"{wanted}\" was taken"
        ));
        resolved
    }

    /// The lists (tools, prompts, resources with their templates) that differ from
    /// `before`'s: what clients are sent list_changed for.
    pub fn changes_from(&self, before: &Catalog) -> Vec<crate::upstream::ListChanged> {
        use crate::upstream::ListChanged;
        let mut changes = Vec::new();
        if self.tools != before.tools {
            changes.push(ListChanged::Tools);
        }
        if self.prompts != before.prompts {
            changes.push(ListChanged::Prompts);
        }
        if self.resources != before.resources || self.templates != before.templates {
            changes.push(ListChanged::Resources);
        }
        changes
    }

    pub fn tool(&self, name: &str) -> Option<&Tool> {
        self.tool_positions
            .get(name)
            .map(|&index| &self.tools[index])
    }

    /// The server that owns `uri`: an exact listed resource, else the template with the
    /// longest matching static prefix.
    pub fn resource_owner(&self, uri: &str) -> Option<&str> {
        if let Some(server) = self.resource_routes.get(uri) {
            return Some(server);
        }
        self.template_routes
            .iter()
            .find(|(prefix, _)| !prefix.is_empty() && uri.starts_with(prefix.as_str()))
            .map(|(_, server)| server.as_str())
    }
}

#[cfg(test)]
mod tests;
