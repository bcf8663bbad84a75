//! Test harness: real processes on port 0, real peers from `.peers/` (installed by
//! scripts/install-peers.sh). A missing peer fails the test loudly.

#![allow(dead_code)] // each test module uses a different part of the harness

use std::{
    io::{BufRead, BufReader},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use baton_mcp::rmcp::{
    ClientHandler, RoleClient, ServiceExt,
    model::{CallToolRequestParams, CallToolResult, ClientConfig, Implementation},
    service::{NotificationContext, RunningService},
    transport::{StreamableHttpClientTransport, TokioChildProcess},
};
use serde_json::Value;
use tokio::sync::mpsc as async_mpsc;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

pub fn baton_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_baton"))
}

/// A peer's launcher in `.peers/bin`, or a loud failure.
pub fn peer(name: &str) -> PathBuf {
    let path = repo_root().join(".peers/bin").join(name);
    assert!(
        path.exists(),
        "peer {name} is missing at {}: run scripts/install-peers.sh (scripts/test.sh does)",
        path.display()
    );
    path
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// Waits until something accepts connections on `port` (bounded).
pub fn wait_for_port(port: u16, limit: Duration) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < limit,
            "nothing listened on port {port} within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A scratch directory with a config file in it.
pub struct TestDir {
    pub dir: tempfile::TempDir,
}

impl TestDir {
    pub fn new() -> Self {
        TestDir {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write test file");
        path
    }
}

/// A `baton.yaml` in `dir` with server-everything over stdio as `everything`.
pub fn everything_config(dir: &TestDir) -> PathBuf {
    dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  everything:\n    command: {}\n",
            peer("mcp-server-everything").display()
        ),
    )
}

/// The `command:`/`args:` lines (continuation indented by 4) of the stateful Python test
/// server `tests/clients/counter_server.py`.
pub fn counter_server() -> String {
    format!(
        "command: {}\n    args: [\"{}\"]",
        peer("python").display(),
        repo_root()
            .join("tests/clients/counter_server.py")
            .display()
    )
}

/// The fault-injecting test upstream (crates/baton-testkit), built once per test run with
/// the same cargo and target directory as these tests.
pub fn fault_upstream() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let status = Command::new(env!("CARGO"))
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "baton-testkit",
                    "--bin",
                    "baton-fault-upstream",
                ])
                .current_dir(repo_root())
                .status()
                .expect("run cargo build for baton-fault-upstream");
            assert!(status.success(), "building baton-fault-upstream failed");
            // This test binary is target/<profile>/deps/it-*; the upstream is beside deps/.
            let exe = std::env::current_exe().expect("test binary path");
            let path = exe
                .parent()
                .and_then(Path::parent)
                .expect("target profile dir")
                .join("baton-fault-upstream");
            assert!(
                path.exists(),
                "no baton-fault-upstream at {}",
                path.display()
            );
            path
        })
        .clone()
}

/// `command:` and `args:` lines of a baton.yaml server running the fault upstream.
pub fn fault_server(args: &[&str]) -> String {
    format!(
        "command: {}\n    args: {}",
        fault_upstream().display(),
        serde_json::to_string(args).expect("args as JSON")
    )
}

/// The fault upstream over streamable HTTP on a free port (`--legacy`: with sessions).
pub fn fault_http(args: &[&str]) -> (Proc, u16) {
    fault_http_on("127.0.0.1:0", args)
}

/// The fault upstream over streamable HTTP on `address` (to restart it on the same port).
pub fn fault_http_on(address: &str, args: &[&str]) -> (Proc, u16) {
    let child = Command::new(fault_upstream())
        .args(["--http", address])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start baton-fault-upstream");
    let mut proc = Proc { child };
    let stderr = proc.child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let port = loop {
        let line = lines
            .next()
            .expect("baton-fault-upstream ended before listening")
            .expect("read its stderr");
        if let Some(address) = line.strip_prefix("listening on http://") {
            break address
                .rsplit(':')
                .next()
                .and_then(|port| port.parse().ok())
                .expect("a port in the listening line");
        }
    };
    // Keep draining its stderr so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (proc, port)
}

/// A Python helper of `tests/clients/` that prints "listening on URL" first: (process,
/// URL). `what` names it in the failure message (with the fix when it is missing).
pub fn python_listener(script: &str, what: &str) -> (Proc, String) {
    let mut child = Command::new(peer("python"))
        .arg(repo_root().join("tests/clients").join(script))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|error| panic!("start {what}: {error}"));
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| {
            panic!("{what} said {line:?} (scripts/install-peers.sh installs what it needs)")
        })
        .to_owned();
    (Proc { child }, base)
}

/// A child killed (with its process group) on drop.
pub struct Proc {
    pub child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// server-everything in `streamableHttp` or `sse` mode on a free port.
pub fn everything_http(mode: &str) -> (Proc, u16) {
    let port = free_port();
    let child = Command::new(peer("mcp-server-everything"))
        .arg(mode)
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start server-everything");
    wait_for_port(port, Duration::from_secs(30));
    (Proc { child }, port)
}

/// `baton serve --http 127.0.0.1:0` with `config`, its stderr collected.
pub struct BatonHttp {
    pub proc: Proc,
    pub base: String,
    pub stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl BatonHttp {
    pub fn start(config: &Path) -> Self {
        Self::start_with(config, &[])
    }

    /// With `extra` arguments after the config (e.g. `--log-format json`); the listening
    /// line is found in text and in JSON logs.
    pub fn start_with(config: &Path, extra: &[&str]) -> Self {
        Self::start_env(config, extra, &[])
    }

    /// With these environment variables (after `RUST_LOG=info`, which they may replace:
    /// `warn` for a load of thousands of sessions, as rmcp logs each at info).
    pub fn start_env(config: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(baton_bin())
            .args(["serve", "--http", "127.0.0.1:0", "--config"])
            .arg(config)
            .args(extra)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start baton");
        let stderr = child.stderr.take().expect("stderr");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (found, listening) = mpsc::channel();
        let collected = lines.clone();
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("baton: listening on ").nth(1)
                    && let Some(sender) = found.take()
                {
                    let end = rest.find(['"', ' ']).unwrap_or(rest.len());
                    let _ = sender.send(rest[..end].trim().to_owned());
                }
                collected.lock().unwrap().push(line);
            }
        });
        let base = listening
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("baton did not start: {:?}", lines.lock().unwrap()));
        BatonHttp {
            proc: Proc { child },
            base,
            stderr: lines,
        }
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit.
    pub fn terminate(&mut self, limit: Duration) -> std::process::ExitStatus {
        let pid = self.proc.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid}");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.proc.child.try_wait().expect("wait for baton") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "baton did not exit within {limit:?} of SIGTERM: {}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.base)
    }

    /// The value of the `/metrics` line that starts with `series` (name and labels).
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let metrics = reqwest::get(format!("{}/metrics", self.base))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        metrics
            .lines()
            .find(|line| line.starts_with(series))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse().ok())
    }

    /// `baton_sessions_open` for streamable HTTP.
    pub async fn sessions_open(&self) -> Option<f64> {
        self.metric("baton_sessions_open{transport=\"streamable_http\"}")
            .await
    }

    /// Baton's resident memory now, in kB.
    pub fn rss_kb(&self) -> u64 {
        let pid = self.proc.child.id();
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .expect("baton's /proc status")
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches(" kB").trim().parse().ok())
            .expect("VmRSS")
    }

    pub fn logs(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Whether Baton logged a line containing `needle` within a few seconds (its stderr is
    /// read by another thread, so a line can arrive just after the reply that caused it).
    pub fn wait_for_log(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if self.logs().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A downstream test client that records the notifications it receives.
#[derive(Clone)]
pub struct RecordingClient {
    pub notifications: async_mpsc::UnboundedSender<String>,
}

impl ClientHandler for RecordingClient {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(Default::default(), Implementation::new("baton-tests", "0"))
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.notifications.send("tools/list_changed".to_owned());
    }

    #[allow(deprecated)] // logging is deprecated by SEP-2577; legacy servers still send it
    async fn on_logging_message(
        &self,
        params: baton_mcp::rmcp::model::LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.notifications.send(format!("log:{}", params.data));
    }

    async fn on_resource_updated(
        &self,
        params: baton_mcp::rmcp::model::ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.notifications.send(format!("updated:{}", params.uri));
    }

    async fn on_progress(
        &self,
        params: baton_mcp::rmcp::model::ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let token = match params.progress_token.0 {
            baton_mcp::rmcp::model::NumberOrString::String(text) => text.to_string(),
            baton_mcp::rmcp::model::NumberOrString::Number(number) => number.to_string(),
        };
        let _ = self.notifications.send(format!("progress:{token}"));
    }
}

pub type Client = RunningService<RoleClient, RecordingClient>;

pub fn recording_client() -> (RecordingClient, async_mpsc::UnboundedReceiver<String>) {
    let (notifications, received) = async_mpsc::unbounded_channel();
    (RecordingClient { notifications }, received)
}

/// Connects, then waits until no server is still connecting (Baton answers at once while
/// its servers connect; most tests are about the servers' tools).
pub async fn connect_http(url: &str) -> (Client, async_mpsc::UnboundedReceiver<String>) {
    let (client, received) = connect_http_now(url).await;
    wait_connected(&client).await;
    (client, received)
}

/// Connects without waiting for the servers.
pub async fn connect_http_now(url: &str) -> (Client, async_mpsc::UnboundedReceiver<String>) {
    let (handler, received) = recording_client();
    let client = handler
        .serve(StreamableHttpClientTransport::from_uri(url.to_owned()))
        .await
        .expect("connect to baton over streamable HTTP");
    (client, received)
}

/// Waits until `baton__status` shows no server still connecting (at most 90 s).
pub async fn wait_connected(client: &Client) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let status = status(client).await;
        let connecting: Vec<&String> = status
            .as_object()
            .expect("status by name")
            .iter()
            .filter(|(_, server)| server["state"] == "connecting")
            .map(|(name, _)| name)
            .collect();
        if connecting.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still connecting after 90 s: {connecting:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn connect_stdio(config: &Path) -> (Client, async_mpsc::UnboundedReceiver<String>) {
    let (handler, received) = recording_client();
    let mut command = tokio::process::Command::new(baton_bin());
    command.arg("serve").arg("--config").arg(config);
    let transport = TokioChildProcess::new(command).expect("spawn baton serve");
    let client = handler
        .serve(transport)
        .await
        .expect("connect to baton over stdio");
    wait_connected(&client).await;
    (client, received)
}

/// Collects notifications until `enough` says so or `limit` passes.
pub async fn collect_until(
    received: &mut async_mpsc::UnboundedReceiver<String>,
    limit: Duration,
    enough: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    while !enough(&seen) {
        match tokio::time::timeout_at(deadline, received.recv()).await {
            Ok(Some(item)) => seen.push(item),
            _ => break,
        }
    }
    seen
}

pub async fn call(client: &Client, tool: &str, arguments: Value) -> CallToolResult {
    let mut params = CallToolRequestParams::new(tool.to_owned());
    params.arguments = arguments.as_object().cloned();
    client
        .peer()
        .call_tool(params)
        .await
        .unwrap_or_else(|error| panic!("calling {tool} failed: {error}"))
}

pub fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|content| match content {
            baton_mcp::rmcp::model::ContentBlock::Text(text) => Some(text.text.clone()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub async fn tool_names(client: &Client) -> Vec<String> {
    client
        .peer()
        .list_all_tools()
        .await
        .expect("tools/list")
        .into_iter()
        .map(|tool| tool.name.to_string())
        .collect()
}

/// `baton__status` as JSON, keyed by server name.
pub async fn status(client: &Client) -> Value {
    let result = call(client, "baton__status", serde_json::json!({})).await;
    let report: Value = serde_json::from_str(&text_of(&result)).expect("status is JSON");
    let mut by_name = serde_json::Map::new();
    for server in report["servers"].as_array().expect("servers") {
        by_name.insert(server["name"].as_str().unwrap().to_owned(), server.clone());
    }
    Value::Object(by_name)
}

/// Runs the baton binary to completion.
pub fn run_baton(args: &[&str]) -> std::process::Output {
    Command::new(baton_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run baton")
}

/// A git repository with one commit, for mcp-server-git.
pub fn git_repo(dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args(args)
            .current_dir(&repo)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
            .status()
            .expect("git");
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "-q"]);
    std::fs::write(repo.join("README"), "hello\n").unwrap();
    git(&["add", "README"]);
    git(&["commit", "-q", "-m", "first"]);
    repo
}

/// A fresh database on the PostgreSQL of this machine (`BATON_TEST_POSTGRES_URL`, default
/// `postgres://postgres@127.0.0.1:5432/postgres`), dropped at the end of the test. A test
/// that needs it fails loudly when PostgreSQL is not there.
pub struct Pg {
    db: baton_store::testing::TestDb,
}

impl Pg {
    pub fn new() -> Pg {
        Pg {
            db: tokio_run(baton_store::testing::TestDb::new()),
        }
    }

    pub fn url(&self) -> String {
        self.db.url().to_owned()
    }
}

/// Runs `future` to its end on a runtime of its own (for synchronous tests).
pub fn tokio_run<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

/// The backends the durability tests run on: `(store section of baton.yaml, database)` —
/// SQLite next to baton.yaml (no section), then a fresh PostgreSQL database.
pub fn each_backend() -> Vec<(String, Option<Pg>)> {
    let pg = Pg::new();
    vec![
        (String::new(), None),
        (format!("store:\n  url: \"{}\"\n", pg.url()), Some(pg)),
    ]
}

/// What a streamable HTTP client sends and accepts.
pub const MCP_ACCEPT: &str = "application/json, text/event-stream";

/// An `initialize` without a session (protocol 2025-11-25): (status, the new session's id,
/// the body).
pub async fn mcp_initialize(
    http: &reqwest::Client,
    url: &str,
) -> (reqwest::StatusCode, Option<String>, String) {
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "left", "version": "1"}}
    });
    let response = http
        .post(url)
        .header("Accept", MCP_ACCEPT)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let session = response
        .headers()
        .get("mcp-session-id")
        .map(|id| id.to_str().unwrap().to_owned());
    (status, session, response.text().await.unwrap())
}

/// `body` posted on session `id`.
pub async fn mcp_post(
    http: &reqwest::Client,
    url: &str,
    id: &str,
    body: Value,
) -> reqwest::Response {
    http.post(url)
        .header("Accept", MCP_ACCEPT)
        .header("Mcp-Session-Id", id)
        .header("MCP-Protocol-Version", "2025-11-25")
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The JSON-RPC messages of a streamable HTTP answer, whether it came as one JSON body or
/// as an SSE stream (`data:` lines).
pub fn mcp_messages(body: &str) -> Vec<Value> {
    if let Ok(message) = serde_json::from_str::<Value>(body) {
        return vec![message];
    }
    body.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str(data.trim()).ok())
        .collect()
}

/// The message of a form elicitation a test client receives ("" for another kind).
pub fn elicitation_message(request: baton_mcp::rmcp::model::ElicitRequestParams) -> String {
    match request {
        baton_mcp::rmcp::model::ElicitRequestParams::FormElicitationParams { message, .. } => {
            message
        }
        _ => String::new(),
    }
}

/// A test client's elicitation answer: accepted, with `content`.
pub fn accepted(content: serde_json::Value) -> baton_mcp::rmcp::model::ElicitResult {
    let mut result = baton_mcp::rmcp::model::ElicitResult::new(
        baton_mcp::rmcp::model::ElicitationAction::Accept,
    );
    result.content = Some(content);
    result
}
