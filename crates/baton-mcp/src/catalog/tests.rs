use std::{collections::BTreeMap, sync::Arc};

use rmcp::model::{JsonObject, Resource, ResourceTemplate, Tool};

use super::*;

fn tool(name: &str) -> Tool {
    Tool::new(name.to_owned(), "test tool", Arc::new(JsonObject::new()))
}

fn source<'a>(server: &'a str, rename: &'a BTreeMap<String, String>, tools: &[&str]) -> Source<'a> {
    Source {
        server,
        rename,
        namespaced: true,
        catalog: ServerCatalog {
            tools: tools.iter().map(|name| tool(name)).collect(),
            ..Default::default()
        },
    }
}

#[test]
fn tools_are_namespaced_and_routed_back() {
    let none = BTreeMap::new();
    let catalog = Catalog::build(
        "__",
        vec![(0, tool("baton__status"))],
        vec![
            source("git", &none, &["git_status"]),
            source("time", &none, &["get_current_time"]),
        ],
    );
    let names: Vec<_> = catalog.tools.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(
        names,
        ["baton__status", "git__git_status", "time__get_current_time"]
    );
    assert_eq!(
        catalog.tool_routes["time__get_current_time"],
        Route {
            server: "time".into(),
            original: "get_current_time".into(),
            set: None,
        }
    );
    assert_eq!(
        catalog.tool_routes["baton__status"],
        Route {
            server: "baton".into(),
            original: "status".into(),
            set: Some(0),
        }
    );
    assert!(catalog.conflicts.is_empty());
}

#[test]
fn renames_and_conflicts_resolve_deterministically() {
    let rename: BTreeMap<String, String> = [("a".to_owned(), "b".to_owned())].into();
    let build = || Catalog::build("__", vec![], vec![source("s", &rename, &["b", "a"])]);
    let first = build();
    let names: Vec<_> = first.tools.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(names[0], "s__b");
    assert!(
        names[1].starts_with("s__b_") && names[1].len() == "s__b_".len() + 8,
        "{names:?}"
    );
    assert_eq!(first.tool_routes[&names[1]].original, "a");
    assert_eq!(first.conflicts.len(), 1);
    let again: Vec<_> = build().tools.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(names, again);
}

#[test]
fn resources_route_by_uri_and_template_prefix() {
    let none = BTreeMap::new();
    let mut docs = source("docs", &none, &[]);
    docs.catalog
        .resources
        .push(Resource::new("file:///a.txt", "a"));
    docs.catalog
        .templates
        .push(ResourceTemplate::new("demo://item/{id}", "item"));
    let catalog = Catalog::build("__", vec![], vec![docs]);
    assert_eq!(catalog.resource_owner("file:///a.txt"), Some("docs"));
    assert_eq!(catalog.resource_owner("demo://item/7"), Some("docs"));
    assert_eq!(catalog.resource_owner("other://x"), None);
}

#[test]
fn a_server_without_namespace_keeps_its_own_names() {
    let none = BTreeMap::new();
    let mut plain = source("test", &none, &["greet", "status"]);
    plain.namespaced = false;
    let catalog = Catalog::build(
        "__",
        vec![(0, tool("baton__status"))],
        vec![plain, source("git", &none, &["greet"])],
    );
    assert_eq!(catalog.tool_routes["greet"].server, "test");
    assert_eq!(catalog.tool_routes["greet"].original, "greet");
    assert_eq!(catalog.tool_routes["status"].server, "test");
    assert_eq!(catalog.tool_routes["git__greet"].server, "git");
}
