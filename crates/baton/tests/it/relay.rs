//! Server-initiated requests and cancellation cross Baton in both directions.

#![allow(deprecated)] // sampling is deprecated by SEP-2577 but legacy servers still send it

use std::time::Duration;

use baton_mcp::rmcp::{
    ClientHandler, ErrorData, RoleClient, ServiceExt,
    model::{
        CallToolRequestParams, ClientCapabilities, ClientConfig, CreateMessageRequestParams,
        CreateMessageResult, Implementation, SamplingMessage,
    },
    service::RequestContext,
    transport::StreamableHttpClientTransport,
};
use serde_json::json;

use crate::common::*;

/// A downstream host that answers sampling requests like an LLM would.
#[derive(Clone)]
struct SamplingHost;

impl ClientHandler for SamplingHost {
    fn get_info(&self) -> ClientConfig {
        let mut capabilities = ClientCapabilities::default();
        capabilities.sampling = Some(Default::default());
        ClientConfig::new(capabilities, Implementation::new("sampling-host", "0"))
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let asked = serde_json::to_string(&params.messages).unwrap_or_default();
        Ok(CreateMessageResult::new(
            SamplingMessage::assistant_text(format!("host-answer to {}", asked.len())),
            "test-model".to_owned(),
        ))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_sampling_requests_reach_the_calling_client() {
    let dir = TestDir::new();
    let baton = BatonHttp::start(&everything_config(&dir));
    let client = SamplingHost
        .serve(StreamableHttpClientTransport::from_uri(baton.mcp_url()))
        .await
        .expect("connect");
    let mut params = CallToolRequestParams::new("everything__trigger-sampling-request");
    params.arguments = json!({"prompt": "say hi", "maxTokens": 20})
        .as_object()
        .cloned();
    let result = tokio::time::timeout(Duration::from_secs(30), client.peer().call_tool(params))
        .await
        .expect("sampling round trip finished")
        .expect("tools/call");
    let text = serde_json::to_string(&result.content).unwrap();
    assert!(
        text.contains("host-answer to"),
        "the host's sampling answer must come back: {text}"
    );
    assert!(text.contains("test-model"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn completion_is_routed_to_the_owning_server() {
    use baton_mcp::rmcp::model::{ArgumentInfo, CompleteRequestParams, Reference};
    let dir = TestDir::new();
    let baton = BatonHttp::start(&everything_config(&dir));
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let prompts = client.peer().list_all_prompts().await.expect("prompts");
    let prompt = prompts
        .iter()
        .find(|p| {
            p.arguments.as_ref().is_some_and(|args| !args.is_empty())
                && p.name.contains("completable")
        })
        .or_else(|| {
            prompts
                .iter()
                .find(|p| p.arguments.as_ref().is_some_and(|args| !args.is_empty()))
        })
        .unwrap_or_else(|| panic!("a prompt with arguments: {prompts:?}"));
    let argument = prompt.arguments.as_ref().unwrap()[0].name.clone();
    let params = CompleteRequestParams::new(
        Reference::for_prompt(prompt.name.clone()),
        ArgumentInfo::new(argument, String::new()),
    );
    let completion = client.peer().complete(params).await;
    assert!(
        completion.is_ok(),
        "completion/complete for {} failed: {completion:?}",
        prompt.name
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_call_is_cancelled_upstream_and_baton_keeps_serving() {
    let dir = TestDir::new();
    let baton = BatonHttp::start(&everything_config(&dir));
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let mut params = CallToolRequestParams::new("everything__trigger-long-running-operation");
    params.arguments = json!({"duration": 30, "steps": 30}).as_object().cloned();
    // Dropping the in-flight request makes the client send notifications/cancelled.
    let abandoned =
        tokio::time::timeout(Duration::from_millis(1500), client.peer().call_tool(params)).await;
    assert!(
        abandoned.is_err(),
        "the 30 s operation cannot have finished"
    );
    let echo = call(
        &client,
        "everything__echo",
        json!({"message": "after cancel"}),
    )
    .await;
    assert_eq!(text_of(&echo), "Echo: after cancel");
    baton.wait_for_log("cancelled upstream");
    let logs = baton.logs();
    assert!(
        logs.contains("cancelled upstream") && logs.contains("server=everything"),
        "Baton should cancel the upstream request: {logs}"
    );
}

/// Log messages a shared server sends outside any call reach every connected client; those
/// sent during a call reach its caller.
#[tokio::test(flavor = "multi_thread")]
async fn upstream_log_messages_reach_clients() {
    let dir = TestDir::new();
    let baton = BatonHttp::start(&everything_config(&dir));
    let (caller, mut caller_events) = connect_http(&baton.mcp_url()).await;
    let (bystander, mut bystander_events) = connect_http(&baton.mcp_url()).await;
    tool_names(&bystander).await; // registers the bystander for broadcasts
    call(&caller, "everything__toggle-simulated-logging", json!({})).await;
    let logged = |seen: &[String]| seen.iter().any(|event| event.starts_with("log:"));
    // server-everything logs once at once (during the call), then every 5 s.
    let caller_seen = collect_until(&mut caller_events, Duration::from_secs(15), logged).await;
    assert!(
        logged(&caller_seen),
        "the caller got no log message: {caller_seen:?}"
    );
    let bystander_seen =
        collect_until(&mut bystander_events, Duration::from_secs(15), logged).await;
    assert!(
        logged(&bystander_seen),
        "the other client got no log message: {bystander_seen:?}"
    );
}
