//! Hot reload: `baton serve --http` applies edits of baton.yaml and of the workflows
//! folder while it runs, reconnecting only the servers whose settings changed, and
//! rejecting an invalid edit with its errors while the running configuration stays.

use std::{future::Future, path::Path, time::Duration};

use serde_json::json;

use crate::common::*;

/// Long enough for a reload (300 ms debounce, a server to connect) on a slow machine.
const RELOAD_LIMIT: Duration = Duration::from_secs(30);

/// Saves `text` the way editors do: write a temporary file, rename it over the original.
fn save(dir: &TestDir, name: &str, text: &str) {
    let path = dir.path().join(name);
    let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
    let temporary = path.with_file_name(format!(".{file_name}.tmp"));
    std::fs::write(&temporary, text).expect("write the temporary file");
    std::fs::rename(&temporary, &path).expect("rename over the file");
}

/// A baton.yaml with fault-upstream servers, each started with `--id NAME`.
fn servers(ids: &[(&str, &str)]) -> String {
    let mut text = String::from("servers:\n");
    for (name, id) in ids {
        text.push_str(&format!("  {name}:\n    {}\n", fault_server(&["--id", id])));
    }
    text
}

/// Polls `check` until it returns `Some`, or fails naming `what` after [`RELOAD_LIMIT`].
async fn eventually<T, F: Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + RELOAD_LIMIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// "ID PID" from the fault upstream's `whoami`.
async fn whoami(client: &Client, server: &str) -> String {
    text_of(&call(client, &format!("{server}__whoami"), json!({})).await)
}

/// Whether process `pid` has ended (gone, or a zombie not yet reaped).
fn process_ended(pid: &str) -> bool {
    match std::fs::read_to_string(Path::new("/proc").join(pid).join("stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// (a) A server added to baton.yaml connects, its tools are listed, and a connected
/// client is told the tool list changed.
#[tokio::test(flavor = "multi_thread")]
async fn an_added_server_is_listed_and_clients_are_told() {
    let dir = TestDir::new();
    // No servers at first: no start-up list_changed can be mistaken for the reload's.
    let config = dir.write("baton.yaml", "");
    let baton = BatonHttp::start(&config);
    let (client, mut notes) = connect_http(&baton.mcp_url()).await;
    assert!(!tool_names(&client).await.iter().any(|t| t == "two__echo"));

    save(&dir, "baton.yaml", &servers(&[("two", "second")]));
    let seen = collect_until(&mut notes, RELOAD_LIMIT, |seen| {
        seen.iter().any(|note| note == "tools/list_changed")
    })
    .await;
    assert!(
        seen.iter().any(|note| note == "tools/list_changed"),
        "no tools/list_changed after the reload: {seen:?}\n{}",
        baton.logs()
    );
    let tools = tool_names(&client).await;
    assert!(tools.iter().any(|t| t == "two__echo"), "{tools:?}");
    assert!(whoami(&client, "two").await.starts_with("second "));
    assert!(
        baton.wait_for_log("configuration reloaded"),
        "{}",
        baton.logs()
    );
}

/// (b) Changing one server's settings reconnects that server only: the other keeps its
/// process, and the old process of the changed one ends.
#[tokio::test(flavor = "multi_thread")]
async fn a_changed_server_reconnects_and_the_others_are_untouched() {
    let dir = TestDir::new();
    let config = dir.write("baton.yaml", &servers(&[("a", "a1"), ("b", "b1")]));
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let a_before = whoami(&client, "a").await;
    let b_before = whoami(&client, "b").await;
    assert!(a_before.starts_with("a1 ") && b_before.starts_with("b1 "));

    save(&dir, "baton.yaml", &servers(&[("a", "a1"), ("b", "b2")]));
    let b_after = eventually("b to answer as b2", || async {
        let who = whoami(&client, "b").await;
        who.starts_with("b2 ").then_some(who)
    })
    .await;
    assert_eq!(
        whoami(&client, "a").await,
        a_before,
        "the unchanged server kept its process"
    );
    assert_ne!(b_after.split(' ').nth(1), b_before.split(' ').nth(1));
    let old_pid = b_before.split(' ').nth(1).unwrap().to_owned();
    eventually("the old b process to end", || {
        let old_pid = old_pid.clone();
        async move { process_ended(&old_pid).then_some(()) }
    })
    .await;
    let status = status(&client).await;
    assert_eq!(status["a"]["stats"]["restarts"], 0, "{status}");
    let logs = baton.logs();
    assert!(logs.contains("changed=[\"b\"]"), "{logs}");
}

/// (c) A server removed from baton.yaml leaves the catalog; its tools are unknown.
#[tokio::test(flavor = "multi_thread")]
async fn a_removed_server_leaves_the_catalog() {
    let dir = TestDir::new();
    let config = dir.write("baton.yaml", &servers(&[("a", "a"), ("b", "b")]));
    let baton = BatonHttp::start(&config);
    let (client, mut notes) = connect_http(&baton.mcp_url()).await;
    assert!(tool_names(&client).await.iter().any(|t| t == "b__echo"));
    let b_pid = whoami(&client, "b")
        .await
        .split(' ')
        .nth(1)
        .unwrap()
        .to_owned();

    save(&dir, "baton.yaml", &servers(&[("a", "a")]));
    eventually("b's tools to leave tools/list", || async {
        let tools = tool_names(&client).await;
        (!tools.iter().any(|t| t.starts_with("b__"))).then_some(())
    })
    .await;
    let seen = collect_until(&mut notes, RELOAD_LIMIT, |seen| {
        seen.iter().any(|note| note == "tools/list_changed")
    })
    .await;
    assert!(
        seen.iter().any(|note| note == "tools/list_changed"),
        "{seen:?}"
    );
    let mut params = baton_mcp::rmcp::model::CallToolRequestParams::new("b__echo");
    params.arguments = json!({"message": "x"}).as_object().cloned();
    let error = client.peer().call_tool(params).await.unwrap_err();
    assert!(error.to_string().contains("b__echo"), "{error}");
    assert_eq!(
        text_of(&call(&client, "a__echo", json!({"message": "still"})).await),
        "still"
    );
    eventually("the removed server's process to end", || {
        let b_pid = b_pid.clone();
        async move { process_ended(&b_pid).then_some(()) }
    })
    .await;
}

/// A client's private session (`isolation: per_client`) of a changed server is closed by
/// the reload; its next call opens one on the new settings.
#[tokio::test(flavor = "multi_thread")]
async fn per_client_sessions_of_a_changed_server_move_to_the_new_settings() {
    let dir = TestDir::new();
    let private = |id: &str| {
        format!(
            "servers:\n  p:\n    {}\n    isolation: per_client\n",
            fault_server(&["--id", id])
        )
    };
    let config = dir.write("baton.yaml", &private("p1"));
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let before = whoami(&client, "p").await;
    assert!(before.starts_with("p1 "), "{before}");
    assert_eq!(
        whoami(&client, "p").await,
        before,
        "the same private session"
    );

    save(&dir, "baton.yaml", &private("p2"));
    let after = eventually("p to answer as p2", || async {
        let who = whoami(&client, "p").await;
        who.starts_with("p2 ").then_some(who)
    })
    .await;
    assert_ne!(after.split(' ').nth(1), before.split(' ').nth(1));
    let old_pid = before.split(' ').nth(1).unwrap().to_owned();
    eventually("the old private process to end", || {
        let old_pid = old_pid.clone();
        async move { process_ended(&old_pid).then_some(()) }
    })
    .await;
}

/// (d) An invalid edit is rejected with every error, naming the file; serving goes on
/// with the old configuration, and a later valid edit still applies.
#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_edit_is_rejected_and_the_running_config_stays() {
    let dir = TestDir::new();
    let config = dir.write("baton.yaml", &servers(&[("a", "a")]));
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let a_before = whoami(&client, "a").await;
    let rejected = || baton.logs().matches("was edited but not applied").count();

    // A server with neither `command` nor `url`.
    save(
        &dir,
        "baton.yaml",
        &format!("{}  broken:\n    args: [x]\n", servers(&[("a", "a")])),
    );
    eventually("the first rejection", || async {
        (rejected() >= 1).then_some(())
    })
    .await;
    let logs = baton.logs();
    let path = config.display().to_string();
    assert!(logs.contains(&path), "the file is named: {logs}");
    assert!(
        logs.contains("a server needs `command` (a stdio server) or `url`"),
        "{logs}"
    );
    // YAML that does not parse.
    save(&dir, "baton.yaml", "servers:\n  a: [unclosed\n");
    eventually("the second rejection", || async {
        (rejected() >= 2).then_some(())
    })
    .await;
    let tools = tool_names(&client).await;
    assert!(tools.iter().any(|t| t == "a__echo"), "{tools:?}");
    assert!(
        !tools.iter().any(|t| t.starts_with("broken__")),
        "{tools:?}"
    );
    assert_eq!(whoami(&client, "a").await, a_before);
    assert!(!baton.logs().contains("configuration reloaded"));

    // Fixed: applied.
    save(&dir, "baton.yaml", &servers(&[("a", "a"), ("c", "c")]));
    eventually("c's tools after the fix", || async {
        tool_names(&client)
            .await
            .iter()
            .any(|t| t == "c__echo")
            .then_some(())
    })
    .await;
    assert_eq!(whoami(&client, "a").await, a_before);
}

const FIRST: &str = "name: first\ndescription: The first workflow\nsteps:\n  - { id: greet, set: { text: hello } }\n";
const SECOND: &str = "name: second\ndescription: The second workflow\nsteps:\n  - { id: greet, set: { text: hi } }\n";

/// (e) Workflow files added to (or edited in) the workflows folder become tools, even
/// when Baton started without the folder; clients are told.
#[tokio::test(flavor = "multi_thread")]
async fn workflow_files_added_or_edited_become_tools() {
    let dir = TestDir::new();
    let config = dir.write("baton.yaml", &servers(&[("a", "a")]));
    let baton = BatonHttp::start(&config);
    let (client, mut notes) = connect_http(&baton.mcp_url()).await;
    assert!(
        !tool_names(&client)
            .await
            .iter()
            .any(|t| t.starts_with("workflow__"))
    );
    // Drain the start-up notifications.
    while notes.try_recv().is_ok() {}

    // The folder does not exist yet: create it with a workflow in it.
    let staging = dir.path().join("staging");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(staging.join("first.yaml"), FIRST).unwrap();
    std::fs::rename(&staging, dir.path().join("workflows")).unwrap();
    eventually("workflow__first", || async {
        tool_names(&client)
            .await
            .iter()
            .any(|t| t == "workflow__first")
            .then_some(())
    })
    .await;
    let result = call(&client, "workflow__first", json!({})).await;
    let structured = result.structured_content.clone().unwrap();
    assert_eq!(structured["status"], "succeeded", "{structured}");

    // Another file in the (now watched) folder, and an edit of the first.
    save(&dir, "workflows/second.yaml", SECOND);
    save(
        &dir,
        "workflows/first.yaml",
        &FIRST.replace("The first workflow", "The first workflow, edited"),
    );
    eventually("workflow__second and the edited description", || async {
        let tools = client.peer().list_all_tools().await.unwrap();
        let described = |name: &str, text: &str| {
            tools.iter().any(|tool| {
                tool.name == name
                    && tool
                        .description
                        .as_deref()
                        .is_some_and(|d| d.contains(text))
            })
        };
        (described("workflow__second", "The second workflow")
            && described("workflow__first", "edited"))
        .then_some(())
    })
    .await;
    let seen = collect_until(&mut notes, RELOAD_LIMIT, |seen| {
        seen.iter().any(|note| note == "tools/list_changed")
    })
    .await;
    assert!(
        seen.iter().any(|note| note == "tools/list_changed"),
        "{seen:?}"
    );
    // A broken workflow file is rejected like a broken baton.yaml, naming the file.
    save(
        &dir,
        "workflows/third.yaml",
        "name: third\nsteps:\n  - { id: x, tool: nowhere__tool }\n",
    );
    eventually("the rejection of third.yaml", || async {
        baton.logs().contains("third.yaml").then_some(())
    })
    .await;
    let tools = tool_names(&client).await;
    assert!(tools.iter().any(|t| t == "workflow__second"), "{tools:?}");
    assert!(!tools.iter().any(|t| t == "workflow__third"), "{tools:?}");
}
