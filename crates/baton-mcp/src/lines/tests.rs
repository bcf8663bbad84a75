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
