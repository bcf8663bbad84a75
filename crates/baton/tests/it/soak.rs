//! Soak (issue 19): 10,000 streamable HTTP sessions opened and abandoned against
//! `baton serve --http`, with a short `serve.sessions.idle_timeout` and a
//! `serve.sessions.max` the load reaches. While the cap is reached a new session is
//! refused (429 naming the setting); a well-behaved client, using its own session all
//! along, is never refused nor fails; once the abandoned sessions expired,
//! `baton_sessions_open` is back to 0 and Baton's memory back near what it was before.
//! Loopback only; every wait polls with a bounded deadline.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::json;

use crate::common::*;

/// Sessions opened and abandoned.
const SESSIONS: usize = 10_000;
/// `serve.sessions.max`.
const CAP: usize = 200;
/// Tasks opening sessions at once.
const OPENERS: usize = 8;
/// How far above its resting size Baton may stay once the load is gone. Measured (debug
/// build, this test, a loaded 2-core machine): with mimalloc's run-time defaults, resting
/// 105–109 MB, peaks of 116–121 MB, and after expiry anywhere from 97.5 MB to 8 MB above
/// resting, as the allocator kept freed pages. Baton's own settings (arena memory committed
/// on demand, `.cargo/config.toml`; the allocator nudged to purge after sessions close,
/// `downstream/parking.rs`) make RSS follow what Baton holds without any environment
/// variable. The bound catches any per-session leak (10,000 sessions × even 1 kB = 10 MB; a
/// live rmcp session is ~100 kB).
const RSS_SLACK_KB: u64 = 8 * 1024;

/// What the openers saw.
#[derive(Default)]
struct Tally {
    opened: AtomicUsize,
    refused: AtomicUsize,
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_abandoned_sessions_expire_the_cap_holds_and_a_good_client_works() {
    let dir = TestDir::new();
    // 8 openers at a few hundred sessions a second, each session living 2 s: the cap of
    // 200 is reached again and again (measured: 3,620 and 12,577 refusals in two runs).
    let config = dir.write(
        "baton.yaml",
        &format!("serve:\n  sessions:\n    max: {CAP}\n    idle_timeout: 2s\n"),
    );
    // No allocator settings from the environment: Baton's own must give memory back.
    let baton = BatonHttp::start_env(&config, &[], &[("RUST_LOG", "warn")]);
    let url = baton.mcp_url();
    let http = reqwest::Client::new();
    let (good, _) = connect_http(&url).await;
    let done = Arc::new(AtomicBool::new(false));
    let well_behaved = tokio::spawn(keep_listing(good, done.clone()));

    // A first wave brings the allocator and the runtime to their working size before the
    // resting size is taken; it stays under the cap and is closed.
    let mut warm_up = Vec::new();
    for _ in 0..CAP / 2 {
        let (status, session, body) = mcp_initialize(&http, &url).await;
        assert!(status.is_success(), "{status} {body}");
        warm_up.push(session.expect("a session id"));
    }
    for session in warm_up {
        let closed = http
            .delete(&url)
            .header("Mcp-Session-Id", &session)
            .send()
            .await;
        assert!(closed.unwrap().status().is_success());
    }
    wait_until_open(&baton, 1.0).await;
    let resting = baton.rss_kb();

    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let openers: Vec<_> = (0..OPENERS)
        .map(|_| tokio::spawn(open_and_abandon(http.clone(), url.clone(), tally.clone())))
        .collect();
    let mut peak = resting;
    for opener in openers {
        while !opener.is_finished() {
            peak = peak.max(baton.rss_kb());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        opener.await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let answered = well_behaved.await.expect("the well-behaved client");
    let refused = tally.refused.load(Ordering::SeqCst);
    eprintln!(
        "soak: {SESSIONS} sessions in {:?}, {refused} refused at the cap, {answered} answers to \
         the well-behaved client; RSS resting {resting} kB, peak {peak} kB",
        started.elapsed()
    );
    assert_eq!(tally.opened.load(Ordering::SeqCst), SESSIONS);
    assert!(refused > 0, "the cap of {CAP} was never reached");
    assert!(answered > 0, "the well-behaved client was never answered");
    let refusals = baton
        .metric("baton_sessions_refused_total{cap=\"global\"}")
        .await;
    assert_eq!(refusals, Some(refused as f64));

    // Everything expires; the memory goes back to near its resting size.
    wait_until_open(&baton, 0.0).await;
    let bound = resting + RSS_SLACK_KB;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rss = baton.rss_kb();
        if rss <= bound {
            eprintln!("soak: RSS after expiry {rss} kB (resting {resting} kB)");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "RSS stayed at {rss} kB after expiry, over {bound} kB (resting {resting} kB, peak {peak} kB)"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The well-behaved client: lists the tools on its own session, one request after another,
/// until `done`; every answer must come. Returns how many came.
async fn keep_listing(good: Client, done: Arc<AtomicBool>) -> usize {
    let mut answered = 0usize;
    while !done.load(Ordering::SeqCst) {
        let tools = good.peer().list_all_tools().await;
        let tools = tools.unwrap_or_else(|error| {
            panic!("the well-behaved client failed after {answered} answers: {error}")
        });
        assert!(tools.iter().any(|tool| tool.name == "baton__status"));
        answered += 1;
    }
    good.cancel().await.ok();
    answered
}

/// Opens sessions until [`SESSIONS`] were opened by all openers together, each finishing
/// its handshake and then left alone (it expires after `idle_timeout`). A refusal must be
/// the cap's 429; the opener then tries again.
async fn open_and_abandon(http: reqwest::Client, url: String, tally: Arc<Tally>) {
    let deadline = Instant::now() + Duration::from_secs(240);
    while tally.opened.load(Ordering::SeqCst) < SESSIONS {
        assert!(
            Instant::now() < deadline,
            "{SESSIONS} sessions not opened in time"
        );
        let (status, session, body) = mcp_initialize(&http, &url).await;
        if status == 429 {
            assert!(body.contains("serve.sessions.max"), "{body}");
            tally.refused.fetch_add(1, Ordering::SeqCst);
            // Places free up as sessions expire: try again shortly.
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        assert!(status.is_success(), "{status} {body}");
        let session = session.expect("a session id");
        if tally.opened.fetch_add(1, Ordering::SeqCst) >= SESSIONS {
            // Opened by two openers at once: this one is one too many, closed at once.
            http.delete(&url)
                .header("Mcp-Session-Id", &session)
                .send()
                .await
                .unwrap();
            tally.opened.fetch_sub(1, Ordering::SeqCst);
            break;
        }
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let done = mcp_post(&http, &url, &session, initialized).await;
        assert!(done.status().is_success(), "{done:?}");
    }
}

/// Waits (bounded) until `baton_sessions_open` for streamable HTTP is `open`.
async fn wait_until_open(baton: &BatonHttp, open: f64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = baton.sessions_open().await;
        if now == Some(open) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "baton_sessions_open stayed at {now:?}, not {open}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
