//! The dashboard (issue 16): its JSON API over HTTP (auth, access rules, CSRF, paging), and
//! its pages in a real headless Chromium driven by Selenium (`tests/clients/
//! dashboard_check.py`), with server-everything as the upstream and axe-core checking
//! accessibility. Screenshots land in `target/dashboard-screenshots/` (git-ignored).

use std::process::Command;

use serde_json::{Value, json};

use crate::common::*;

const ADMIN_KEY: &str = "admin-key-0123456789abcdefghij";
const VIEWER_KEY: &str = "viewer-key-0123456789abcdefghi";

/// Workflows the browser scenarios start: a 3 s sleep between two calls, a failing call,
/// an approval, and a long sleep to cancel.
const WORKFLOWS: &str = r#"
workflows:
  definitions:
    slow:
      steps:
        - id: first
          tool: everything__echo
          args: {message: one}
        - id: pause
          needs: [first]
          sleep: 3s
        - id: last
          needs: [pause]
          tool: everything__echo
          args: {message: two}
    failing:
      steps:
        - id: bad
          tool: everything__get-sum
          args: {a: "not a number", b: 1}
    gated:
      steps:
        - id: ask
          approval: {prompt: "Ship it?"}
        - id: after
          needs: [ask]
          set: {shipped: true}
    long:
      steps:
        - id: wait
          sleep: 10m
    leaf:
      steps:
        - id: only
          set: {leaf: true}
    parent:
      steps:
        - id: child
          workflow: leaf
"#;

fn config(dir: &TestDir) -> std::path::PathBuf {
    dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  everything:\n    command: {}\n    args: [stdio]\n  broken:\n    command: sh\n    args: [\"-c\", \"echo broken-server-says-goodbye >&2; exit 3\"]\n    resilience: {{restart: {{initial_delay: 10m}}}}\nserve:\n  auth:\n    api_keys:\n      admin: \"{ADMIN_KEY}\"\n      viewer: \"{VIEWER_KEY}\"\naccess:\n  - who: [admin]\n    allow: [\"*\"]\n  - who: [viewer]\n    allow: [\"baton__*\", \"workflow__slow\"]\n{WORKFLOWS}",
            peer("mcp-server-everything").display()
        ),
    )
}

/// `GET base+path` with the admin's key, as JSON.
async fn admin_get(http: &reqwest::Client, url: String) -> Value {
    http.get(url)
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn python() -> std::path::PathBuf {
    let python = peer("python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/install-peers.sh",
        python.display()
    );
    python
}

/// The API refuses what it should, before any browser: no credentials → 401 (the shell is
/// public and holds no data); a browser session's change without the CSRF header → 403;
/// the viewer's view hides the server it may not use; runs page with a cursor.
#[tokio::test(flavor = "multi_thread")]
async fn the_api_is_guarded_and_paged() {
    let dir = TestDir::new();
    let baton = BatonHttp::start(&config(&dir));
    let http = reqwest::Client::new();
    let base = baton.base.clone();

    let shell = http.get(format!("{base}/ui/runs")).send().await.unwrap();
    assert_eq!(shell.status(), 200);
    assert!(shell.text().await.unwrap().contains("/ui/assets/app.js"));
    let refused = http
        .get(format!("{base}/api/servers"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert!(refused.headers().contains_key("www-authenticate"));

    // Sign in as a browser would; the cookie alone reads, a change needs the CSRF token.
    let wrong = http
        .post(format!("{base}/api/session"))
        .json(&json!({"credential": "not-a-key"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let signed = http
        .post(format!("{base}/api/session"))
        .json(&json!({"credential": ADMIN_KEY}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 200);
    let cookies: Vec<String> = signed
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    let cookie = cookies.join("; ");
    assert!(cookie.contains("baton_session="), "{cookie}");
    let csrf = signed.json::<Value>().await.unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_owned();
    let servers: Value = http
        .get(format!("{base}/api/servers"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(servers["servers"].as_array().unwrap().len(), 2, "{servers}");
    let start = |with_csrf: bool| {
        let mut request = http
            .post(format!("{base}/api/runs"))
            .header("cookie", &cookie)
            .json(&json!({"workflow": "gated"}));
        if with_csrf {
            request = request.header("x-csrf-token", &csrf);
        }
        request.send()
    };
    assert_eq!(start(false).await.unwrap().status(), 403);
    for _ in 0..3 {
        let started = start(true).await.unwrap();
        assert_eq!(started.status(), 200);
        let body: Value = started.json().await.unwrap();
        assert!(body["run"].is_string(), "{body}");
    }
    // Paging with a bearer key (a script): two pages of two and one.
    let page: Value = admin_get(&http, format!("{base}/api/runs?workflow=gated&limit=2")).await;
    assert_eq!(page["runs"].as_array().unwrap().len(), 2, "{page}");
    let next = page["next"].as_str().expect("a next cursor");
    let rest: Value = admin_get(
        &http,
        format!("{base}/api/runs?workflow=gated&limit=2&before={next}"),
    )
    .await;
    assert_eq!(rest["runs"].as_array().unwrap().len(), 1, "{rest}");
    assert!(rest["next"].is_null());

    // A sub-workflow step links to its child run.
    let parent: Value = http
        .post(format!("{base}/api/runs"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"workflow": "parent"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let parent = parent["run"].as_str().expect("a run id").to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let shown = loop {
        let shown: Value = admin_get(&http, format!("{base}/api/runs/{parent}")).await;
        if shown["status"] == "succeeded" {
            break shown;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the parent run did not finish: {shown}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let child = shown["steps"]["child"]["child_run"]
        .as_str()
        .unwrap_or_else(|| panic!("no child_run: {shown}"));
    let child: Value = admin_get(&http, format!("{base}/api/runs/{child}")).await;
    assert_eq!(child["workflow"], "leaf");
    assert_eq!(child["parent_run"], json!(parent));

    // The viewer: no everything, no gated runs, a 404 for what it may not see.
    let viewer = |path: &str| {
        http.get(format!("{base}{path}"))
            .bearer_auth(VIEWER_KEY)
            .send()
    };
    let servers: Value = viewer("/api/servers").await.unwrap().json().await.unwrap();
    assert!(
        servers["servers"].as_array().unwrap().is_empty(),
        "{servers}"
    );
    assert_eq!(
        viewer("/api/servers/everything").await.unwrap().status(),
        404
    );
    let runs: Value = viewer("/api/runs").await.unwrap().json().await.unwrap();
    assert!(runs["runs"].as_array().unwrap().is_empty(), "{runs}");
    let workflows: Value = viewer("/api/workflows")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(workflows["workflows"].as_array().unwrap().len(), 1);
    let gated_run = page["runs"][0]["id"].as_str().unwrap();
    assert_eq!(
        viewer(&format!("/api/runs/{gated_run}"))
            .await
            .unwrap()
            .status(),
        404
    );
    let no_key_logged = !baton.logs().contains(ADMIN_KEY) && !baton.logs().contains(&csrf);
    assert!(no_key_logged, "a key or CSRF token reached the log");
}

/// Every browser scenario of the issue, in headless Chromium.
#[test]
fn the_dashboard_works_in_a_real_browser() {
    for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        assert!(
            std::path::Path::new(tool).exists(),
            "{tool} is missing: scripts/install-peers.sh installs Debian's chromium and chromium-driver"
        );
    }
    let axe = repo_root().join(".peers/axe/node_modules/axe-core/axe.min.js");
    assert!(
        axe.exists(),
        "{} is missing: run scripts/install-peers.sh",
        axe.display()
    );
    let dir = TestDir::new();
    let baton = BatonHttp::start(&config(&dir));
    let shots = repo_root().join("target/dashboard-screenshots");
    let output = Command::new(python())
        .arg(repo_root().join("tests/clients/dashboard_check.py"))
        .args([&baton.base, ADMIN_KEY, VIEWER_KEY])
        .arg(&axe)
        .arg(&shots)
        .output()
        .expect("run the browser check");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = [
        "overview_shows_ready_and_failed_servers",
        "console_calls_get_sum_and_shows_42",
        "dag_goes_live_without_reload",
        "failing_step_shows_its_error",
        "approval_button_finishes_the_run",
        "cancel_button_cancels",
        "runs_list_filters",
        "pages_fit_1280_and_390_and_pass_axe",
        "keyboard_alone_runs_a_tool_and_opens_a_step",
        "csrf_is_required_for_changes",
        "viewer_does_not_see_the_server",
    ];
    for name in expected {
        assert!(
            stdout.lines().any(|line| line == format!("PASS {name}")),
            "scenario {name} did not pass:\n{stdout}\n{stderr}\nbaton:\n{}",
            baton.logs()
        );
    }
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        !baton.logs().contains(ADMIN_KEY) && !baton.logs().contains(VIEWER_KEY),
        "a key reached the log"
    );
}
