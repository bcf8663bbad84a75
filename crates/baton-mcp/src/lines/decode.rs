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
        CallToolRequest, CallToolRequestParams, CallToolResult, ClientJsonRpcMessage,
        ClientRequest, ContentBlock, InputResponses, JsonObject, JsonRpcMessage, JsonRpcRequest,
        MetaObject, RequestId, RequestMetaObject, ServerJsonRpcMessage, ServerResult,
    },
    service::{RxJsonRpcMessage, ServiceRole, TxJsonRpcMessage},
};
use serde::{
    Deserialize, Serialize,
    de::{Error as _, IgnoredAny, MapAccess, Visitor},
};
use serde_json::value::RawValue;

/// How a side of a connection decodes the lines it reads and encodes those it writes.
pub trait Decode: ServiceRole {
    fn decode(line: &[u8]) -> serde_json::Result<RxJsonRpcMessage<Self>>;

    fn encode(message: &TxJsonRpcMessage<Self>) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(message)
    }

    /// What `message`, about to be sent, is to the start-up handshake.
    fn handshake(_message: &TxJsonRpcMessage<Self>) -> Handshake {
        Handshake::Other
    }
}

/// A message's part in the start-up of a session (Baton as a client).
#[derive(Debug, PartialEq)]
pub enum Handshake {
    /// rmcp's `server/discover` probe, request `id`.
    Probe(RequestId),
    /// The `initialize` request.
    Initialize,
    Other,
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
    // Checked as UTF-8 once, so that serde reads it as text (reading bytes, it checks each
    // string it meets on its own); a line that is not UTF-8 goes the general way.
    let line = std::str::from_utf8(line).ok()?;
    let (id, request) = match serde_json::from_str::<CallLine>(line) {
        Ok(call) if call.jsonrpc == "2.0" && call.method == "tools/call" => call.into_request(),
        // Escaped strings (not borrowed) and anything unusual: rmcp's own type decides.
        _ => {
            let request: JsonRpcRequest<CallToolRequest> = serde_json::from_str(line).ok()?;
            (request.id, request.request)
        }
    };
    Some(ClientJsonRpcMessage::Request(JsonRpcRequest::new(
        id,
        ClientRequest::CallToolRequest(request),
    )))
}

/// A `tools/call` request as written. rmcp's `Request` reads `params` through a flattened
/// struct (buffered in serde's `Content`, field by field); this reads the same fields
/// straight, and, as rmcp does, ignores unknown ones and keeps `_meta` in the extensions.
#[derive(Deserialize)]
struct CallLine<'a> {
    #[serde(borrow)]
    jsonrpc: &'a str,
    id: RequestId,
    #[serde(borrow)]
    method: &'a str,
    params: CallParams,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CallParams {
    #[serde(rename = "_meta")]
    meta: Option<JsonObject>,
    name: String,
    arguments: Option<JsonObject>,
    input_responses: Option<InputResponses>,
    request_state: Option<String>,
}

impl CallLine<'_> {
    fn into_request(self) -> (RequestId, CallToolRequest) {
        let CallParams {
            meta,
            name,
            arguments,
            input_responses,
            request_state,
        } = self.params;
        let mut params = CallToolRequestParams::new(name);
        params.arguments = arguments;
        params.input_responses = input_responses;
        params.request_state = request_state;
        let mut request = CallToolRequest::new(params);
        if let Some(meta) = meta {
            request.extensions.insert(RequestMetaObject::from(meta));
        }
        (self.id, request)
    }
}

/// Baton as a client of an upstream: its `tools/call` answers decoded directly, its
/// `tools/call` requests encoded directly.
impl Decode for RoleClient {
    fn decode(line: &[u8]) -> serde_json::Result<RxJsonRpcMessage<Self>> {
        match call_tool_answer(line) {
            Some(message) => Ok(message),
            None => serde_json::from_slice(line),
        }
    }

    fn encode(message: &ClientJsonRpcMessage) -> serde_json::Result<Vec<u8>> {
        match call_tool_line(message) {
            Some(line) => line,
            None => serde_json::to_vec(message),
        }
    }

    fn handshake(message: &ClientJsonRpcMessage) -> Handshake {
        match message {
            JsonRpcMessage::Request(request) => match &request.request {
                ClientRequest::DiscoverRequest(_) => Handshake::Probe(request.id.clone()),
                ClientRequest::InitializeRequest(_) => Handshake::Initialize,
                _ => Handshake::Other,
            },
            _ => Handshake::Other,
        }
    }
}

/// A `tools/call` request as rmcp writes it, without rmcp's way there: its `Request`
/// serialization turns the params (the arguments included) into a `serde_json::Value` to
/// merge `_meta` into them. `None` when there is anything to merge (a `_meta` in the params,
/// or rmcp's older meta type among the extensions): the general way then.
fn call_tool_line(message: &ClientJsonRpcMessage) -> Option<serde_json::Result<Vec<u8>>> {
    #[derive(Serialize)]
    struct Line<'a> {
        jsonrpc: &'static str,
        id: &'a RequestId,
        method: &'static str,
        params: Params<'a>,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Params<'a> {
        #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
        meta: Option<&'a JsonObject>,
        name: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        arguments: Option<&'a JsonObject>,
        #[serde(skip_serializing_if = "Option::is_none")]
        input_responses: Option<&'a InputResponses>,
        #[serde(skip_serializing_if = "Option::is_none")]
        request_state: Option<&'a str>,
    }
    let JsonRpcMessage::Request(request) = message else {
        return None;
    };
    let ClientRequest::CallToolRequest(call) = &request.request else {
        return None;
    };
    if call.params.meta.is_some() || call.extensions.get::<MetaObject>().is_some() {
        return None;
    }
    let params = &call.params;
    Some(serde_json::to_vec(&Line {
        jsonrpc: "2.0",
        id: &request.id,
        method: "tools/call",
        params: Params {
            meta: call
                .extensions
                .get::<RequestMetaObject>()
                .map(|meta| &meta.0.0),
            name: &params.name,
            arguments: params.arguments.as_ref(),
            input_responses: params.input_responses.as_ref(),
            request_state: params.request_state.as_deref(),
        },
    }))
}

/// Whether `request` is a `tools/call` with no `_meta` of its own, which
/// [`call_tool_line_with`] writes.
pub(crate) fn writes_plainly(request: &ClientRequest) -> bool {
    matches!(request, ClientRequest::CallToolRequest(call)
        if call.params.meta.is_none()
            && call.extensions.get::<MetaObject>().is_none()
            && call.extensions.get::<RequestMetaObject>().is_none_or(|meta| meta.is_empty()))
}

/// A `tools/call` request `id` ([`writes_plainly`]) as [`call_tool_line`] writes it with
/// `_meta` = `members` (an object's members, written) and progress token `id`.
pub(crate) fn call_tool_line_with(
    id: i64,
    call: &CallToolRequest,
    members: &str,
) -> serde_json::Result<Vec<u8>> {
    let params = &call.params;
    let mut line = Vec::with_capacity(160 + members.len());
    let mut number = itoa::Buffer::new();
    let id = number.format(id).as_bytes();
    line.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    line.extend_from_slice(id);
    line.extend_from_slice(br#","method":"tools/call","params":{"_meta":{"#);
    line.extend_from_slice(members.as_bytes());
    if !members.is_empty() {
        line.push(b',');
    }
    line.extend_from_slice(br#""progressToken":"#);
    line.extend_from_slice(id);
    line.extend_from_slice(br#"},"name":"#);
    serde_json::to_writer(&mut line, params.name.as_ref())?;
    if let Some(arguments) = &params.arguments {
        line.extend_from_slice(br#","arguments":"#);
        serde_json::to_writer(&mut line, arguments)?;
    }
    if let Some(responses) = &params.input_responses {
        line.extend_from_slice(br#","inputResponses":"#);
        serde_json::to_writer(&mut line, responses)?;
    }
    if let Some(state) = &params.request_state {
        line.extend_from_slice(br#","requestState":"#);
        serde_json::to_writer(&mut line, state)?;
    }
    line.extend_from_slice(b"}}");
    Ok(line)
}

/// `line` as the answer to a `tools/call`, when it surely is one (else `None`, and the
/// general decoding decides).
pub(crate) fn call_tool_answer(line: &[u8]) -> Option<ServerJsonRpcMessage> {
    // As for a request: checked as UTF-8 once, then read as text.
    let Answer { id, result } = serde_json::from_str(std::str::from_utf8(line).ok()?).ok()?;
    Some(ServerJsonRpcMessage::response(
        ServerResult::CallToolResult(result),
        id,
    ))
}

/// A JSON-RPC 2.0 answer whose result is a plain tool result ([`ToolResult`]), read in one
/// pass: members in any order, unknown ones ignored, each known one once, no `method` or
/// `error` member (not even a null one); anything else fails to decode.
struct Answer {
    id: RequestId,
    result: CallToolResult,
}

impl<'de> Deserialize<'de> for Answer {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Envelope;
        impl<'de> Visitor<'de> for Envelope {
            type Value = Answer;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a JSON-RPC answer")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Answer, A::Error> {
                let (mut version, mut id, mut result) = (None, None, None);
                while let Some(key) = map.next_key::<&'de str>()? {
                    match key {
                        "jsonrpc" => once(&mut version, map.next_value::<&'de str>()?)?,
                        "id" => once(&mut id, map.next_value::<RequestId>()?)?,
                        "result" => once(&mut result, map.next_value::<ToolResult>()?.0)?,
                        // A request or an error (even a null one), not this answer.
                        "method" | "error" => return Err(A::Error::custom("not an answer")),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                match (version, id, result) {
                    (Some("2.0"), Some(id), Some(result)) => Ok(Answer { id, result }),
                    _ => Err(A::Error::custom("not a JSON-RPC 2.0 tool answer")),
                }
            }
        }
        deserializer.deserialize_map(Envelope)
    }
}

/// Sets `slot` to `value`, the first time only: a repeated member fails (as serde's derived
/// structs and rmcp's reading refuse it), and the general decoding decides.
fn once<T, E: serde::de::Error>(slot: &mut Option<T>, value: T) -> Result<(), E> {
    match slot.replace(value) {
        None => Ok(()),
        Some(_) => Err(E::custom("a repeated member")),
    }
}

/// A tool result as rmcp's `CallToolResult` would read it, when nothing about it is
/// unusual: known members once each, `content` present, `resultType` `complete`, no
/// subscription id in `_meta`. Plain text blocks are read without serde's buffering of a
/// tagged union ([`content_block`]).
struct ToolResult(CallToolResult);

impl<'de> Deserialize<'de> for ToolResult {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = ToolResult;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a tool result")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ToolResult, A::Error> {
                let mut result = CallToolResult::default();
                result.result_type = None;
                let (mut content, mut structured, mut is_error, mut kind, mut meta) =
                    (None, None, None, None, None);
                while let Some(key) = map.next_key::<&'de str>()? {
                    match key {
                        "content" => once(&mut content, map.next_value::<Blocks>()?.0)?,
                        "structuredContent" => once(&mut structured, map.next_value()?)?,
                        "isError" => once(&mut is_error, map.next_value::<Option<bool>>()?)?,
                        "resultType" => match map.next_value::<&'de str>()? {
                            "complete" => once(&mut kind, rmcp::model::ResultType::COMPLETE)?,
                            _ => return Err(A::Error::custom("not a complete result")),
                        },
                        // A subscription's result carries its id there; any other `_meta`
                        // is the result's own.
                        "_meta" => {
                            let raw = map.next_value::<&'de RawValue>()?;
                            if raw.get().contains("io.modelcontextprotocol/subscriptionId") {
                                return Err(A::Error::custom("a subscription's result"));
                            }
                            let value =
                                serde_json::from_str(raw.get()).map_err(A::Error::custom)?;
                            once(&mut meta, value)?;
                        }
                        _ => return Err(A::Error::custom("an unknown member")),
                    }
                }
                result.content = content.ok_or_else(|| A::Error::missing_field("content"))?;
                result.structured_content = structured;
                result.is_error = is_error.flatten();
                result.result_type = kind;
                result.meta = meta.flatten();
                Ok(ToolResult(result))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// A result's `content`: each block [`content_block`].
struct Blocks(Vec<ContentBlock>);

impl<'de> Deserialize<'de> for Blocks {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Items;
        impl<'de> Visitor<'de> for Items {
            type Value = Blocks;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a list of content blocks")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut items: A,
            ) -> Result<Blocks, A::Error> {
                let mut blocks = Vec::with_capacity(items.size_hint().unwrap_or(1));
                while let Some(raw) = items.next_element::<&'de RawValue>()? {
                    blocks.push(content_block(raw).ok_or_else(|| A::Error::custom("not a block"))?);
                }
                Ok(Blocks(blocks))
            }
        }
        deserializer.deserialize_seq(Items)
    }
}

/// One content block: `{"type":"text","text":…}` directly, any other the general way.
fn content_block(raw: &RawValue) -> Option<ContentBlock> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Text<'a> {
        #[serde(rename = "type", borrow)]
        kind: &'a str,
        text: String,
    }
    match serde_json::from_str::<Text<'_>>(raw.get()) {
        Ok(Text { kind: "text", text }) => Some(ContentBlock::text(text)),
        _ => serde_json::from_str(raw.get()).ok(),
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
            // Blocks read the general way beside plain text ones, escapes, nulls.
            r#"{"jsonrpc":"2.0","id":4,"result":{"content":[{"text":"a\n\u00e9\"","type":"text"},{"type":"text","text":"b","annotations":{"priority":0.5}},{"type":"image","data":"AA==","mimeType":"image/png"},{"type":"text","text":"c","_meta":{"k":1}}],"isError":null,"structuredContent":null,"_meta":null}}"#,
            r#"{"jsonrpc":"2.0","id":5,"result":{"content":[],"isError":false,"structuredContent":[1,"x"]}}"#,
            // The result first, an unknown member.
            r#"{"result":{"isError":false,"content":[{"type":"text","text":"r"}]},"extra":[1,{"a":"]"}],"id":6,"jsonrpc":"2.0"}"#,
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
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"y","requestState":"r","extra":1,"_meta":null}}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"e\u0073c","arguments":{}}}"#,
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
    fn a_tool_call_request_encodes_directly_to_what_rmcp_writes() {
        let mut meta = RequestMetaObject::default();
        meta.set_progress_token(rmcp::model::ProgressToken(
            rmcp::model::NumberOrString::Number(7),
        ));
        meta.0.0.insert("traceparent".into(), "00-a-b-01".into());
        let mut with_meta = CallToolRequest::new(
            rmcp::model::CallToolRequestParams::new("echo").with_arguments(
                serde_json::json!({"message": "hi", "n": [1, 2]})
                    .as_object()
                    .cloned()
                    .unwrap(),
            ),
        );
        with_meta.extensions.insert(meta);
        let plain = CallToolRequest::new(rmcp::model::CallToolRequestParams::new("bare"));
        let mut state = rmcp::model::CallToolRequestParams::new("again");
        state.request_state = Some("opaque".into());
        for (id, call) in [
            (RequestId::Number(3), with_meta),
            (RequestId::String("s".into()), plain),
            (RequestId::Number(4), CallToolRequest::new(state)),
        ] {
            let message = ClientJsonRpcMessage::request(ClientRequest::CallToolRequest(call), id);
            let direct = call_tool_line(&message).expect("encoded directly").unwrap();
            assert_eq!(
                serde_json::from_slice::<serde_json::Value>(&direct).unwrap(),
                serde_json::to_value(&message).unwrap(),
                "{}",
                String::from_utf8_lossy(&direct)
            );
        }
        let mut nested = rmcp::model::CallToolRequestParams::new("x");
        nested.meta = Some(RequestMetaObject::default());
        let merged = ClientJsonRpcMessage::request(
            ClientRequest::CallToolRequest(CallToolRequest::new(nested)),
            RequestId::Number(1),
        );
        assert!(
            call_tool_line(&merged).is_none(),
            "a params-level _meta is merged by rmcp"
        );
    }

    #[test]
    fn a_call_with_a_shared_meta_is_written_as_rmcp_writes_it_with_that_meta() {
        let mut object = RequestMetaObject::default();
        object.0.0.insert(
            "io.modelcontextprotocol/protocolVersion".into(),
            "2026-07-28".into(),
        );
        object.0.0.insert(
            "io.modelcontextprotocol/clientInfo".into(),
            serde_json::json!({"name": "b\u{e9}\"", "version": "1"}),
        );
        let members = crate::lines::direct::SharedMeta::new(object.clone()).members;
        let mut with_state = rmcp::model::CallToolRequestParams::new("with \"state\"")
            .with_arguments(
                serde_json::json!({"message": "hi\n", "n": [1, {"x": null}]})
                    .as_object()
                    .cloned()
                    .unwrap(),
            );
        with_state.request_state = Some("opaque".into());
        for (params, meta) in [
            (with_state, object),
            (
                rmcp::model::CallToolRequestParams::new("bare"),
                RequestMetaObject::default(),
            ),
        ] {
            let members = if meta.is_empty() {
                String::new()
            } else {
                members.clone()
            };
            let call = CallToolRequest::new(params);
            assert!(writes_plainly(&ClientRequest::CallToolRequest(
                call.clone()
            )));
            let written = call_tool_line_with(1 << 40, &call, &members).unwrap();
            let mut expected_call = call.clone();
            let mut meta = meta.clone();
            meta.set_progress_token(rmcp::model::ProgressToken(
                rmcp::model::NumberOrString::Number(1 << 40),
            ));
            expected_call.extensions.insert(meta);
            let expected = ClientJsonRpcMessage::request(
                ClientRequest::CallToolRequest(expected_call),
                RequestId::Number(1 << 40),
            );
            assert_eq!(
                serde_json::from_slice::<serde_json::Value>(&written).unwrap(),
                serde_json::to_value(&expected).unwrap(),
                "{}",
                String::from_utf8_lossy(&written)
            );
        }
        let mut own = CallToolRequest::new(rmcp::model::CallToolRequestParams::new("x"));
        own.extensions.insert(RequestMetaObject::from(
            serde_json::json!({"k": 1}).as_object().cloned().unwrap(),
        ));
        assert!(!writes_plainly(&ClientRequest::CallToolRequest(own)));
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
            // A repeated member, a content that is not a list of blocks.
            r#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":true,"isError":false}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"content":null}}"#,
            r#"{"jsonrpc":"2.0","id":1,"id":2,"result":{"content":[]}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"content":[]},"result":{"content":[]}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"resultType":"complete","resultType":"complete"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"resultType":"c\u006fmplete"}}"#,
            r#"["2.0",1,{"content":[]}]"#,
            // rmcp's reading refuses an answer with an `error` or `method`, even null.
            r#"{"jsonrpc":"2.0","id":1,"result":{"content":[]},"error":null}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"content":[]},"method":null}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text"}]}}"#,
            "not json",
        ] {
            assert!(call_tool_answer(line.as_bytes()).is_none(), "{line}");
        }
    }
}
