//! `serve.auth` (issue 14, inbound): API keys and JWTs checked on `/mcp` and `/sse`, 401/403
//! with the RFC 9728 challenge, the Protected Resource Metadata documents, keys rotated at
//! the issuer, and no credential in any log line. Tokens come from a real RSA issuer
//! (`tests/clients/jwt_issuer.py`, PyJWT) whose JWKS Baton fetches over HTTP.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use baton_mcp::rmcp::{
    ServiceExt,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};

use crate::common::*;

pub(crate) const ALICE_KEY: &str = "alice-key-0123456789abcdef";

/// The token issuer: (process, base URL).
fn issuer() -> (Proc, String) {
    python_listener("jwt_issuer.py", "the token issuer")
}

async fn token(issuer: &str, query: &str) -> String {
    reqwest::get(format!("{issuer}/token?{query}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// POST initialize with `credential` (none, or a bearer): (status, WWW-Authenticate).
async fn initialize(url: &str, credential: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("Accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "auth-test", "version": "0"}}}),
        );
    if let Some(credential) = credential {
        request = request.bearer_auth(credential);
    }
    let response = request.send().await.unwrap();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (response.status().as_u16(), challenge)
}

pub(crate) async fn client_with(url: &str, credential: &str) -> Client {
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_owned())
        .auth_header(credential.to_owned());
    let (handler, _) = recording_client();
    handler
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("connect with credentials")
}

#[tokio::test(flavor = "multi_thread")]
async fn api_keys_and_jwts_guard_mcp_with_the_oauth_challenge() {
    let (_issuer, issuer_url) = issuer();
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  fault:\n    {}\nserve:\n  auth:\n    api_keys:\n      alice: \"{ALICE_KEY}\"\n    jwt:\n      issuer: https://issuer.test\n      jwks_url: {issuer_url}/jwks\n    authorization_servers: [https://issuer.test]\n    scopes_supported: [mcp:tools]\n",
            fault_server(&[])
        ),
    );
    let baton = BatonHttp::start(&config);
    let url = baton.mcp_url();
    let metadata_url = format!("{}/.well-known/oauth-protected-resource/mcp", baton.base);

    // No credentials, or wrong ones: 401 with the challenge naming the metadata.
    let (status, challenge) = initialize(&url, None).await;
    assert_eq!(status, 401);
    assert!(
        challenge.contains(&format!("resource_metadata=\"{metadata_url}\""))
            && challenge.contains("scope=\"mcp:tools\""),
        "{challenge}"
    );
    let (status, challenge) = initialize(&url, Some("not-a-key-at-all-000")).await;
    assert_eq!(status, 401);
    assert!(challenge.contains("invalid_token"), "{challenge}");
    // The legacy SSE endpoint is guarded the same way.
    let sse = reqwest::get(format!("{}/sse", baton.base)).await.unwrap();
    assert_eq!(sse.status().as_u16(), 401);

    // The metadata documents are public.
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let document: Value = reqwest::get(format!("{}{path}", baton.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(document["resource"], url.as_str(), "{document}");
        assert_eq!(
            document["authorization_servers"],
            json!(["https://issuer.test"])
        );
        assert_eq!(document["scopes_supported"], json!(["mcp:tools"]));
    }

    // An API key: a real client lists and calls.
    let alice = client_with(&url, ALICE_KEY).await;
    let echoed = call(&alice, "fault__echo", json!({"message": "by key"})).await;
    assert!(text_of(&echoed).contains("by key"));
    alice.cancel().await.ok();

    // A JWT for this resource with the scope.
    let audience = url.replace(':', "%3A").replace('/', "%2F");
    let good = token(
        &issuer_url,
        &format!("sub=bob&aud={audience}&scope=mcp:tools"),
    )
    .await;
    let bob = client_with(&url, &good).await;
    let echoed = call(&bob, "fault__echo", json!({"message": "by token"})).await;
    assert!(text_of(&echoed).contains("by token"));
    bob.cancel().await.ok();

    // Refused tokens: expired, another audience, another issuer, a forged signature.
    for (query, why) in [
        (
            format!("aud={audience}&scope=mcp:tools&exp=-600"),
            "expired",
        ),
        (
            "aud=http%3A%2F%2Felsewhere%2Fmcp&scope=mcp:tools".to_owned(),
            "audience",
        ),
        (
            format!("aud={audience}&scope=mcp:tools&iss=https%3A%2F%2Fevil.test"),
            "issuer",
        ),
        (
            format!("aud={audience}&scope=mcp:tools&forge=1"),
            "signature",
        ),
    ] {
        let bad = token(&issuer_url, &query).await;
        let (status, challenge) = initialize(&url, Some(&bad)).await;
        assert_eq!(status, 401, "{why}: {challenge}");
        assert!(challenge.contains("invalid_token"), "{why}: {challenge}");
    }
    // A valid token without the scope: 403 insufficient_scope.
    let unscoped = token(&issuer_url, &format!("aud={audience}&scope=other")).await;
    let (status, challenge) = initialize(&url, Some(&unscoped)).await;
    assert_eq!(status, 403);
    assert!(challenge.contains("insufficient_scope"), "{challenge}");

    // The issuer rotates its key: a token under the new kid is accepted once Baton has
    // fetched the JWKS again (at most once a second for unknown keys).
    let rotated = reqwest::Client::new()
        .post(format!("{issuer_url}/rotate"))
        .send()
        .await
        .unwrap();
    assert!(rotated.status().is_success());
    let fresh = token(
        &issuer_url,
        &format!("sub=carol&aud={audience}&scope=mcp:tools"),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = initialize(&url, Some(&fresh)).await;
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rotated key was never accepted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The old key left the set: its token no longer passes.
    let (status, _) = initialize(&url, Some(&good)).await;
    assert_eq!(status, 401);

    // No credential in any log line.
    let logs = baton.logs();
    assert!(logs.contains("refused a request"), "{logs}");
    for secret in [ALICE_KEY, good.as_str(), fresh.as_str(), unscoped.as_str()] {
        assert!(!logs.contains(secret), "a credential was logged");
    }
}

/// Verified tokens are cached (a hash instead of a signature check), but a cached token
/// still stops working at its `exp`.
#[tokio::test(flavor = "multi_thread")]
async fn a_cached_token_still_expires_on_time() {
    let (_issuer, issuer_url) = issuer();
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  fault:\n    {}\nserve:\n  auth:\n    jwt:\n      issuer: https://issuer.test\n      jwks_url: {issuer_url}/jwks\n      leeway: 0s\n",
            fault_server(&[])
        ),
    );
    let baton = BatonHttp::start(&config);
    let url = baton.mcp_url();
    let audience = url.replace(':', "%3A").replace('/', "%2F");
    let short = token(&issuer_url, &format!("sub=dana&aud={audience}&exp=3")).await;
    let issued = Instant::now();
    // Used several times while valid: accepted each time (the later ones from the cache).
    for _ in 0..3 {
        let (status, challenge) = initialize(&url, Some(&short)).await;
        assert_eq!(status, 200, "{challenge}");
    }
    // Then refused once `exp` has passed, cache or not.
    let deadline = issued + Duration::from_secs(10);
    loop {
        let (status, challenge) = initialize(&url, Some(&short)).await;
        if status == 401 {
            assert!(challenge.contains("invalid_token"), "{challenge}");
            assert!(
                issued.elapsed() >= Duration::from_secs(1),
                "refused before it expired"
            );
            break;
        }
        assert_eq!(status, 200);
        assert!(Instant::now() < deadline, "a cached token outlived its exp");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn serving_beyond_loopback_needs_auth_or_the_flag() {
    let dir = TestDir::new();
    let config = dir.write("baton.yaml", "servers: {}\n");
    let mut child = Command::new(baton_bin())
        .args([
            "--config",
            config.to_str().unwrap(),
            "serve",
            "--http",
            "0.0.0.0:0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("baton served 0.0.0.0 without auth");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(2));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("serve.auth") && stderr.contains("--allow-unauthenticated"),
        "{stderr}"
    );
}

#[test]
fn auth_key_new_prints_a_key_once_and_the_line_to_paste() {
    let output = run_baton(&["auth", "key", "new", "ci-bot"]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    let key = text.lines().nth(1).unwrap().trim();
    assert!(key.len() >= 32, "{text}");
    let line = text.lines().last().unwrap().trim();
    assert_eq!(
        line,
        format!(
            "ci-bot: \"sha256:{}\"",
            baton_core::config::sha256_hex(key.as_bytes())
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn access_rules_show_each_principal_only_its_tools() {
    let (_issuer, issuer_url) = issuer();
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  fault:\n    {}\nserve:\n  auth:\n    api_keys:\n      alice: \"{ALICE_KEY}\"\n      eve: \"eve-key-0123456789abcdef\"\n    jwt:\n      issuer: https://issuer.test\n      jwks_url: {issuer_url}/jwks\nworkflows:\n  definitions:\n    open_wf:\n      steps:\n        - {{ id: a, set: {{ x: 1 }} }}\n    secret_wf:\n      steps:\n        - {{ id: a, set: {{ x: 2 }} }}\naccess:\n  - who: [alice]\n    allow: [\"*\"]\n  - who: [bob, \"role:viewer\"]\n    allow: [\"fault__echo\", \"fault__delay\", \"baton__status\", \"baton__run_workflow\", \"workflow__open_wf\"]\n    deny: [\"*__delay\"]\n",
            fault_server(&[])
        ),
    );
    let baton = BatonHttp::start(&config);
    let url = baton.mcp_url();
    let audience = url.replace(':', "%3A").replace('/', "%2F");
    let names = |tools: Vec<baton_mcp::rmcp::model::Tool>| -> Vec<String> {
        let mut names: Vec<String> = tools.into_iter().map(|t| t.name.to_string()).collect();
        names.sort();
        names
    };

    // alice: every rule allows everything.
    let alice = client_with(&url, ALICE_KEY).await;
    let all = names(alice.list_all_tools().await.unwrap());
    assert!(
        all.contains(&"fault__delay".to_owned()) && all.len() > 3,
        "{all:?}"
    );
    alice.cancel().await.ok();

    // bob (a JWT's sub) and a viewer (a JWT's role): the allowed names minus the denied.
    for query in [
        format!("sub=bob&aud={audience}"),
        format!("sub=dave&roles=viewer&aud={audience}"),
    ] {
        let credential = token(&issuer_url, &query).await;
        let client = client_with(&url, &credential).await;
        let seen = names(client.list_all_tools().await.unwrap());
        assert_eq!(
            seen,
            [
                "baton__run_workflow",
                "baton__status",
                "fault__echo",
                "workflow__open_wf"
            ],
            "{query}"
        );
        // Workflows started through baton__run_workflow follow the same rules.
        let ran = call(
            &client,
            "baton__run_workflow",
            json!({"workflow": "open_wf"}),
        )
        .await;
        assert!(!ran.is_error.unwrap_or(false), "{}", text_of(&ran));
        let run_of = |workflow: &str| {
            let mut params =
                baton_mcp::rmcp::model::CallToolRequestParams::new("baton__run_workflow");
            params.arguments = json!({"workflow": workflow}).as_object().cloned();
            params
        };
        let hidden = client
            .peer()
            .call_tool(run_of("secret_wf"))
            .await
            .unwrap_err()
            .to_string();
        let absent = client
            .peer()
            .call_tool(run_of("no_such_wf"))
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            hidden.replace("secret_wf", "X"),
            absent.replace("no_such_wf", "X"),
            "a refused workflow must look like one that does not exist"
        );
        let echoed = call(&client, "fault__echo", json!({"message": "allowed"})).await;
        assert!(text_of(&echoed).contains("allowed"));
        // A denied tool and one that does not exist get the same answer.
        let mut denied = baton_mcp::rmcp::model::CallToolRequestParams::new("fault__delay");
        denied.arguments = json!({"ms": 1}).as_object().cloned();
        let refused = client
            .peer()
            .call_tool(denied)
            .await
            .unwrap_err()
            .to_string();
        let mut missing = baton_mcp::rmcp::model::CallToolRequestParams::new("fault__nothing");
        missing.arguments = Some(serde_json::Map::new());
        let unknown = client
            .peer()
            .call_tool(missing)
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            refused.replace("fault__delay", "X"),
            unknown.replace("fault__nothing", "X"),
            "a refusal must not reveal that the tool exists"
        );
        client.cancel().await.ok();
    }

    // eve: authenticated, but no rule applies to her: she sees nothing.
    let eve = client_with(&url, "eve-key-0123456789abcdef").await;
    assert!(eve.list_all_tools().await.unwrap().is_empty());
    eve.cancel().await.ok();
}

/// The official Python SDK client (streamable HTTP and legacy SSE) and the MCP Inspector CLI
/// (`--header`) with an API key; an SSE session is used only with the credentials that
/// opened it.
#[tokio::test(flavor = "multi_thread")]
async fn the_python_sdk_and_the_inspector_sign_in_with_an_api_key() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  fault:\n    {}\nserve:\n  auth:\n    api_keys:\n      alice: \"{ALICE_KEY}\"\n      eve: \"eve-key-0123456789abcdef\"\n",
            fault_server(&[])
        ),
    );
    let baton = BatonHttp::start(&config);
    let header = format!("Authorization: Bearer {ALICE_KEY}");
    for (mode, flag, url) in [
        ("auto", "--http", baton.mcp_url()),
        ("legacy", "--sse", format!("{}/sse", baton.base)),
    ] {
        let output = Command::new(peer("python"))
            .arg(repo_root().join("tests/clients/py_client.py"))
            .args([
                "--mode",
                mode,
                "--header",
                &header,
                "--echo-tool",
                "fault__echo",
                flag,
                &url,
            ])
            .output()
            .expect("run the Python client");
        assert!(
            output.status.success(),
            "{flag}: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            baton.logs()
        );
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert!(
            report["echo"].as_str().unwrap().contains("from python"),
            "{report}"
        );
        // Without the header the same client is turned away.
        let refused = Command::new(peer("python"))
            .arg(repo_root().join("tests/clients/py_client.py"))
            .args(["--mode", mode, "--echo-tool", "fault__echo", flag, &url])
            .output()
            .unwrap();
        assert!(
            !refused.status.success(),
            "{flag}: served without credentials"
        );
    }

    // The MCP Inspector CLI with --header.
    let bearer = format!("Authorization: Bearer {ALICE_KEY}");
    let target = [baton.mcp_url(), "--header".to_owned(), bearer];
    let target: Vec<&str> = target.iter().map(String::as_str).collect();
    let listed = crate::clients::inspector(&target, &["--method", "tools/list"]);
    let tools = listed["result"]["tools"].as_array().unwrap();
    assert!(tools.iter().any(|t| t["name"] == "fault__echo"), "{listed}");

    // An SSE session opened by alice cannot be driven with eve's key.
    let http = reqwest::Client::new();
    let mut stream = http
        .get(format!("{}/sse", baton.base))
        .bearer_auth(ALICE_KEY)
        .send()
        .await
        .unwrap();
    let mut endpoint = String::new();
    while !endpoint.contains("sessionId=") {
        let chunk = stream.chunk().await.unwrap().expect("the endpoint event");
        endpoint.push_str(&String::from_utf8_lossy(&chunk));
    }
    let path = endpoint
        .lines()
        .find_map(|line| line.strip_prefix("data: "))
        .unwrap()
        .trim()
        .to_owned();
    let posted = http
        .post(format!("{}{path}", baton.base))
        .bearer_auth("eve-key-0123456789abcdef")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status().as_u16(), 403);
    let logs = baton.logs();
    assert!(!logs.contains(ALICE_KEY) && !logs.contains("eve-key-0123456789abcdef"));
}

/// The client's credential stays at Baton: an HTTP upstream sees the headers Baton's
/// config gives it, never the client's token (MCP 2025-11-25, "token passthrough").
#[tokio::test(flavor = "multi_thread")]
async fn the_clients_token_never_reaches_an_upstream() {
    let (_upstream, port) = fault_http(&[]);
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  remote:\n    url: http://127.0.0.1:{port}/mcp\n    headers:\n      X-Upstream-Key: baton-own-credential\nserve:\n  auth:\n    api_keys:\n      alice: \"{ALICE_KEY}\"\n"
        ),
    );
    let baton = BatonHttp::start(&config);
    let alice = client_with(&baton.mcp_url(), ALICE_KEY).await;
    let seen = call(&alice, "remote__headers", json!({})).await;
    let headers: Value = serde_json::from_str(&text_of(&seen)).expect("headers as JSON");
    assert_eq!(
        headers["x-upstream-key"], "baton-own-credential",
        "{headers}"
    );
    let text = headers.to_string();
    assert!(
        !text.contains(ALICE_KEY),
        "the client's key reached the upstream: {text}"
    );
    assert!(headers.get("authorization").is_none(), "{headers}");
    alice.cancel().await.ok();
}
