//! No hang on the call path (issue 12): a server hung in its handshake holds no call to
//! another server.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_server_hung_in_its_handshake_holds_no_call_to_another_server() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  hung:\n    command: python3\n    args: [\"-c\", \"import time; time.sleep(120)\"]\n  fault:\n    command: {}\n",
            fault_upstream().display()
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    assert!(
        baton.wait_for_log("upstream ready server=fault"),
        "{}",
        baton.logs()
    );
    let started = Instant::now();
    let echoed = call(&client, "fault__echo", json!({"message": "through"})).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "fault__echo took {:?} while hung was connecting",
        started.elapsed()
    );
    assert_eq!(text_of(&echoed), "through");
    assert!(
        !baton.logs().contains("upstream ready server=hung"),
        "{}",
        baton.logs()
    );
    client.cancel().await.ok();
}
