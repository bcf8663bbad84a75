//! The two sides of a comparison: a client connected directly to the echo upstream, and
//! one connected through `baton serve` (stdio, or streamable HTTP with the upstream over
//! HTTP or stdio).

use std::{path::Path, process::Stdio, time::Duration};

use anyhow::{Context, bail};
use rmcp::{
    RoleClient, ServiceExt,
    model::{JsonObject, ProtocolVersion},
    service::{ClientLifecycleMode, ClientServiceExt, RunningService},
    transport::{StreamableHttpClientTransport, TokioChildProcess},
};
use tokio::process::Command;

use crate::{
    Args, HttpUpstream, Paths, Protocol, Transport, call_once, configs,
    configs::yaml_string,
    procs::{self, HttpProcess},
};

pub(crate) type Client = RunningService<RoleClient, ()>;

/// One side of the comparison: a connected client and the processes behind it.
pub(crate) struct Target {
    pub(crate) tool: &'static str,
    pub(crate) client: Client,
    /// Processes whose CPU time is charged to this target's calls.
    pub(crate) cpu_pids: Vec<(&'static str, u32)>,
    /// `baton serve --http`, when this target runs one.
    pub(crate) process: Option<HttpProcess>,
}

impl Target {
    pub(crate) async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(10), self.client.cancel()).await;
        if let Some(process) = self.process {
            process.stop().await;
        }
    }
}

fn lifecycle(protocol: Protocol) -> ClientLifecycleMode {
    match protocol {
        Protocol::Legacy => ClientLifecycleMode::Initialize,
        Protocol::Modern => ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
    }
}

async fn connect_stdio(
    command: Command,
    stderr: Stdio,
    protocol: Protocol,
) -> anyhow::Result<(Client, u32)> {
    let (transport, _) = TokioChildProcess::builder(command).stderr(stderr).spawn()?;
    let pid = transport.id().context("the child has no pid")?;
    let client = match protocol {
        Protocol::Legacy => ().serve(transport).await?,
        Protocol::Modern => ().serve_with_lifecycle(transport, lifecycle(protocol)).await?,
    };
    Ok((client, pid))
}

pub(crate) async fn connect_http(
    base: &str,
    protocol: Protocol,
    bearer: Option<String>,
) -> anyhow::Result<Client> {
    let mut config =
        rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
            format!("{base}/mcp"),
        );
    if let Some(token) = bearer {
        config = config.auth_header(token);
    }
    // Connections kept and reused, as the official TypeScript and Python clients do (rmcp's
    // default client opens a new TCP connection for every request, which would make every
    // gateway measured here pay a connection set-up per call).
    let pooled = reqwest::Client::builder()
        .build()
        .context("building the HTTP client")?;
    let transport = StreamableHttpClientTransport::with_client(pooled, config);
    Ok(match protocol {
        Protocol::Legacy => ().serve(transport).await?,
        Protocol::Modern => ().serve_with_lifecycle(transport, lifecycle(protocol)).await?,
    })
}

fn baton_command(paths: &Paths, args: &Args, config: &Path, http: bool) -> Command {
    let mut command = Command::new(&paths.baton);
    command.arg("serve").arg("--config").arg(config);
    if http {
        command.arg("--http").arg("127.0.0.1:0");
    }
    command.env_remove("RUST_LOG");
    if let Some(filter) = &args.baton_log {
        command.env("RUST_LOG", filter);
    }
    command
}

/// Sets up direct and Baton targets for one transport and protocol. Returns them and, for
/// HTTP, the shared echo server both use.
pub(crate) async fn setup(
    transport: Transport,
    protocol: Protocol,
    paths: &Paths,
    args: &Args,
    temp: &Path,
) -> anyhow::Result<(Target, Target, Option<HttpProcess>)> {
    let tag = format!("{}-{}", transport.label(), protocol.short());
    match transport {
        Transport::Stdio => setup_stdio(protocol, paths, args, temp, &tag).await,
        Transport::Http => setup_http(protocol, paths, args, temp, &tag).await,
    }
}

/// Over stdio: the upstream spawned by the client (direct) and by Baton.
async fn setup_stdio(
    protocol: Protocol,
    paths: &Paths,
    args: &Args,
    temp: &Path,
    tag: &str,
) -> anyhow::Result<(Target, Target, Option<HttpProcess>)> {
    let me = std::process::id();
    let (program, echo_args): (&Path, Vec<String>) = match &args.upstream_command {
        Some(command) => (command, args.upstream_arg.clone()),
        None => {
            let mut echo_args = vec!["--stdio".to_owned()];
            if args.echo_blocking_stdio {
                echo_args.push("--blocking-stdio".into());
            }
            if args.echo_legacy {
                echo_args.push("--legacy".into());
            }
            (&paths.echo, echo_args)
        }
    };
    let mut echo = Command::new(program);
    echo.args(&echo_args);
    let (client, echo_pid) = connect_stdio(echo, Stdio::null(), protocol)
        .await
        .context("connecting directly to the echo upstream over stdio")?;
    let direct = Target {
        tool: "echo",
        client,
        cpu_pids: vec![("client", me), ("upstream", echo_pid)],
        process: None,
    };
    let config = temp.join(format!("baton-{tag}.yaml"));
    std::fs::write(
        &config,
        format!(
            "{}{}servers:\n  echo:\n    command: {}\n    args: [{}]\n    replicas: {}\n",
            args.resilience.yaml(),
            configs::telemetry_yaml(args.no_metrics, args.otlp.as_deref(), args.sample_ratio),
            yaml_string(&program.to_string_lossy()),
            echo_args
                .iter()
                .map(|arg| yaml_string(arg))
                .collect::<Vec<_>>()
                .join(", "),
            args.replicas
        ),
    )?;
    let log = std::fs::File::create(temp.join(format!("baton-{tag}.log")))?;
    let (client, baton_pid) = connect_stdio(
        baton_command(paths, args, &config, false),
        log.into(),
        protocol,
    )
    .await
    .context("connecting to `baton serve` over stdio")?;
    let mut baton = Target {
        tool: "echo__echo",
        client,
        cpu_pids: vec![("client", me), ("baton", baton_pid)],
        process: None,
    };
    // Wait for the upstream (list_tools waits until upstreams settle), then find it.
    adopt_upstream(&mut baton, baton_pid, "calling through baton (stdio)").await?;
    Ok((direct, baton, None))
}

/// Over streamable HTTP: one echo server for the direct client; Baton in front of it (or of
/// its own stdio copy, `--http-upstream stdio`).
async fn setup_http(
    protocol: Protocol,
    paths: &Paths,
    args: &Args,
    temp: &Path,
    tag: &str,
) -> anyhow::Result<(Target, Target, Option<HttpProcess>)> {
    let me = std::process::id();
    let mut echo = Command::new(&paths.echo);
    echo.arg("--http").arg("127.0.0.1:0");
    let echo = procs::spawn_http(echo, "listening on ", &temp.join(format!("echo-{tag}.log")))
        .await
        .context("starting the echo upstream over HTTP")?;
    let echo_pid = echo.pid().context("echo upstream has no pid")?;
    let client = connect_http(&echo.base, protocol, None)
        .await
        .context("connecting directly to the echo upstream over streamable HTTP")?;
    let direct = Target {
        tool: "echo",
        client,
        cpu_pids: vec![("client", me), ("upstream", echo_pid)],
        process: None,
    };
    let config = temp.join(format!("baton-{tag}.yaml"));
    let server = match args.http_upstream {
        HttpUpstream::Http => format!(
            "url: {}\n    transport: streamable-http",
            yaml_string(&format!("{}/mcp", echo.base))
        ),
        HttpUpstream::Stdio => format!(
            "command: {}\n    args: [--stdio{}]",
            yaml_string(&paths.echo.to_string_lossy()),
            if args.echo_legacy { ", --legacy" } else { "" }
        ),
    };
    std::fs::write(
        &config,
        format!(
            "{}{}{}servers:\n  echo:\n    {server}\n",
            args.resilience.yaml(),
            configs::telemetry_yaml(args.no_metrics, args.otlp.as_deref(), args.sample_ratio),
            if args.jwt {
                configs::jwt_yaml(temp, args.audit)?
            } else {
                String::new()
            },
        ),
    )?;
    let process = procs::spawn_http(
        baton_command(paths, args, &config, true),
        "baton: listening on ",
        &temp.join(format!("baton-{tag}.log")),
    )
    .await
    .context("starting `baton serve --http`")?;
    let baton_pid = process.pid().context("baton has no pid")?;
    let bearer = args.jwt.then(configs::bench_token).transpose()?;
    let client = connect_http(&process.base, protocol, bearer)
        .await
        .context("connecting to `baton serve --http`")?;
    let mut baton = Target {
        tool: "echo__echo",
        client,
        cpu_pids: vec![("client", me), ("baton", baton_pid)],
        process: Some(process),
    };
    match args.http_upstream {
        HttpUpstream::Http => baton.cpu_pids.push(("upstream", echo_pid)),
        HttpUpstream::Stdio => {
            // Wait for the upstream Baton spawns, then find it.
            adopt_upstream(
                &mut baton,
                baton_pid,
                "calling through baton (HTTP, stdio upstream)",
            )
            .await?;
        }
    }
    Ok((direct, baton, Some(echo)))
}

/// Waits until Baton lists and answers the tool (its upstream is up), then charges the
/// upstream process Baton spawned to the target.
async fn adopt_upstream(
    baton: &mut Target,
    baton_pid: u32,
    what: &'static str,
) -> anyhow::Result<()> {
    check_target(baton).await.context(what)?;
    if let Some(&upstream) = procs::children(baton_pid).first() {
        baton.cpu_pids.push(("upstream", upstream));
    }
    Ok(())
}

/// The tool is listed and echoes.
pub(crate) async fn check_target(target: &Target) -> anyhow::Result<()> {
    let tools = target.client.peer().list_all_tools().await?;
    if !tools.iter().any(|tool| tool.name == target.tool) {
        bail!(
            "tool {} is not listed (got: {:?})",
            target.tool,
            tools.iter().map(|t| t.name.as_ref()).collect::<Vec<_>>()
        );
    }
    let mut arguments = JsonObject::new();
    arguments.insert("message".into(), "ping".into());
    call_once(target.client.peer(), target.tool, &arguments, "ping")
        .await
        .map_err(anyhow::Error::msg)
}
