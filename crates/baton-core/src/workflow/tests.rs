use std::{collections::BTreeSet, path::Path, time::Duration};

use serde_json::json;

use super::*;
use crate::ConfigErrors;

fn servers() -> BTreeSet<String> {
    ["git", "fs", "memory"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn compile(text: &str) -> Result<Workflow, ConfigErrors> {
    let servers = servers();
    let env = vec!["HOME".to_owned()];
    compile_workflow(
        Path::new("wf.yaml"),
        text,
        WorkflowContext {
            servers: Some(&servers),
            separator: "__",
            env_allow: &env,
            modes: None,
        },
    )
}

fn errors(text: &str) -> Vec<String> {
    match compile(text) {
        Ok(workflow) => panic!("expected errors, got {workflow:#?}"),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn steps_compile_in_dependency_order_with_needs_read_from_templates() {
    let workflow = compile(
        r#"
name: report
description: Git status and log, summarised
inputs:
  repo: { type: string, description: The repository }
  limit: { type: integer, default: 5 }
outputs:
  summary: "{{ steps.summarize.output }}"
steps:
  - id: summarize
    set:
      text: "{{ steps.status.output }} / {{ steps.log.output }}"
  - id: status
    tool: git__git_status
    args: { repo_path: "{{ inputs.repo }}" }
  - id: log
    tool: git__git_log
    needs: [status]
    args: { repo_path: "{{ inputs.repo }}", max_count: "{{ inputs.limit }}" }
    retry: { max_attempts: 4, initial: 200ms }
    timeout: 30s
"#,
    )
    .unwrap();
    let order: Vec<&str> = workflow.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(order, ["status", "log", "summarize"]);
    assert_eq!(workflow.step("summarize").unwrap().needs, ["log", "status"]);
    let log = workflow.step("log").unwrap();
    assert_eq!(log.retry.unwrap().max_attempts, 4);
    assert_eq!(log.retry.unwrap().initial, Duration::from_millis(200));
    assert_eq!(log.timeout, Some(Duration::from_secs(30)));
    let schema = workflow.input_schema();
    assert_eq!(schema["required"], json!(["repo"]));
    assert_eq!(schema["properties"]["limit"]["default"], 5);
    assert_eq!(workflow.hash.len(), 32);
}

#[test]
fn every_error_is_reported_at_once_with_positions() {
    let found = errors(
        r#"
name: broken
inputs:
  n: { type: float }
steps:
  - id: a
    tool: nowhere__tool
  - id: b
    needs: [a, zz]
    set: { x: "{{ inputs.missing }}" }
  - id: c
    tool: git__git_log
    args: { x: "{{ steps.a.output | }}" }
  - id: bad-id
    set: {}
  - id: d
    tool: git__git_log
    set: { y: 1 }
  - id: e
    sleep: soon
  - id: f
    set: { v: "{{ item }}" }
"#,
    );
    let all = found.join("\n");
    for expected in [
        "wf.yaml:4:14: inputs.n.type: unknown type \"float\"",
        "steps[0].tool: no server \"nowhere\" is configured",
        "steps[1].needs: unknown step \"zz\"",
        "template reads unknown input \"missing\"",
        "steps[2].args.x: template error",
        "\"bad-id\" is not a step id",
        "a step does one thing: it has tool and set",
        "\"soon\" is not a duration",
        "template reads item, which only exists in a step with for_each",
    ] {
        assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
    }
    assert!(
        found.iter().all(|line| line.starts_with("wf.yaml:")),
        "{all}"
    );
}

#[test]
fn cycles_are_reported_with_their_steps() {
    let found = errors(
        "name: loop\nsteps:\n  - { id: a, needs: [c], set: {} }\n  - { id: b, needs: [a], set: {} }\n  - { id: c, set: { x: \"{{ steps.b.output }}\" } }\n",
    );
    let all = found.join("\n");
    assert!(all.contains("cycle"), "{all}");
    for id in ["a", "b", "c"] {
        assert!(all.contains(id), "{all}");
    }
}

#[test]
fn phases_compile_into_the_same_dag() {
    let workflow = compile(
        r#"
name: phased
phases:
  - name: Research Phase
    tool: memory__create_entities
    args: { entities: [{ name: "{{ task }}", entityType: task, observations: [] }] }
    tasks: ["Stack evaluation", "Best practices"]
  - name: Build
    parallel: true
    dependencies: ["Research Phase"]
    tool: fs__write_file
    args: { path: "/tmp/{{ task.name }}", content: "{{ task.focus }}" }
    branches:
      - { name: Front end, focus: ui }
      - { name: Back end, focus: api }
  - name: Review
    dependencies: [Build]
    tasks:
      - { id: check, tool: git__git_status, args: { repo_path: . } }
"#,
    )
    .unwrap();
    let by_id = |id: &str| {
        workflow
            .step(id)
            .unwrap_or_else(|| panic!("no {id}: {workflow:#?}"))
    };
    assert_eq!(by_id("research_phase_2").needs, ["research_phase_1"]);
    assert_eq!(by_id("build_front_end").needs, ["research_phase_2"]);
    assert_eq!(by_id("build_back_end").needs, ["research_phase_2"]);
    assert_eq!(by_id("check").needs, ["build_back_end", "build_front_end"]);
    assert_eq!(by_id("research_phase_1").locals["task"], "Stack evaluation");
}

#[test]
fn a_mode_task_is_delegated_with_the_outputs_it_builds_on() {
    let workflow = compile(
        "name: p\nphases:\n  - name: Research\n    mode: researcher\n    parallel: true\n    tasks: [\"Stack\", \"Costs\"]\n  - name: Design\n    mode: architect\n    dependencies: [Research]\n    tasks: [\"Schema\"]\n",
    )
    .unwrap_or_else(|errors| panic!("{errors}"));
    let design = workflow.step("design_1").expect("the design task");
    let StepKind::Tool { tool, args, .. } = &design.kind else {
        panic!("{:?}", design.kind)
    };
    assert_eq!(tool, "baton__delegate_task");
    assert_eq!(args["mode"], "architect");
    assert_eq!(args["instructions"], "{{ task }}");
    let context = args["context"].as_str().unwrap();
    assert!(
        context.contains("{{ steps.research_1.output.output }}"),
        "{context}"
    );
    assert!(context.contains("## research_2\n"), "{context}");
    assert_eq!(design.needs, ["research_1", "research_2"]);
    assert!(workflow.step("research_1").unwrap().kind != design.kind);
}

/// A configured mode `code`.
fn code_mode() -> crate::modes::Mode {
    crate::modes::Mode {
        slug: "code".into(),
        name: "Code".into(),
        description: None,
        role_definition: "You write code.".into(),
        when_to_use: None,
        custom_instructions: None,
        groups: Vec::new(),
        executor: crate::modes::Executor::Sampling { max_tokens: 100 },
        origin: "baton.yaml".into(),
    }
}

#[test]
fn a_mode_that_is_not_configured_is_an_error_with_its_position() {
    let servers = servers();
    let modes = [code_mode()];
    let errors = compile_workflow(
        Path::new("wf.yaml"),
        "name: p\nphases:\n  - name: Design\n    mode: architect\n    tasks: [\"Schema\"]\n",
        WorkflowContext {
            servers: Some(&servers),
            separator: "__",
            env_allow: &[],
            modes: Some(&modes),
        },
    )
    .unwrap_err()
    .to_string();
    assert!(errors.contains("wf.yaml:5:"), "{errors}");
    assert!(
        errors.contains("mode \"architect\" is not configured (modes: code)"),
        "{errors}"
    );
}

#[test]
fn a_delegate_step_calls_delegate_task_for_a_configured_mode() {
    let servers = servers();
    let modes = [code_mode()];
    let context = |modes| WorkflowContext {
        servers: Some(&servers),
        separator: "__",
        env_allow: &[],
        modes: Some(modes),
    };
    let text = "name: d\nsteps:\n  - id: plan\n    set: {x: 1}\n  - id: build\n    delegate: {mode: code, task: \"Build it\", context: \"{{ steps.plan.output }}\"}\n";
    let workflow = compile_workflow(Path::new("wf.yaml"), text, context(&modes))
        .unwrap_or_else(|errors| panic!("{errors}"));
    let build = workflow.step("build").unwrap();
    let StepKind::Tool { tool, args, .. } = &build.kind else {
        panic!("{:?}", build.kind)
    };
    assert_eq!(tool, "baton__delegate_task");
    assert_eq!(args["mode"], "code");
    assert_eq!(args["instructions"], "Build it");
    assert_eq!(build.needs, ["plan"], "the context's reads are needs");
    let errors = compile_workflow(Path::new("wf.yaml"), text, context(&[]))
        .unwrap_err()
        .to_string();
    assert!(errors.contains("wf.yaml:6:"), "{errors}");
    assert!(errors.contains("steps[1].delegate.mode"), "{errors}");
    assert!(errors.contains("no mode is"), "{errors}");
}

#[test]
fn a_task_with_neither_mode_nor_tool_says_how_to_run_it() {
    let all = errors("name: p\nphases:\n  - name: Design\n    tasks: [\"Schema\"]\n").join("\n");
    assert!(all.contains("needs a mode or a tool"), "{all}");
}

#[test]
fn inputs_are_checked_and_defaulted() {
    let workflow = compile(
        "name: w\ninputs:\n  n: { type: integer, default: 2 }\n  who: { type: string, enum: [a, b] }\nsteps:\n  - { id: s, set: { x: \"{{ inputs.n }}\" } }\n",
    )
    .unwrap();
    let given = json!({"who": "a"}).as_object().cloned().unwrap();
    let resolved = workflow.resolve_inputs(&given).unwrap();
    assert_eq!(resolved["n"], 2);
    let bad = json!({"who": "c", "n": "x", "extra": 1})
        .as_object()
        .cloned()
        .unwrap();
    let problems = workflow.resolve_inputs(&bad).unwrap_err().join("\n");
    assert!(problems.contains("unknown input \"extra\""), "{problems}");
    assert!(
        problems.contains("\"n\" must be a integer") || problems.contains("must be a integer"),
        "{problems}"
    );
    assert!(problems.contains("must be one of"), "{problems}");
    assert_eq!(
        InputKind::Integer.from_text("7"),
        Ok(json!(7)),
        "command-line values parse as JSON"
    );
}

#[test]
fn graphs_draw_every_step_and_edge() {
    let workflow = compile(
        "name: g\nsteps:\n  - { id: a, tool: git__git_status, args: {} }\n  - { id: b, needs: [a], approval: { prompt: ok? } }\n",
    )
    .unwrap();
    let mermaid = graph::mermaid(&workflow);
    assert!(mermaid.starts_with("flowchart TD"), "{mermaid}");
    assert!(mermaid.contains("a --> b"), "{mermaid}");
    assert!(mermaid.contains("git__git_status"), "{mermaid}");
    let dot = graph::dot(&workflow);
    assert!(dot.contains("\"a\" -> \"b\";"), "{dot}");
}

#[test]
fn workflow_sets_check_names_and_sub_workflows() {
    let one = compile("name: one\nsteps:\n  - { id: s, workflow: two }\n").unwrap();
    let two = compile("name: two\nsteps:\n  - { id: s, workflow: one }\n").unwrap();
    let three = compile("name: three\nsteps:\n  - { id: s, workflow: nowhere }\n").unwrap();
    let all: Vec<String> = check_set(&[one, two, three])
        .iter()
        .map(ToString::to_string)
        .collect();
    let all = all.join("\n");
    assert!(all.contains("unknown workflow \"nowhere\""), "{all}");
    assert!(all.contains("cycle"), "{all}");
}
