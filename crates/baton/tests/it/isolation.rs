//! Shared versus per-client upstream sessions, list-changed relaying, and process-group
//! clean-up of stdio servers.

use std::{path::Path, time::Duration};

use serde_json::json;

use crate::common::*;

fn counter_config(dir: &TestDir, isolation: &str) -> std::path::PathBuf {
    dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  counter:\n    {counter}\n    isolation: {isolation}\n",
            counter = counter_server()
        ),
    )
}

fn count_and_pid(text: &str) -> (u64, u32) {
    let mut parts = text.split_whitespace();
    let count = parts
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("bad reply {text}"));
    let pid = parts
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("bad reply {text}"));
    (count, pid)
}

fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| stat.contains(") Z "))
}

async fn wait_until_gone(pid: u32) -> bool {
    for _ in 0..100 {
        if !process_alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn shared_servers_serve_every_client_from_one_process() {
    let dir = TestDir::new();
    let baton = BatonHttp::start(&counter_config(&dir, "shared"));
    let (first, _) = connect_http(&baton.mcp_url()).await;
    let (second, _) = connect_http(&baton.mcp_url()).await;
    let (count_a, pid_a) = count_and_pid(&text_of(&call(&first, "counter__bump", json!({})).await));
    let (count_b, pid_b) =
        count_and_pid(&text_of(&call(&second, "counter__bump", json!({})).await));
    assert_eq!(pid_a, pid_b, "one process serves both clients");
    assert_eq!((count_a, count_b), (1, 2));
}

#[tokio::test(flavor = "multi_thread")]
async fn per_client_servers_get_their_own_process_closed_when_the_client_leaves() {
    let dir = TestDir::new();
    let baton = BatonHttp::start(&counter_config(&dir, "per_client"));
    let (first, _) = connect_http(&baton.mcp_url()).await;
    let (second, _) = connect_http(&baton.mcp_url()).await;
    let (count_a, pid_a) = count_and_pid(&text_of(&call(&first, "counter__bump", json!({})).await));
    let (count_a2, pid_a2) =
        count_and_pid(&text_of(&call(&first, "counter__bump", json!({})).await));
    let (count_b, pid_b) =
        count_and_pid(&text_of(&call(&second, "counter__bump", json!({})).await));
    assert_eq!(pid_a, pid_a2, "a client keeps its own session");
    assert_ne!(pid_a, pid_b, "each client gets its own process");
    assert_eq!(
        (count_a, count_a2, count_b),
        (1, 2, 1),
        "no state leaks between clients"
    );

    // The client leaves (DELETE of its session): its private process is stopped.
    first.cancel().await.expect("close the first client");
    assert!(
        wait_until_gone(pid_a).await,
        "per-client process {pid_a} still runs after its client left"
    );
    assert!(
        process_alive(pid_b),
        "the other client's process must keep running"
    );
}

/// server-everything registers more tools after `initialized` and announces them with
/// `notifications/tools/list_changed`: Baton refreshes its catalog and tells its clients.
#[tokio::test(flavor = "multi_thread")]
async fn upstream_list_changed_reaches_connected_clients() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  everything:\n    command: {}\n    isolation: per_client\n",
            peer("mcp-server-everything").display()
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, mut notifications) = connect_http(&baton.mcp_url()).await;
    let names = tool_names(&client).await;
    assert!(names.contains(&"everything__echo".to_owned()), "{names:?}");
    // The first call opens this client's own everything session, whose list_changed
    // right after initialize must be relayed to us.
    call(&client, "everything__echo", json!({"message": "x"})).await;
    let seen = collect_until(&mut notifications, Duration::from_secs(20), |seen| {
        seen.iter().any(|n| n == "tools/list_changed")
    })
    .await;
    assert!(
        seen.iter().any(|n| n == "tools/list_changed"),
        "no list_changed relayed: {seen:?}"
    );
}

/// Stopping Baton stops every stdio server's whole process group, including the
/// grandchildren that wrappers such as npx or uvx leave behind.
#[tokio::test(flavor = "multi_thread")]
async fn stdio_servers_are_stopped_with_their_grandchildren() {
    let dir = TestDir::new();
    let pid_file = dir.path().join("grandchild.pid");
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  wrapped:\n    command: sh\n    args: [\"-c\", \"sleep 600 & echo $! > {}; exec {}\"]\n",
            pid_file.display(),
            peer("mcp-server-everything").display()
        ),
    );
    let (client, _) = connect_stdio(&config).await;
    let names = tool_names(&client).await;
    assert!(names.contains(&"wrapped__echo".to_owned()), "{names:?}");
    let grandchild: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(process_alive(grandchild));
    // Closing stdin ends `baton serve`, which stops the upstream's process group.
    client.cancel().await.expect("close baton");
    assert!(
        wait_until_gone(grandchild).await,
        "grandchild {grandchild} outlived Baton"
    );
}

/// Upstream stderr is logged line by line, tagged with the server name.
#[tokio::test(flavor = "multi_thread")]
async fn upstream_stderr_is_logged_with_the_server_name() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  noisy:\n    command: sh\n    args: [\"-c\", \"echo stderr-marker-42 >&2; exec {}\"]\n",
            peer("mcp-server-everything").display()
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    tool_names(&client).await;
    baton.wait_for_log("stderr-marker-42");
    let logs = baton.logs();
    let line = logs
        .lines()
        .find(|line| line.contains("stderr-marker-42"))
        .unwrap_or_else(|| panic!("stderr line not logged:\n{logs}"));
    assert!(
        line.contains("noisy"),
        "stderr line not tagged with the server: {line}"
    );
}
