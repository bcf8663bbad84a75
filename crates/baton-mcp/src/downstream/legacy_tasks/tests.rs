//! The shim's two rewrites.

use super::*;

fn renamed(message: Value) -> Option<Value> {
    rename(&serde_json::to_vec(&message).unwrap())
        .map(|bytes| serde_json::from_slice(&bytes).unwrap())
}

#[test]
fn legacy_task_requests_are_renamed_and_nothing_else_is() {
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "slow", "arguments": {"task": 1}, "task": {"ttl": 60000}}});
    let out = renamed(call).expect("a task-augmented call is renamed");
    assert_eq!(out["method"], "baton/legacy/tools/call");
    assert_eq!(out["params"]["task"]["ttl"], 60000);
    for method in [
        "tasks/get",
        "tasks/result",
        "tasks/list",
        "tasks/cancel",
        "tools/list",
    ] {
        let out = renamed(json!({"jsonrpc": "2.0", "id": 2, "method": method,
            "params": {"taskId": "t"}}))
        .unwrap_or_else(|| panic!("{method} is renamed"));
        assert_eq!(out["method"], format!("baton/legacy/{method}"));
    }
    // A plain call (a "task" only among its arguments), a 2026-07-28 request, an answer.
    let plain = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "slow", "arguments": {"task": {"ttl": 1}}}});
    assert_eq!(renamed(plain), None);
    let modern = json!({"jsonrpc": "2.0", "id": 4, "method": "tasks/get", "params": {
        "taskId": "t", "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}});
    assert_eq!(renamed(modern), None);
    let answer = json!({"jsonrpc": "2.0", "id": 5, "result": {"task": {"taskId": "t"}}});
    assert_eq!(renamed(answer), None);
    assert_eq!(rename(b"not json \"task"), None);
}

fn initialize_answer(version: rmcp::model::ProtocolVersion) -> ServerJsonRpcMessage {
    let result =
        rmcp::model::InitializeResult::new(Default::default()).with_protocol_version(version);
    ServerJsonRpcMessage::response(
        ServerResult::InitializeResult(result),
        rmcp::model::RequestId::Number(0),
    )
}

#[test]
fn a_2025_11_25_initialize_answer_advertises_tasks_and_older_ones_do_not() {
    let mut answer = initialize_answer(rmcp::model::ProtocolVersion::V_2025_11_25);
    advertise(&mut answer);
    let json = serde_json::to_value(&answer).unwrap();
    assert_eq!(
        json["result"]["capabilities"]["tasks"]["requests"]["tools"]["call"],
        json!({})
    );
    assert_eq!(json["result"]["protocolVersion"], "2025-11-25");
    let mut older = initialize_answer(rmcp::model::ProtocolVersion::V_2025_06_18);
    advertise(&mut older);
    let json = serde_json::to_value(&older).unwrap();
    assert!(json["result"]["capabilities"].get("tasks").is_none());
}
