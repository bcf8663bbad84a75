//! `baton auth login|status|logout`: Baton signing in to remote servers that require
//! OAuth, with the tokens kept in the store (where `baton serve` finds them); and the
//! hidden `baton conformance-client`, which runs the official conformance suite's client
//! scenarios through the same upstream client and sign-in code.

use std::{path::PathBuf, process::ExitCode};

use baton_core::config::{Config, OAuthConfig, OAuthGrant, TransportConfig};
use baton_mcp::oauth::{Browser, SignInError, login};
use serde_json::{Value, json};

use crate::cli::{AuthCommand, KeyCommand, LoginArgs};

mod conformance;

pub use conformance::conformance_client;

pub async fn run(config_flag: Option<PathBuf>, command: AuthCommand) -> ExitCode {
    match command {
        AuthCommand::Key(KeyCommand::New { name }) => super::new_key(&name),
        AuthCommand::Login(args) => login_command(config_flag, args).await,
        AuthCommand::Status { json } => status(config_flag, json).await,
        AuthCommand::Logout { server } => logout(config_flag, &server).await,
    }
}

async fn config_and_store(
    config_flag: Option<PathBuf>,
) -> Result<(Config, baton_store::Store), ExitCode> {
    let config = super::load_config(config_flag.as_deref())?;
    let store = super::store_of(&config).await?;
    Ok((config, store))
}

/// The configured remote server `name` (its URL and OAuth settings), or why not.
fn remote(config: &Config, name: &str) -> Result<(String, OAuthConfig), String> {
    let Some(server) = config.servers.iter().find(|s| s.name == name) else {
        let remotes: Vec<&str> = config
            .servers
            .iter()
            .filter(|s| matches!(s.transport, TransportConfig::Http(_)))
            .map(|s| s.name.as_str())
            .collect();
        return Err(format!(
            "no server \"{name}\" in the configuration (remote servers: {})",
            if remotes.is_empty() {
                "none".to_owned()
            } else {
                remotes.join(", ")
            }
        ));
    };
    let TransportConfig::Http(http) = &server.transport else {
        return Err(format!(
            "server \"{name}\" is a stdio server: Baton starts it, so there is nothing to sign in to"
        ));
    };
    let url = server
        .replica_urls
        .first()
        .cloned()
        .unwrap_or_else(|| http.url.clone());
    Ok((url, http.oauth.clone().unwrap_or_default()))
}

async fn login_command(config_flag: Option<PathBuf>, args: LoginArgs) -> ExitCode {
    let config = match super::load_config(config_flag.as_deref()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let (url, oauth) = match remote(&config, &args.server) {
        Ok(found) => found,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let store = match super::store_of(&config).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    baton_app::oauth::install(&store);
    let browser = if args.headless {
        Browser::Headless
    } else {
        Browser::System
    };
    match login(&args.server, &url, &oauth, browser, None, &args.scopes).await {
        Ok(outcome) => {
            let scopes = if outcome.scopes.is_empty() {
                "none named".to_owned()
            } else {
                outcome.scopes.join(" ")
            };
            println!(
                "signed in to \"{}\" as client {} (scopes: {scopes}); the tokens are in the store at {}, where `baton serve` finds them (a running one within seconds)",
                args.server,
                outcome.client_id,
                store.location()
            );
            ExitCode::SUCCESS
        }
        Err(SignInError::NeedsLogin(message) | SignInError::Failed(message)) => {
            eprintln!(
                "error: signing in to \"{}\" ({url}): {message}",
                args.server
            );
            ExitCode::FAILURE
        }
    }
}

async fn status(config_flag: Option<PathBuf>, as_json: bool) -> ExitCode {
    let (config, store) = match config_and_store(config_flag).await {
        Ok(both) => both,
        Err(code) => return code,
    };
    let stored = match store.oauth_servers().await {
        Ok(rows) => rows,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let now = baton_store::now_ms() as u64 / 1000;
    let mut rows: Vec<Value> = Vec::new();
    let mut named = std::collections::BTreeSet::new();
    for server in &config.servers {
        let TransportConfig::Http(http) = &server.transport else {
            continue;
        };
        let row = stored.iter().find(|row| row.server == server.name);
        if http.oauth.is_none() && row.is_none() {
            continue;
        }
        named.insert(server.name.clone());
        let grant = match http.oauth.as_ref().map(|o| &o.grant) {
            Some(OAuthGrant::ClientCredentials) => "client_credentials",
            _ => "authorization_code",
        };
        rows.push(entry(&server.name, Some(grant), row, now));
    }
    // Credentials of servers no longer in the configuration.
    for row in stored.iter().filter(|row| !named.contains(&row.server)) {
        rows.push(entry(&row.server, None, Some(row), now));
    }
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "servers": rows })).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    if rows.is_empty() {
        println!(
            "no remote server uses OAuth (add `auth: oauth` to one, or sign in to one that asks: baton auth login SERVER)"
        );
        return ExitCode::SUCCESS;
    }
    println!(
        "{:20} {:20} {:14} {:28} {:12} SCOPES",
        "SERVER", "GRANT", "STATE", "CLIENT", "EXPIRES IN"
    );
    for row in &rows {
        let text = |key: &str| row[key].as_str().unwrap_or("-").to_owned();
        let expires = match row["expires_in_s"].as_i64() {
            Some(seconds) if seconds >= 0 => format!("{seconds}s"),
            Some(_) => "expired".to_owned(),
            None => "-".to_owned(),
        };
        let scopes: Vec<&str> = row["scopes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        println!(
            "{:20} {:20} {:14} {:28} {:12} {}",
            text("server"),
            text("grant"),
            text("state"),
            text("client_id"),
            expires,
            scopes.join(" ")
        );
    }
    ExitCode::SUCCESS
}

/// One server's line of `baton auth status` (never a token).
fn entry(
    server: &str,
    grant: Option<&str>,
    row: Option<&baton_store::OAuthRow>,
    now: u64,
) -> Value {
    let summary = row
        .and_then(|row| serde_json::from_str(&row.credentials).ok())
        .and_then(|credentials| baton_mcp::oauth::summarize(&credentials));
    let state = match (&summary, grant) {
        (_, None) => "not configured",
        (None, _) => "needs_login",
        (Some(summary), _) => match summary.expires_at {
            Some(at) if at <= now && !summary.has_refresh_token => "expired",
            _ => "signed_in",
        },
    };
    let mut value = json!({
        "server": server,
        "grant": grant,
        "state": state,
    });
    if let Some(summary) = summary {
        value["client_id"] = json!(summary.client_id);
        value["scopes"] = json!(summary.scopes);
        value["issuer"] = json!(summary.issuer);
        value["refreshable"] = json!(summary.has_refresh_token);
        if let Some(at) = summary.expires_at {
            value["expires_in_s"] = json!(at as i64 - now as i64);
        }
    }
    if let Some(row) = row {
        value["updated_at"] = json!(row.updated_at);
    }
    value
}

async fn logout(config_flag: Option<PathBuf>, server: &str) -> ExitCode {
    let (_, store) = match config_and_store(config_flag).await {
        Ok(both) => both,
        Err(code) => return code,
    };
    match store.delete_oauth_credentials(server).await {
        Ok(true) => {
            println!(
                "signed out of \"{server}\": its tokens are gone from the store (a running `baton serve` asks for a sign-in at its next connection)"
            );
            ExitCode::SUCCESS
        }
        Ok(false) => {
            eprintln!("no stored credentials for \"{server}\" (see `baton auth status`)");
            ExitCode::from(2)
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
