use super::*;

fn headers(pairs: Headers) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, http::HeaderValue::from_static(value));
    }
    map
}

/// Request headers, as (name, value) pairs.
type Headers = &'static [(&'static str, &'static str)];

const PLAIN: Headers = &[
    ("accept", "application/json, text/event-stream"),
    ("content-type", "application/json"),
];
const CALL: &str =
    r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"a__b","arguments":{}}}"#;

#[test]
fn a_plain_legacy_tool_call_takes_the_direct_path() {
    let (id, request) = plain_call(&headers(PLAIN), CALL.as_bytes()).expect("direct");
    assert_eq!(id, RequestId::Number(4));
    assert!(matches!(request, ClientRequest::CallToolRequest(_)));
    for version in ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"] {
        let mut with = headers(PLAIN);
        with.insert("mcp-protocol-version", version.parse().unwrap());
        assert!(plain_call(&with, CALL.as_bytes()).is_some(), "{version}");
    }
}

#[test]
fn anything_rmcp_must_check_or_negotiate_is_left_to_it() {
    let cases: &[(Headers, &str, &str)] = &[
        (
            &[
                ("accept", "application/json"),
                ("content-type", "application/json"),
            ],
            CALL,
            "no SSE in Accept",
        ),
        (
            &[
                ("accept", "application/json, text/event-stream;q=0"),
                ("content-type", "application/json"),
            ],
            CALL,
            "weights",
        ),
        (
            &[
                ("accept", "application/json, text/event-stream"),
                ("content-type", "text/plain"),
            ],
            CALL,
            "content type",
        ),
        (
            &[
                ("accept", "application/json, text/event-stream"),
                ("content-type", "application/json"),
                ("mcp-protocol-version", "2026-07-28"),
            ],
            CALL,
            "standard headers",
        ),
        (
            &[
                ("accept", "application/json, text/event-stream"),
                ("content-type", "application/json"),
                ("mcp-protocol-version", "1999-01-01"),
            ],
            CALL,
            "unknown version",
        ),
        (
            PLAIN,
            r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"x","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#,
            "2026-07-28 _meta",
        ),
        (
            PLAIN,
            r#"{"jsonrpc":"2.0","id":4,"method":"tools/list"}"#,
            "another method",
        ),
        (
            PLAIN,
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"tools/call"}}"#,
            "a notification",
        ),
    ];
    for (pairs, body, what) in cases {
        assert!(
            plain_call(&headers(pairs), body.as_bytes()).is_none(),
            "{what}"
        );
    }
}

#[test]
fn an_event_is_written_as_rmcp_writes_it() {
    let priming = ServerSseMessage::priming("0/7", Duration::from_secs(3));
    assert_eq!(
        render(&priming),
        Bytes::from_static(b"data: \nid: 0/7\nretry: 3000\n\n")
    );
    let message: ServerJsonRpcMessage =
        serde_json::from_str(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#).unwrap();
    let event = ServerSseMessage::new("1/7", message);
    assert_eq!(
        render(&event),
        Bytes::from_static(b"data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\nid: 1/7\n\n")
    );
}
