//! Every client's config dialect, as it is: a VS Code `.vscode/mcp.json` (with `inputs`,
//! `${input:ID}`, `${workspaceFolder}`, `${userHome}`, `${env:NAME}`), a Cursor `mcp.json`
//! (`${env:NAME}`) and the Claude Desktop fixture; and `baton init`, which writes a
//! `baton.yaml` from them that validates.

use std::{path::Path, process::Command};

use crate::common::*;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("tests/fixtures/clients").join(name)).unwrap()
}

/// `baton ARGS` in `dir` with the test's variables (`vars`) on top of a clean set.
fn baton_in(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(baton_bin());
    command
        .args(args)
        .current_dir(dir)
        .env("BATON_TEST_FILESYSTEM", peer("mcp-server-filesystem"))
        .env_remove("BATON_INPUT_DOCS_TOKEN")
        .env_remove("DOCS_TOKEN");
    for (name, value) in vars {
        command.env(name, value);
    }
    command.output().expect("run baton")
}

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_vscode_mcp_json_works_as_it_is() {
    let dir = TestDir::new();
    std::fs::create_dir_all(dir.path().join(".vscode")).unwrap();
    let config = dir.write(".vscode/mcp.json", &fixture("vscode-mcp.json"));
    let cfg = config.to_str().unwrap();
    // The input has no value: the error names it, says what it is for and how to set it.
    let refused = baton_in(dir.path(), &["validate", "--config", cfg], &[]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    let said = text(&refused);
    assert!(said.contains("mcp.json:"), "{said}");
    assert!(
        said.contains("input \"docs-token\" (Token for the docs server) has no value: set BATON_INPUT_DOCS_TOKEN"),
        "{said}"
    );
    // With it, the file validates and its servers run; `${workspaceFolder}` is the folder
    // above .vscode/ (the filesystem server lists it as its allowed directory).
    let secret = "s3cret-input-value";
    let vars = [("BATON_INPUT_DOCS_TOKEN", secret)];
    let valid = baton_in(dir.path(), &["validate", "--config", cfg], &vars);
    assert!(valid.status.success(), "{}", text(&valid));
    let listed = baton_in(
        dir.path(),
        &["call", "files__list_allowed_directories", "--config", cfg],
        &vars,
    );
    let said = text(&listed);
    assert!(listed.status.success(), "{said}");
    let root = dir.path().canonicalize().unwrap();
    assert!(said.contains(root.to_str().unwrap()), "{said}");
    assert!(!said.contains(".vscode"), "{said}");
    assert!(
        !said.contains(secret),
        "the input's value is not printed: {said}"
    );
}

#[test]
fn a_cursor_mcp_json_with_env_variables_works_as_it_is() {
    let dir = TestDir::new();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let config = dir.write("mcp.json", &fixture("cursor-mcp.json"));
    let cfg = config.to_str().unwrap();
    let data = dir.path().join("data").canonicalize().unwrap();
    let vars = [
        ("BATON_TEST_ROOT", data.to_str().unwrap()),
        ("DOCS_TOKEN", "t"),
    ];
    let missing = baton_in(dir.path(), &["validate", "--config", cfg], &vars[..1]);
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing));
    assert!(
        text(&missing).contains("DOCS_TOKEN is not set"),
        "{}",
        text(&missing)
    );
    let listed = baton_in(
        dir.path(),
        &["call", "files__list_allowed_directories", "--config", cfg],
        &vars,
    );
    assert!(listed.status.success(), "{}", text(&listed));
    assert!(
        text(&listed).contains(data.to_str().unwrap()),
        "{}",
        text(&listed)
    );
}

#[test]
fn baton_init_imports_client_configs_that_then_validate() {
    // From VS Code's file (found in the usual place): servers, inputs, and the .roomodes and
    // Roo schedules next to it.
    let dir = TestDir::new();
    std::fs::create_dir_all(dir.path().join(".vscode")).unwrap();
    std::fs::create_dir_all(dir.path().join(".roo")).unwrap();
    dir.write(".vscode/mcp.json", &fixture("vscode-mcp.json"));
    let roo = repo_root().join("tests/fixtures/roo");
    std::fs::copy(roo.join(".roomodes"), dir.path().join(".roomodes")).unwrap();
    std::fs::copy(
        roo.join("schedules.json"),
        dir.path().join(".roo/schedules.json"),
    )
    .unwrap();
    let vars = [("BATON_INPUT_DOCS_TOKEN", "t")];
    let init = baton_in(dir.path(), &["init"], &vars);
    assert!(init.status.success(), "{}", text(&init));
    assert!(text(&init).contains(".vscode/mcp.json"), "{}", text(&init));
    let written = std::fs::read_to_string(dir.path().join("baton.yaml")).unwrap();
    assert!(written.contains("${input:docs-token}"), "{written}");
    assert!(written.contains("modes:\n  import:"), "{written}");
    assert!(written.contains("schedules:"), "{written}");
    let valid = baton_in(dir.path(), &["validate"], &vars);
    assert!(valid.status.success(), "{}\n{written}", text(&valid));
    // It never overwrites.
    let again = baton_in(dir.path(), &["init"], &vars);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(
        text(&again).contains("does not overwrite"),
        "{}",
        text(&again)
    );

    // From the Claude Desktop fixture, named with --from.
    let other = TestDir::new();
    let claude = other.write(
        "claude_desktop_config.json",
        &fixture("claude_desktop_config.json"),
    );
    let out = other.path().join("baton.yaml");
    let init = baton_in(
        other.path(),
        &[
            "init",
            "--from",
            claude.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert!(init.status.success(), "{}", text(&init));
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(written.contains("transport: sse"), "{written}");
    let valid = baton_in(
        other.path(),
        &["validate", "--config", out.to_str().unwrap()],
        &[("DOCS_TOKEN", "t")],
    );
    assert!(valid.status.success(), "{}\n{written}", text(&valid));
}
