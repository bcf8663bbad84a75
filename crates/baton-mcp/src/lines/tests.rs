use super::*;

use rmcp::{RoleClient, RoleServer};
use tokio::io::AsyncReadExt;

fn big_text(bytes: usize) -> String {
    "x".repeat(bytes)
}

#[test]
fn the_id_of_an_oversized_message_is_found_at_either_end() {
    let text = big_text(5000);
    // Python SDK order: id first.
    let python = format!(
        r#"{{"jsonrpc":"2.0","id":7,"result":{{"content":[{{"type":"text","text":"{text}"}}]}}}}"#
    );
    let (head, tail) = (
        &python.as_bytes()[..KEEP],
        &python.as_bytes()[python.len() - KEEP..],
    );
    assert_eq!(Shape::of(head, tail), Shape::Answer(RequestId::Number(7)));
    // TypeScript SDK order: id last; a nested "id" inside the result is not it.
    let typescript =
        format!(r#"{{"result":{{"id":"inner","text":"{text}"}},"jsonrpc":"2.0","id":"req-9"}}"#);
    let (head, tail) = (
        &typescript.as_bytes()[..KEEP],
        &typescript.as_bytes()[typescript.len() - KEEP..],
    );
    assert_eq!(
        Shape::of(head, tail),
        Shape::Answer(RequestId::String("req-9".into()))
    );
    // A request: answered rather than delivered.
    let request =
        format!(r#"{{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{{"x":"{text}"}}}}"#);
    let (head, tail) = (
        &request.as_bytes()[..KEEP],
        &request.as_bytes()[request.len() - KEEP..],
    );
    assert_eq!(Shape::of(head, tail), Shape::Request(RequestId::Number(3)));
    // A notification has no id.
    let note = format!(
        r#"{{"jsonrpc":"2.0","method":"notifications/message","params":{{"data":"{text}"}}}}"#
    );
    let (head, tail) = (
        &note.as_bytes()[..KEEP],
        &note.as_bytes()[note.len() - KEEP..],
    );
    assert_eq!(Shape::of(head, tail), Shape::Unknown);
}

#[tokio::test]
async fn an_oversized_answer_fails_its_request_and_the_next_message_still_arrives() {
    let (ours, mut theirs) = tokio::io::duplex(1 << 20);
    let (read, write) = tokio::io::split(ours);
    let mut transport = LineTransport::<RoleClient, _, _>::new(read, write, 4096, "server \"big\"");
    let big = format!(
        "{{\"result\":{{\"content\":[{{\"type\":\"text\",\"text\":\"{}\"}}]}},\"jsonrpc\":\"2.0\",\"id\":1}}\n",
        big_text(100_000)
    );
    let small = "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}\n";
    let writer = tokio::spawn(async move {
        theirs.write_all(big.as_bytes()).await.unwrap();
        theirs.write_all(small.as_bytes()).await.unwrap();
        theirs
    });
    let first = transport.receive().await.expect("an error for request 1");
    match first {
        JsonRpcMessage::Error(error) => {
            assert_eq!(error.id, Some(RequestId::Number(1)));
            let message = error.error.message.to_string();
            assert!(message.contains("server \"big\""), "{message}");
            assert!(message.contains("max_message_bytes"), "{message}");
            assert!(message.contains("100"), "{message}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    let second = transport.receive().await.expect("the next message");
    assert!(matches!(second, JsonRpcMessage::Response(r) if r.id == RequestId::Number(2)));
    drop(writer.await.unwrap());
}

#[tokio::test]
async fn an_oversized_request_is_answered_with_the_error() {
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let (read, write) = tokio::io::split(ours);
    let mut transport = LineTransport::<RoleServer, _, _>::new(read, write, 2048, "the client");
    let (mut their_read, mut their_write) = tokio::io::split(theirs);
    let request = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{{\"name\":\"x\",\"arguments\":{{\"a\":\"{}\"}}}}}}\n",
        big_text(10_000)
    );
    their_write.write_all(request.as_bytes()).await.unwrap();
    their_write.shutdown().await.unwrap();
    // The oversized request is answered; then the stream ends.
    assert!(transport.receive().await.is_none());
    transport.close().await.unwrap();
    let mut answer = String::new();
    their_read.read_to_string(&mut answer).await.unwrap();
    let answer: serde_json::Value = serde_json::from_str(answer.trim()).unwrap();
    assert_eq!(answer["id"], 5);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_message_bytes (2048 bytes)"),
        "{answer}"
    );
}

#[tokio::test]
async fn an_oversized_answer_to_send_is_replaced_by_an_error() {
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let (read, write) = tokio::io::split(ours);
    let mut transport = LineTransport::<RoleServer, _, _>::new(read, write, 2048, "the client");
    let mut result = rmcp::model::CallToolResult::success(vec![rmcp::model::ContentBlock::text(
        big_text(10_000),
    )]);
    result.meta = None;
    let response = TxJsonRpcMessage::<RoleServer>::response(
        rmcp::model::ServerResult::CallToolResult(result),
        RequestId::Number(9),
    );
    transport.send(response).await.unwrap();
    transport.close().await.unwrap();
    let (mut their_read, _their_write) = tokio::io::split(theirs);
    let mut answer = String::new();
    their_read.read_to_string(&mut answer).await.unwrap();
    let answer: serde_json::Value = serde_json::from_str(answer.trim()).unwrap();
    assert_eq!(answer["id"], 9);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_message_bytes"),
        "{answer}"
    );
}

/// A `tools/call` of `echo` with `message`, as the gateway builds it.
fn echo_call(message: &str) -> rmcp::model::ClientRequest {
    let mut arguments = rmcp::model::JsonObject::new();
    arguments.insert("message".into(), serde_json::json!(message));
    rmcp::model::ClientRequest::CallToolRequest(rmcp::model::CallToolRequest::new(
        rmcp::model::CallToolRequestParams::new("echo").with_arguments(arguments),
    ))
}

async fn read_line(theirs: &mut tokio::io::DuplexStream) -> serde_json::Value {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while theirs.read_exact(&mut byte).await.is_ok() && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    serde_json::from_slice(&line).expect("a JSON line")
}

type ClientLines = LineTransport<
    RoleClient,
    tokio::io::ReadHalf<tokio::io::DuplexStream>,
    tokio::io::WriteHalf<tokio::io::DuplexStream>,
>;

/// A client's line transport with its direct requests, and the server's end of the pipe.
fn direct_transport(
    max: usize,
) -> (
    ClientLines,
    Arc<direct::DirectRequests<rmcp::model::ServerJsonRpcMessage>>,
    tokio::io::DuplexStream,
) {
    let (ours, theirs) = tokio::io::duplex(1 << 16);
    let (read, write) = tokio::io::split(ours);
    let mut transport = LineTransport::new(read, write, max, "server \"s\"");
    let direct = transport.direct_requests();
    (transport, direct, theirs)
}

#[tokio::test]
async fn a_shared_meta_is_written_as_the_object_it_was_built_from() {
    let (_transport, direct, mut theirs) = direct_transport(4096);
    let mut object = rmcp::model::RequestMetaObject::new();
    object.0.insert(
        "io.modelcontextprotocol/clientInfo".into(),
        serde_json::json!({"name": "baton", "version": "1 \"q\""}),
    );
    object
        .0
        .insert("traceparent".into(), serde_json::json!("00-ab-cd-01"));
    let shared = std::sync::Arc::new(direct::SharedMeta::new(object.clone()));
    let sent = direct
        .send(&echo_call("hi"), Some(direct::Meta::Shared(shared.clone())))
        .await
        .unwrap();
    let written = read_line(&mut theirs).await;
    let id = written["id"].as_i64().expect("a numeric id");
    assert_eq!(sent.id, RequestId::Number(id));
    let mut expected = serde_json::Value::Object(object.0.0.clone());
    expected["progressToken"] = id.into();
    assert_eq!(written["params"]["_meta"], expected, "{written}");
    assert_eq!(written["params"]["name"], "echo");
    assert_eq!(written["params"]["arguments"]["message"], "hi");

    // With a `_meta` of its own, the request gets the object merged in.
    let mut own = echo_call("again");
    if let rmcp::model::ClientRequest::CallToolRequest(call) = &mut own {
        let mut meta = rmcp::model::RequestMetaObject::new();
        meta.0.insert("mine".into(), serde_json::json!(1));
        call.extensions.insert(meta);
    }
    let sent = direct
        .send(&own, Some(direct::Meta::Shared(shared)))
        .await
        .unwrap();
    let written = read_line(&mut theirs).await;
    let RequestId::Number(id) = sent.id else {
        panic!("a numeric id")
    };
    expected["progressToken"] = id.into();
    expected["mine"] = 1.into();
    assert_eq!(written["params"]["_meta"], expected, "{written}");
}

#[tokio::test]
async fn a_plain_call_without_meta_is_written_from_the_borrowed_request_as_rmcp_writes_it() {
    use rmcp::model::GetMeta as _;
    let (_transport, direct, mut theirs) = direct_transport(4096);
    let request = echo_call("plain \"q\"");
    let sent = direct.send(&request, None).await.unwrap();
    let written = read_line(&mut theirs).await;
    let mut expected = request.clone();
    expected
        .get_meta_mut()
        .set_progress_token(sent.progress_token.clone());
    let expected = rmcp::model::ClientJsonRpcMessage::request(expected, sent.id.clone());
    assert_eq!(written, serde_json::to_value(&expected).unwrap());
}

#[tokio::test]
async fn a_direct_request_is_answered_beside_rmcp_and_other_answers_still_reach_rmcp() {
    let (mut transport, direct, mut theirs) = direct_transport(4096);

    let mut meta = rmcp::model::RequestMetaObject::new();
    meta.0
        .insert("traceparent".into(), serde_json::json!("00-ab-cd-01"));
    let mut sent = direct
        .send(&echo_call("hi"), Some(direct::Meta::Built(meta)))
        .await
        .unwrap();
    let written = read_line(&mut theirs).await;
    let id = written["id"].as_i64().expect("a numeric id");
    assert!(id >= direct::FIRST_ID, "{written}");
    assert_eq!(sent.id, RequestId::Number(id));
    assert_eq!(written["method"], "tools/call");
    assert_eq!(written["params"]["arguments"]["message"], "hi");
    // The same number as its progress token (the relay watches it), the caller's _meta kept.
    assert_eq!(written["params"]["_meta"]["progressToken"], id);
    assert_eq!(written["params"]["_meta"]["traceparent"], "00-ab-cd-01");

    // An answer to rmcp's own request 0 goes to rmcp; the direct answer to the caller.
    let answers = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{{\"content\":[{{\"type\":\"text\",\"text\":\"hi\"}}]}}}}\n\
         {{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{{}}}}\n"
    );
    theirs.write_all(answers.as_bytes()).await.unwrap();
    let to_rmcp = transport.receive().await.expect("rmcp's answer");
    assert!(matches!(to_rmcp, JsonRpcMessage::Response(r) if r.id == RequestId::Number(0)));
    match sent.response().await.unwrap() {
        rmcp::model::ServerResult::CallToolResult(result) => {
            assert_eq!(result.content[0].as_text().unwrap().text, "hi");
        }
        other => panic!("expected a tool result, got {other:?}"),
    }
}

#[tokio::test]
async fn a_direct_request_fails_with_the_servers_error_or_when_the_server_ends() {
    let (mut transport, direct, mut theirs) = direct_transport(4096);

    // The server's JSON-RPC error is the caller's, as rmcp gives it.
    let mut refused = direct.send(&echo_call("a"), None).await.unwrap();
    let id = read_line(&mut theirs).await["id"].clone();
    let error = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"error\":{{\"code\":-32602,\"message\":\"no such tool\"}}}}\n"
    );
    theirs.write_all(error.as_bytes()).await.unwrap();
    // A late answer to a request no one waits for is dropped, not handed to rmcp.
    let stale = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{},\"result\":{{}}}}\n{{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{{}}}}\n",
        direct::FIRST_ID + 1000
    );
    theirs.write_all(stale.as_bytes()).await.unwrap();
    let next = transport
        .receive()
        .await
        .expect("the answer to rmcp's request 5");
    assert!(matches!(next, JsonRpcMessage::Response(r) if r.id == RequestId::Number(5)));
    match refused.response().await {
        Err(rmcp::ServiceError::McpError(error)) => {
            assert_eq!(error.code.0, -32602);
            assert_eq!(error.message, "no such tool");
        }
        other => panic!("expected the server's error, got {other:?}"),
    }

    // The server goes away: a call waiting fails, and so does the next one.
    let mut waiting = direct.send(&echo_call("b"), None).await.unwrap();
    read_line(&mut theirs).await;
    drop(theirs);
    assert!(transport.receive().await.is_none());
    assert!(matches!(
        waiting.response().await,
        Err(rmcp::ServiceError::TransportClosed)
    ));
    assert!(matches!(
        direct.send(&echo_call("c"), None).await,
        Err(rmcp::ServiceError::TransportClosed)
    ));
}

#[tokio::test]
async fn an_oversized_direct_request_is_not_sent_and_names_the_limit() {
    let (_transport, direct, _theirs) = direct_transport(256);
    let error = match direct.send(&echo_call(&big_text(1000)), None).await {
        Err(error) => error.to_string(),
        Ok(_) => panic!("an oversized request was sent"),
    };
    assert!(error.contains("server \"s\""), "{error}");
    assert!(error.contains("max_message_bytes (256 bytes)"), "{error}");
}
