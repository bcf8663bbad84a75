//! Every kind of upstream at once behind one Baton: stdio (Node and Python servers,
//! legacy and 2026-07-28), streamable HTTP and legacy SSE.

use std::time::Duration;

use serde_json::json;

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn all_reference_servers_at_once_over_every_transport() {
    let dir = TestDir::new();
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("note.txt"), "from the filesystem server").unwrap();
    let repo = git_repo(dir.path());
    let (_http_server, http_port) = everything_http("streamableHttp");
    let (_sse_server, sse_port) = everything_http("sse");
    let config = dir.write(
        "baton.yaml",
        &format!(
            r#"
servers:
  everything:
    command: {everything}
    env:
      BATON_TEST_MARKER: "marker-${{BATON_TEST_UNSET_VARIABLE:-default}}"
  files:
    command: {filesystem}
    args: ["{files}"]
  time:
    command: {time}
  git:
    command: {git}
    args: ["--repository", "{repo}"]
  remote:
    url: http://127.0.0.1:{http_port}/mcp
  legacy:
    url: http://127.0.0.1:{sse_port}/sse
    transport: sse
  detected:
    url: http://127.0.0.1:{sse_port}/sse
"#,
            everything = peer("mcp-server-everything").display(),
            filesystem = peer("mcp-server-filesystem").display(),
            time = peer("mcp-server-time").display(),
            git = peer("mcp-server-git").display(),
            files = files.display(),
            repo = repo.display(),
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _notifications) = connect_http(&baton.mcp_url()).await;

    let names = tool_names(&client).await;
    for expected in [
        "baton__status",
        "everything__echo",
        "files__read_text_file",
        "time__get_current_time",
        "git__git_status",
        "remote__echo",
        "legacy__echo",
    ] {
        assert!(
            names.contains(&expected.to_owned()),
            "{expected} missing from {names:?}"
        );
    }
    let pattern_ok = |name: &String| {
        !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    assert!(
        names.iter().all(pattern_ok),
        "a tool name breaks ^[a-zA-Z0-9_-]{{1,64}}$: {names:?}"
    );

    let status = status(&client).await;
    for (server, transport, protocol) in [
        ("everything", "stdio", "2025-11-25"),
        ("files", "stdio", "2025-11-25"),
        ("time", "stdio", "2026-07-28"),
        ("git", "stdio", "2026-07-28"),
        ("remote", "streamable-http", "2025-11-25"),
        ("legacy", "sse", "2025-11-25"),
        // No `transport`: streamable HTTP is tried first, then the SSE fallback.
        ("detected", "sse", "2025-11-25"),
    ] {
        assert_eq!(
            status[server]["state"], "ready",
            "{server}: {}",
            status[server]
        );
        assert_eq!(status[server]["transport"], transport, "{server}");
        assert_eq!(status[server]["protocol"], protocol, "{server}");
    }

    for server in ["everything", "remote", "legacy", "detected"] {
        let result = call(
            &client,
            &format!("{server}__echo"),
            json!({"message": server}),
        )
        .await;
        assert_eq!(text_of(&result), format!("Echo: {server}"));
    }
    // The configured environment (after interpolation) reaches the stdio server.
    let env = call(&client, "everything__get-env", json!({})).await;
    assert!(
        text_of(&env).contains("marker-default"),
        "{}",
        text_of(&env)
    );
    let sum = call(&client, "everything__get-sum", json!({"a": 2, "b": 3})).await;
    assert!(text_of(&sum).contains('5'), "{}", text_of(&sum));
    let note = call(
        &client,
        "files__read_text_file",
        json!({"path": files.join("note.txt").display().to_string()}),
    )
    .await;
    assert_eq!(text_of(&note), "from the filesystem server");
    let time = call(
        &client,
        "time__get_current_time",
        json!({"timezone": "UTC"}),
    )
    .await;
    assert!(text_of(&time).contains("UTC"), "{}", text_of(&time));
    let git = call(
        &client,
        "git__git_status",
        json!({"repo_path": repo.display().to_string()}),
    )
    .await;
    assert!(
        text_of(&git).contains("working tree clean") || text_of(&git).contains("On branch"),
        "{}",
        text_of(&git)
    );

    // Prompts and resources are aggregated too, and reads route back by URI.
    let prompts = client
        .peer()
        .list_all_prompts()
        .await
        .expect("prompts/list");
    assert!(
        prompts
            .iter()
            .any(|p| p.name == "everything__simple-prompt"),
        "{prompts:?}"
    );
    let prompt = client
        .peer()
        .get_prompt(baton_mcp::rmcp::model::GetPromptRequestParams::new(
            "everything__simple-prompt",
        ))
        .await
        .expect("prompts/get routed to everything");
    assert!(!prompt.messages.is_empty());
    let resources = client
        .peer()
        .list_all_resources()
        .await
        .expect("resources/list");
    let first = resources
        .first()
        .expect("server-everything lists resources");
    let read = client
        .peer()
        .read_resource(baton_mcp::rmcp::model::ReadResourceRequestParams::new(
            first.uri.clone(),
        ))
        .await
        .expect("resources/read routed by URI");
    assert!(!read.contents.is_empty());
    let templates = client
        .peer()
        .list_all_resource_templates()
        .await
        .expect("templates");
    assert!(
        !templates.is_empty(),
        "server-everything has resource templates"
    );
}

/// Progress notifications from a long-running upstream tool reach the caller under the
/// caller's own progress token.
#[tokio::test(flavor = "multi_thread")]
async fn progress_is_relayed_to_the_caller() {
    use baton_mcp::rmcp::model::{
        CallToolRequestParams, NumberOrString, ProgressToken, RequestMetaObject,
    };
    let dir = TestDir::new();
    let config = everything_config(&dir);
    let (client, mut notifications) = connect_stdio(&config).await;
    let mut params = CallToolRequestParams::new("everything__trigger-long-running-operation");
    params.arguments = json!({"duration": 1, "steps": 3}).as_object().cloned();
    params.meta = Some(RequestMetaObject::with_progress_token(ProgressToken(
        NumberOrString::String("mine-7".into()),
    )));
    let result = client
        .peer()
        .call_tool(params)
        .await
        .expect("long-running operation");
    assert!(
        text_of(&result).to_lowercase().contains("completed"),
        "{}",
        text_of(&result)
    );
    let seen = collect_until(&mut notifications, Duration::from_secs(5), |seen| {
        seen.iter().filter(|n| n.starts_with("progress:")).count() >= 2
    })
    .await;
    let tokens: Vec<_> = seen
        .iter()
        .filter_map(|n| n.strip_prefix("progress:"))
        .collect();
    assert!(
        tokens.len() >= 2,
        "expected progress notifications, got {tokens:?}"
    );
    // The test client (rmcp) puts its own token on every request; whatever it chose must
    // come back, never Baton's upstream token.
    assert!(
        tokens.windows(2).all(|pair| pair[0] == pair[1]),
        "one call, one token: {tokens:?}"
    );
    assert!(!tokens[0].starts_with("baton-"), "{tokens:?}");
}

/// A call reaches each stdio server in the shape its revision wants (captured on the wire
/// between Baton and the real server): a 2026-07-28 server gets the client metadata in the
/// request's `_meta` (revision, client info, capabilities), an older one none; both get a
/// progress token to report under. Baton writes these requests beside rmcp's client loop
/// (`lines::direct`), so this pins that it writes what rmcp would.
#[tokio::test(flavor = "multi_thread")]
async fn each_stdio_server_gets_a_call_in_its_own_revisions_shape() {
    let dir = TestDir::new();
    let wire = |name: &str| dir.path().join(format!("{name}.in"));
    let server = |name: &str, args: &str| {
        format!(
            "  {name}:\n    command: sh\n    args: [\"-c\", \"tee '{}' | '{}' {args}\"]\n",
            wire(name).display(),
            fault_upstream().display()
        )
    };
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n{}{}",
            server("modern", ""),
            server("legacy", "--legacy")
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    for name in ["modern", "legacy"] {
        let echoed = call(&client, &format!("{name}__echo"), json!({"message": name})).await;
        assert_eq!(text_of(&echoed), name);
    }
    let call_on_the_wire = |name: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let wire = std::fs::read_to_string(wire(name)).unwrap_or_default();
            let line = wire
                .lines()
                .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                .find(|message| message["method"] == "tools/call");
            if let Some(line) = line {
                return line;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no tools/call reached {name}: {wire}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let modern = call_on_the_wire("modern");
    let meta = &modern["params"]["_meta"];
    assert_eq!(
        meta["io.modelcontextprotocol/protocolVersion"], "2026-07-28",
        "{modern}"
    );
    assert_eq!(
        meta["io.modelcontextprotocol/clientInfo"]["name"], "baton",
        "{modern}"
    );
    assert!(
        meta["io.modelcontextprotocol/clientCapabilities"].is_object(),
        "{modern}"
    );
    let token = &meta["progressToken"];
    assert!(token.is_number() || token.is_string(), "{modern}");
    assert_eq!(
        modern["params"]["arguments"]["message"], "modern",
        "{modern}"
    );

    let legacy = call_on_the_wire("legacy");
    let meta = &legacy["params"]["_meta"];
    assert_eq!(meta.as_object().map(|m| m.len()), Some(1), "{legacy}");
    let token = &meta["progressToken"];
    assert!(token.is_number() || token.is_string(), "{legacy}");
    assert_eq!(
        legacy["params"]["arguments"]["message"], "legacy",
        "{legacy}"
    );
}
