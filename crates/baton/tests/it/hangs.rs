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
            "servers:\n  hung:\n    command: python3\n    args: [\"-c\", \"import time; time.sleep(3600)\"]\n  fault:\n    command: {}\n",
            fault_upstream().display()
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let started = Instant::now();
    let mut servers = status(&client).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "baton__status took {:?}",
        started.elapsed()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while servers["fault"]["state"] != "ready" {
        assert!(Instant::now() < deadline, "fault never ready: {servers}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        servers = status(&client).await;
    }
    assert_eq!(servers["hung"]["state"], "connecting", "{servers}");
    let started = Instant::now();
    let echoed = call(&client, "fault__echo", json!({"message": "through"})).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "fault__echo took {:?} while hung was connecting",
        started.elapsed()
    );
    assert_eq!(text_of(&echoed), "through");
    client.cancel().await.ok();
}
