//! `baton conformance-client URL`: the conformance suite's client side. It connects to
//! URL with Baton's upstream client (the session-aware streamable HTTP client, wrapped
//! with Baton's OAuth client when the server asks for a token), signs in headlessly when
//! the server answers 401 (the suite's authorization server approves at once), lists the
//! tools and calls each one, and on a 403 `insufficient_scope` signs in again for the
//! scope the server named (at most [`MAX_SIGN_INS`] times).

use std::{
    collections::BTreeMap,
    process::ExitCode,
    sync::{Arc, Mutex, atomic::AtomicU64},
};

use baton_core::config::OAuthConfig;
use baton_mcp::{
    oauth::{Browser, SignInError, login},
    rmcp::{
        model::{CallToolRequestParams, ProtocolVersion, Tool},
        service::{ClientLifecycleMode, ClientServiceExt, RoleClient, RunningService},
    },
    upstream::streamable,
};
use serde_json::{Map, Value, json};

/// The server's name for credentials (kept in memory: no store is opened).
const SERVER: &str = "conformance";
/// The Client ID Metadata Document the suite's authorization server knows (its fixture;
/// a user names their own in `auth.oauth.client_metadata_url`), used when the
/// authorization server advertises support for them.
const CLIENT_METADATA_URL: &str = "https://conformance-test.local/client-metadata.json";
/// Sign-ins one scenario may take (the first, then step-ups).
const MAX_SIGN_INS: u32 = 3;
const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

type Client = RunningService<RoleClient, ()>;

pub async fn conformance_client(url: &str) -> ExitCode {
    let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
    let context: Value = std::env::var("MCP_CONFORMANCE_CONTEXT")
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null);
    let mut oauth = OAuthConfig {
        client_metadata_url: Some(CLIENT_METADATA_URL.to_owned()),
        ..OAuthConfig::default()
    };
    if let Some(client_id) = context["client_id"].as_str() {
        oauth.client_id = Some(client_id.to_owned());
        oauth.client_secret = context["client_secret"].as_str().map(str::to_owned);
        oauth.client_metadata_url = None;
    }
    // Machine to machine: the suite's scenario for `grant: client_credentials`.
    if scenario == "auth/client-credentials-basic" {
        oauth.grant = baton_core::config::OAuthGrant::ClientCredentials;
    }
    match run(url, &oauth).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("conformance client ({scenario}): {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(url: &str, oauth: &OAuthConfig) -> Result<(), String> {
    let mut session = Session {
        url,
        oauth,
        sign_ins: 0,
        connected: None,
    };
    let tools = match session.request(Request::ListTools).await? {
        Answer::Tools(tools) => tools,
        Answer::Called | Answer::GaveUp => Vec::new(),
    };
    for tool in &tools {
        session.request(Request::Call(tool)).await?;
    }
    if let Some((client, _)) = session.connected.take() {
        let _ = client.cancel().await;
    }
    Ok(())
}

enum Request<'a> {
    ListTools,
    Call(&'a Tool),
}

enum Answer {
    Tools(Vec<Tool>),
    Called,
    /// Refused again after the last sign-in allowed.
    GaveUp,
}

/// The connection and the sign-ins so far.
struct Session<'a> {
    url: &'a str,
    oauth: &'a OAuthConfig,
    sign_ins: u32,
    connected: Option<(Client, Arc<Mutex<Option<String>>>)>,
}

impl Session<'_> {
    /// `request`, signing in (again) and reconnecting whenever the server refuses it with
    /// a challenge (a 401, or a 403 naming a missing scope).
    async fn request(&mut self, request: Request<'_>) -> Result<Answer, String> {
        loop {
            if self.connected.is_none() {
                self.connected =
                    Some(connect_signed_in(self.url, self.oauth, &mut self.sign_ins).await?);
            }
            let Some((client, challenges)) = &self.connected else {
                continue;
            };
            let outcome = match &request {
                Request::ListTools => client
                    .peer()
                    .list_all_tools()
                    .await
                    .map(Answer::Tools)
                    .map_err(|error| format!("tools/list: {error}")),
                Request::Call(tool) => {
                    let mut params = CallToolRequestParams::new(tool.name.to_string());
                    params.arguments = Some(arguments_for(tool));
                    client
                        .peer()
                        .call_tool(params)
                        .await
                        .map(|_| Answer::Called)
                        .map_err(|error| format!("tools/call {}: {error}", tool.name))
                }
            };
            let error = match outcome {
                Ok(answer) => return Ok(answer),
                Err(error) => error,
            };
            let challenge = challenges.lock().unwrap_or_else(|p| p.into_inner()).take();
            let Some(challenge) = challenge else {
                // Not an authorization refusal: a tool's own error is an answer too.
                return match request {
                    Request::Call(_) => Ok(Answer::Called),
                    Request::ListTools => Err(error),
                };
            };
            if self.sign_ins >= MAX_SIGN_INS {
                eprintln!(
                    "refused again after {} sign-ins; giving up: {error}",
                    self.sign_ins
                );
                return Ok(Answer::GaveUp);
            }
            if let Some((client, _)) = self.connected.take() {
                let _ = client.cancel().await;
            }
            sign_in(self.url, self.oauth, Some(challenge), &mut self.sign_ins).await?;
        }
    }
}

/// Connected, signing in first when the server asks for a token.
async fn connect_signed_in(
    url: &str,
    oauth: &OAuthConfig,
    sign_ins: &mut u32,
) -> Result<(Client, Arc<Mutex<Option<String>>>), String> {
    loop {
        match connect(url, oauth).await {
            Ok(connected) => return Ok(connected),
            Err(Refused::Challenge(challenge)) if *sign_ins < MAX_SIGN_INS => {
                sign_in(url, oauth, challenge, sign_ins).await?;
            }
            Err(error) => return Err(error.to_string()),
        }
    }
}

async fn sign_in(
    url: &str,
    oauth: &OAuthConfig,
    challenge: Option<String>,
    sign_ins: &mut u32,
) -> Result<(), String> {
    *sign_ins += 1;
    // A step-up asks for what the server named; otherwise the SDK's own choice.
    let scopes: Vec<String> = challenge
        .as_deref()
        .filter(|c| c.contains("insufficient_scope"))
        .and_then(scope_of)
        .map(|scope| scope.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    login(SERVER, url, oauth, Browser::Headless, challenge, &scopes)
        .await
        .map(|_| ())
        .map_err(|error| match error {
            SignInError::NeedsLogin(message) | SignInError::Failed(message) => {
                format!("sign-in: {message}")
            }
        })
}

fn scope_of(challenge: &str) -> Option<&str> {
    challenge.split("scope=\"").nth(1)?.split('"').next()
}

enum Refused {
    /// The server wants a token (its challenge, when it sent one).
    Challenge(Option<String>),
    Other(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Challenge(Some(challenge)) => write!(f, "refused: {challenge}"),
            Refused::Challenge(None) => f.write_str("refused: no token"),
            Refused::Other(error) => f.write_str(error),
        }
    }
}

/// One connection through Baton's upstream client, with the stored token if there is one.
async fn connect(
    url: &str,
    oauth: &OAuthConfig,
) -> Result<(Client, Arc<Mutex<Option<String>>>), Refused> {
    let (events, _) = tokio::sync::mpsc::unbounded_channel();
    let client = streamable::session_aware(
        reqwest::Client::new(),
        streamable::Recovery {
            server: SERVER.to_owned(),
            counter: Arc::new(AtomicU64::new(0)),
            events,
        },
    );
    let challenges = client.challenges();
    let headers = BTreeMap::new();
    // The lifecycle Baton's upstreams use: `server/discover` first (2026-07-28), else
    // `initialize` (2025-11-25).
    let lifecycle = ClientLifecycleMode::Auto {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        legacy_version: Some(ProtocolVersion::V_2025_11_25),
    };
    let served = match baton_mcp::oauth::authorized(SERVER, url, oauth, client.clone()).await {
        Ok(authorized) => {
            let transport = streamable::transport(authorized, url, &headers, MAX_MESSAGE_BYTES);
            ().serve_with_lifecycle(transport, lifecycle).await
        }
        // Nothing stored yet: try without a token; the server's answer says what it wants.
        Err(SignInError::NeedsLogin(_)) => {
            let transport = streamable::transport(client, url, &headers, MAX_MESSAGE_BYTES);
            ().serve_with_lifecycle(transport, lifecycle).await
        }
        Err(SignInError::Failed(reason)) => return Err(Refused::Other(reason)),
    };
    match served {
        Ok(service) => Ok((service, challenges)),
        Err(error) => match error.auth_challenge() {
            Some(challenge) => Err(Refused::Challenge(Some(challenge.to_owned()))),
            None => Err(Refused::Other(format!("initialize: {error}"))),
        },
    }
}

/// Arguments that satisfy a tool's input schema's required properties.
fn arguments_for(tool: &Tool) -> Map<String, Value> {
    let schema = tool.input_schema.as_ref();
    let properties = schema.get("properties").and_then(Value::as_object);
    let required = schema.get("required").and_then(Value::as_array);
    let mut arguments = Map::new();
    for name in required.into_iter().flatten().filter_map(Value::as_str) {
        let kind = properties
            .and_then(|p| p.get(name))
            .and_then(|p| p.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("string");
        let value = match kind {
            "number" | "integer" => json!(1),
            "boolean" => json!(true),
            "array" => json!([]),
            "object" => json!({}),
            _ => json!("test"),
        };
        arguments.insert(name.to_owned(), value);
    }
    arguments
}
