//! A step whose call a remote upstream runs as a task, across a Baton restart: Baton stops
//! without cancelling the upstream task, and the resumed step follows the same task rather
//! than calling the tool again; when the upstream no longer knows the task (it restarted
//! too), the step calls the tool again. The upstream is the project's fault upstream over
//! streamable HTTP (its tasks outlive sessions; `--journal` records each call it gets).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::*;
use crate::tasks::{ANA, Session, until_terminal};

/// What Baton logs when the upstream made a task of the call.
const CREATED: &str = "the upstream runs the call as a task";

fn config(dir: &TestDir, port: u16) -> std::path::PathBuf {
    dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  jobs:\n    url: http://127.0.0.1:{port}/mcp\n\
             \x20   task_support: optional\n    upstream_task_support: {{ task_job: optional }}\n\
             serve:\n  auth:\n    api_keys:\n      ana: \"{ANA}\"\n\
             tasks:\n  poll_interval: 200ms\n"
        ),
    )
}

/// The upstream task ids Baton logged making, in order (waits until there are `count`).
fn created_tasks(baton: &BatonHttp, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let logs = baton.logs();
        let ids: Vec<String> = logs
            .lines()
            .filter(|line| line.contains(CREATED))
            .filter_map(|line| line.split("task=").nth(1))
            .filter_map(|rest| rest.split_whitespace().next())
            .map(str::to_owned)
            .collect();
        if ids.len() >= count {
            return ids;
        }
        assert!(Instant::now() < deadline, "no upstream task made:\n{logs}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The calls of `task_job` the upstream got, by idempotency key.
fn journal_calls(journal: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(journal)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.strip_prefix("task_job\t"))
        .map(str::to_owned)
        .collect()
}

async fn start_task(baton: &BatonHttp, ms: u64) -> String {
    let mut ana = Session::open(&baton.mcp_url(), ANA, true).await;
    let created = ana
        .request(
            "tools/call",
            json!({"name": "jobs__task_job", "arguments": {"ms": ms}}),
        )
        .await;
    created["result"]["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_step_follows_the_upstream_task_it_made_before_baton_stopped() {
    let dir = TestDir::new();
    let journal = dir.path().join("journal.tsv");
    let journal_arg = journal.display().to_string();
    let (upstream, port) = fault_http(&["--id", "jobs", "--journal", &journal_arg]);
    let config = config(&dir, port);

    // A Baton task over a 4 s upstream task; Baton stops while the upstream works.
    let mut baton = BatonHttp::start(&config);
    let task = start_task(&baton, 4000).await;
    let upstream_task = created_tasks(&baton, 1).remove(0);
    assert!(baton.terminate(Duration::from_secs(20)).success());
    assert!(
        baton.wait_for_log("left the upstream task running"),
        "Baton stopped without cancelling the upstream task:\n{}",
        baton.logs()
    );
    assert!(
        !baton.logs().contains("cancelled the upstream task"),
        "{}",
        baton.logs()
    );

    // The run resumes and its step follows the same upstream task: one call upstream.
    let baton = BatonHttp::start(&config);
    let mut ana = Session::open(&baton.mcp_url(), ANA, true).await;
    let done = until_terminal(&mut ana, &task).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        done["result"]["content"][0]["text"], "slept 4000 as a task",
        "{done}"
    );
    assert!(
        baton.wait_for_log("re-attached to the upstream task"),
        "{}",
        baton.logs()
    );
    let logs = baton.logs();
    let reattached: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("re-attached to the upstream task"))
        .filter_map(|line| line.split("task=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    assert_eq!(reattached, [upstream_task.as_str()], "{logs}");
    assert!(!logs.contains(CREATED), "no new upstream task: {logs}");
    assert_eq!(journal_calls(&journal).len(), 1, "called once upstream");

    // Again, but the upstream restarts too and forgets its tasks: the step calls again,
    // under the same idempotency key.
    let mut baton = baton;
    let second = start_task(&baton, 3000).await;
    created_tasks(&baton, 1);
    assert!(baton.terminate(Duration::from_secs(20)).success());
    drop(upstream);
    let (_upstream, _) = fault_http_on(
        &format!("127.0.0.1:{port}"),
        &["--id", "jobs", "--journal", &journal_arg],
    );
    let baton = BatonHttp::start(&config);
    let mut ana = Session::open(&baton.mcp_url(), ANA, true).await;
    let done = until_terminal(&mut ana, &second).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(
        baton.wait_for_log("the upstream no longer knows the task this step made"),
        "{}",
        baton.logs()
    );
    let calls = journal_calls(&journal);
    assert_eq!(
        calls.len(),
        3,
        "the second task's step called again: {calls:?}"
    );
    assert_eq!(
        calls[1], calls[2],
        "with the same idempotency key: {calls:?}"
    );
}
