//! Workflows from the command line: `baton validate` checks them with the config (every
//! error, with positions), `baton graph` draws them.

use crate::common::*;

fn project(dir: &TestDir, workflow: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.path().join("workflows")).unwrap();
    dir.write("workflows/report.yaml", workflow);
    dir.write(
        "baton.yaml",
        "servers:\n  git:\n    command: mcp-server-git\n  fs:\n    command: mcp-server-filesystem\n",
    )
}

const REPORT: &str = r#"
name: report
description: Status and log of a repository
inputs:
  repo: { type: string }
steps:
  - id: status
    tool: git__git_status
    args: { repo_path: "{{ inputs.repo }}" }
  - id: log
    tool: git__git_log
    args: { repo_path: "{{ inputs.repo }}" }
  - id: save
    tool: fs__write_file
    args:
      path: "{{ inputs.repo }}/REPORT.md"
      content: "{{ steps.status.output }}\n{{ steps.log.output }}"
"#;

#[test]
fn validate_checks_the_workflows_folder_and_graph_draws_it() {
    let dir = TestDir::new();
    let config = project(&dir, REPORT);
    let config = config.to_str().unwrap();
    let output = run_baton(&["validate", config]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("2 servers, 1 workflow"), "{stdout}");

    let output = run_baton(&["--config", config, "graph", "report"]);
    let mermaid = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(mermaid.starts_with("flowchart TD"), "{mermaid}");
    assert!(mermaid.contains("status --> save"), "{mermaid}");
    assert!(mermaid.contains("log --> save"), "{mermaid}");

    let output = run_baton(&["--config", config, "graph", "report", "--format", "dot"]);
    let dot = String::from_utf8_lossy(&output.stdout);
    assert!(dot.contains("\"log\" -> \"save\";"), "{dot}");

    let output = run_baton(&["--config", config, "graph", "nothing"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no workflow \"nothing\" (known: report"),
        "{stderr}"
    );
}

#[test]
fn a_broken_workflow_file_fails_validation_with_every_error() {
    let dir = TestDir::new();
    let config = project(
        &dir,
        "name: report\nsteps:\n  - id: a\n    tool: nowhere__x\n  - id: b\n    needs: [a, missing]\n    set: { v: \"{{ steps.zz.output }}\" }\n",
    );
    let output = run_baton(&["validate", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("report.yaml:4:11: steps[0].tool: no server \"nowhere\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("report.yaml:6:16: steps[1].needs: unknown step \"missing\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("template reads unknown step \"zz\""),
        "{stderr}"
    );

    // One workflow file can be checked on its own, against the config.
    let file = dir.path().join("workflows/report.yaml");
    let output = run_baton(&[
        "--config",
        config.to_str().unwrap(),
        "validate",
        file.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown step \"missing\""));
}
