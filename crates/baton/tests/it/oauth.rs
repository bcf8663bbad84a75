//! OAuth end to end with a real authorization server (the npm package oidc-provider,
//! `tests/clients/oidc_provider.mjs`) and a real browser (headless Chromium driven by
//! Selenium, `tests/clients/oauth_browser.py`, filling the provider's sign-in and consent
//! pages):
//! - outbound: a Baton whose remote server needs OAuth waits in `needs_login`, `baton auth
//!   login` signs in through the browser, the running `baton serve` picks the tokens up and
//!   calls through; the client credentials grant needs no browser; `baton auth status` and
//!   `logout`; no token in any log line or output;
//! - inbound: `mcp-remote` (the bridge desktop hosts use) signs in to `baton serve` through
//!   the same provider and calls a tool.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::common::*;

/// oidc-provider on a free loopback port, issuing JWT access tokens that live
/// `token_ttl` seconds for any `http://127.0.0.1:` resource: (process, issuer URL).
fn provider(token_ttl: u32) -> (Proc, String) {
    let script = repo_root().join("tests/clients/oidc_provider.mjs");
    let mut child = Command::new(peer("node"))
        .arg(&script)
        .env("OAUTH_PEERS", repo_root().join(".peers/oauth"))
        .env("RESOURCE_PREFIX", "http://127.0.0.1:")
        .env("TOKEN_TTL", token_ttl.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start oidc-provider (scripts/install-peers.sh installs it)");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    // Keep reading: a closed pipe would end the provider at its next line.
    std::thread::spawn(move || for _ in stdout.lines() {});
    let issuer = line
        .trim()
        .strip_prefix("issuer ")
        .unwrap_or_else(|| panic!("oidc-provider said {line:?}: run scripts/install-peers.sh"))
        .to_owned();
    (Proc { child }, issuer)
}

/// `baton serve` protected by the provider (JWTs checked against its JWKS), in front of
/// server-everything.
fn protected_baton(dir: &TestDir, issuer: &str) -> BatonHttp {
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    let config = dir.write(
        "a/baton.yaml",
        &format!(
            "servers:\n  everything:\n    command: {}\nserve:\n  auth:\n    jwt:\n      issuer: {issuer}\n      jwks_url: {issuer}/jwks\n    authorization_servers: [{issuer}]\n    scopes_supported: [mcp:tools]\n",
            peer("mcp-server-everything").display()
        ),
    );
    BatonHttp::start(&config)
}

/// The authorization URL in a line a signer printed, if it is there.
fn authorization_url(line: &str) -> Option<String> {
    let at = line.find("http://127.0.0.1:")?;
    line[at..]
        .contains("/auth?")
        .then(|| line[at..].trim().to_owned())
}

/// The browser signs in at `url` as `login` (and lands on the signer's redirect).
fn browse(url: &str, login: &str, printed: &[String]) {
    let browser = Command::new(peer("python"))
        .arg(repo_root().join("tests/clients/oauth_browser.py"))
        .arg(url)
        .arg(login)
        .output()
        .expect("run the browser (selenium + chromium from scripts/install-peers.sh)");
    assert!(
        browser.status.success(),
        "the browser did not complete the sign-in: {}\n{}\nthe signer printed: {printed:#?}",
        String::from_utf8_lossy(&browser.stdout),
        String::from_utf8_lossy(&browser.stderr)
    );
}

/// Runs the browser on the authorization URL a sign-in prints to `stderr` (read line by
/// line until it appears); returns every line read.
fn sign_in_with_browser(stderr: impl std::io::Read + Send + 'static, login: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut lines = BufReader::new(stderr).lines();
    let url = loop {
        let Some(Ok(line)) = lines.next() else {
            panic!("the sign-in printed no authorization URL: {seen:#?}");
        };
        seen.push(line.clone());
        if let Some(url) = authorization_url(&line) {
            break url;
        }
    };
    browse(&url, login, &seen);
    // Keep reading so the signer never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    seen
}

/// Access-token lifetime in the outbound test (rmcp refreshes when less than half is left).
const TOKEN_TTL: u32 = 10;

/// The stored credentials document of `server`.
async fn stored(store: &baton_store::Store, server: &str) -> Value {
    let row = store
        .oauth_credentials(server)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no credentials stored for {server}"));
    serde_json::from_str(&row.credentials).unwrap()
}

async fn server_state(client: &Client, server: &str) -> Value {
    status(client).await[server].clone()
}

async fn wait_for_state(client: &Client, server: &str, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let entry = server_state(client, server).await;
        if entry["state"] == state {
            return entry;
        }
        assert!(
            Instant::now() < deadline,
            "{server} never reached {state}: {entry}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn baton_signs_in_to_a_remote_server_through_a_real_provider_and_browser() {
    // Short-lived access tokens: the test sees one refreshed before it expires.
    let (_provider, issuer) = provider(TOKEN_TTL);
    let dir = TestDir::new();
    let remote = protected_baton(&dir, &issuer);
    std::fs::create_dir_all(dir.path().join("b")).unwrap();
    let config = dir.write(
        "b/baton.yaml",
        &format!(
            "servers:\n  remote:\n    url: {url}\n    auth: oauth\n  m2m:\n    url: {url}\n    auth:\n      oauth: {{ grant: client_credentials, client_id: baton-m2m, client_secret: m2m-secret-0123456789abcdef, scopes: [mcp:tools] }}\n",
            url = remote.mcp_url()
        ),
    );
    let cfg = config.to_str().unwrap();
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    // No token yet: the server waits for a sign-in (no reconnect loop); the machine client
    // signed in alone.
    let waiting = wait_for_state(&client, "remote", "needs_login").await;
    assert!(
        waiting["error"]
            .as_str()
            .is_some_and(|e| e.contains("baton auth login remote")),
        "{waiting}"
    );
    assert_eq!(waiting["login"], "baton auth login remote", "{waiting}");
    wait_for_state(&client, "m2m", "ready").await;
    let db = dir.path().join("b/.baton/baton.db");
    let store = baton_store::Store::open(&db, 1024).await.unwrap();
    let m2m_first = stored(&store, "m2m").await["token_response"]["access_token"].clone();

    // A person signs in (the browser fills the provider's pages).
    let mut login = Command::new(baton_bin())
        .args(["auth", "login", "remote", "--config", cfg])
        .env_remove("DISPLAY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start baton auth login");
    let printed = sign_in_with_browser(login.stderr.take().unwrap(), "alice");
    let output = login.wait_with_output().expect("baton auth login");
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{said} {printed:?}");
    assert!(said.contains("signed in to \"remote\""), "{said}");

    // The running serve picks the tokens up and calls through with them.
    wait_for_state(&client, "remote", "ready").await;
    let echoed = call(
        &client,
        "remote__everything__echo",
        json!({"message": "signed in"}),
    )
    .await;
    assert_eq!(text_of(&echoed), "Echo: signed in");
    let machine = call(&client, "m2m__everything__echo", json!({"message": "m2m"})).await;
    assert_eq!(text_of(&machine), "Echo: m2m");

    let status_out = run_baton(&["auth", "status", "--json", "--config", cfg]);
    assert!(status_out.status.success(), "{status_out:?}");
    let status: Value = serde_json::from_slice(&status_out.stdout).unwrap();
    let entry = |name: &str| {
        status["servers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["server"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} missing: {status}"))
    };
    assert_eq!(entry("remote")["state"], "signed_in", "{status}");
    assert_eq!(entry("remote")["grant"], "authorization_code", "{status}");
    assert!(
        entry("remote")["scopes"].to_string().contains("mcp:tools"),
        "{status}"
    );
    assert_eq!(entry("m2m")["grant"], "client_credentials", "{status}");

    // The tokens are in the store (owner-only file), and in no log line or output.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&db).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", db.display());
    }
    let first = stored(&store, "remote").await;
    let token = first["token_response"]["access_token"]
        .as_str()
        .expect("an access token is stored")
        .to_owned();
    assert!(token.len() > 20);
    assert!(
        first["token_response"]["refresh_token"].is_string(),
        "a refresh token is kept: {}",
        first["token_response"]["expires_in"]
    );

    // Past half its life the access token is refreshed before use, and the call goes on.
    let received = first["token_received_at"].as_u64().unwrap();
    let refresh_from = received + u64::from(TOKEN_TTL / 2) + 1;
    while baton_store::now_ms() as u64 / 1000 < refresh_from {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let later = call(
        &client,
        "remote__everything__echo",
        json!({"message": "later"}),
    )
    .await;
    assert_eq!(text_of(&later), "Echo: later");
    let refreshed = stored(&store, "remote").await;
    let new_token = refreshed["token_response"]["access_token"]
        .as_str()
        .unwrap();
    assert!(new_token != token, "the access token was not refreshed");
    assert!(refreshed["token_received_at"].as_u64().unwrap() >= refresh_from);
    // A client-credentials token has no refresh token: past half its life a new one is
    // exchanged instead (by this call, or by the session's own requests before it).
    let machine = call(
        &client,
        "m2m__everything__echo",
        json!({"message": "again"}),
    )
    .await;
    assert_eq!(text_of(&machine), "Echo: again");
    let m2m_later = stored(&store, "m2m").await["token_response"]["access_token"].clone();
    assert!(
        m2m_first != m2m_later,
        "the machine token was not exchanged again"
    );
    let everything = [
        baton.logs(),
        remote.logs(),
        said,
        printed.join("\n"),
        String::from_utf8_lossy(&status_out.stdout).into_owned(),
    ]
    .join("\n");
    for secret in [token.as_str(), new_token] {
        assert!(
            !everything.contains(secret),
            "an access token appears in a log or an output"
        );
    }
    let refresh_token = refreshed["token_response"]["refresh_token"]
        .as_str()
        .unwrap();
    assert!(
        !everything.contains(refresh_token),
        "the refresh token appears in a log"
    );

    let out = run_baton(&["auth", "logout", "remote", "--config", cfg]);
    assert!(out.status.success(), "{out:?}");
    assert!(store.oauth_credentials("remote").await.unwrap().is_none());
    let again = run_baton(&["auth", "logout", "remote", "--config", cfg]);
    assert_eq!(again.status.code(), Some(2), "{again:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn mcp_remote_signs_in_to_baton_serve_through_a_real_provider() {
    use baton_mcp::rmcp::{ServiceExt, transport::TokioChildProcess};
    let (_provider, issuer) = provider(3600);
    let dir = TestDir::new();
    let baton = protected_baton(&dir, &issuer);
    let callback_port = free_port();
    let mut command = tokio::process::Command::new(peer("mcp-remote"));
    command
        .arg(baton.mcp_url())
        .arg(callback_port.to_string())
        // mcp-remote keeps its tokens here (not in the home folder).
        .env("MCP_REMOTE_CONFIG_DIR", dir.path().join("mcp-remote"))
        .env_remove("DISPLAY");
    let (transport, stderr) = TokioChildProcess::builder(command)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mcp-remote (scripts/install-peers.sh installs it)");
    let stderr = stderr.expect("mcp-remote's stderr");
    // mcp-remote signs in before it answers `initialize`: connect in the background.
    let connecting = tokio::spawn(async move { ().serve(transport).await });
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stderr));
    let mut printed = Vec::new();
    let url = loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("mcp-remote printed no authorization URL: {printed:#?}"))
            .unwrap()
            .unwrap_or_else(|| panic!("mcp-remote ended: {printed:#?}"));
        printed.push(line.clone());
        if let Some(url) = authorization_url(&line) {
            break url;
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let seen = printed.clone();
    tokio::task::spawn_blocking(move || browse(&url, "bob", &seen))
        .await
        .unwrap();
    let client = tokio::time::timeout(Duration::from_secs(60), connecting)
        .await
        .unwrap_or_else(|_| panic!("mcp-remote never connected: {printed:#?}"))
        .unwrap()
        .unwrap_or_else(|error| panic!("mcp-remote: {error}; {printed:#?}"));
    let tools = client.peer().list_all_tools().await.unwrap();
    assert!(
        tools.iter().any(|t| t.name == "everything__echo"),
        "{:?}",
        tools.iter().map(|t| &t.name).collect::<Vec<_>>()
    );
    let mut params =
        baton_mcp::rmcp::model::CallToolRequestParams::new("everything__echo".to_owned());
    params.arguments = json!({"message": "via mcp-remote"}).as_object().cloned();
    let result = client.peer().call_tool(params).await.unwrap();
    assert_eq!(text_of(&result), "Echo: via mcp-remote");
    // Baton saw a verified token for the provider's user, and logged no token.
    assert!(
        !baton.logs().contains("eyJ"),
        "a JWT appears in Baton's log:\n{}",
        baton.logs()
    );
    let _ = client.cancel().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_signs_in_through_the_authorization_server() {
    let (_provider, issuer) = provider(3600);
    let dir = TestDir::new();
    let baton = protected_baton(&dir, &issuer);
    let base = baton.base.clone();
    // A browser at /ui/login: "Sign in with the authorization server", the provider's
    // pages, and back on the dashboard with a session for the provider's user.
    let browser = tokio::task::spawn_blocking(move || {
        Command::new(peer("python"))
            .arg(repo_root().join("tests/clients/oauth_browser.py"))
            .args(["--dashboard", &base, "carol"])
            .output()
            .expect("run the browser")
    })
    .await
    .unwrap();
    let said = String::from_utf8_lossy(&browser.stdout).into_owned();
    assert!(
        browser.status.success(),
        "{said}\n{}\n{}",
        String::from_utf8_lossy(&browser.stderr),
        baton.logs()
    );
    let session: Value = serde_json::from_str(said.trim())
        .unwrap_or_else(|error| panic!("/api/session said {said:?}: {error}"));
    assert_eq!(session["principal"], "carol", "{session}");
    assert!(
        baton.wait_for_log("signed in through the authorization server"),
        "{}",
        baton.logs()
    );
    // A callback nobody started is refused.
    let forged = reqwest::get(format!(
        "{}/api/session/oauth/callback?code=x&state=nobody",
        baton.base
    ))
    .await
    .unwrap();
    assert_eq!(forged.status(), 400);
    assert!(
        !baton.logs().contains("eyJ"),
        "a JWT appears in Baton's log"
    );
}
