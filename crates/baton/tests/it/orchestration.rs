//! The seed's "Full Stack Development" workflow, as written, with its six modes delegating
//! by `sampling`: the official Python SDK client runs it over MCP and its sampling callback
//! is the model that answers each of the 18 tasks; each task's prompt carries the answers
//! of the phases it depends on.

use std::process::Command;

use serde_json::Value;

use crate::common::*;

#[test]
fn full_stack_development_delegates_every_task_to_the_waiting_clients_model() {
    let dir = TestDir::new();
    std::fs::create_dir_all(dir.path().join("workflows")).unwrap();
    let example = repo_root().join("examples/orchestration/workflows/full-stack-development.yaml");
    std::fs::copy(
        &example,
        dir.path().join("workflows/full-stack-development.yaml"),
    )
    .unwrap();
    let modes: String = [
        "mcp-researcher",
        "architect",
        "code",
        "tdd",
        "critic",
        "mcp-optimizer",
    ]
    .iter()
    .map(|slug| {
        format!(
            "    {slug}:\n      role_definition: You are the {slug} of the team.\n      groups: [read]\n      executor: sampling\n"
        )
    })
    .collect();
    let config = dir.write("baton.yaml", &format!("modes:\n  definitions:\n{modes}"));
    let baton = BatonHttp::start(&config);
    let output = Command::new(peer("python"))
        .arg(repo_root().join("tests/clients/sampling_workflow.py"))
        .arg(baton.mcp_url())
        .arg("workflow__full-stack-development")
        .output()
        .expect("run the Python client");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}\nbaton:\n{}",
        String::from_utf8_lossy(&output.stderr),
        baton.logs()
    );
    let said: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|error| panic!("{error}: {stdout}"));
    assert_eq!(said["is_error"], false, "{said}");
    assert_eq!(said["structured"]["status"], "succeeded", "{said}");
    let prompts: Vec<&str> = said["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(
        prompts.len(),
        18,
        "one sampling request per task: {prompts:#?}"
    );
    // Each prompt names its mode's role and its task.
    let prompt_of = |task: &str| {
        prompts
            .iter()
            .find(|p| p.contains(task))
            .unwrap_or_else(|| panic!("no prompt for {task}: {prompts:#?}"))
    };
    assert!(prompt_of("Technology stack evaluation").contains("mcp-researcher"));
    // A research task has no earlier answers; a design task gets the research answers, and
    // the optimization tasks get the review's.
    assert!(!prompt_of("Technology stack evaluation").contains("ANSWER-"));
    let design = prompt_of("System architecture design");
    assert!(design.contains("You are the architect"), "{design}");
    assert!(
        (0..3).all(|n| design.contains(&format!("ANSWER-{n} "))),
        "the design task sees the three research answers: {design}"
    );
    let optimization = prompt_of("Performance optimization");
    assert!(optimization.contains("ANSWER-"), "{optimization}");
    // The step outputs are the model's answers.
    let outputs = said["structured"].to_string();
    assert!(outputs.contains("from the client's model"), "{outputs}");
}
