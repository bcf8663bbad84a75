//! The 2025-11-25 task answers as real servers send them (and as rmcp decodes them), and
//! the poll interval's clamp.

use std::time::Duration;

use rmcp::model::{ClientRequest, ServerResult, TaskStatus};
use serde_json::{Value, json};

use super::*;

/// An answer as rmcp's untagged `ServerResult` decodes it.
fn decoded(answer: Value) -> ServerResult {
    serde_json::from_value(answer).expect("every object decodes into some ServerResult")
}

fn task(status: &str) -> Value {
    json!({"taskId": "t-1", "status": status, "statusMessage": "Gathering sources...",
        "createdAt": "2026-01-01T00:00:00Z", "lastUpdatedAt": "2026-01-01T00:00:01Z",
        "ttl": 300000, "pollInterval": 1000})
}

#[test]
fn a_legacy_create_result_is_read_from_the_custom_result_rmcp_makes_of_it() {
    let answer = decoded(json!({"task": task("working")}));
    let ServerResult::CustomResult(custom) = &answer else {
        panic!("rmcp 3.11 decodes a legacy CreateTaskResult as a custom result: {answer:?}");
    };
    let created = LegacyTask::created(&custom.0)
        .expect("a task")
        .expect("readable");
    assert_eq!(
        created,
        LegacyTask {
            id: "t-1".to_owned(),
            status: TaskStatus::Working,
            message: Some("Gathering sources...".to_owned()),
            poll_ms: Some(1000),
        }
    );
    // A result given at once is not a task.
    assert!(LegacyTask::created(&json!({"content": []})).is_none());
    // A task without an id or with an unknown status is an error that says why.
    let broken = LegacyTask::created(&json!({"task": {"status": "working"}})).unwrap();
    assert!(broken.unwrap_err().contains("taskId"));
    let broken = LegacyTask::created(&json!({"task": {"taskId": "x", "status": "paused"}}));
    assert!(broken.unwrap().unwrap_err().contains("\"paused\""));
}

#[test]
fn legacy_tasks_get_answers_are_read_whichever_variant_rmcp_picked() {
    for (status, expected) in [
        ("working", TaskStatus::Working),
        ("input_required", TaskStatus::InputRequired),
        ("completed", TaskStatus::Completed),
        ("failed", TaskStatus::Failed),
        ("cancelled", TaskStatus::Cancelled),
    ] {
        let answer = decoded(task(status));
        let read =
            LegacyTask::answered(&answer).unwrap_or_else(|error| panic!("{status}: {error}"));
        assert_eq!(read.id, "t-1");
        assert_eq!(read.status, expected, "{answer:?}");
    }
    // A working task reads as a 2026-07-28 GetTaskResult, which has no pollInterval: the
    // last known interval stays in force (`None` here); the others keep it.
    assert_eq!(
        LegacyTask::answered(&decoded(task("working")))
            .unwrap()
            .poll_ms,
        None
    );
    assert_eq!(
        LegacyTask::answered(&decoded(task("completed")))
            .unwrap()
            .poll_ms,
        Some(1000)
    );
    // Not a task at all.
    let empty = decoded(json!({}));
    assert!(LegacyTask::answered(&empty).unwrap_err().contains("taskId"));
}

#[test]
fn poll_intervals_are_clamped_between_50_ms_and_5_s() {
    assert_eq!(clamp_poll(Some(1000)), Duration::from_secs(1));
    assert_eq!(clamp_poll(Some(0)), MIN_POLL);
    assert_eq!(clamp_poll(Some(10)), Duration::from_millis(50));
    assert_eq!(clamp_poll(Some(3_600_000)), MAX_POLL);
    assert_eq!(MAX_POLL, Duration::from_secs(5));
    assert_eq!(clamp_poll(None), Duration::from_secs(1));
}

#[test]
fn a_tool_call_becomes_a_legacy_task_call_with_the_budget_as_ttl() {
    let mut params = rmcp::model::CallToolRequestParams::new("simulate-research-query");
    params.arguments = json!({"topic": "rust"}).as_object().cloned();
    let request = ClientRequest::CallToolRequest(rmcp::model::Request::new(params));
    let ClientRequest::CustomRequest(custom) = legacy_task_call(request, Duration::from_secs(600))
    else {
        panic!("a custom request");
    };
    assert_eq!(custom.method, "tools/call");
    let params = custom.params.expect("params");
    assert_eq!(params["name"], "simulate-research-query");
    assert_eq!(params["arguments"]["topic"], "rust");
    assert_eq!(params["task"], json!({"ttl": 600000}));
    // Requests about a task name it.
    let ClientRequest::CustomRequest(get) = legacy_request("tasks/get", "t-1") else {
        panic!("a custom request");
    };
    assert_eq!(get.method, "tasks/get");
    assert_eq!(get.params, Some(json!({"taskId": "t-1"})));
}

#[test]
fn the_result_loses_the_upstream_tasks_marker() {
    let result: rmcp::model::CallToolResult = serde_json::from_value(json!({
        "content": [{"type": "text", "text": "# Research Report: rust"}],
        "_meta": {"io.modelcontextprotocol/related-task": {"taskId": "t-1"}}
    }))
    .unwrap();
    let ServerResult::CallToolResult(result) = without_task_meta(result) else {
        panic!("a tool result");
    };
    assert!(result.meta.is_none(), "{result:?}");
    assert_eq!(result.content.len(), 1);
}
