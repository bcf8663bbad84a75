//! The boundaries ARCHITECTURE.md draws: crate dependencies point one way (read from
//! `cargo metadata`), the router knows no tool set by name, and JSON-RPC errors are built
//! in one place (read from the sources).

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;

use crate::common::repo_root;

/// Each workspace crate → its normal (not dev) dependencies.
fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(repo_root())
        .output()
        .expect("run cargo metadata");
    assert!(output.status.success(), "{output:?}");
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("metadata is JSON");
    metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|package| {
            let dependencies = package["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|dependency| dependency["kind"].is_null())
                .map(|dependency| dependency["name"].as_str().unwrap().to_owned())
                .collect();
            (package["name"].as_str().unwrap().to_owned(), dependencies)
        })
        .collect()
}

#[test]
fn crate_dependencies_point_one_way() {
    let all = dependencies();
    let forbidden: &[(&str, &[&str])] = &[
        (
            "baton-mcp",
            &[
                "baton-engine",
                "baton-automation",
                "baton-builtins",
                "baton-store",
                "baton-app",
            ],
        ),
        ("baton-core", &["tokio", "rmcp", "reqwest", "sqlx", "axum"]),
        ("baton-resilience", &["rmcp", "baton-mcp"]),
        ("baton-store", &["rmcp", "baton-mcp", "baton-engine"]),
        ("baton-engine", &["rmcp", "baton-mcp", "baton-automation"]),
        ("baton-automation", &["rmcp", "baton-mcp"]),
        ("baton-builtins", &["rmcp", "baton-mcp", "baton-engine"]),
    ];
    for (krate, never) in forbidden {
        let dependencies = all
            .get(*krate)
            .unwrap_or_else(|| panic!("no crate {krate} in {all:?}"));
        for name in *never {
            assert!(
                !dependencies.contains(*name),
                "{krate} must not depend on {name}: {dependencies:?}"
            );
        }
    }
    assert!(
        all["baton-mcp"].contains("baton-core") && all["baton-mcp"].contains("baton-resilience")
    );
    assert!(all["baton-app"].contains("baton-mcp") && all["baton-app"].contains("baton-engine"));
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read a source folder") {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

/// The shipped crates' source files, without their unit tests.
fn shipped_sources() -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("crates")).expect("crates/") {
        let krate = entry.expect("a crate").path();
        let name = krate.file_name().unwrap().to_string_lossy().into_owned();
        if name == "baton-testkit" || name == "baton-bench" {
            continue;
        }
        sources(&krate.join("src"), &mut found);
    }
    found.retain(|path| {
        let name = path.file_name().unwrap().to_string_lossy();
        name != "tests.rs" && !path.components().any(|part| part.as_os_str() == "tests")
    });
    assert!(found.len() > 50, "found only {} source files", found.len());
    found
}

#[test]
fn json_rpc_errors_are_built_in_one_place() {
    let builders = [
        "ErrorData::new(",
        "ErrorData::invalid_params(",
        "ErrorData::internal_error(",
        "ErrorData::invalid_request(",
        "ErrorData::method_not_found(",
        "ErrorData::parse_error(",
        "\"jsonrpc\": \"2.0\"",
    ];
    let home = repo_root().join("crates/baton-mcp/src/error.rs");
    let mut offenders = Vec::new();
    for path in shipped_sources() {
        if path == home {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read a source file");
        for builder in builders {
            if text.contains(builder) {
                offenders.push(format!("{}: {builder}", path.display()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "built outside error.rs: {offenders:#?}"
    );
}

#[test]
fn the_router_knows_no_tool_set_by_name() {
    let mut gateway = Vec::new();
    sources(
        &repo_root().join("crates/baton-mcp/src/gateway"),
        &mut gateway,
    );
    gateway.push(repo_root().join("crates/baton-mcp/src/gateway.rs"));
    for path in gateway {
        let text = std::fs::read_to_string(&path).expect("read a source file");
        for name in [
            "BUILTIN_SERVER",
            "WORKFLOW_SERVER",
            "\"baton\"",
            "\"workflow\"",
        ] {
            assert!(
                !text.contains(name),
                "{} names a tool set ({name})",
                path.display()
            );
        }
    }
}

#[test]
fn the_store_api_names_no_backend_type() {
    let src = repo_root().join("crates/baton-store/src");
    for file in ["lib.rs", "runs.rs", "automation.rs", "state.rs", "types.rs"] {
        let text = std::fs::read_to_string(src.join(file)).expect("read a store module");
        let code: String = text
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for name in ["sqlx", "SqlitePool", "SqliteRow", "BEGIN IMMEDIATE"] {
            assert!(!code.contains(name), "baton-store/src/{file} names {name}");
        }
    }
    // Every other crate reaches the store through `Store` only.
    for path in shipped_sources() {
        if path.starts_with(&src) {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read a source file");
        assert!(!text.contains("sqlx"), "{} uses sqlx", path.display());
    }
}
