use serde_json::json;

use super::*;

fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            http::HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

const PLAIN: &[(&str, &str)] = &[
    ("accept", "application/json, text/event-stream"),
    ("content-type", "application/json"),
    ("mcp-protocol-version", "2026-07-28"),
    ("mcp-method", "tools/call"),
    ("mcp-name", "echo__echo"),
];

fn body(meta: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "echo__echo", "arguments": {"message": "hi"}, "_meta": meta}
    }))
    .unwrap()
}

fn modern_meta() -> serde_json::Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}
    })
}

#[test]
fn a_plain_modern_call_is_taken_with_its_meta() {
    let mut meta = modern_meta();
    meta["progressToken"] = json!("p");
    let (id, request) = plain_call(&headers(PLAIN), &body(meta)).expect("taken");
    assert_eq!(id, RequestId::Number(7));
    let ClientRequest::CallToolRequest(call) = &request else {
        panic!("{request:?}")
    };
    assert_eq!(call.params.name, "echo__echo");
    assert_eq!(
        request.get_meta().protocol_version(),
        Some(ProtocolVersion::V_2026_07_28)
    );
    assert_eq!(
        request.get_meta().get_progress_token(),
        Some(ProgressToken(NumberOrString::String("p".into())))
    );
}

#[test]
fn anything_rmcp_must_check_or_stream_goes_to_rmcp() {
    let without = |skip: &str| -> Vec<(&str, &str)> {
        PLAIN.iter().copied().filter(|(n, _)| *n != skip).collect()
    };
    let with = |extra: (&'static str, &'static str)| -> Vec<(&str, &str)> {
        let mut all = PLAIN.to_vec();
        all.push(extra);
        all
    };
    let replaced = |name: &str, value: &'static str| -> Vec<(&str, &str)> {
        let mut all = without(name);
        all.push((PLAIN.iter().find(|(n, _)| *n == name).unwrap().0, value));
        all
    };
    let meta = modern_meta();
    for (why, pairs) in [
        ("no Mcp-Method", without("mcp-method")),
        ("no Mcp-Name", without("mcp-name")),
        ("no version header", without("mcp-protocol-version")),
        ("another method", replaced("mcp-method", "tools/list")),
        ("another name", replaced("mcp-name", "echo__other")),
        (
            "an older revision",
            replaced("mcp-protocol-version", "2025-11-25"),
        ),
        ("a repeated Mcp-Name", with(("mcp-name", "echo__echo"))),
        ("a parameter header", with(("mcp-param-region", "eu"))),
        ("a session", with(("mcp-session-id", "abc"))),
        ("SSE only", replaced("accept", "text/event-stream")),
    ] {
        assert!(
            plain_call(&headers(&pairs), &body(meta.clone())).is_none(),
            "{why}"
        );
    }
    let mut level = modern_meta();
    level["io.modelcontextprotocol/logLevel"] = json!("debug");
    let mut tasks = modern_meta();
    tasks["io.modelcontextprotocol/clientCapabilities"] =
        json!({"extensions": {"io.modelcontextprotocol/tasks": {}}});
    let mut incomplete = modern_meta();
    incomplete
        .as_object_mut()
        .unwrap()
        .remove("io.modelcontextprotocol/clientCapabilities");
    let mut other_version = modern_meta();
    other_version["io.modelcontextprotocol/protocolVersion"] = json!("2025-11-25");
    for (why, meta) in [
        ("a log level", level),
        ("the tasks extension", tasks),
        ("incomplete _meta", incomplete),
        ("another revision in _meta", other_version),
        ("no _meta", json!(null)),
    ] {
        assert!(plain_call(&headers(PLAIN), &body(meta)).is_none(), "{why}");
    }
}

#[test]
fn a_schema_mapping_an_argument_to_a_header_is_seen_at_any_depth() {
    let object = |value: serde_json::Value| value.as_object().cloned().unwrap();
    assert!(!maps_headers(&object(
        json!({"type": "object", "properties": {"a": {"type": "string"}}})
    )));
    assert!(maps_headers(&object(json!({"properties": {
        "region": {"type": "string", "x-mcp-header": "Region"}
    }}))));
    assert!(maps_headers(&object(json!({"properties": {
        "outer": {"properties": {"inner": {"x-mcp-header": "Inner"}}}
    }}))));
}

#[test]
fn errors_rmcp_maps_to_a_status_are_json_and_the_rest_one_sse_event() {
    let id = Some(RequestId::Number(1));
    let error = |code: ErrorCode| {
        ServerJsonRpcMessage::error(rmcp::ErrorData::new(code, "x", None), id.clone())
    };
    for (code, status) in [
        (ErrorCode::HEADER_MISMATCH, http::StatusCode::BAD_REQUEST),
        (
            ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY,
            http::StatusCode::BAD_REQUEST,
        ),
        (
            ErrorCode::UNSUPPORTED_PROTOCOL_VERSION,
            http::StatusCode::BAD_REQUEST,
        ),
        (ErrorCode::METHOD_NOT_FOUND, http::StatusCode::NOT_FOUND),
    ] {
        let response = respond(error(code));
        assert_eq!(response.status(), status, "{code:?}");
        assert_eq!(
            response.headers()[http::header::CONTENT_TYPE],
            "application/json"
        );
    }
    let response = respond(error(ErrorCode::INVALID_PARAMS));
    assert_eq!(response.status(), http::StatusCode::OK);
    assert_eq!(
        response.headers()[http::header::CONTENT_TYPE],
        "text/event-stream"
    );
}
