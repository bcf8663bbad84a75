//! Decoding one line into rmcp's message type. rmcp's messages are untagged unions: a
//! message is buffered whole and tried against each type in turn (a `tools/call` request
//! is the fourteenth request type, its answer the sixteenth result type), every failed try
//! building an error — about 13 errors and a copy of the message per proxied call. The two
//! messages a gateway reads most, a client's `tools/call` and the server's answer to it,
//! are decoded directly when their shape leaves no doubt, and everything else the general
//! way, so the outcome is always the one rmcp would reach.

use rmcp::{
    RoleClient, RoleServer,
    model::{
        CallToolRequest, CallToolResult, ClientJsonRpcMessage, ClientRequest, JsonRpcRequest,
        RequestId, ServerJsonRpcMessage, ServerResult,
    },
    service::{RxJsonRpcMessage, ServiceRole},
};
use serde::Deserialize;
use serde_json::value::RawValue;

/// How a side of a connection decodes the lines it reads.
pub trait Decode: ServiceRole {
    fn decode(line: &[u8]) -> serde_json::Result<RxJsonRpcMessage<Self>>;
}

/// Baton as a server: a `tools/call` request directly (rmcp's request union is untagged
/// too, and `tools/call` is far down it).
impl Decode for RoleServer {
    fn decode(line: &[u8]) -> serde_json::Result<RxJsonRpcMessage<Self>> {
        match call_tool_request(line) {
            Some(message) => Ok(message),
            None => serde_json::from_slice(line),
        }
    }
}

/// `line` as a `tools/call` request, when it is one (else `None`). Every request type
/// before `CallToolRequest` in rmcp's union checks its own method, so this is the variant
/// the general decoding reaches for such a line.
pub(crate) fn call_tool_request(line: &[u8]) -> Option<ClientJsonRpcMessage> {
    static METHOD: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\"tools/call\""));
    METHOD.find(line)?;
    let request: JsonRpcRequest<CallToolRequest> = serde_json::from_slice(line).ok()?;
    Some(ClientJsonRpcMessage::Request(JsonRpcRequest {
        jsonrpc: request.jsonrpc,
        id: request.id,
        request: ClientRequest::CallToolRequest(request.request),
    }))
}

/// Baton as a client of an upstream: its `tools/call` answers directly.
impl Decode for RoleClient {
    fn decode(line: &[u8]) -> serde_json::Result<RxJsonRpcMessage<Self>> {
        match call_tool_answer(line) {
            Some(message) => Ok(message),
            None => serde_json::from_slice(line),
        }
    }
}

/// A JSON-RPC answer, its result left unparsed.
#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    jsonrpc: &'a str,
    id: RequestId,
    #[serde(borrow)]
    result: &'a RawValue,
    method: Option<serde::de::IgnoredAny>,
    error: Option<serde::de::IgnoredAny>,
}

/// `line` as the answer to a `tools/call`, when it surely is one (else `None`, and the
/// general decoding decides).
pub(crate) fn call_tool_answer(line: &[u8]) -> Option<ServerJsonRpcMessage> {
    let answer: Answer<'_> = serde_json::from_slice(line).ok()?;
    if answer.jsonrpc != "2.0" || answer.method.is_some() || answer.error.is_some() {
        return None;
    }
    let fields: Vec<(&str, &RawValue)> = serde_json::from_str::<KeyedRaw<'_>>(answer.result.get())
        .ok()?
        .0;
    let mut content = false;
    for (key, value) in &fields {
        match *key {
            "content" => content = true,
            "structuredContent" | "isError" => {}
            "resultType" if value.get() == "\"complete\"" => {}
            // A subscription's result carries its id there; any other `_meta` is the
            // result's own.
            "_meta"
                if !value
                    .get()
                    .contains("io.modelcontextprotocol/subscriptionId") => {}
            _ => return None,
        }
    }
    if !content {
        return None;
    }
    let result: CallToolResult = serde_json::from_str(answer.result.get()).ok()?;
    Some(ServerJsonRpcMessage::response(
        ServerResult::CallToolResult(result),
        answer.id,
    ))
}

/// An object's members in order, values unparsed (keys with escapes are not borrowed, and
/// fail: the general decoding takes such a line).
struct KeyedRaw<'a>(Vec<(&'a str, &'a RawValue)>);

impl<'de> Deserialize<'de> for KeyedRaw<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = KeyedRaw<'de>;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(4);
                while let Some(member) = map.next_entry::<&'de str, &'de RawValue>()? {
                    members.push(member);
                }
                Ok(KeyedRaw(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The general decoding of `line`, as rmcp does it.
    fn general(line: &str) -> ServerJsonRpcMessage {
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn a_tool_answer_decodes_directly_to_what_the_general_decoding_gives() {
        for line in [
            r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"hi"}]}}"#,
            r#"{"jsonrpc":"2.0","id":"a","result":{"content":[],"isError":true}}"#,
            r#"{"result":{"resultType":"complete","content":[{"type":"text","text":"x"}],"structuredContent":{"n":1},"_meta":{"io.modelcontextprotocol/serverInfo":{"name":"s","version":"1"}}},"id":3,"jsonrpc":"2.0"}"#,
        ] {
            let direct = call_tool_answer(line.as_bytes()).expect("decoded directly");
            assert_eq!(
                serde_json::to_value(&direct).unwrap(),
                serde_json::to_value(general(line)).unwrap(),
                "{line}"
            );
            assert!(matches!(
                direct,
                rmcp::model::JsonRpcMessage::Response(ref r)
                    if matches!(r.result, ServerResult::CallToolResult(_))
            ));
        }
    }

    #[test]
    fn a_tool_call_request_decodes_directly_to_what_the_general_decoding_gives() {
        for line in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo__echo","arguments":{"message":"hi"}}}"#,
            r#"{"method":"tools/call","params":{"name":"x","_meta":{"progressToken":"p"}},"jsonrpc":"2.0","id":"s"}"#,
        ] {
            let direct = call_tool_request(line.as_bytes()).expect("decoded directly");
            let general: ClientJsonRpcMessage = serde_json::from_str(line).unwrap();
            assert_eq!(
                serde_json::to_value(&direct).unwrap(),
                serde_json::to_value(&general).unwrap(),
                "{line}"
            );
        }
        for line in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"baton/legacy/tools/call","params":{"name":"x","task":{}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"note":"tools/call"}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"\"tools/call\""}}"#,
        ] {
            assert!(call_tool_request(line.as_bytes()).is_none(), "{line}");
        }
    }

    #[test]
    fn anything_else_is_left_to_the_general_decoding() {
        for line in [
            // Other results, a task, input required, an error, a request, another version.
            r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"tools":[]}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"task","taskId":"t","status":"working","content":[]}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required","content":[]}}"#,
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"no"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
            r#"{"jsonrpc":"1.0","id":1,"result":{"content":[]}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"isError":false}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"complete","_meta":{"io.modelcontextprotocol/subscriptionId":1},"content":[]}}"#,
            "not json",
        ] {
            assert!(call_tool_answer(line.as_bytes()).is_none(), "{line}");
        }
    }
}
