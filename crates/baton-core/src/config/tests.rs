use std::{path::Path, time::Duration};

use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "TOKEN" => Some("s3cret".into()),
        "ROOT" => Some("/srv".into()),
        _ => None,
    }
}

pub(crate) fn parse_ok(text: &str) -> Config {
    match parse(Path::new("baton.yaml"), text, &env) {
        Ok(config) => config,
        Err(errors) => panic!("expected a valid config, got:\n{errors}"),
    }
}

pub(crate) fn parse_err(text: &str) -> Vec<ConfigError> {
    match parse(Path::new("baton.yaml"), text, &env) {
        Ok(config) => panic!("expected errors, got {config:?}"),
        Err(errors) => errors.0,
    }
}

#[test]
fn baton_yaml_servers_compile() {
    let config = parse_ok(
        r#"
servers:
  files:
    command: mcp-server-filesystem
    args: ["${ROOT}/data"]
    env: { LOG: "${LEVEL:-warn}" }
    isolation: per_client
    tools:
      allow: ["read_*", "list_*"]
      deny: ["*_media_*"]
    rename: { read_text_file: read }
  docs:
    url: http://127.0.0.1:3101/mcp
    headers: { Authorization: "Bearer ${TOKEN}" }
  old:
    url: http://127.0.0.1:3102/sse
    transport: sse
"#,
    );
    assert_eq!(config.servers.len(), 3);
    let files = config.server("files").unwrap();
    let TransportConfig::Stdio(stdio) = &files.transport else {
        panic!("files is stdio")
    };
    assert_eq!(stdio.args, vec!["/srv/data"]);
    assert_eq!(stdio.env["LOG"], "warn");
    assert_eq!(files.isolation, Isolation::PerClient);
    assert!(files.tools.permits("read_text_file"));
    assert!(!files.tools.permits("read_media_file"));
    assert!(!files.tools.permits("write_file"));
    assert_eq!(files.rename["read_text_file"], "read");
    let TransportConfig::Http(docs) = &config.server("docs").unwrap().transport else {
        panic!("docs is http")
    };
    assert_eq!(docs.headers["Authorization"], "Bearer s3cret");
    assert_eq!(docs.protocol, HttpProtocol::Auto);
    let TransportConfig::Http(old) = &config.server("old").unwrap().transport else {
        panic!("old is http")
    };
    assert_eq!(old.protocol, HttpProtocol::Sse);
}

#[test]
fn claude_desktop_json_is_accepted_as_is() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/claude_desktop_config.json"
    ))
    .unwrap();
    let config = parse(Path::new("claude_desktop_config.json"), &text, &|name| {
        (name == "DOCS_TOKEN").then(|| "t".to_owned())
    })
    .unwrap();
    let names: Vec<_> = config.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["everything", "time", "remote-docs", "legacy-sse"]);
    let TransportConfig::Http(remote) = &config.server("remote-docs").unwrap().transport else {
        panic!("remote-docs is http")
    };
    assert_eq!(remote.protocol, HttpProtocol::StreamableHttp);
    assert_eq!(remote.headers["Authorization"], "Bearer t");
}

#[test]
fn every_error_is_reported_at_once_with_positions() {
    let errors = parse_err(
        r#"servers:
  a:
    command: x
    url: http://h/mcp
  b:
    args: [y]
  c:
    url: "http://h/${MISSING}"
  d:
    command: z
    isolation: sometimes
    tools: { allow: ["[oops"] }
  baton:
    command: q
"#,
    );
    let rendered: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let all = rendered.join("\n");
    assert!(errors.len() >= 6, "{all}");
    assert!(all.contains("baton.yaml:4:"), "{all}");
    assert!(
        all.contains("servers.a: a server has either `command`"),
        "{all}"
    );
    assert!(all.contains("servers.b: a server needs `command`"), "{all}");
    assert!(
        all.contains("servers.c.url: environment variable MISSING is not set"),
        "{all}"
    );
    assert!(
        all.contains("servers.d.isolation: unknown isolation \"sometimes\""),
        "{all}"
    );
    assert!(all.contains("servers.d.tools.allow[0]: bad glob"), "{all}");
    assert!(all.contains("reserved for Baton's built-in tools"), "{all}");
    let missing = errors.iter().find(|e| e.path == "servers.c.url").unwrap();
    assert_eq!((missing.line, missing.column), (8, 10));
}

#[test]
fn unknown_fields_and_syntax_errors_point_at_the_line() {
    let errors = parse_err("servers:\n  a:\n    command: x\n    comand: y\n");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 4, "{}", errors[0]);
    assert!(errors[0].message.contains("comand"), "{}", errors[0]);

    let errors = parse_err("servers: [unclosed\n");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].line >= 1, "{}", errors[0]);
}

#[test]
fn empty_file_is_the_builtin_only_config() {
    let config = parse_ok("");
    assert!(config.servers.is_empty());
    assert_eq!(config.namespace.separator, "__");
    assert_eq!(config.serve.http, DEFAULT_HTTP_ADDR);
}

#[test]
fn separator_and_serve_section_are_validated() {
    let config = parse_ok(
        "namespace: { separator: \"-\" }\nserve: { http: \"127.0.0.1:9000\", max_body_bytes: 2048 }\n",
    );
    assert_eq!(config.namespace.separator, "-");
    assert_eq!(config.serve.http, "127.0.0.1:9000");
    assert_eq!(config.serve.max_body_bytes, 2048);
    let errors = parse_err("namespace: { separator: \".\" }\nserve: { http: nowhere }\n");
    assert_eq!(errors.len(), 2, "{errors:?}");
}

#[test]
fn structural_errors_in_several_servers_are_all_reported() {
    let errors = parse_err(
        "servers:\n  a:\n    command: x\n    comand: y\n  b:\n    url: http://h/mcp\n    headers: [oops]\n  c:\n    command: z\n",
    );
    let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 2, "{all:?}");
    assert!(
        all[0].starts_with(
            "baton.yaml:4:5: servers.a.comand: unknown field \"comand\" (known here: command,"
        ),
        "{all:?}"
    );
    assert!(
        all[1].starts_with("baton.yaml:7:5: servers.b.headers: expected a map"),
        "{all:?}"
    );
}

#[test]
fn resilience_defaults_merge_per_server_and_per_tool() {
    let config = parse_ok(
        r#"
resilience:
  timeout: 20s
  restart: { initial_delay: 100ms, max_crashes: 3 }
servers:
  plain:
    command: a
  slow:
    command: b
    resilience:
      timeout: 2m
      max_timeout: 1h
      retry: { attempts: 5, initial_delay: 50ms }
      tools:
        build: { timeout: 10m, retry: never, fallback: [backup__build] }
      degrade: hide
"#,
    );
    let plain = &config.server("plain").unwrap().resilience;
    assert_eq!(plain.timeouts.idle, Duration::from_secs(20));
    assert_eq!(plain.timeouts.total, Duration::from_secs(600));
    assert_eq!(plain.restart.initial_delay, Duration::from_millis(100));
    assert_eq!(plain.restart.max_crashes, 3);
    let slow = &config.server("slow").unwrap().resilience;
    assert_eq!(slow.timeouts_for("other").idle, Duration::from_secs(120));
    assert_eq!(slow.timeouts_for("build").idle, Duration::from_secs(600));
    assert_eq!(slow.timeouts_for("build").total, Duration::from_secs(3600));
    assert_eq!(
        slow.restart.max_crashes, 3,
        "top-level restart settings are inherited"
    );
    assert_eq!(slow.retry.attempts, 5);
    assert_eq!(slow.retry.initial_delay, Duration::from_millis(50));
    assert_eq!(slow.retry_mode_for("build"), RetryMode::Never);
    assert_eq!(slow.retry_mode_for("other"), RetryMode::Auto);
    assert_eq!(plain.retry.attempts, 3);
    assert_eq!(slow.degrade, Degrade::Hide);
    assert_eq!(plain.degrade, Degrade::FailFast);
    assert_eq!(
        slow.tool_fallbacks["build"],
        vec!["backup__build".to_owned()]
    );

    let errors = parse_err(
        "resilience:\n  timeout: soon\n  max_timeout: 1s\nservers:\n  a:\n    command: x\n    resilience:\n      restart: { max_crashes: 0 }\n",
    );
    let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 3, "{all:?}");
    assert!(
        all[0].contains("resilience.timeout: \"soon\" is not a duration"),
        "{all:?}"
    );
    // 1s is shorter than the default 60s per-call timeout.
    assert!(
        all[1].contains("resilience.max_timeout: max_timeout must not be shorter"),
        "{all:?}"
    );
    assert!(
        all[2].contains("servers.a.resilience.restart.max_crashes: must be at least 1"),
        "{all:?}"
    );
}

#[test]
fn durations_parse() {
    use super::compile::parse_duration;
    assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
    assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
    assert_eq!(parse_duration("1.5m"), Some(Duration::from_secs(90)));
    assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
    assert_eq!(parse_duration("45"), Some(Duration::from_secs(45)));
    assert_eq!(parse_duration("soon"), None);
    assert_eq!(parse_duration("5 days"), None);
}

#[test]
fn replicas_are_for_stdio_servers() {
    let config =
        parse_ok("servers:\n  pool:\n    command: x\n    replicas: 3\n  one:\n    command: y\n");
    assert_eq!(config.server("pool").unwrap().replicas, 3);
    assert_eq!(config.server("one").unwrap().replicas, 1);
    let errors = parse_err(
        "servers:\n  a:\n    url: http://h/mcp\n    replicas: 2\n  b:\n    command: x\n    replicas: 0\n",
    );
    let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 2, "{all:?}");
    assert!(
        all[0].contains("servers.a.replicas: replicas apply to stdio servers"),
        "{all:?}"
    );
    assert!(
        all[1].contains("servers.b.replicas: must be at least 1"),
        "{all:?}"
    );
}

#[test]
fn urls_make_a_pool_of_remote_replicas() {
    let config = parse_ok("servers:\n  docs:\n    urls: [\"http://a/mcp\", \"http://b/mcp\"]\n");
    let docs = config.server("docs").unwrap();
    assert_eq!(docs.replicas, 2);
    let TransportConfig::Http(second) = &docs.for_replica(1).transport else {
        panic!("http")
    };
    assert_eq!(second.url, "http://b/mcp");
    let errors = parse_err(
        "servers:\n  d:\n    url: http://a/mcp\n    urls: [\"http://b/mcp\"]\n  e:\n    urls: [\"http://a/mcp\", \"ftp://b\"]\n",
    );
    let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 2, "{all:?}");
    assert!(
        all[0].contains("servers.d.urls: a server has `url` or `urls`, not both"),
        "{all:?}"
    );
    assert!(all[1].contains("servers.e.urls[1]"), "{all:?}");
}

#[test]
fn tools_can_have_their_own_breaker_and_retry_tool_errors() {
    let config = parse_ok(
        r#"
servers:
  git:
    command: a
    resilience:
      breaker: { failures: 4, open_for: 20s }
      retry: { on_tool_error: true }
      tools:
        push: { breaker: { failures: 2 }, retry_on_error: false }
        status: { retry_on_error: true }
        log: { breaker: { enabled: false } }
"#,
    );
    let git = &config.server("git").unwrap().resilience;
    let push = git.tool_breakers["push"];
    assert_eq!(push.failures, 2);
    assert_eq!(
        push.open_for,
        Duration::from_secs(20),
        "the server's breaker settings are the tool's defaults"
    );
    assert!(!git.tool_breakers.contains_key("log"));
    assert!(!git.retry_on_error_for("push"));
    assert!(git.retry_on_error_for("status"));
    assert!(
        git.retry_on_error_for("other"),
        "the server's on_tool_error"
    );

    let errors = parse_err(
        "servers:\n  a:\n    command: x\n    resilience:\n      tools:\n        t: { breaker: { failures: 0, failure_rate: 2 } }\n",
    );
    let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 2, "{all:?}");
    assert!(
        all[0].contains("servers.a.resilience.tools.t.breaker.failures: must be at least 1"),
        "{all:?}"
    );
    assert!(
        all[1].contains("servers.a.resilience.tools.t.breaker.failure_rate"),
        "{all:?}"
    );
}

#[test]
fn concurrency_can_limit_each_replica() {
    let config = parse_ok(
        "servers:\n  a:\n    command: x\n    replicas: 3\n    resilience:\n      concurrency: { max: 12, queue: 5, per_replica: 4 }\n",
    );
    let concurrency = config.server("a").unwrap().resilience.concurrency;
    assert_eq!(
        (
            concurrency.max_in_flight,
            concurrency.max_queued,
            concurrency.per_replica
        ),
        (12, 5, Some(4))
    );
    let errors = parse_err(
        "servers:\n  a:\n    command: x\n    resilience:\n      concurrency: { per_replica: 0 }\n",
    );
    assert!(
        errors[0]
            .to_string()
            .contains("servers.a.resilience.concurrency.per_replica: must be at least 1"),
        "{errors:?}"
    );
}

#[test]
fn schedules_and_triggers_compile_with_their_policies() {
    let config = parse_ok(
        r#"
servers:
  git: { command: mcp-server-git }
schedules:
  nightly:
    cron: "0 2 * * *"
    timezone: Europe/Paris
    tool: git__git_status
    args: { repo_path: . }
    overlap: buffer_all
    catch_up: all
    catch_up_window: 2d
    pause_on_failure: true
    jitter: 30s
  weekdays:
    every: 10m
    days: [mon, tue, wed, thu, fri]
    start: 2026-01-05 08:00
    until: 2026-12-31
    mode: architect
    task: Review open work
triggers:
  git-down:
    on: server_down
    match: { server: git }
    tool: git__git_status
    cooldown: 5m
  hook:
    webhook: { secret: "${TOKEN}-and-more-characters", auth: hmac }
    tool: git__git_status
events: { keep: 500, keep_for: 1d }
"#,
    );
    let nightly = &config.schedules[0];
    assert_eq!(nightly.overlap, crate::schedule::Overlap::BufferAll);
    assert_eq!(nightly.catch_up, crate::schedule::CatchUp::All);
    assert_eq!(nightly.catch_up_window, Duration::from_secs(2 * 86_400));
    assert!(nightly.pause_on_failure);
    assert_eq!(nightly.timetable.jitter, Duration::from_secs(30));
    assert_eq!(nightly.timetable.timezone, chrono_tz::Europe::Paris);
    let weekdays = &config.schedules[1];
    assert_eq!(weekdays.overlap, crate::schedule::Overlap::Skip, "default");
    assert_eq!(
        weekdays.catch_up,
        crate::schedule::CatchUp::Latest,
        "default"
    );
    assert_eq!(weekdays.timetable.days.as_ref().map(Vec::len), Some(5));
    let down = &config.triggers[0];
    assert_eq!(down.cooldown, Duration::from_secs(300));
    let mut data = serde_json::Map::new();
    data.insert("server".into(), "git".into());
    assert!(down.matches(crate::schedule::EventKind::ServerDown, &data));
    data.insert("server".into(), "other".into());
    assert!(!down.matches(crate::schedule::EventKind::ServerDown, &data));
    match &config.triggers[1].source {
        crate::schedule::TriggerSource::Webhook(hook) => {
            assert_eq!(hook.secret, "s3cret-and-more-characters");
            assert_eq!(
                hook.auth,
                crate::schedule::HookAuth::Hmac {
                    header: "X-Baton-Signature".into()
                }
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(config.events.keep, 500);
}

#[test]
fn bad_schedules_and_triggers_are_all_reported_with_positions() {
    let errors = parse_err(
        r#"
schedules:
  a:
    every: 10 minutes
    tool: x__y
    overlap: sometimes
  b:
    cron: "* * *"
    timezone: Mars/Olympus
    days: [funday]
  c:
    every: 1m
    at: 2026-01-01
    workflow: w
    tool: t
triggers:
  t1:
    on: server_exploded
    tool: x__y
  t2:
    webhook: { secret: short }
    tool: x__y
  t3:
    files: { paths: [] }
"#,
    );
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let all = text.join("\n");
    for expected in [
        "baton.yaml:4:5: schedules.a.every: \"10 minutes\" is not a duration",
        "schedules.a.overlap: \"sometimes\" is not an overlap policy",
        "schedules.b.cron: \"* * *\" is not a cron pattern",
        "schedules.b.timezone: unknown time zone \"Mars/Olympus\"",
        "schedules.b.days[0]: \"funday\" is not a weekday",
        "schedules.b.workflow: nothing to start",
        "schedules.c.every: give only one of every:, cron: and at:",
        "schedules.c.workflow: give only one of workflow:, tool: and mode:",
        "triggers.t1.on: unknown event type \"server_exploded\"",
        "triggers.t2.webhook.secret: is shorter than 16 characters",
        "triggers.t3.files.paths: is empty",
        "triggers.t3.workflow: nothing to start",
    ] {
        assert!(all.contains(expected), "missing {expected:?} in\n{all}");
    }
}

#[test]
fn schedule_targets_must_exist() {
    let mut config = parse_ok(
        r#"
servers:
  git: { command: mcp-server-git }
workflows:
  definitions:
    report:
      inputs: { repo: { type: string, required: true } }
      steps: [{ id: s, set: { r: "{{ inputs.repo }}" } }]
schedules:
  a: { every: 1h, workflow: reprot }
  b: { every: 1h, workflow: report }
  c: { every: 1h, tool: gti__status }
"#,
    );
    config.workflows.dir = std::path::PathBuf::from("/nonexistent/baton-test-workflows");
    let errors = load_workflow_dir(&mut config).unwrap_err().0;
    let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let all = all.join("\n");
    assert!(
        all.contains("schedules.a.workflow: unknown workflow \"reprot\" (workflows: report)"),
        "{all}"
    );
    assert!(
        all.contains("schedules.b.workflow: input \"repo\" is required"),
        "{all}"
    );
    assert!(all.contains("schedules.c.tool: tool \"gti__status\" is not server__tool of a configured server (servers: git)"), "{all}");
}

#[test]
fn builtin_tool_sections_compile() {
    let config = parse_ok(
        r#"
project: { root: "${ROOT}/app", max_read_bytes: 2048 }
memory: { default: notes, max_lines: 50, sections: [Log, Ideas], log_section: Log, memories: { big: { max_lines: 1000 } } }
validation:
  commands:
    test: { run: cargo test --quiet, timeout: 5m, description: The test suite }
    lint: { run: cargo clippy, cwd: sub }
modes:
  import: ../../tests/fixtures/roo/.roomodes
  definitions:
    planning-analysis:
      role_definition: You plan.
      groups: [read, mcp]
      executor: { tool: agents__run, prompt_argument: message }
"#,
    );
    assert_eq!(config.project.root, Path::new("/srv/app"));
    assert_eq!(config.project.max_read_bytes, 2048);
    assert_eq!(config.memory.default, "notes");
    assert_eq!(config.memory.sections, ["Log", "Ideas"]);
    assert_eq!(config.memory.shape("notes").max_lines, 50, "the defaults");
    assert_eq!(config.memory.shape("big").max_lines, 1000);
    assert_eq!(config.memory.shape("big").sections, ["Log", "Ideas"]);
    assert_eq!(config.validation[0].timeout, Duration::from_secs(300));
    assert_eq!(config.validation[1].cwd, Path::new("/srv/app/sub"));
    let slugs: Vec<&str> = config.modes.iter().map(|m| m.slug.as_str()).collect();
    assert_eq!(
        slugs,
        [
            "implementation-core",
            "validation-static",
            "planning-analysis"
        ],
        "the file's modes, then baton.yaml's (replacing the imported one)"
    );
    assert_eq!(
        config.mode("planning-analysis").unwrap().role_definition,
        "You plan."
    );

    let errors = parse_err(
        "memory: { sections: [A], log_section: B }\nmodes:\n  import: nowhere.yaml\n  definitions:\n    x: { groups: [fly] }\n",
    );
    let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let all = all.join("\n");
    for expected in [
        "memory.log_section: \"B\" is not one of memory.sections (A)",
        "modes.import: cannot read nowhere.yaml",
        "modes.definitions.x.role_definition: is missing",
        "modes.definitions.x.groups[0]: unknown tool group \"fly\"",
    ] {
        assert!(all.contains(expected), "{expected}\n{all}");
    }
}

#[test]
fn trigger_spellings_users_reach_for_are_accepted() {
    let config = parse_ok(
        r#"
servers:
  git: { command: mcp-server-git }
triggers:
  a: { event: Server Down, filter: { server: git }, tool: git__git_status, debounce: 1m }
  b: { type: circuit.opened, tool: git__git_status }
  c: { files: { paths: [src], globs: ["*.rs"] }, tool: git__git_status }
"#,
    );
    let kinds: Vec<_> = config.triggers.iter().map(|t| t.filter().0).collect();
    assert_eq!(
        kinds,
        [
            crate::schedule::EventKind::ServerDown,
            crate::schedule::EventKind::CircuitOpened,
            crate::schedule::EventKind::FileChanged
        ]
    );
    assert_eq!(config.triggers[0].cooldown, Duration::from_secs(60));
    assert_eq!(config.triggers[0].filter().1["server"], "git");
    assert_eq!(
        crate::schedule::EventKind::parse("ServerQuarantined"),
        Some(crate::schedule::EventKind::ServerQuarantined)
    );
}

#[test]
fn a_roomodes_file_next_to_the_config_is_imported_without_saying_so() {
    let dir = std::env::temp_dir().join(format!("baton-roomodes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/roo/.roomodes"),
        dir.join(".roomodes"),
    )
    .unwrap();
    let config = parse(&dir.join("baton.yaml"), "", &env).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(config.modes.len(), 3);
    assert!(config.mode("validation-static").is_some());
}

#[test]
fn message_limits_and_connect_waits_are_read_globally_and_per_server() {
    let config = parse_ok(
        "max_message_bytes: 8MiB\nresilience: { connect_wait: 2s, connect_timeout: 10s }\nservers:\n  a:\n    command: a\n  b:\n    command: b\n    max_message_bytes: 32MiB\n    resilience: { connect_wait: 500ms }\n",
    );
    let a = &config.servers[0].resilience;
    assert_eq!(a.max_message_bytes, 8 * 1024 * 1024);
    assert_eq!(a.connect_wait, std::time::Duration::from_secs(2));
    assert_eq!(a.connect_timeout, std::time::Duration::from_secs(10));
    let b = &config.servers[1].resilience;
    assert_eq!(b.max_message_bytes, 32 * 1024 * 1024);
    assert_eq!(b.connect_wait, std::time::Duration::from_millis(500));
    let errors: Vec<String> =
        parse_err("servers:\n  a:\n    command: a\n    max_message_bytes: lots\n")
            .iter()
            .map(ToString::to_string)
            .collect();
    let errors = errors.join("\n");
    assert!(errors.contains("servers.a.max_message_bytes"), "{errors}");
    assert!(errors.contains("is not a size"), "{errors}");
}

#[test]
fn the_store_is_sqlite_by_default_postgres_by_url_and_the_env_wins() {
    let config = parse_ok("servers: {}\n");
    assert_eq!(config.store.url, None);
    assert!(config.store.path.ends_with(".baton/baton.db"));
    assert_eq!(config.workers.max_runs, None);
    assert_eq!(config.workers.lease, DEFAULT_LEASE);

    let config = parse_ok(
        "store: { url: \"postgres://baton:${TOKEN}@db:5432/baton\" }\nworkers: { max_runs: 4, lease: 5s, poll: 500ms }\n",
    );
    assert_eq!(
        config.store.url.as_deref(),
        Some("postgres://baton:s3cret@db:5432/baton")
    );
    assert_eq!(config.workers.max_runs, Some(4));
    assert_eq!(config.workers.lease, Duration::from_secs(5));
    assert_eq!(config.workers.poll, Duration::from_millis(500));

    let from_env = |name: &str| {
        (name == STORE_URL_ENV).then(|| "postgres://root@127.0.0.1:5432/other".to_owned())
    };
    let config = parse(
        Path::new("baton.yaml"),
        "store: { path: state.db }\n",
        &from_env,
    )
    .unwrap();
    assert_eq!(
        config.store.url.as_deref(),
        Some("postgres://root@127.0.0.1:5432/other")
    );
}

#[test]
fn a_bad_store_or_workers_section_is_reported_where_it_is() {
    let errors = parse_err("store:\n  path: a.db\n  url: postgres://db/baton\n");
    assert!(
        errors[0].message.contains("not both") && errors[0].line == 3,
        "{errors:?}"
    );
    let errors = parse_err("store:\n  url: mysql://u:pw@db/baton\n");
    assert_eq!(errors[0].path, "store.url");
    assert!(
        errors[0].message.contains("postgres://USER@HOST"),
        "{errors:?}"
    );
    assert!(!errors[0].message.contains("pw"), "{errors:?}");
    let errors = parse_err("workers:\n  max_runs: 0\n  lease: 100ms\n");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].path, "workers.max_runs");
    assert_eq!(errors[1].path, "workers.lease");
}

#[test]
fn serve_auth_keeps_key_hashes_and_reports_bad_settings_where_they_are() {
    let config = parse_ok(
        "serve:\n  auth:\n    api_keys:\n      alice: \"${TOKEN}-long-enough-key\"\n      bot: \"sha256:9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08\"\n    jwt:\n      issuer: https://login.example\n      jwks_file: keys.json\n",
    );
    let auth = config.serve.auth.unwrap();
    assert_eq!(
        auth.api_keys,
        vec![
            ("alice".to_owned(), sha256_hex(b"s3cret-long-enough-key")),
            (
                "bot".to_owned(),
                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_owned()
            ),
        ]
    );
    let jwt = auth.jwt.unwrap();
    assert_eq!(jwt.roles_claim, "roles");
    assert_eq!(jwt.algorithms, ["RS256", "ES256", "EdDSA"]);
    assert!(matches!(jwt.jwks, JwksSource::File(path) if path.ends_with("keys.json")));

    let errors = parse_err(
        "serve:\n  auth:\n    api_keys:\n      short: \"abc\"\n      bad: \"sha256:xyz\"\n    jwt:\n      jwks_url: http://x/jwks\n      jwks_file: k.json\n      algorithms: [none, HS256]\n",
    );
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert!(paths.contains(&"serve.auth.api_keys.short"), "{errors:?}");
    assert!(paths.contains(&"serve.auth.api_keys.bad"), "{errors:?}");
    assert!(paths.contains(&"serve.auth.jwt"), "{errors:?}");
    let errors = parse_err(
        "serve:\n  auth:\n    jwt:\n      issuer: https://i\n      jwks_url: http://x/jwks\n      algorithms: [none]\n",
    );
    assert_eq!(errors[0].path, "serve.auth.jwt.algorithms[0]", "{errors:?}");
    assert!(errors[0].message.contains("never none"), "{errors:?}");
    let errors = parse_err(
        "serve:\n  auth:\n    api_keys: { a: \"0123456789abcdef0\" }\n    limits: { calls_per_minute: 0 }\n",
    );
    assert_eq!(
        errors[0].path, "serve.auth.limits.calls_per_minute",
        "{errors:?}"
    );
}

#[test]
fn servers_are_required_unless_said_or_disabled_and_logging_format_is_checked() {
    let config = parse_ok(
        "logging: { format: JSON }\nservers:\n  a: { command: a }\n  b: { command: b, required: false }\n  c: { command: c, disabled: true }\n",
    );
    let required: Vec<bool> = config.servers.iter().map(|s| s.required).collect();
    assert_eq!(required, [true, false, false]);
    assert_eq!(config.logging.format, LogFormat::Json);
    let mut relaxed = config.servers[0].clone();
    relaxed.required = false;
    assert!(
        config.servers[0].connects_like(&relaxed),
        "required alone never reconnects"
    );
    let errors = parse_err("logging:\n  format: yaml\n");
    assert_eq!(
        (errors[0].line, errors[0].path.as_str()),
        (2, "logging.format")
    );
}
