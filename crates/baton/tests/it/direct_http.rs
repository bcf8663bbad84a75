//! A legacy session's `tools/call` over streamable HTTP takes Baton's direct path (beside
//! rmcp's session worker): the answer keeps rmcp's shape (an SSE stream, a priming event
//! with an id and `retry`), progress rides the call's own stream, a stream dropped
//! mid-call is resumed with `Last-Event-ID`, a quick answer is sent whole (headers, priming
//! event and answer in one body) while a long call is streamed as it runs, and a session
//! kept busy by such calls is not closed as idle (rmcp's worker never sees them).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

/// Direct calls' stream numbers start at 2^48 (rmcp's own start at 0).
const FIRST_DIRECT_STREAM: u64 = 1 << 48;

/// A new initialized session on `url`.
async fn session(http: &reqwest::Client, url: &str) -> String {
    let (status, session, body) = mcp_initialize(http, url).await;
    assert!(status.is_success(), "{body}");
    let session = session.expect("a session id");
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let done = mcp_post(http, url, &session, initialized).await;
    assert!(done.status().is_success(), "{done:?}");
    session
}

fn call(id: u64, tool: &str, arguments: Value, progress: Option<&str>) -> Value {
    let mut params = json!({"name": tool, "arguments": arguments});
    if let Some(token) = progress {
        params["_meta"] = json!({"progressToken": token});
    }
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
}

/// One SSE event: its `id:` and its `data:` as JSON (`None` for a priming event).
#[derive(Debug)]
struct Event {
    id: Option<String>,
    retry: Option<u64>,
    data: Option<Value>,
}

/// Reads events from `response` until `stop` says so or it ends (bounded by `limit`).
async fn read_events(
    response: &mut reqwest::Response,
    limit: Duration,
    mut stop: impl FnMut(&Event) -> bool,
) -> Vec<Event> {
    let deadline = Instant::now() + limit;
    let (mut buffer, mut events) = (String::new(), Vec::new());
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut event = Event {
                id: None,
                retry: None,
                data: None,
            };
            for line in block.lines() {
                if let Some(id) = line.strip_prefix("id: ") {
                    event.id = Some(id.to_owned());
                } else if let Some(retry) = line.strip_prefix("retry: ") {
                    event.retry = retry.parse().ok();
                } else if let Some(data) = line.strip_prefix("data:") {
                    event.data = serde_json::from_str(data.trim()).ok();
                }
            }
            if block.starts_with(':') {
                continue;
            }
            let done = stop(&event);
            events.push(event);
            if done {
                return events;
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, response.chunk()).await {
            Ok(Ok(Some(chunk))) => buffer.push_str(&String::from_utf8_lossy(&chunk)),
            Ok(Ok(None)) => return events,
            Ok(Err(error)) => panic!("reading the answer failed: {error}; events: {events:?}"),
            Err(_) => panic!("no end of the answer within {limit:?}; events: {events:?}"),
        }
    }
}

/// `<index>/<stream>` of an event id.
fn stream_of(id: &str) -> u64 {
    id.split_once('/')
        .and_then(|(_, stream)| stream.parse().ok())
        .unwrap_or_else(|| panic!("not a request stream's event id: {id}"))
}

/// The stream number of a direct call's answer, from its events: the first is a priming
/// event (no data, a `retry`) on a direct stream.
fn direct_stream(events: &[Event]) -> u64 {
    let priming = &events[0];
    assert!(
        priming.data.is_none() && priming.retry.is_some(),
        "{events:?}"
    );
    let stream = stream_of(priming.id.as_deref().unwrap());
    assert!(
        stream >= FIRST_DIRECT_STREAM,
        "the call was not served on the direct path: stream {stream}"
    );
    stream
}

/// The last event is server-everything's long running operation's answer.
fn assert_operation_completed(events: &[Event]) {
    let result = events
        .last()
        .and_then(|event| event.data.clone())
        .unwrap_or_else(|| panic!("no answer: {events:?}"));
    assert!(
        result["result"]["content"][0]["text"]
            .as_str()
            .is_some_and(|text| text.contains("Long running operation completed")),
        "{events:?}"
    );
}

fn is_answer(event: &Event, id: u64) -> bool {
    event
        .data
        .as_ref()
        .is_some_and(|data| data["id"] == id && data.get("method").is_none())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_direct_call_streams_its_progress_and_resumes_after_a_dropped_stream() {
    let dir = TestDir::new();
    let baton = BatonHttp::start(&everything_config(&dir));
    let (http, url) = (reqwest::Client::new(), baton.mcp_url());
    let session = session(&http, &url).await;
    // The handler is offered to the direct path once the session is initialized; the first
    // call may still go through rmcp.
    let warm = mcp_post(
        &http,
        &url,
        &session,
        call(2, "everything__echo", json!({"message": "warm"}), None),
    )
    .await;
    assert!(warm.status().is_success());
    assert!(warm.text().await.unwrap().contains("Echo: warm"));

    let arguments = json!({"duration": 2, "steps": 4});
    let operation = "everything__trigger-long-running-operation";
    let mut answer = mcp_post(
        &http,
        &url,
        &session,
        call(3, operation, arguments, Some("p-1")),
    )
    .await;
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.headers()["content-type"],
        "text/event-stream",
        "a call's answer stays an SSE stream"
    );
    let first = read_events(&mut answer, Duration::from_secs(20), |event| {
        event.data.as_ref().is_some_and(|data| {
            data["method"] == "notifications/progress" && data["params"]["progressToken"] == "p-1"
        })
    })
    .await;
    let stream = direct_stream(&first);
    let last_seen = first
        .last()
        .unwrap()
        .id
        .clone()
        .expect("the progress event's id");
    assert_eq!(stream_of(&last_seen), stream);
    // The client goes away mid-call, then resumes the stream where it left it.
    drop(answer);
    let mut resumed = http
        .get(&url)
        .header("Accept", "text/event-stream")
        .header("Mcp-Session-Id", &session)
        .header("MCP-Protocol-Version", "2025-11-25")
        .header("Last-Event-ID", &last_seen)
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), 200, "{:?}", resumed.headers());
    let rest = read_events(&mut resumed, Duration::from_secs(20), |event| {
        is_answer(event, 3)
    })
    .await;
    assert_operation_completed(&rest);
    let before: usize = last_seen.split_once('/').unwrap().0.parse().unwrap();
    for event in &rest {
        let id = event.id.as_deref().unwrap();
        assert_eq!(stream_of(id), stream, "{rest:?}");
        let index: usize = id.split_once('/').unwrap().0.parse().unwrap();
        assert!(
            index > before,
            "an event sent before was replayed: {rest:?}"
        );
    }
    // The steps reached the client in order across the drop, none twice. (The last step's
    // notification may cross the answer inside Baton and go to the GET stream instead:
    // rmcp's own path has the same race, so it is not counted on.)
    let steps: Vec<f64> = first
        .iter()
        .chain(&rest)
        .filter_map(|event| event.data.as_ref())
        .filter(|data| data["method"] == "notifications/progress")
        .map(|data| data["params"]["progress"].as_f64().unwrap())
        .collect();
    assert!(
        steps.len() >= 2 && steps.windows(2).all(|pair| pair[0] < pair[1]),
        "{first:?} {rest:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_quick_answer_is_sent_whole_and_a_long_call_is_streamed() {
    let dir = TestDir::new();
    let baton = BatonHttp::start(&everything_config(&dir));
    let (http, url) = (reqwest::Client::new(), baton.mcp_url());
    let session = session(&http, &url).await;
    let echo = |id: u64| call(id, "everything__echo", json!({"message": "quick"}), None);
    // The first call may still go through rmcp (the handler is offered once initialized).
    let warm = mcp_post(&http, &url, &session, echo(2)).await;
    assert!(warm.status().is_success());
    warm.text().await.unwrap();

    let mut quick = mcp_post(&http, &url, &session, echo(3)).await;
    assert_eq!(quick.status(), 200);
    assert_eq!(quick.headers()["content-type"], "text/event-stream");
    let length: usize = quick
        .headers()
        .get("content-length")
        .unwrap_or_else(|| panic!("a quick answer is sent whole: {:?}", quick.headers()))
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let events = read_events(&mut quick, Duration::from_secs(10), |_| false).await;
    assert_eq!(
        events.len(),
        2,
        "a priming event and the answer: {events:?}"
    );
    let stream = direct_stream(&events);
    let answer = &events[1];
    assert_eq!(answer.id.as_deref(), Some(format!("1/{stream}").as_str()));
    assert!(is_answer(answer, 3), "{events:?}");
    assert!(length > 0);

    // A call that runs longer than a quick answer may wait for is streamed as it runs: the
    // response is streamed (no length) and its priming event comes before the answer.
    let arguments = json!({"duration": 2, "steps": 2});
    let operation = "everything__trigger-long-running-operation";
    let mut long = mcp_post(&http, &url, &session, call(4, operation, arguments, None)).await;
    assert_eq!(long.status(), 200);
    assert!(
        long.headers().get("content-length").is_none(),
        "a long call's answer is a stream: {:?}",
        long.headers()
    );
    let events = read_events(&mut long, Duration::from_secs(20), |event| {
        is_answer(event, 4)
    })
    .await;
    direct_stream(&events);
    assert_operation_completed(&events);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_kept_busy_by_direct_calls_outlives_idle_timeout_then_expires() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "serve:\n  sessions:\n    idle_timeout: 2s\nservers:\n  everything:\n    command: {}\n",
            peer("mcp-server-everything").display()
        ),
    );
    let baton = BatonHttp::start(&config);
    let (http, url) = (reqwest::Client::new(), baton.mcp_url());
    let session = session(&http, &url).await;
    // Busy for twice the idle timeout, a call every 400 ms.
    let started = Instant::now();
    let mut id = 10;
    let mut direct = 0;
    while started.elapsed() < Duration::from_secs(4) {
        id += 1;
        let answer = mcp_post(
            &http,
            &url,
            &session,
            call(
                id,
                "everything__echo",
                json!({"message": id.to_string()}),
                None,
            ),
        )
        .await;
        assert_eq!(
            answer.status(),
            200,
            "call {id} after {:?}",
            started.elapsed()
        );
        let body = answer.text().await.unwrap();
        assert!(body.contains(&format!("Echo: {id}")), "{body}");
        let stream = body
            .lines()
            .find_map(|line| line.strip_prefix("id: "))
            .map(stream_of);
        direct += usize::from(stream.is_some_and(|stream| stream >= FIRST_DIRECT_STREAM));
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert!(direct >= 5, "only {direct} calls took the direct path");
    // Then left alone, it is closed like any idle session.
    let deadline = Instant::now() + Duration::from_secs(20);
    while baton.sessions_open().await != Some(0.0) {
        assert!(
            Instant::now() < deadline,
            "the idle session was never closed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let late = mcp_post(
        &http,
        &url,
        &session,
        call(99, "everything__echo", json!({"message": "late"}), None),
    )
    .await;
    assert_eq!(late.status(), 404, "a call on a closed session gets 404");
}

/// `body` posted on `session` with `accept`: the stream its answer came on and the answer
/// (the message with id `id`).
async fn answer_on(
    http: &reqwest::Client,
    url: &str,
    session: &str,
    accept: &str,
    body: Value,
) -> (u64, Value) {
    let id = body["id"].clone();
    let response = http
        .post(url)
        .header("Accept", accept)
        .header("Mcp-Session-Id", session)
        .header("MCP-Protocol-Version", "2025-11-25")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{body}");
    let text = response.text().await.unwrap();
    let stream = text
        .lines()
        .find_map(|line| line.strip_prefix("id: "))
        .map(stream_of)
        .unwrap_or_else(|| panic!("not an SSE answer: {text}"));
    let answer = mcp_messages(&text)
        .into_iter()
        .find(|message| message["id"] == id && message.get("method").is_none())
        .unwrap_or_else(|| panic!("no answer to {id}: {text}"));
    (stream, answer)
}

/// The direct path answers a call as rmcp's dispatch would: each call below is sent on the
/// direct path and again with an `Accept` that only rmcp's full negotiation takes (so rmcp
/// serves it), and both answers are the same message — a result, a tool error, a JSON-RPC
/// error, an unknown tool, an object `structuredContent`, and a non-object one that a
/// client of a revision before 2026-07-28 gets as a text block instead.
#[tokio::test(flavor = "multi_thread")]
async fn direct_dispatch_is_rmcps() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!("servers:\n  fault:\n    {}\n", fault_server(&[])),
    );
    let baton = BatonHttp::start(&config);
    let (http, url) = (reqwest::Client::new(), baton.mcp_url());
    let session = session(&http, &url).await;
    let rmcp_only = "application/json;q=1, text/event-stream";
    let cases = [
        ("fault__echo", json!({"message": "same"})),
        ("fault__fail", json!({"message": "a tool error"})),
        ("fault__rpc_error", json!({})),
        ("fault__nothing_here", json!({})),
        ("fault__structured", json!({"value": {"a": [1, 2]}})),
        ("fault__structured", json!({"value": [1, "two"]})),
    ];
    // The first call may still go through rmcp (the handler is offered once initialized).
    answer_on(
        &http,
        &url,
        &session,
        MCP_ACCEPT,
        call(2, "fault__echo", json!({}), None),
    )
    .await;
    let mut id = 10;
    for (tool, arguments) in cases {
        id += 2;
        let (direct, mut by_direct) = answer_on(
            &http,
            &url,
            &session,
            MCP_ACCEPT,
            call(id, tool, arguments.clone(), None),
        )
        .await;
        let (general, mut by_rmcp) = answer_on(
            &http,
            &url,
            &session,
            rmcp_only,
            call(id + 1, tool, arguments.clone(), None),
        )
        .await;
        assert!(direct >= FIRST_DIRECT_STREAM, "{tool}: not direct");
        assert!(general < FIRST_DIRECT_STREAM, "{tool}: not through rmcp");
        by_direct["id"] = Value::Null;
        by_rmcp["id"] = Value::Null;
        assert_eq!(by_direct, by_rmcp, "{tool} {arguments}");
    }
    // What the last case checks is there: the array moved into the content.
    let (_, answer) = answer_on(
        &http,
        &url,
        &session,
        MCP_ACCEPT,
        call(40, "fault__structured", json!({"value": [1, "two"]}), None),
    )
    .await;
    assert!(
        answer["result"].get("structuredContent").is_none(),
        "{answer}"
    );
    assert_eq!(
        answer["result"]["content"][0]["text"], r#"[1,"two"]"#,
        "{answer}"
    );
}
